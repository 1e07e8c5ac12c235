"""Preferences, the order's locale, who gets which message, SES bounces and complaints, and the suppression list."""

import json

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from tests.handlers.conftest import api_event, call
from tests.handlers.helpers import order, order_body, place, stock
from tests.handlers.test_tracking_and_notify import sqs_record


def _preferences(stack, ctx, method="GET", body=None, sub="cust-1"):
    module = stack.handler("customers")
    return call(module, api_event(method, "/customers/me/preferences", "/customers/me/preferences", body=body,
                                  sub=sub), ctx)


def _notify(stack, ctx, order_id, event="order_confirmed", message_id="m1"):
    return stack.handler("notify").handler({"Records": [sqs_record(message_id, order_id, event)]}, ctx)


def _sent_email():
    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def _sent_sms():
    return sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages


def _ses_event(kind, address, order_id=None, bounce_type="Permanent"):
    tags = {"ses:configuration-set": ["Mail"]}
    if order_id:
        tags |= {"order_id": [order_id], "event": ["order_confirmed"]}
    event = {"eventType": kind, "mail": {"messageId": "0100-abc", "destination": [address], "tags": tags}}
    if kind == "Bounce":
        event["bounce"] = {"bounceType": bounce_type, "bounceSubType": "General",
                           "bouncedRecipients": [{"emailAddress": address, "diagnosticCode": "smtp; 550 5.1.1"}]}
    else:
        event["complaint"] = {"complainedRecipients": [{"emailAddress": address}], "complaintFeedbackType": "abuse"}
    return {"messageId": f"f-{kind}-{address}", "receiptHandle": "r", "body": json.dumps(event), "attributes": {},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:feedback", "awsRegion": "us-east-1"}


def test_preferences_default_then_saved_validated_and_normalized(stack, context):
    status, body = _preferences(stack, context)
    assert status == 200
    assert body == {"locale": None, "email": {"order_updates": True, "marketing": False},
                    "sms": {"order_updates": False}, "phone": None, "marketing_consent_at": None, "updated_at": None}

    status, body = _preferences(stack, context, "PUT", {"locale": "de-DE", "phone": "0151 1234 5678",
                                                        "sms": {"order_updates": True},
                                                        "email": {"order_updates": True, "marketing": True}})
    assert status == 200, body
    assert body["phone"] == "+4915112345678"  # a national number read in the locale's country
    consent = body["marketing_consent_at"]
    assert consent and body["updated_at"]
    _, again = _preferences(stack, context, "PUT", {"locale": "de_at", "phone": "+4915112345678",
                                                    "email": {"marketing": True}})
    assert again["locale"] == "de-AT" and again["marketing_consent_at"] == consent  # consent keeps its time
    assert again["sms"] == {"order_updates": False}  # a field left out takes its default
    _, withdrawn = _preferences(stack, context, "PUT", {"email": {"marketing": False}})
    assert withdrawn["marketing_consent_at"] is None

    for bad, field in [({"locale": "xx-YY"}, "locale"), ({"locale": "german"}, "locale"),
                       ({"phone": "+1 555 555 0100"}, "phone"), ({"phone": "12"}, "phone"),
                       ({"sms": {"order_updates": "yes"}}, "sms.order_updates"), ({"fax": "1"}, "fax")]:
        status, body = _preferences(stack, context, "PUT", bad)
        assert status == 422, (bad, body)
        assert field in [e["field"] for e in body["errors"]], (bad, body)
    assert _preferences(stack, context)[1] == withdrawn  # nothing half-written


def test_the_order_locale_comes_from_the_body_then_preferences_then_accept_language(stack, context):
    stock(stack, context, on_hand=10)
    module = stack.handler("place_order")

    def placed(key, sub, body, headers=None):
        status, answer = call(module, api_event("POST", "/orders", "/orders", body=body, sub=sub,
                                                headers={"Idempotency-Key": key, **(headers or {})}), context)
        assert status == 201, answer
        return answer["locale"]

    assert placed("a", "cust-9", order_body(), {"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8"}) == "fr-CH"
    assert placed("b", "cust-9", order_body()) == "en-US"
    _preferences(stack, context, "PUT", {"locale": "de-DE"}, sub="cust-9")
    assert placed("c", "cust-9", order_body(), {"Accept-Language": "fr-FR"}) == "de-DE"
    assert placed("d", "cust-9", order_body(locale="es_es")) == "es-ES"
    status, answer = place(stack, context, order_body(locale="zz-ZZ"), key="e")
    assert status == 422 and "locale" in [e["field"] for e in answer["errors"]]
    status, answer = place(stack, context, order_body(contact={"email": "a@example.com", "phone": "+1 555 0100"}),
                           key="f")
    assert status == 422 and "contact.phone" in [e["field"] for e in answer["errors"]], answer
    status, answer = place(stack, context, order_body(
        contact={"email": "a@example.com", "phone": "(201) 555-0123"}), key="g")
    assert status == 201 and answer["contact"]["phone"] == "+12015550123"  # national, in the shipping country


def test_sms_needs_consent_and_every_outcome_is_recorded_for_ops(stack, context):
    stock(stack, context)
    _, placed_order = place(stack, context, order_body(contact={"email": "ann@example.com", "phone": "+12015550123"}))
    order_id = placed_order["order_id"]
    sms_before = len(_sent_sms())
    assert _notify(stack, context, order_id) == {"batchItemFailures": []}
    assert len(_sent_sms()) == sms_before  # a phone alone is no consent
    assert len(_sent_email()) == 1
    records = {(r["channel"], r["status"], r.get("reason")) for r in order(stack, order_id)["notifications"].values()}
    assert records == {("email", "SENT", None), ("sms", "SKIPPED", "no_sms_consent")}

    status, view = call(stack.handler("get_order"), api_event("GET", f"/orders/{order_id}", "/orders/{order_id}",
                                                              groups="ops", path_params={"order_id": order_id}),
                        context)
    assert status == 200
    assert [(n["event"], n["channel"], n["status"]) for n in view["notifications"]] == [
        ("order_confirmed", "email", "SENT"), ("order_confirmed", "sms", "SKIPPED")]
    _, customer_view = call(stack.handler("get_order"), api_event("GET", f"/orders/{order_id}", "/orders/{order_id}",
                                                                  path_params={"order_id": order_id}), context)
    assert "notifications" not in customer_view

    # Opting in later (preferences saved after the order) texts the next event of the same order.
    _preferences(stack, context, "PUT", {"sms": {"order_updates": True}})
    _notify(stack, context, order_id, "order_cancelled", "m2")
    assert len(_sent_sms()) == sms_before + 1


def test_the_latest_word_on_sms_wins_and_a_number_that_replied_stop_is_skipped(stack, context):
    stock(stack, context)
    _, first = place(stack, context, order_body(), key="x")  # sms_opt_in on the order
    _preferences(stack, context, "PUT", {"sms": {"order_updates": False}})  # then turned off
    sms_before = len(_sent_sms())
    _notify(stack, context, first["order_id"])
    assert len(_sent_sms()) == sms_before
    assert order(stack, first["order_id"])["notifications"]["order_confirmed#sms"]["reason"] == "no_sms_consent"

    _preferences(stack, context, "PUT", {"sms": {"order_updates": True}})
    _, second = place(stack, context, order_body(contact={"email": "ann@example.com", "phone": "+12015550199"}),
                      key="y")  # moto: a number ending in 99 replied STOP
    _notify(stack, context, second["order_id"])
    assert len(_sent_sms()) == sms_before
    assert order(stack, second["order_id"])["notifications"]["order_confirmed#sms"]["reason"] == "phone_opted_out"


def test_order_updates_off_skips_shipping_news_but_never_the_receipt(stack, context):
    stock(stack, context)
    _preferences(stack, context, "PUT", {"email": {"order_updates": False}})
    _, placed_order = place(stack, context, order_body())
    order_id = placed_order["order_id"]
    _notify(stack, context, order_id, "order_confirmed", "m1")
    _notify(stack, context, order_id, "order_delivered", "m2")
    records = order(stack, order_id)["notifications"]
    assert records["order_confirmed#email"]["status"] == "SENT"
    assert records["order_delivered#email"]["status"] == "SKIPPED"
    assert records["order_delivered#email"]["reason"] == "order_updates_off"
    assert len(_sent_email()) == 1


def test_a_permanent_bounce_suppresses_the_address_and_the_next_email_is_skipped(stack, context):
    stock(stack, context)
    _, placed_order = place(stack, context, order_body(contact={"email": "Bouncy@Example.com"}))
    order_id = placed_order["order_id"]
    _notify(stack, context, order_id)
    feedback = stack.handler("mail_feedback")
    transient = _ses_event("Bounce", "bouncy@example.com", order_id, bounce_type="Transient")
    assert feedback.handler({"Records": [transient]}, context) == {"batchItemFailures": []}
    assert stack.table("mail_feedback", "SUPPRESSIONS_TABLE").scan()["Items"] == []  # a full mailbox is no reason

    bounce = _ses_event("Bounce", "bouncy@example.com", order_id)
    for _ in range(2):  # SQS may deliver twice: one suppression, one note
        assert feedback.handler({"Records": [bounce]}, context) == {"batchItemFailures": []}
    [suppression] = stack.table("mail_feedback", "SUPPRESSIONS_TABLE").scan()["Items"]
    assert suppression["email"] == "bouncy@example.com" and suppression["reason"] == "BOUNCE"
    assert suppression["order_id"] == order_id
    stored = order(stack, order_id)
    assert stored["notifications"]["order_confirmed#email"]["status"] == "BOUNCED"

    sent = len(_sent_email())
    _notify(stack, context, order_id, "order_cancelled", "m2")
    assert len(_sent_email()) == sent
    stored = order(stack, order_id)
    assert stored["notifications"]["order_cancelled#email"]["reason"] == "address_suppressed"
    notes = [e for e in stored["timeline"] if e["event"] == "email_suppressed"]
    assert len(notes) == 1 and "B***@example.com" in notes[0]["detail"]  # masked, as the customer typed it

    # Ops see it and lift it; the next message goes out again.
    admin = stack.handler("admin")
    status, page = call(admin, api_event("GET", "/admin/suppressions", "/admin/suppressions", groups="ops"), context)
    assert status == 200 and [s["email"] for s in page["suppressions"]] == ["bouncy@example.com"]
    status, body = call(admin, api_event("DELETE", "/admin/suppressions/Bouncy%40Example.com",
                                         "/admin/suppressions/{email}", groups="ops",
                                         path_params={"email": "Bouncy@Example.com"}), context)
    assert status == 200, body
    status, body = call(admin, api_event("DELETE", "/admin/suppressions/bouncy%40example.com",
                                         "/admin/suppressions/{email}", groups="ops",
                                         path_params={"email": "bouncy@example.com"}), context)
    assert status == 404, body
    _notify(stack, context, order_id, "order_delivered", "m3")
    assert len(_sent_email()) == sent + 1


def test_a_complaint_suppresses_and_garbage_feedback_is_dropped(stack, context):
    feedback = stack.handler("mail_feedback")
    garbage = {**_ses_event("Complaint", "x@example.com"), "body": "not json {"}
    complaint = _ses_event("Complaint", "Spam.Reporter@example.com")
    assert feedback.handler({"Records": [garbage, complaint]}, context) == {"batchItemFailures": []}
    [suppression] = stack.table("mail_feedback", "SUPPRESSIONS_TABLE").scan()["Items"]
    assert suppression["email"] == "spam.reporter@example.com" and suppression["reason"] == "COMPLAINT"
