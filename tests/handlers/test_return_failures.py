"""Returns where things go wrong, on moto with the sandbox gateway: a settling step retried after a crash or a
lost gateway answer refunds once, a parcel received twice moves the stock once, an exchange's step retried makes
one replacement, and a return parked by a failing step is resumed by ops."""

import json
from typing import Any

import pytest

from oms.adapters.orders_repo import Change, OrdersRepository
from oms.adapters.payment_gateway import SandboxGateway
from oms.adapters.returns_repo import ReturnsRepository
from oms.domain.errors import PaymentGatewayError, ReturnCancelled
from oms.logic import refunds
from tests.handlers.conftest import api_event, call
from tests.handlers.helpers import inventory, order, step, stock
from tests.handlers.test_workflow_steps import placed


def _delivered(stack: Any, context: Any, sku: str = "MUG", quantity: int = 2) -> str:
    """A captured order, recorded as shipped whole and delivered today."""
    stock(stack, context, sku=sku, on_hand=10)
    order_id = placed(stack, context, sku=sku, quantity=quantity)
    for function, action in (("payment", "authorize"), ("payment", "capture")):
        step(stack, context, function, action, order_id)
    orders = OrdersRepository(stack.env("payment", "ORDERS_TABLE"))
    orders.apply(order_id, Change(sets={
        "status": "DELIVERED", "fulfillment_status": "DELIVERED", "delivered_at": "2026-12-01T10:00:00.000Z",
        "shipments": {"1ZTEST0001": {"carrier": "UPS", "tracking_number": "1ZTEST0001", "status": "delivered",
                                     "status_detail": "", "events": [], "created_at": "2026-11-28T10:00:00Z"}}}))
    return order_id


def _ask(stack: Any, context: Any, order_id: str, body: dict[str, Any], key: str = "r-1") -> tuple[int, Any]:
    module = stack.handler("returns")
    return call(module, api_event("POST", f"/orders/{order_id}/returns", "/orders/{order_id}/returns", body=body,
                                  headers={"Idempotency-Key": key}, path_params={"order_id": order_id}), context)


def _ops(stack: Any, context: Any, method: str, path: str, resource: str, return_id: str,
         body: Any = None) -> tuple[int, Any]:
    module = stack.handler("returns_admin")
    return call(module, api_event(method, path, resource, body=body, groups="ops",
                                  path_params={"return_id": return_id}), context)


def _receive(stack: Any, context: Any, return_id: str, lines: list[dict[str, Any]]) -> tuple[int, Any]:
    return _ops(stack, context, "POST", f"/admin/returns/{return_id}/receive", "/admin/returns/{return_id}/receive",
                return_id, {"lines": lines})


def _step(stack: Any, context: Any, action: str, return_id: str, **extra: Any) -> Any:
    return stack.handler("return_steps").handler({"action": action, "return_id": return_id, **extra}, context)


def _approved_return(stack: Any, context: Any, order_id: str, body: dict[str, Any]) -> str:
    status, created = _ask(stack, context, order_id, body)
    assert status == 201, created
    assert _step(stack, context, "decide", created["return_id"])["decision"] == "approve"
    return str(created["return_id"])


def _refunds_at_gateway(stack: Any) -> list[int]:
    objects = SandboxGateway(stack.env("payment", "SANDBOX_LEDGER_TABLE")).objects()
    return [o["amount"] for o in objects if o["authorization_id"].startswith("re_")]


def test_settling_again_after_a_crash_refunds_once(stack, context):
    order_id = _delivered(stack, context)
    rma = _approved_return(stack, context, order_id,
                           {"lines": [{"sku": "MUG", "quantity": 2, "reason": "DAMAGED"}]})
    status, received = _receive(stack, context, rma, [{"sku": "MUG", "quantity": 2, "condition": "RESELLABLE"}])
    assert status == 200 and received["refund_amount"] == 2500, received
    _step(stack, context, "settle", rma)
    # As if the step had crashed after refunding but before its write was seen: it runs again.
    ReturnsRepository(stack.env("returns", "RETURNS_TABLE")).apply(rma, Change(sets={"status": "RECEIVED"}))
    _step(stack, context, "settle", rma)
    _step(stack, context, "settle", rma)
    settled = order(stack, order_id)
    assert settled["amount_refunded"] == 2500 and settled["status"] == "RETURNED"
    assert [e["amount"] for e in settled["ledger"].values() if e["operation"] == "REFUND"] == [2500]
    assert _refunds_at_gateway(stack) == [2500]
    assert _step(stack, context, "close", rma)["status"] == "CLOSED"


