"""Customer accounts end to end on the local stack: sign-up to deletion, over HTTP and Cognito's own API."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.e2e.client import ADDRESS, Api

PASSWORD = "Corr3ct-Horse-Battery!"
NEW_PASSWORD = "N3w-Staple-Battery!!"


@pytest.fixture(scope="module")
def api(local_stack):
    return Api(local_stack)


@pytest.fixture(scope="module")
def idp(local_stack):
    return boto3.client("cognito-idp", endpoint_url=local_stack.config["aws_endpoint_url"],
                        region_name=local_stack.config["region"], aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def _code(api: Api, email: str, seen: int = 0, timeout: float = 15) -> tuple[str, dict[str, Any]]:
    """The newest code mailed to ``email`` once more than ``seen`` messages reached it."""
    deadline = time.monotonic() + timeout
    while True:
        mails = [m for m in api.stack.outbox()["email"] if email in m.get("to", [])]
        if len(mails) > seen:
            mail = mails[-1]
            found = re.search(r"\b(\d{6})\b", mail.get("text") or "")
            assert found, mail
            return found.group(1), mail
        assert time.monotonic() < deadline, f"no code mailed to {email}"
        time.sleep(0.2)


def _sign_in(idp: Any, client_id: str, email: str, password: str) -> dict[str, Any]:
    return idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": email, "PASSWORD": password})["AuthenticationResult"]


def _new_customer(api: Api, idp: Any, locale: str = "en-US") -> tuple[str, str]:
    """Sign up and confirm through Cognito as a storefront does; (email, ID token)."""
    client_id = api.stack.config["user_pool_client_id"]
    email = f"cust-{uuid.uuid4().hex[:10]}@example.com"
    idp.sign_up(ClientId=client_id, Username=email, Password=PASSWORD,
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "locale", "Value": locale}])
    code, _ = _code(api, email)
    idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode=code)
    return email, _sign_in(idp, client_id, email, PASSWORD)["IdToken"]


def test_sign_up_confirm_order_reset_and_sign_in_again(api, idp):
    client_id = api.stack.config["user_pool_client_id"]
    email = f"new-{uuid.uuid4().hex[:10]}@example.com"
    answer = idp.sign_up(ClientId=client_id, Username=email, Password=PASSWORD,
                         UserAttributes=[{"Name": "email", "Value": email}, {"Name": "locale", "Value": "de-DE"}])
    assert answer["UserConfirmed"] is False
    code, mail = _code(api, email)
    # Worded by the custom-message trigger in the customer's locale, sent as the shop.
    assert mail["subject"].startswith("Bestätigen Sie Ihre E-Mail-Adresse"), mail["subject"]
    assert mail["from"].endswith(f"<{api.stack.config['sender_email']}>"), mail["from"]
    assert "{####}" not in (mail["html"] or "") and code in (mail["html"] or "")
    with pytest.raises(idp.exceptions.UserNotConfirmedException):
        _sign_in(idp, client_id, email, PASSWORD)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(idp.exceptions.CodeMismatchException):
        idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode=wrong)
    idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode=code)
    token = _sign_in(idp, client_id, email, PASSWORD)["IdToken"]

    sku = api.product()
    placed = api.place(token, sku)
    assert placed.status_code == 201, placed.text
    api.wait(token, placed.json()["order_id"], "PROCESSING")

    idp.forgot_password(ClientId=client_id, Username=email)
    reset_code, reset_mail = _code(api, email, seen=1)
    assert reset_mail["subject"] != mail["subject"]
    with pytest.raises(idp.exceptions.CodeMismatchException):
        idp.confirm_forgot_password(ClientId=client_id, Username=email, ConfirmationCode=wrong,
                                    Password=NEW_PASSWORD)
    idp.confirm_forgot_password(ClientId=client_id, Username=email, ConfirmationCode=reset_code,
                                Password=NEW_PASSWORD)
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        _sign_in(idp, client_id, email, PASSWORD)
    tokens = _sign_in(idp, client_id, email, NEW_PASSWORD)
    # The same customer: the order placed before the reset is in their history.
    history = api.call("GET", "/orders", tokens["IdToken"]).json()["orders"]
    assert [o["order_id"] for o in history] == [placed.json()["order_id"]]
    idp.change_password(AccessToken=tokens["AccessToken"], PreviousPassword=NEW_PASSWORD,
                        ProposedPassword=PASSWORD)
    assert _sign_in(idp, client_id, email, PASSWORD)["IdToken"]


def test_profile_keeps_consent_time_and_shares_preferences(api, idp):
    email, token = _new_customer(api, idp)
    blank = api.call("GET", "/customers/me", token).json()
    assert blank["email"] == email and blank["name"] is None and blank["marketing_consent"] is False
    saved = api.call("PUT", "/customers/me", token, json={
        "name": "Berta Beispiel", "locale": "de-DE", "phone": "030 12345678", "marketing_consent": True})
    assert saved.status_code == 200, saved.text
    profile = saved.json()
    assert profile["phone"] == "+493012345678" and profile["locale"] == "de-DE"
    consent_at = profile["marketing_consent_at"]
    assert consent_at
    again = api.call("PUT", "/customers/me", token, json={
        "name": "Berta B.", "locale": "de-DE", "phone": "+493012345678", "marketing_consent": True}).json()
    assert again["marketing_consent_at"] == consent_at and again["name"] == "Berta B."
    preferences = api.call("GET", "/customers/me/preferences", token).json()
    assert preferences["locale"] == "de-DE" and preferences["email"]["marketing"] is True
    bad = api.call("PUT", "/customers/me", token, json={"name": "B", "phone": "12"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phone", bad.text
    withdrawn = api.call("PUT", "/customers/me", token, json={"name": "Berta B."}).json()
    assert withdrawn["marketing_consent"] is False and withdrawn["marketing_consent_at"] is None


def test_address_book_defaults_and_ordering_by_id(api, idp):
    _, token = _new_customer(api, idp)
    home = api.call("POST", "/customers/me/addresses", token, json={"label": "Home", "address": ADDRESS})
    assert home.status_code == 201, home.text
    assert home.headers["Location"] == f"/customers/me/addresses/{home.json()['address_id']}"
    assert home.json()["default_shipping"] and home.json()["default_billing"]  # the first is both defaults
    office_address = {**ADDRESS, "name": "Ann Lee (Acme)", "line1": "9 Works Rd", "postal_code": "54321"}
    office = api.call("POST", "/customers/me/addresses", token,
                      json={"label": "Office", "address": office_address, "default_shipping": True}).json()
    book = api.call("GET", "/customers/me/addresses", token).json()["addresses"]
    assert [a["label"] for a in book] == ["Office", "Home"]
    assert book[0]["default_shipping"] and not book[0]["default_billing"] and book[1]["default_billing"]

    sku = api.product()
    placed = api.place(token, sku, shipping_address=None, shipping_address_id=office["address_id"])
    assert placed.status_code == 201, placed.text
    assert placed.json()["shipping_address"]["line1"] == "9 Works Rd"
    assert placed.json()["billing_address"]["line1"] == "9 Works Rd"
    # Editing the address afterwards leaves the order's copy alone.
    edited = api.call("PUT", f"/customers/me/addresses/{office['address_id']}", token,
                      json={"label": "Office", "address": {**office_address, "line1": "10 Works Rd"}})
    assert edited.status_code == 200 and edited.json()["default_shipping"], edited.text
    assert api.order(token, placed.json()["order_id"])["shipping_address"]["line1"] == "9 Works Rd"

    both = api.place(token, sku, shipping_address_id=office["address_id"])
    assert both.status_code == 422 and "shipping_address" in both.text
    unknown = api.place(token, sku, shipping_address=None, shipping_address_id="adr_" + "0" * 20)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "shipping_address_id"

    assert api.call("DELETE", f"/customers/me/addresses/{office['address_id']}", token).status_code == 204
    assert api.call("DELETE", f"/customers/me/addresses/{office['address_id']}", token).status_code == 404
    me = api.call("GET", "/customers/me", token).json()
    assert me["default_shipping_address_id"] is None and me["default_billing_address_id"] == home.json()["address_id"]
    for index in range(19):
        added = api.call("POST", "/customers/me/addresses", token,
                         json={"address": {**ADDRESS, "line1": f"{index} Side St"}})
        assert added.status_code == 201, added.text
    full = api.call("POST", "/customers/me/addresses", token, json={"address": ADDRESS})
    assert full.status_code == 409 and full.json()["code"] == "limit_reached", full.text


def test_saved_cards_show_no_card_data_and_pay_orders(api, idp):
    _, token = _new_customer(api, idp)
    saved = api.call("POST", "/customers/me/payment-methods", token, json={"token": "tok_mastercard"})
    assert saved.status_code == 201, saved.text
    card = saved.json()
    assert card["brand"] == "mastercard" and card["last4"] == "4444" and card["exp_year"] >= datetime.now().year
    assert set(card) == {"payment_method_id", "brand", "last4", "exp_month", "exp_year", "created_at"}
    again = api.call("POST", "/customers/me/payment-methods", token, json={"token": "tok_mastercard"})
    assert again.status_code == 200 and again.json()["payment_method_id"] == card["payment_method_id"]
    listed = api.call("GET", "/customers/me/payment-methods", token).json()["payment_methods"]
    assert [c["payment_method_id"] for c in listed] == [card["payment_method_id"]]
    refused = api.call("POST", "/customers/me/payment-methods", token, json={"token": "tok_nonsense"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "token", refused.text

    sku = api.product()
    placed = api.place(token, sku, payment={"payment_method_id": card["payment_method_id"]})
    assert placed.status_code == 201, placed.text
    order = api.wait(token, placed.json()["order_id"], "PROCESSING")
    assert order["payment_status"] == "AUTHORIZED"
    ledger = api.call("GET", f"/admin/orders/{order['order_id']}/payments", api.ops).json()
    assert [(e["operation"], e["status"]) for e in ledger] == [("AUTHORIZE", "SUCCEEDED")], ledger

    removed = api.call("DELETE", f"/customers/me/payment-methods/{card['payment_method_id']}", token)
    assert removed.status_code == 204
    assert api.call("GET", "/customers/me/payment-methods", token).json()["payment_methods"] == []
    gone = api.place(token, sku, payment={"payment_method_id": card["payment_method_id"]})
    assert gone.status_code == 422 and gone.json()["errors"][0]["field"] == "payment.payment_method_id"
    neither = api.place(token, sku, payment={})
    assert neither.status_code == 422, neither.text


def test_order_history_filters_by_status_and_dates(api, idp):
    _, token = _new_customer(api, idp)
    sku = api.product()
    ids = [api.place(token, sku).json()["order_id"] for _ in range(3)]
    for order_id in ids:
        api.wait(token, order_id, "PROCESSING")
    cancelled = api.call("POST", f"/orders/{ids[0]}/cancel", token, json={"reason": "CHANGED_MIND"},
                         headers={"Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 202, cancelled.text
    api.wait(token, ids[0], "CANCELLED")
    only = api.call("GET", "/orders", token, params={"status": "CANCELLED"}).json()["orders"]
    assert [o["order_id"] for o in only] == [ids[0]]
    processing = api.call("GET", "/orders", token, params={"status": ["PROCESSING", "CANCELLED"], "limit": 1})
    first = processing.json()
    assert len(first["orders"]) == 1 and first["next_cursor"]
    seen = [first["orders"][0]["order_id"]]
    cursor = first["next_cursor"]
    while cursor:
        page = api.call("GET", "/orders", token, params={"status": ["PROCESSING", "CANCELLED"], "limit": 1,
                                                          "cursor": cursor}).json()
        seen += [o["order_id"] for o in page["orders"]]
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids))
    today = datetime.now(UTC).date()
    assert len(api.call("GET", "/orders", token, params={"from": str(today), "to": str(today)}).json()["orders"]) == 3
    tomorrow = today + timedelta(days=1)
    assert api.call("GET", "/orders", token, params={"from": str(tomorrow)}).json()["orders"] == []
    backwards = api.call("GET", "/orders", token, params={"from": str(tomorrow), "to": str(today)})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "from"
    bad = api.call("GET", "/orders", token, params={"status": "LOST"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("status"), bad.text
    other_range = api.call("GET", "/orders", token, params={"from": str(today), "cursor": first["next_cursor"]})
    assert other_range.status_code == 422 and other_range.json()["errors"][0]["field"] == "cursor"


def test_export_holds_everything_about_the_customer(api, idp):
    email, token = _new_customer(api, idp)
    saved = api.call("PUT", "/customers/me", token,
                     json={"name": "Exa Port", "locale": "en-GB", "phone": "07911 123456"})
    assert saved.status_code == 200 and saved.json()["phone"] == "+447911123456", saved.text
    api.call("POST", "/customers/me/addresses", token, json={"label": "Home", "address": ADDRESS})
    api.call("POST", "/customers/me/payment-methods", token, json={"token": "tok_visa"})
    sku = api.product()
    order_id = api.place(token, sku).json()["order_id"]
    api.wait(token, order_id, "PROCESSING")
    deadline = time.monotonic() + 20
    while not api.order(token, order_id).get("notifications") and time.monotonic() < deadline:
        time.sleep(0.3)
    answer = api.call("GET", "/customers/me/export", token)
    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert export["customer"]["email"] == email and export["customer"]["name"] == "Exa Port"
    assert export["preferences"]["locale"] == "en-GB"
    assert [a["label"] for a in export["addresses"]] == ["Home"]
    assert [c["last4"] for c in export["payment_methods"]] == ["4242"]
    assert "token" not in str(export["payment_methods"])
    assert [o["order_id"] for o in export["orders"]] == [order_id]
    assert any(n["order_id"] == order_id and n["channel"] == "email" for n in export["notifications"]), export


def test_customer_b_reaches_none_of_a_s_account(api, idp):
    _, a = _new_customer(api, idp)
    _, b = _new_customer(api, idp)
    address = api.call("POST", "/customers/me/addresses", a, json={"address": ADDRESS}).json()["address_id"]
    card = api.call("POST", "/customers/me/payment-methods", a, json={"token": "tok_visa"}).json()
    path = f"/customers/me/addresses/{address}"
    assert api.call("PUT", path, b, json={"address": ADDRESS}).status_code == 404
    assert api.call("DELETE", path, b).status_code == 404
    assert api.call("DELETE", f"/customers/me/payment-methods/{card['payment_method_id']}", b).status_code == 404
    assert api.call("GET", "/customers/me/addresses", b).json()["addresses"] == []
    assert api.call("GET", "/customers/me/payment-methods", b).json()["payment_methods"] == []
    sku = api.product()
    stolen_address = api.place(b, sku, shipping_address=None, shipping_address_id=address)
    assert stolen_address.status_code == 422, stolen_address.text
    stolen_card = api.place(b, sku, payment={"payment_method_id": card["payment_method_id"]})
    assert stolen_card.status_code == 422, stolen_card.text
    export = api.call("GET", "/customers/me/export", b).json()
    assert export["addresses"] == [] and export["payment_methods"] == [] and export["orders"] == []
    # A's things are all still there.
    assert api.call("GET", "/customers/me/addresses", a).json()["addresses"][0]["address_id"] == address
    erase = api.call("POST", f"/admin/customers/{uuid.uuid4()}/erase", b, json={"reason": "ticket 1"})
    assert erase.status_code == 403


def _all_items(local_stack: Any) -> str:
    """Every item of every DynamoDB table of the local stack, as one text to search."""
    ddb = boto3.client("dynamodb", endpoint_url=local_stack.config["aws_endpoint_url"],
                       region_name=local_stack.config["region"], aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    texts = []
    for table in ddb.list_tables()["TableNames"]:
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            texts.append(f"{table}: {page['Items']}")
    return "\n".join(texts)


def test_deleting_the_account_anonymizes_orders_and_leaves_no_personal_data(api, idp, local_stack):
    email, token = _new_customer(api, idp)
    name, street, phone = "Delia Deletable", "77 Forget-Me Lane", "+12025550177"
    assert api.call("PUT", "/customers/me", token,
                    json={"name": name, "locale": "en-US", "phone": phone}).status_code == 200
    home = {**ADDRESS, "name": name, "line1": street, "city": "Erasetown", "postal_code": "EQ9-8XW"}
    address_id = api.call("POST", "/customers/me/addresses", token, json={"address": home}).json()["address_id"]
    api.call("POST", "/customers/me/payment-methods", token, json={"token": "tok_visa"})
    sku = api.product(price=2000)
    placed = api.place(token, sku, quantity=2, shipping_address=None, shipping_address_id=address_id,
                       contact={"email": email, "phone": phone, "sms_opt_in": True})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    before = api.wait(token, order_id, "PROCESSING")

    blocked = api.call("DELETE", "/customers/me", token)
    assert blocked.status_code == 409 and blocked.json()["code"] == "erasure_blocked", blocked.text
    assert blocked.json()["blocking"] == [{"kind": "order", "id": order_id, "status": "PROCESSING"}]

    cancelled = api.call("POST", f"/orders/{order_id}/cancel", token, json={"reason": "CHANGED_MIND"},
                         headers={"Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 202, cancelled.text
    api.wait(token, order_id, "CANCELLED")
    deleted = api.call("DELETE", "/customers/me", token)
    assert deleted.status_code == 200, deleted.text
    report = deleted.json()
    assert report["orders_anonymized"] == 1 and report["payment_methods_detached"] == 1 and report["user_deleted"]

    kept = api.order(api.ops, order_id)
    assert (kept["total"], kept["subtotal"], kept["tax_total"]) == (before["total"], before["subtotal"],
                                                                    before["tax_total"])
    assert [(line["sku"], line["quantity"]) for line in kept["lines"]] == [(sku, 2)]
    assert kept["created_at"] == before["created_at"]
    assert kept["shipping_address"]["country"] == "US" and kept["shipping_address"]["postal_code"] == "EQ9"
    assert kept["shipping_address"]["name"] == "[erased]" and kept["contact"]["email"] == "[erased]"
    everything = _all_items(local_stack)
    for personal in (email, name, street, "Erasetown", phone, phone[2:], "EQ9-8XW"):
        at = everything.find(personal)
        assert at < 0, f"{personal!r} is still stored: ...{everything[max(0, at - 300):at + 100]}..."
    client_id = local_stack.config["user_pool_client_id"]
    # (AWS answers NotAuthorized when user-existence errors are prevented; moto says UserNotFound.)
    with pytest.raises((idp.exceptions.NotAuthorizedException, idp.exceptions.UserNotFoundException)):
        _sign_in(idp, client_id, email, PASSWORD)
    farewell = [m for m in api.stack.outbox()["email"] if email in m.get("to", [])]
    assert farewell and "deleted" in (farewell[-1]["subject"] or "").lower(), farewell[-1:]


def test_ops_erase_a_verified_request(api, idp, local_stack):
    _, token = _new_customer(api, idp)
    sub = api.call("GET", "/customers/me", token).json()["customer_id"]
    api.call("PUT", "/customers/me", token, json={"name": "Otto Opsdeleted"})
    not_ops = api.call("POST", f"/admin/customers/{sub}/erase", token, json={"reason": "ticket 42"})
    assert not_ops.status_code == 403
    no_reason = api.call("POST", f"/admin/customers/{sub}/erase", api.ops, json={})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    erased = api.call("POST", f"/admin/customers/{sub}/erase", api.ops, json={"reason": "ticket 42, ID checked"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["user_deleted"] is True
    again = api.call("POST", f"/admin/customers/{sub}/erase", api.ops, json={"reason": "ticket 42, ID checked"})
    assert again.status_code == 200 and again.json()["user_deleted"] is False
    never = api.call("POST", f"/admin/customers/{uuid.uuid4()}/erase", api.ops, json={"reason": "ticket 43"})
    assert never.status_code == 404 and never.json()["code"] == "not_found", never.text
    assert "Otto Opsdeleted" not in _all_items(local_stack)


def test_logs_carry_no_personal_data(api, idp, local_stack):
    """A customer's whole life (sign-up, profile, address, card, an order shipped and delivered with email and SMS,
    export, deletion), then every local function log is searched for their personal data."""
    email, token = _new_customer(api, idp)
    name, street, city, phone = "Lorelei Logsearch", "31 Hidden Alley", "Masqueville", "+12025550131"
    api.call("PUT", "/customers/me", token, json={"name": name, "phone": phone, "marketing_consent": True})
    home = {**ADDRESS, "name": name, "line1": street, "line2": "Flat 9", "city": city, "postal_code": "LQ7-XZW"}
    address_id = api.call("POST", "/customers/me/addresses", token, json={"address": home}).json()["address_id"]
    card = api.call("POST", "/customers/me/payment-methods", token, json={"token": "tok_visa"}).json()
    sku = api.product()
    placed = api.place(token, sku, shipping_address=None, shipping_address_id=address_id,
                       payment={"payment_method_id": card["payment_method_id"]},
                       contact={"email": email, "phone": phone, "sms_opt_in": True})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    api.deliver(token, order_id)
    api.call("GET", "/customers/me/export", token)
    deadline = time.monotonic() + 30
    while len([m for m in api.stack.outbox()["email"] if email in m.get("to", [])]) < 3:
        assert time.monotonic() < deadline, "the order's emails did not go out"
        time.sleep(0.3)
    assert api.call("DELETE", "/customers/me", token).status_code == 200
    logs = "\n".join(path.read_text(errors="replace") for path in (local_stack.state_dir / "logs").glob("*.log"))
    assert "order placed" in logs  # the logs were written, and are the functions' own
    for personal in (email, email.split("@")[0], name, street, city, "LQ7-XZW", phone, phone[2:], PASSWORD):
        assert personal not in logs, f"{personal!r} appears in a function log"
