"""The API functions on moto, at their edges: hostile input, forged cursors, request counts."""

import base64
import json

import boto3
import pytest

from tests.handlers.conftest import api_event, call
from tests.handlers.helpers import order_body, place, stock


def _orders_page(stack, context, cursor=None, sub="cust-1", limit=1):
    module = stack.handler("get_order")
    query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
    return call(module, api_event("GET", "/orders", "/orders", sub=sub, query=query), context)


def test_pages_follow_signed_cursors_and_a_forged_one_is_a_422(stack, context):
    stock(stack, context)
    placed = [place(stack, context, order_body(), key=f"k{i}")[1]["order_id"] for i in range(3)]
    seen, cursor = [], None
    while True:
        status, page = _orders_page(stack, context, cursor)
        assert status == 200, page
        seen += [o["order_id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert "cust-1" not in base64.urlsafe_b64decode(cursor + "==").decode("latin-1")
    assert sorted(seen) == sorted(placed)

    forged = base64.urlsafe_b64encode(json.dumps({"x": {"S": "y"}}).encode()).decode()
    _, first = _orders_page(stack, context)
    for bad in (forged, "%%%", first["next_cursor"][:-2] + "AA"):
        status, body = _orders_page(stack, context, bad)
        assert status == 422 and body["errors"][0]["field"] == "cursor", body
    # Another customer cannot use ann's cursor to read her listing.
    status, body = _orders_page(stack, context, first["next_cursor"], sub="cust-2")
    assert status == 422


def test_an_ops_queue_cursor_only_works_for_its_status(stack, context):
    stock(stack, context)
    for i in range(2):
        place(stack, context, order_body(), key=f"q{i}")
    admin = stack.handler("admin")

    def page(status_value, cursor=None):
        query = {"status": status_value, "limit": "1", **({"cursor": cursor} if cursor else {})}
        return call(admin, api_event("GET", "/admin/orders", "/admin/orders", groups="ops", query=query), context)

    status, first = page("PENDING")
    assert status == 200 and len(first["orders"]) == 1 and first["next_cursor"]
    assert "risk" not in first["orders"][0]  # not assessed yet; ops fields appear once they exist
    assert page("PENDING", first["next_cursor"])[0] == 200
    assert page("ON_HOLD", first["next_cursor"])[0] == 422


@pytest.mark.parametrize(("body", "status", "field"), [
    (b'{"currency": "USD", "lines": [\xff]}', 400, "body"),
    ("[" * 5000 + "]" * 5000, 400, "body"),
    (json.dumps({**order_body(), "lines": [{"sku": "MUG", "quantity": "1"}]}), 422, "lines[0].quantity"),
    (json.dumps({**order_body(), "lines": [{"sku": "MUG", "quantity": 10**40}]}), 422, "lines[0].quantity"),
    (json.dumps({**order_body(), "contact": {"email": "x" * 300 + "@example.com"}}), 422, "contact.email"),
])
def test_hostile_order_bodies_get_a_4xx_and_write_nothing(stack, context, body, status, field):
    stock(stack, context)
    event = api_event("POST", "/orders", "/orders", headers={"Idempotency-Key": "hostile"})
    if isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["body"] = body
    answer_status, answer = call(stack.handler("place_order"), event, context)
    assert answer_status == status, answer
    assert answer["errors"][0]["field"] == field
    assert stack.table("place_order", "ORDERS_TABLE").scan()["Count"] == 0


def test_a_body_over_64_kib_is_a_413_naming_the_limit(stack, context):
    event = api_event("POST", "/orders", "/orders", headers={"Idempotency-Key": "big"},
                      body={**order_body(), "note": "x" * 70_000})
    status, body = call(stack.handler("place_order"), event, context)
    assert status == 413 and "64 KiB" in body["message"]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/admin/products/MUG", {"name": "Mug", "price": 10**39, "currency": "USD"}, "price"),
    ("/admin/products/MUG", {"name": "Mug", "price": "100", "currency": "USD"}, "price"),
    ("/admin/inventory/MUG", {"warehouse": "wh-east", "on_hand": 10**39}, "on_hand"),
])
def test_admin_numbers_are_strict_and_bounded(stack, context, path, body, field):
    resource = "/admin/products/{sku}" if "products" in path else "/admin/inventory/{sku}"
    event = api_event("PUT", path, resource, groups="ops", body=body, path_params={"sku": "MUG"})
    status, answer = call(stack.handler("admin"), event, context)
    assert status == 422 and [e["field"] for e in answer["errors"]] == [field], answer


def test_a_customer_gets_403_from_every_admin_route_before_validation(stack, context):
    event = api_event("PUT", "/admin/products/MUG", "/admin/products/{sku}", body={"bad": "body"},
                      path_params={"sku": "MUG"})
    status, body = call(stack.handler("admin"), event, context)
    assert (status, body["code"]) == (403, "forbidden")


def test_placing_a_new_order_costs_three_aws_requests_and_a_replay_three(stack, context):
    """BatchGetItem (prices + stock), conditional PutItem, StartExecution: counted at the SDK. (The customer's
    preferences are read, one GetItem more, only when the request names no locale.)"""
    stock(stack, context)
    module = stack.handler("place_order")
    sent: list[str] = []
    ddb, sfn = module._deps()[1].ddb, module._deps()[2].sfn
    for sdk_client in (ddb, sfn):
        sdk_client.meta.events.register("before-send", lambda request, **_: sent.append(
            request.headers.get("X-Amz-Target", b"").decode().rsplit(".", 1)[-1]))
    event = api_event("POST", "/orders", "/orders", body=order_body(locale="en-US"),
                      headers={"Idempotency-Key": "counted"})
    assert call(module, event, context)[0] == 201
    assert sent == ["BatchGetItem", "PutItem", "StartExecution"]
    sent.clear()
    status, _ = call(module, event, context)
    assert status == 201 and sent == ["BatchGetItem", "PutItem", "StartExecution"]
    sent.clear()
    no_locale = api_event("POST", "/orders", "/orders", body=order_body(), headers={"Idempotency-Key": "other"})
    assert call(module, no_locale, context)[0] == 201
    assert sent == ["BatchGetItem", "GetItem", "PutItem", "StartExecution"]
    assert len(boto3.client("stepfunctions").list_executions(
        stateMachineArn=stack.env("place_order", "STATE_MACHINE_ARN"))["executions"]) == 2  # counted, other