def test_a_refund_whose_answer_is_lost_is_asked_again_with_its_key_and_paid_once(stack, context, monkeypatch):
    monkeypatch.setattr(refunds.time, "sleep", lambda _: None)
    order_id = _delivered(stack, context)
    rma = _approved_return(stack, context, order_id,
                           {"lines": [{"sku": "MUG", "quantity": 1, "reason": "WRONG_ITEM"}]})
    assert _receive(stack, context, rma, [{"sku": "MUG", "quantity": 1, "condition": "DAMAGED"}])[0] == 200
    real_refund = SandboxGateway.refund
    lost = {"left": refunds.ATTEMPTS}

    def refund_losing_answers(self: SandboxGateway, **kwargs: Any) -> str:
        reference = real_refund(self, **kwargs)
        if lost["left"]:
            lost["left"] -= 1
            raise PaymentGatewayError("read timeout")
        return reference

    monkeypatch.setattr(SandboxGateway, "refund", refund_losing_answers)
    with pytest.raises(Exception, match="did not confirm"):
        _step(stack, context, "settle", rma)  # the workflow retries the step (then parks it)
    assert order(stack, order_id)["amount_refunded"] == 0
    assert _step(stack, context, "settle", rma)["refunded"] == 1250
    assert _refunds_at_gateway(stack) == [1250]
    record = ReturnsRepository(stack.env("returns", "RETURNS_TABLE")).require(rma)
    assert record["status"] == "REFUNDED"


def test_a_parcel_received_twice_moves_the_stock_once(stack, context):
    order_id = _delivered(stack, context)
    rma = _approved_return(stack, context, order_id,
                           {"lines": [{"sku": "MUG", "quantity": 2, "reason": "NO_LONGER_NEEDED"}]})
    on_hand = inventory(stack, context)["on_hand"]
    lines = [{"sku": "MUG", "quantity": 1, "condition": "RESELLABLE"}]
    assert _receive(stack, context, rma, lines)[0] == 200
    status, body = _receive(stack, context, rma, lines)
    assert status == 409 and "RECEIVED" in body["message"]
    assert inventory(stack, context)["on_hand"] == on_hand + 1
    # One of two came back: the other unit is free to be returned again.
    assert order(stack, order_id)["return_quantities"] == {"MUG": 1}
    too_many = _receive(stack, context, rma, [{"sku": "MUG", "quantity": 3, "condition": "RESELLABLE"}])
    assert too_many[0] == 409


def test_receiving_more_than_the_return_holds_is_refused_naming_the_line_and_writes_nothing(stack, context):
    order_id = _delivered(stack, context)
    rma = _approved_return(stack, context, order_id,
                           {"lines": [{"sku": "MUG", "quantity": 1, "reason": "DAMAGED"}]})
    on_hand = inventory(stack, context)["on_hand"]
    status, body = _receive(stack, context, rma, [{"sku": "MUG", "quantity": 1, "condition": "RESELLABLE"},
                                                  {"sku": "MUG", "quantity": 1, "condition": "DAMAGED"}])
    assert status == 422 and body["errors"][0]["field"] == "lines[1].quantity", body
    assert inventory(stack, context)["on_hand"] == on_hand
    assert ReturnsRepository(stack.env("returns", "RETURNS_TABLE")).require(rma)["status"] == "APPROVED"


def test_an_exchange_step_run_twice_makes_one_replacement(stack, context):
    order_id = _delivered(stack, context, quantity=1)
    stock(stack, context, sku="MUG-L", on_hand=3)
    rma = _approved_return(stack, context, order_id, {
        "lines": [{"sku": "MUG", "quantity": 1, "reason": "SIZE_OR_FIT"}], "resolution": "exchange",
        "exchange_for": [{"sku": "MUG-L", "quantity": 1}]})
    first = _step(stack, context, "create_exchange", rma)
    second = _step(stack, context, "create_exchange", rma)
    assert first == second
    replacement = order(stack, first["order_id"])
    assert replacement["total"] == 0 and replacement["exchange_of"] == {"order_id": order_id, "return_id": rma}
    assert order(stack, order_id)["exchanges"] == [first["order_id"]]


def test_a_parked_return_is_resumed_by_ops_once(stack, context):
    order_id = _delivered(stack, context)
    rma = _approved_return(stack, context, order_id,
                           {"lines": [{"sku": "MUG", "quantity": 1, "reason": "DAMAGED"}]})
    path, resource = f"/admin/returns/{rma}/retry", "/admin/returns/{return_id}/retry"
    assert _ops(stack, context, "POST", path, resource, rma)[0] == 409  # not parked
    failure = {"step": "Settle", "Error": "RefundDeclined", "Cause": json.dumps({"errorMessage": "disputed"})}
    _step(stack, context, "park", rma, task_token="token-1", failure=failure)
    status, body = _ops(stack, context, "GET", f"/admin/returns/{rma}", "/admin/returns/{return_id}", rma)
    assert body["technical_hold"]["step"] == "Settle" and body["technical_hold"]["error"] == "RefundDeclined"
    status, body = _ops(stack, context, "POST", path, resource, rma)
    assert status == 200 and "technical_hold" not in body, body
    assert _ops(stack, context, "POST", path, resource, rma)[0] == 409


