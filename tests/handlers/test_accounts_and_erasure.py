"""The account and privacy routes' failure paths, in process against moto: re-authentication, an erasure cut off
half way and run again, limits under concurrency, a gateway failing while a card is saved, large exports."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest

from tests.handlers.conftest import api_event, call
from tests.handlers.helpers import ADDRESS, order_body, place, stock

PASSWORD = "Corr3ct-Horse-Battery!"


def _user(stack: Any, email: str) -> str:
    """A confirmed Cognito user with ``PASSWORD``; their sub."""
    pool = stack.env("customers", "USER_POOL_ID")
    idp = boto3.client("cognito-idp")
    idp.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": email},
                                          {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True)
    attributes = idp.admin_get_user(UserPoolId=pool, Username=email)["UserAttributes"]
    return next(a["Value"] for a in attributes if a["Name"] == "sub")


def _me(method: str, path: str, sub: str, *, body: Any = None, auth_time: float | None = None,
        resource: str | None = None, path_params: dict[str, str] | None = None) -> dict[str, Any]:
    event = api_event(method, path, resource or path, body=body, sub=sub, path_params=path_params)
    claims = event["requestContext"]["authorizer"]["claims"]
    claims["email"] = f"{sub}@example.com"
    claims["auth_time"] = str(int(auth_time if auth_time is not None else time.time()))
    return event


def test_deleting_needs_the_password_unless_signed_in_just_now(stack, context):
    email = "del-me@example.com"
    sub = _user(stack, email)
    customers = stack.handler("customers")
    stale = time.time() - 3600

    def delete(**body: Any) -> tuple[int, Any]:
        event = _me("DELETE", "/customers/me", sub, body=body or None, auth_time=stale)
        event["requestContext"]["authorizer"]["claims"]["email"] = email
        return call(customers, event, context)

    status, answer = delete()
    assert status == 403 and answer["code"] == "reauthentication_required"
    assert answer["errors"][0]["field"] == "password"
    status, answer = delete(password="Wrong-Password-1!")
    assert status == 403 and "not right" in answer["message"]
    fresh = _me("DELETE", "/customers/me", sub, body={"password": "Wrong-Password-1!"})  # signed in just now
    fresh["requestContext"]["authorizer"]["claims"]["email"] = email
    status, answer = call(customers, fresh, context)
    assert status == 403, answer  # a password given is checked, however recent the sign-in
    status, answer = delete(password=PASSWORD)
    assert status == 200, answer
    assert answer["user_deleted"] is True
    with pytest.raises(boto3.client("cognito-idp").exceptions.UserNotFoundException):
        boto3.client("cognito-idp").admin_get_user(UserPoolId=stack.env("customers", "USER_POOL_ID"),
                                                   Username=email)


def _cut_once(client: Any, operation: str, attempts: int = 3) -> list[str]:
    """Lose the answer to the next call of ``operation`` on ``client``: every attempt the SDK makes (three) gets a
    500. (In process, moto has already done the work by then: the request happened, its answer never came.)"""
    hits: list[str] = []

    def fail(request: Any, **_: Any) -> Any:
        if len(hits) >= attempts:
            return None
        hits.append(operation)
        from botocore.awsrequest import AWSResponse

        body = json.dumps({"__type": "InternalErrorException", "message": "injected"}).encode()
        return AWSResponse(request.url, 500, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))

    service = client.meta.service_model.service_name
    client.meta.events.register(f"before-send.{service}.{operation}", fail)
    return hits


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def test_an_erasure_cut_off_half_way_finishes_when_run_again(stack, context):
    email = "half@example.com"
    sub = _user(stack, email)
    stock(stack, context, "MUG")
    customers = stack.handler("customers")
    event = _me("PUT", "/customers/me", sub, body={"name": "Hal Fway", "phone": "+12025550150"})
    assert call(customers, event, context)[0] == 200
    status, card = call(customers, _me("POST", "/customers/me/payment-methods", sub, body={"token": "tok_visa"}),
                        context)
    assert status == 201
    status, placed = place(stack, context, order_body(contact={"email": email, "phone": "+12025550150"}), sub=sub)
    assert status == 201
    from oms.adapters.orders_repo import Change, OrdersRepository

    orders = OrdersRepository(stack.env("customers", "ORDERS_TABLE"))
    orders.apply(placed["order_id"], Change(sets={"status": "CANCELLED"}))  # a finished order
    deps = customers._deps()
    # Cognito's answer to the deletion is lost, after the orders were anonymized and the partition erased: the
    # whole request answers 503.
    hits = _cut_once(deps.identity.idp, "AdminDeleteUser")
    event = _me("DELETE", "/customers/me", sub)
    event["requestContext"]["authorizer"]["claims"]["email"] = email
    status, answer = call(customers, event, context)
    assert hits and status == 503, answer
    kept = orders.require(placed["order_id"])
    assert kept["contact"]["email"] == "[erased]" and kept["customer_id"].startswith("erased-")
    # Run again (the customer's token is still valid for its hour; ops can too): it finishes, nothing twice.
    status, answer = call(customers, event, context)
    assert status == 200, answer
    assert answer["user_deleted"] is False and answer["orders_anonymized"] == 0, answer
    assert deps.identity.username(sub) is None
    assert orders.require(placed["order_id"])["total"] == placed["total"]
    ledger = boto3.resource("dynamodb").Table(stack.env("customers", "SANDBOX_LEDGER_TABLE"))
    method = ledger.get_item(Key={"authorization_id": card["payment_method_id"]})["Item"]
    assert "customer" not in method and method["detached_at"]  # detached at the gateway
    (gateway_customer,) = [i for i in ledger.scan()["Items"] if i.get("object") == "customer"]
    assert gateway_customer.get("deleted") and sub not in json.dumps(gateway_customer, default=str)
    table = boto3.resource("dynamodb").Table(stack.env("customers", "CUSTOMERS_TABLE"))
    everything = json.dumps(table.scan()["Items"], default=str)
    assert "Hal Fway" not in everything and "+12025550150" not in everything and email not in everything
    (audit,) = [i for i in table.scan()["Items"] if i["item"] == "erasure"]  # no personal data in it
    assert (audit["by"], audit["runs"], audit["orders_anonymized"], audit["payment_methods_detached"]) == (
        "customer", 2, 1, 1)


def test_an_open_return_or_order_blocks_erasure_and_names_it(stack, context):
    sub = _user(stack, "blocked@example.com")
    stock(stack, context, "MUG")
    status, placed = place(stack, context, order_body(), sub=sub)
    assert status == 201
    admin = stack.handler("customers_admin")
    event = api_event("POST", f"/admin/customers/{sub}/erase", "/admin/customers/{customer_id}/erase",
                      body={"reason": "ticket 7"}, groups="ops", sub="ops-1", path_params={"customer_id": sub})
    status, answer = call(admin, event, context)
    assert status == 409 and answer["code"] == "erasure_blocked"
    assert answer["blocking"] == [{"kind": "order", "id": placed["order_id"], "status": "PENDING"}]
    from oms.adapters.orders_repo import OrdersRepository

    # Nothing was touched.
    assert OrdersRepository(stack.env("customers", "ORDERS_TABLE")).require(placed["order_id"])["customer_id"] == sub


def test_the_address_book_limit_holds_under_concurrent_requests(stack, context):
    from local.moto_patches import serialize_dynamodb

    serialize_dynamodb()  # each DynamoDB request atomic, as DynamoDB's are (moto's are not under threads)
    customers = stack.handler("customers")
    answers: list[int] = []

    def add(index: int) -> None:
        event = _me("POST", "/customers/me/addresses", "busy",
                    body={"address": {**ADDRESS, "line1": f"{index} Busy St"}})
        answers.append(call(customers, event, context)[0])

    threads = [threading.Thread(target=add, args=(i,)) for i in range(26)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(answers)) == [201, 409] and answers.count(201) == 20, answers
    _status, book = call(customers, _me("GET", "/customers/me/addresses", "busy"), context)
    assert len(book["addresses"]) == 20
    assert sum(a["default_shipping"] for a in book["addresses"]) == 1
    assert sum(a["default_billing"] for a in book["addresses"]) == 1


def test_a_card_saved_while_the_gateway_fails_is_not_half_saved(stack, context):
    customers = stack.handler("customers")
    gateway = customers._deps().gateway
    hits = _cut_once(gateway.ddb, "PutItem")  # the sandbox gateway's own store
    status, answer = call(customers, _me("POST", "/customers/me/payment-methods", "card-1",
                                         body={"token": "tok_amex"}), context)
    assert hits and status == 503, answer
    status, listed = call(customers, _me("GET", "/customers/me/payment-methods", "card-1"), context)
    assert listed["payment_methods"] == []
    status, saved = call(customers, _me("POST", "/customers/me/payment-methods", "card-1",
                                        body={"token": "tok_amex"}), context)
    assert status == 201 and saved["brand"] == "amex"
    status, listed = call(customers, _me("GET", "/customers/me/payment-methods", "card-1"), context)
    assert [c["payment_method_id"] for c in listed["payment_methods"]] == [saved["payment_method_id"]]


def test_a_large_export_is_a_download_link(stack, context, monkeypatch):
    monkeypatch.setenv("EXPORT_INLINE_BYTES", "200")
    customers = stack.handler("customers")
    call(customers, _me("PUT", "/customers/me", "big", body={"name": "Bea Big"}), context)
    response = customers.handler(_me("GET", "/customers/me/export", "big"), context)
    assert response["statusCode"] == 303
    link = json.loads(response["body"])
    location = response["multiValueHeaders"]["Location"][0]
    assert location == link["download_url"] and link["size_bytes"] > 200
    bucket = stack.env("customers", "EXPORTS_BUCKET")
    key = location.split(f"/{bucket}/", 1)[-1].split("?", 1)[0] if f"/{bucket}/" in location else \
        location.split(".amazonaws.com/", 1)[-1].split("?", 1)[0]
    document = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert document["customer"]["name"] == "Bea Big" and document["format"] == 1


def test_a_profile_made_by_an_address_alone_reads(stack, context):
    customers = stack.handler("customers")
    status, _ = call(customers, _me("POST", "/customers/me/addresses", "addr-only", body={"address": ADDRESS}),
                     context)
    assert status == 201
    status, me = call(customers, _me("GET", "/customers/me", "addr-only"), context)
    assert status == 200 and me["name"] is None and me["default_shipping_address_id"].startswith("adr_")


def test_a_message_recorded_after_erasure_keeps_no_address(stack, context):
    from oms.adapters.orders_repo import Change, OrdersRepository
    from oms.domain.customers import anonymized_order_fields

    stock(stack, context, "MUG")
    _status, placed = place(stack, context, order_body(), sub="late")
    orders = OrdersRepository(stack.env("customers", "ORDERS_TABLE"))
    sets, removes = anonymized_order_fields(orders.require(placed["order_id"]))
    orders.apply(placed["order_id"], Change(sets=sets, removes=removes))
    # The notify function was already sending the cancellation SMS when the customer was erased.
    orders.record_notification(placed["order_id"], "order_cancelled#sms", {
        "event": "order_cancelled", "channel": "sms", "status": "SENT", "to": "+12015550123", "attempts": 1,
        "at": "2026-12-03T08:00:00Z"})
    recorded = orders.require(placed["order_id"])["notifications"]["order_cancelled#sms"]
    assert recorded["to"] == "[erased]" and recorded["status"] == "SENT"
