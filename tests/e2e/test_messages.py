"""Customer messages over HTTP on the local stack: the customer's language and formats, SMS only with consent,
and a bounced address suppressed (SES's mailbox simulator, through the configuration set, SNS and SQS)."""

import re
import time
import uuid

import pytest
import requests

DE_ADDRESS = {"name": "Jürgen Müller", "line1": "Friedrichstraße 43", "city": "Berlin", "postal_code": "10117",
              "country": "DE"}
GB_ADDRESS = {"name": "Oliver Smith", "line1": "221B Baker Street", "city": "London", "postal_code": "NW1 6XE",
              "country": "GB"}


@pytest.fixture
def customer(local_stack):
    return local_stack.token(f"msg-{uuid.uuid4().hex[:8]}@example.com")


def _eventually(probe, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def _place(api, token, sku, currency, address, contact, **extra):
    body = {"currency": currency, "lines": [{"sku": sku, "quantity": 1}], "shipping_address": address,
            "shipping_method": "standard", "payment": {"token": "tok_visa"}, "contact": contact, **extra}
    answer = api.call("POST", "/orders", token, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert answer.status_code == 201, answer.text
    return answer.json()


def _ops_view_when(api, order_id, predicate):
    """The ops view of the order once ``predicate(notifications)`` holds (or the last one read)."""
    views = []

    def probe():
        views.append(api.order(api.ops, order_id))
        return predicate(views[-1]["notifications"])

    _eventually(probe)
    return views[-1]


def _email(local_stack, order_id, subject_part):
    return _eventually(lambda: next((m for m in local_stack.outbox(order_id)["email"]
                                     if subject_part in (m["subject"] or "")), None))


def test_a_german_order_is_confirmed_in_german_with_german_amounts_and_dates(api, customer, local_stack):
    sku = api.product(price=129900, currency="EUR", name="Espressomaschine")
    order = _place(api, customer, sku, "EUR", DE_ADDRESS, {"email": "juergen@example.com"}, locale="de-DE")
    # Over the review amount: held first. The customer hears it in German, and never why.
    api.wait(customer, order["order_id"], "ON_HOLD")
    held = _eventually(lambda: local_stack.outbox(order["order_id"])["email"])
    assert held and "Bestellung" in held[0]["subject"], held
    assert "review" not in held[0]["text"].lower() and "prüf" not in held[0]["subject"].lower()
    review = api.call("POST", f"/admin/orders/{order['order_id']}/review", api.ops, json={"decision": "approve"})
    assert review.status_code == 200, review.text
    api.wait(customer, order["order_id"], "PROCESSING")
    mail = _eventually(lambda: next((m for m in local_stack.outbox(order["order_id"])["email"]
                                     if "bestätigt" in (m["subject"] or "")), None))
    assert mail, local_stack.outbox(order["order_id"])
    assert "1.299,00\u00a0€" in mail["text"] and "1.299,00\u00a0€" in mail["html"]
    window = order["expected_delivery"]
    day, month = int(window["earliest"][8:]), int(window["earliest"][5:7])
    months = ["Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."]
    assert f"{day}." in mail["text"] and months[month - 1] in mail["text"], mail["text"]
    assert "Espressomaschine" in mail["html"] and "Friedrichstraße 43" in mail["text"]
    assert "Deutschland" in mail["text"]


def test_a_british_order_gets_pounds_and_day_month_dates_and_accept_language_picks_the_locale(
        api, customer, local_stack):
    sku = api.product(price=4550, currency="GBP")
    body = {"currency": "GBP", "lines": [{"sku": sku, "quantity": 2}], "shipping_address": GB_ADDRESS,
            "shipping_method": "standard", "payment": {"token": "tok_visa"},
            "contact": {"email": "oliver@example.com"}}
    answer = api.call("POST", "/orders", customer, json=body, headers={
        "Idempotency-Key": uuid.uuid4().hex, "Accept-Language": "en-GB,en;q=0.8"})
    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert order["locale"] == "en-GB"
    mail = _email(local_stack, order["order_id"], "confirmed")
    assert mail and "£91.00" in mail["text"], mail
    month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][
        int(order["expected_delivery"]["earliest"][5:7]) - 1]
    assert re.search(rf"\b\d{{1,2}}\s?\u2013\s?\d{{1,2}} {month}", mail["text"]) or re.search(
        rf"\b\d{{1,2}} {month}", mail["text"]), mail["text"]  # day before month


def test_sms_only_after_the_customer_opted_in(api, customer, local_stack):
    sku = api.product()
    phone = "+12015550188"
    order = _place(api, customer, sku, "USD", {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield",
                                               "postal_code": "12345", "country": "US"},
                   {"email": "ann@example.com", "phone": phone})
    order_id = order["order_id"]
    api.wait(customer, order_id, "PROCESSING")
    assert _email(local_stack, order_id, "confirmed")
    ops_view = _ops_view_when(api, order_id, lambda notes: len(notes) >= 2)
    assert {(n["channel"], n["status"], n.get("reason")) for n in ops_view["notifications"]} == {
        ("email", "SENT", None), ("sms", "SKIPPED", "no_sms_consent")}
    assert not [s for s in local_stack.outbox()["sms"] if s["to"] == phone]
    skipped = local_stack.outbox(order_id)["skipped"]  # `oms outbox` shows the skip and why
    assert [(s["channel"], s["reason"]) for s in skipped] == [("sms", "no_sms_consent")]

    answer = api.call("PUT", "/customers/me/preferences", customer,
                      json={"locale": "en-US", "sms": {"order_updates": True}, "phone": phone})
    assert answer.status_code == 200, answer.text
    shipped = api.call("POST", f"/admin/orders/{order_id}/shipments", api.ops,
                       json={"carrier": "UPS", "tracking_number": f"1Z{uuid.uuid4().hex[:12].upper()}"})
    assert shipped.status_code == 201, shipped.text
    texts = _eventually(lambda: [s for s in local_stack.outbox()["sms"] if s["to"] == phone])
    assert len(texts) == 1 and "shipped" in texts[0]["text"]

    # The customer replies STOP: the next SMS is skipped and the ops view says why.
    requests.post(f"{local_stack.api_url}/_local/sms/stop", params={"phone": phone}, timeout=10).raise_for_status()
    api.tracking(shipped.json()["shipments"][0]["tracking_number"], "delivered")
    view = _ops_view_when(api, order_id, lambda notes: any(
        n["event"] == "order_delivered" and n["channel"] == "sms" for n in notes))
    sms = next(n for n in view["notifications"] if n["event"] == "order_delivered" and n["channel"] == "sms")
    assert sms["status"] == "SKIPPED" and sms["reason"] == "phone_opted_out"
    assert len([s for s in local_stack.outbox()["sms"] if s["to"] == phone]) == 1


def test_a_bounced_address_is_suppressed_and_the_next_message_skipped(api, customer, local_stack):
    sku = api.product()
    address = f"bounce+{uuid.uuid4().hex[:6]}@simulator.amazonses.com"
    order = _place(api, customer, sku, "USD", {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield",
                                               "postal_code": "12345", "country": "US"}, {"email": address})
    order_id = order["order_id"]
    api.wait(customer, order_id, "PROCESSING")

    def suppressed():
        page = api.call("GET", "/admin/suppressions?limit=100", api.ops).json()
        return next((s for s in page["suppressions"] if s["email"] == address), None)

    suppression = _eventually(suppressed)
    assert suppression and suppression["reason"] == "BOUNCE" and suppression["order_id"] == order_id
    assert _eventually(lambda: any(n["status"] == "BOUNCED" for n in api.order(api.ops, order_id)["notifications"]))

    answer = api.call("POST", f"/orders/{order_id}/cancel", customer, json={"reason": "CHANGED_MIND"},
                      headers={"Idempotency-Key": uuid.uuid4().hex})
    assert answer.status_code == 202, answer.text
    view = _ops_view_when(api, order_id, lambda notes: any(n["event"] == "order_cancelled" for n in notes))
    cancelled = next(n for n in view["notifications"] if n["event"] == "order_cancelled")
    assert cancelled["status"] == "SKIPPED" and cancelled["reason"] == "address_suppressed"
    assert any(e["event"] == "email_suppressed" for e in api.order(customer, order_id)["timeline"])
    assert len([m for m in local_stack.outbox()["email"] if address in m["to"]]) == 1  # the confirmation only

    removed = api.call("DELETE", f"/admin/suppressions/{address}", api.ops)
    assert removed.status_code == 200 and removed.json()["email"] == address
    assert api.call("DELETE", f"/admin/suppressions/{address}", api.ops).status_code == 404


def test_preferences_refuse_a_bad_phone_and_an_unknown_locale_naming_the_field(api, customer):
    for body, field in [({"phone": "+49 123"}, "phone"), ({"locale": "xx-XX"}, "locale"),
                        ({"locale": "de-DE", "phone": "not a number"}, "phone")]:
        answer = api.call("PUT", "/customers/me/preferences", customer, json=body)
        assert answer.status_code == 422, answer.text
        assert field in [e["field"] for e in answer.json()["errors"]], answer.text
    saved = api.call("PUT", "/customers/me/preferences", customer,
                     json={"locale": "de-DE", "phone": "0151 12345678", "email": {"marketing": True}})
    assert saved.status_code == 200, saved.text
    assert saved.json()["phone"] == "+4915112345678" and saved.json()["marketing_consent_at"]
    assert api.call("GET", "/customers/me/preferences", customer).json() == saved.json()
