"""A payment hold that lapses while the order waits: the wait is planned to end before it does, the hold is
renewed (REAUTHORIZE in the ledger), and a declined renewal puts the order ON_HOLD for the customer's new payment
method, which renews it again. Nothing ships unpaid. (The state machine's loop is asserted on the ASL in
tests/infra/test_workflow.py; here the steps run as the workflow calls them, on moto.)"""

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from oms.domain.errors import OrderCancelled, PaymentDeclined
from tests.handlers.conftest import api_event, call
from tests.handlers.helpers import order, step, stock
from tests.handlers.test_workflow_steps import placed

HOLD_HOURS = 168


def _age_authorization(stack, order_id: str, hours: float) -> None:
    at = (datetime.now(UTC) - timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
    boto3.resource("dynamodb").Table(stack.env("payment", "ORDERS_TABLE")).update_item(
        Key={"order_id": order_id}, UpdateExpression="SET payment.authorized_at = :at",
        ExpressionAttributeValues={":at": at})


def test_a_wait_is_planned_to_end_when_the_hold_needs_renewing_and_the_renewal_is_in_the_ledger(stack, context):
    stock(stack, context)
    order_id = placed(stack, context)
    step(stack, context, "payment", "authorize", order_id)
    fresh = step(stack, context, "payment", "plan_wait", order_id, wait="RequestFulfillment", policy_hours=336)
    # A new hold lasts 168 h and is renewed a seventh before it lapses: after 144 h, before the 336 h policy.
    assert fresh["renew"] is True and abs(fresh["seconds"] - 144 * 3600) < 60
    _age_authorization(stack, order_id, 150)  # past the renewal point
    due = step(stack, context, "payment", "plan_wait", order_id, wait="RequestFulfillment", policy_hours=336)
    assert due == {"renew": True, "seconds": 1, "plan": 2, "remaining": 336 * 3600}
    old = order(stack, order_id)["payment"]["authorization_id"]
    step(stack, context, "payment", "reauthorize", order_id, wait="RequestFulfillment", plan=2)
    step(stack, context, "payment", "reauthorize", order_id, wait="RequestFulfillment", plan=2)  # a retry
    renewed = order(stack, order_id)
    assert renewed["payment_status"] == "AUTHORIZED" and renewed["payment"]["authorization_id"] != old
    operations = sorted((e["seq"], e["operation"], e["status"]) for e in renewed["ledger"].values())
    assert [op[1:] for op in operations] == [("AUTHORIZE", "SUCCEEDED"), ("REAUTHORIZE", "SUCCEEDED"),
                                             ("VOID", "SUCCEEDED")]  # the superseded hold is released
    # The renewal consumed the wait it ended (1 s), once; the policy's time does not grow with renewals.
    plan = step(stack, context, "payment", "plan_wait", order_id, wait="RequestFulfillment", policy_hours=336)
    assert plan["remaining"] == 336 * 3600 - 1 and plan["renew"] is True
    assert abs(plan["seconds"] - 144 * 3600) < 60


def test_a_wait_ends_for_good_when_its_policy_is_used_up(stack, context):
    stock(stack, context)
    order_id = placed(stack, context)
    step(stack, context, "payment", "authorize", order_id)
    # A review policy shorter than the renewal point: one plan, no renewal.
    assert step(stack, context, "payment", "plan_wait", order_id, wait="HoldForReview", policy_hours=24) == {
        "renew": False, "seconds": 24 * 3600, "plan": 1, "remaining": 24 * 3600}


def test_a_declined_renewal_holds_the_order_for_a_new_payment_method(stack, context):
    stock(stack, context)
    order_id = placed(stack, context, token="tok_sandbox_reauthorizationDeclined")
    step(stack, context, "payment", "authorize", order_id)
    step(stack, context, "inventory", "reserve", order_id)
    step(stack, context, "fulfillment", "request_fulfillment", order_id, task_token="wait-1")
    with pytest.raises(PaymentDeclined):
        step(stack, context, "payment", "reauthorize", order_id)
    step(stack, context, "order_status", "await_payment", order_id, task_token="pay-1")
    held = order(stack, order_id)
    assert held["status"] == "ON_HOLD" and held["payment_task_token"] == "pay-1"
    assert "update your payment" in held["status_detail"]
    ledger = [e for e in held["ledger"].values() if e["operation"] == "REAUTHORIZE"]
    assert [(e["status"], e["error_code"]) for e in ledger] == [("FAILED", "expired_card")]
    # Another customer cannot; the owner gives a new token (the workflow's wait would resume).
    changes = stack.handler("order_changes")
    event = api_event("POST", f"/orders/{order_id}/payment", "/orders/{order_id}/payment",
                      body={"token": "tok_mastercard"}, path_params={"order_id": order_id}, sub="someone-else")
    assert call(changes, event, context)[0] == 404
    event = api_event("POST", f"/orders/{order_id}/payment", "/orders/{order_id}/payment",
                      body={"token": "tok_mastercard"}, path_params={"order_id": order_id})
    status, body = call(changes, event, context)
    # moto accepts a callback for a token no execution waits on (AWS would not: 409 there, the order unchanged).
    assert status == 200, body
    updated = order(stack, order_id)
    assert updated["payment"]["token"] == "tok_mastercard" and "payment_task_token" not in updated
    step(stack, context, "payment", "reauthorize", order_id)  # the workflow renews with the new method
    renewed = order(stack, order_id)
    assert renewed["payment_status"] == "AUTHORIZED" and renewed["payment"]["token_replaced"] is False
    step(stack, context, "fulfillment", "request_fulfillment", order_id, task_token="wait-2")
    assert order(stack, order_id)["status"] == "PROCESSING"


def test_a_wait_that_finds_a_cancellation_ends_instead_of_waiting(stack, context):
    stock(stack, context)
    order_id = placed(stack, context)
    step(stack, context, "payment", "authorize", order_id)
    boto3.resource("dynamodb").Table(stack.env("payment", "ORDERS_TABLE")).update_item(
        Key={"order_id": order_id}, UpdateExpression="SET cancellation = :c",
        ExpressionAttributeValues={":c": {"reason": "CHANGED_MIND", "note": "", "by": "customer",
                                          "at": "2026-12-02T00:00:00Z", "fee": 0}})
    for function, action in (("fulfillment", "request_fulfillment"), ("fraud", "hold"),
                             ("order_status", "await_payment")):
        with pytest.raises(OrderCancelled):
            step(stack, context, function, action, order_id, task_token="t")
    assert "fulfillment_task_token" not in order(stack, order_id)