def test_another_customer_cannot_return_or_see_the_order(stack, context):
    order_id = _delivered(stack, context)
    module = stack.handler("returns")
    body = {"lines": [{"sku": "MUG", "quantity": 1, "reason": "DAMAGED"}]}
    status, _ = call(module, api_event("POST", f"/orders/{order_id}/returns", "/orders/{order_id}/returns",
                                       body=body, sub="someone-else", headers={"Idempotency-Key": "x"},
                                       path_params={"order_id": order_id}), context)
    assert status == 404
    status, _ = call(module, api_event("GET", f"/orders/{order_id}/returns", "/orders/{order_id}/returns",
                                       sub="someone-else", path_params={"order_id": order_id}), context)
    assert status == 404


def test_the_policy_is_public_and_a_forged_rma_is_not_found(stack, context):
    module = stack.handler("returns")
    status, policy = call(module, api_event("GET", "/returns/policy", "/returns/policy", sub=None), context)
    assert status == 200 and policy["window_days"] == 30 and policy["category_window_days"] == {"electronics": 14}
    assert "gift-cards" in policy["non_returnable_categories"]
    status, _ = _ops(stack, context, "GET", "/admin/returns/RMA-IIIIII", "/admin/returns/{return_id}", "RMA-IIIIII")
    assert status == 404


def test_a_step_for_an_unknown_return_fails_loudly(stack, context):
    with pytest.raises(Exception, match="not found"):
        _step(stack, context, "decide", "RMA-000000")


def test_a_cancelled_exchange_never_gets_its_replacement_and_an_advance_one_cannot_be_cancelled(stack, context):
    order_id = _delivered(stack, context, quantity=2)
    body = {"lines": [{"sku": "MUG", "quantity": 1, "reason": "DAMAGED"}], "resolution": "exchange",
            "exchange_for": [{"sku": "MUG", "quantity": 1}]}
    rma = _approved_return(stack, context, order_id, body)  # DAMAGED: the replacement may ship in advance
    module = stack.handler("returns")
    path, resource = f"/orders/{order_id}/returns/{rma}/cancel", "/orders/{order_id}/returns/{return_id}/cancel"
    params = {"order_id": order_id, "return_id": rma}
    assert call(module, api_event("POST", path, resource, path_params=params), context)[0] == 200
    with pytest.raises(ReturnCancelled):
        _step(stack, context, "create_exchange", rma)
    assert "exchanges" not in order(stack, order_id)

    status, created = _ask(stack, context, order_id, {**body, "lines": [{**body["lines"][0]}]}, key="r-2")
    assert status == 201, created
    advance = created["return_id"]
    _step(stack, context, "decide", advance)
    replacement = _step(stack, context, "create_exchange", advance)["order_id"]
    path, params = f"/orders/{order_id}/returns/{advance}/cancel", {"order_id": order_id, "return_id": advance}
    status, refused = call(module, api_event("POST", path, resource, path_params=params), context)
    assert status == 409 and replacement in refused["message"]


def test_a_replacement_that_closes_unshipped_refunds_the_returned_items_credit_once(stack, context):
    order_id = _delivered(stack, context, quantity=1)
    stock(stack, context, sku="MUG-L", on_hand=3)
    rma = _approved_return(stack, context, order_id, {
        "lines": [{"sku": "MUG", "quantity": 1, "reason": "SIZE_OR_FIT"}], "resolution": "exchange",
        "exchange_for": [{"sku": "MUG-L", "quantity": 1}]})
    replacement = _step(stack, context, "create_exchange", rma)["order_id"]
    sold_out = {"Error": "OutOfStock", "Cause": json.dumps({"errorMessage": "MUG-L"})}
    for _ in range(2):  # the close step retried: one refund
        step(stack, context, "order_status", "close", replacement, error=sold_out)
    assert order(stack, replacement)["status"] == "CANCELLED"
    original = order(stack, order_id)
    assert original["amount_refunded"] == 1250
    assert [e["amount"] for e in original["ledger"].values() if e["operation"] == "REFUND"] == [1250]
    assert _refunds_at_gateway(stack) == [1250]
