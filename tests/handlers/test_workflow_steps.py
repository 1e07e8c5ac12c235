"""Each failure path of the workflow and its compensation, step by step on moto."""

import json

import boto3
import pytest

from oms.domain.errors import OutOfStock, PaymentDeclined, PaymentGatewayError
from tests.handlers.helpers import inventory, order, order_body, place, step, stock


def queued_events(stack):
    sqs = boto3.client("sqs")
    url = stack.env("fulfillment", "NOTIFICATIONS_QUEUE_URL")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"])["event"] for m in messages]


def placed(stack, context, key="k", **kwargs):
    status, body = place(stack, context, order_body(**kwargs), key=key)
    assert status == 201, body
    return body["order_id"]


def emf(output: str, name: str) -> list[dict]:
    """The EMF data points named ``name`` a function printed (one JSON document per line)."""
    docs = [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]
    return [d for d in docs if any(m["Name"] == name for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"])]


def test_declined_card_rejects_the_order_with_no_stock_held(stack, context, capsys):
    stock(stack, context, on_hand=3)
    order_id = placed(stack, context, token="tok_chargeDeclinedInsufficientFunds")
    capsys.readouterr()
    with pytest.raises(PaymentDeclined) as declined:
        step(stack, context, "payment", "authorize", order_id)
    # The dashboard's "payment declines by code" widget counts it.
    (point,) = emf(capsys.readouterr().out, "PaymentDeclines")
    assert (point["service"], point["code"], point["PaymentDeclines"]) == ("payment", "insufficient_funds", [1.0])
    error = {"Error": "PaymentDeclined", "Cause": json.dumps({"errorMessage": str(declined.value)})}
    for function, action in (("inventory", "release"), ("payment", "void")):
        step(stack, context, function, action, order_id)
    step(stack, context, "order_status", "close", order_id, error=error)
    final = order(stack, order_id)
    assert (final["status"], final["payment_status"]) == ("REJECTED", "DECLINED")
    assert "insufficient funds" in final["status_detail"]
    assert inventory(stack, context)["reserved"] == 0
    assert queued_events(stack) == ["order_rejected"]


def test_processing_error_is_transient_then_rejects(stack, context, capsys):
    stock(stack, context)
    order_id = placed(stack, context, token="tok_chargeDeclinedProcessingError")
    capsys.readouterr()
    with pytest.raises(PaymentGatewayError):
        step(stack, context, "payment", "authorize", order_id)
    assert len(emf(capsys.readouterr().out, "PaymentGatewayErrors")) == 1  # the paging alarm's metric
    step(stack, context, "order_status", "close", order_id, error={"Error": "PaymentGatewayError", "Cause": "{}"})
    final = order(stack, order_id)
    assert (final["status"], final["payment_status"]) == ("REJECTED", "FAILED")


def test_review_rejection_releases_stock_and_voids_the_authorization(stack, context):
    stock(stack, context, on_hand=2)
    order_id = placed(stack, context, quantity=2)
    step(stack, context, "payment", "authorize", order_id)
    step(stack, context, "inventory", "reserve", order_id)
    assert inventory(stack, context)["available"] == 0
    step(stack, context, "inventory", "release", order_id)
    step(stack, context, "payment", "void", order_id)
    step(stack, context, "order_status", "close", order_id, error={"Error": "ReviewRejected", "Cause": "stolen card"})
    final = order(stack, order_id)
    assert (final["status"], final["payment_status"], final["fulfillment_status"]) == ("REJECTED", "VOIDED", "RELEASED")
    levels = inventory(stack, context)
    assert (levels["on_hand"], levels["reserved"], levels["available"]) == (2, 0, 2)


def test_reserve_and_release_are_idempotent(stack, context):
    stock(stack, context, on_hand=5)
    order_id = placed(stack, context, quantity=2)
    step(stack, context, "inventory", "reserve", order_id)
    step(stack, context, "inventory", "reserve", order_id)
    assert inventory(stack, context)["reserved"] == 2
    step(stack, context, "inventory", "release", order_id)
    step(stack, context, "inventory", "release", order_id)
    assert inventory(stack, context)["reserved"] == 0 and inventory(stack, context)["available"] == 5


def test_the_last_unit_goes_to_one_order_only(stack, context):
    stock(stack, context, on_hand=1)
    first = placed(stack, context, key="a")
    second = placed(stack, context, key="b")
    step(stack, context, "inventory", "reserve", first)
    with pytest.raises(OutOfStock):
        step(stack, context, "inventory", "reserve", second)
    step(stack, context, "inventory", "release", second)  # compensation of the loser is a no-op
    levels = inventory(stack, context)
    assert (levels["on_hand"], levels["reserved"], levels["available"]) == (1, 1, 0)
    step(stack, context, "order_status", "close", second, error={"Error": "OutOfStock", "Cause": "{}"})
    assert order(stack, second)["status"] == "CANCELLED"


def test_ops_cannot_count_stock_below_what_is_reserved(stack, context):
    from tests.handlers.conftest import api_event, call

    stock(stack, context, on_hand=3)
    step(stack, context, "inventory", "reserve", placed(stack, context, quantity=2))
    admin = stack.handler("admin")
    status, body = call(admin, api_event("PUT", "/admin/inventory/MUG", "/admin/inventory/{sku}", groups="ops",
                                         body={"warehouse": "wh-east", "on_hand": 1}, path_params={"sku": "MUG"}),
                        context)
    assert status == 409 and "reserved" in body["message"]
    assert inventory(stack, context)["on_hand"] == 3


def test_a_late_duplicate_cannot_move_an_order_backwards(stack, context):
    stock(stack, context)
    order_id = placed(stack, context)
    step(stack, context, "order_status", "close", order_id, error={"Error": "OutOfStock", "Cause": "{}"})
    with pytest.raises(Exception, match="CANCELLED"):
        step(stack, context, "fulfillment", "request_fulfillment", order_id, task_token="late-token")
    assert order(stack, order_id)["status"] == "CANCELLED"


def test_shipping_commits_stock_and_captures_payment(stack, context):
    stock(stack, context, on_hand=4)
    order_id = placed(stack, context, quantity=3)
    step(stack, context, "payment", "authorize", order_id)
    step(stack, context, "inventory", "reserve", order_id)
    step(stack, context, "fulfillment", "request_fulfillment", order_id, task_token="token")
    assert order(stack, order_id)["status"] == "PROCESSING"
    step(stack, context, "inventory", "commit", order_id)
    step(stack, context, "payment", "capture", order_id)
    step(stack, context, "payment", "capture", order_id)
    step(stack, context, "order_status", "mark_shipped", order_id)
    final = order(stack, order_id)
    assert (final["status"], final["payment_status"]) == ("SHIPPED", "CAPTURED")
    assert sum(1 for e in final["timeline"] if e["event"] == "payment_captured") == 1
    levels = inventory(stack, context)
    assert (levels["on_hand"], levels["reserved"], levels["available"]) == (1, 0, 1)


def ops_inbox(stack):
    """A queue subscribed to the order-alerts topic: what ops receive, as SNS notifications."""
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    inbox = sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.env("order_status", "OPS_ALERTS_TOPIC_ARN"), Protocol="sqs", Endpoint=inbox_arn)
    return lambda: [json.loads(m["Body"]) for m in
                    sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])]


def test_an_order_held_for_review_is_announced_to_ops_with_its_amount_and_reasons(stack, context):
    received = ops_inbox(stack)
    stock(stack, context, price=120000)
    order_id = placed(stack, context)
    step(stack, context, "fraud", "assess", order_id)
    step(stack, context, "fraud", "hold", order_id, task_token="review-token")
    (alert,) = received()
    assert order_id in alert["Subject"]
    assert f"Order {order_id} (USD 1,200.00) is ON_HOLD" in alert["Message"]  # free shipping over USD 100
    assert "review amount" in alert["Message"] and f"/admin/orders/{order_id}/review" in alert["Message"]


def test_a_failed_capture_after_shipping_is_flagged_and_ops_are_told(stack, context):
    received = ops_inbox(stack)
    stock(stack, context)
    order_id = placed(stack, context)
    step(stack, context, "payment", "authorize", order_id)
    error = {"Error": "PaymentGatewayError", "Cause": "processing_error"}
    step(stack, context, "order_status", "flag_capture_failure", order_id, error=error)
    step(stack, context, "order_status", "flag_capture_failure", order_id, error=error)  # a retry is harmless
    assert order(stack, order_id)["payment_status"] == "CAPTURE_FAILED"
    alerts = received()
    assert alerts and all(order_id in alert["Subject"] for alert in alerts)
    step(stack, context, "payment", "void", order_id)  # ops may still release it: CAPTURE_FAILED -> VOIDED
    assert order(stack, order_id)["payment_status"] == "VOIDED"


def test_step_logs_carry_their_own_order_and_execution_and_no_secrets(stack, context):
    """A warm function logs each invocation with that invocation's order and execution, never the last one's,
    and never the task token or the customer's email."""
    import io

    stock(stack, context, on_hand=5)
    first, second = placed(stack, context, key="log-1"), placed(stack, context, key="log-2")
    module = stack.handler("fulfillment")
    out = io.StringIO()
    module.logger.registered_handler.setStream(out)
    for order_id, execution in ((first, "exec-1"), (second, "exec-2")):
        step(stack, context, "payment", "authorize", order_id)
        step(stack, context, "inventory", "reserve", order_id)
        module.handler({"action": "request_fulfillment", "order_id": order_id, "execution": execution,
                        "task_token": f"secret-token-{execution}"}, context)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    mine = [line for line in lines if line.get("service") == "fulfillment"]
    assert [(line["order_id"], line["correlation_id"]) for line in mine] == [(first, "exec-1"), (second, "exec-2")]
    text = json.dumps(lines)
    assert "secret-token" not in text and "ann@example.com" not in text


def _sandbox(stack):
    from oms.adapters.payment_gateway import SandboxGateway

    return SandboxGateway(stack.env("payment", "SANDBOX_LEDGER_TABLE"))


def test_sandbox_gateway_follows_stripe_test_tokens_and_remembers_its_authorizations(stack):
    from oms.domain.errors import PaymentDeclined as Declined

    gateway = _sandbox(stack)
    first = gateway.authorize(token="tok_visa", amount=100, currency="USD", idempotency_key="k")
    assert first == gateway.authorize(token="tok_mastercard", amount=100, currency="USD", idempotency_key="k")
    assert gateway.find_authorization("k") == {"authorization_id": first, "status": "requires_capture", "amount": 100}
    assert gateway.find_authorization("never") is None
    with pytest.raises(Declined) as declined:
        gateway.authorize(token="tok_chargeDeclinedInsufficientFunds", amount=100, currency="USD", idempotency_key="x")
    assert declined.value.code == "insufficient_funds"
    with pytest.raises(PaymentGatewayError):
        gateway.authorize(token="tok_chargeDeclinedProcessingError", amount=100, currency="USD", idempotency_key="y")
    gateway.void(authorization_id=first, idempotency_key="v")
    gateway.void(authorization_id=first, idempotency_key="v")  # repeating is a no-op
    with pytest.raises(Declined):  # a canceled intent cannot be captured
        gateway.capture(authorization_id=first, amount=100, idempotency_key="c")
    assert [(a["authorization_id"], a["status"]) for a in gateway.ledger()] == [(first, "canceled")]


def test_a_hold_the_order_never_recorded_is_found_and_voided(stack, context):
    """The gateway authorized, then the write that records it failed: compensation asks the gateway."""
    stock(stack, context)
    order_id = placed(stack, context)
    step(stack, context, "payment", "authorize", order_id)  # records the intent, then the authorization
    from oms.adapters.orders_repo import OrdersRepository

    # Rewind to "authorized at the gateway, not recorded": the state a crash after the gateway call leaves.
    orders = OrdersRepository(stack.env("payment", "ORDERS_TABLE"))
    boto3.resource("dynamodb").Table(stack.env("payment", "ORDERS_TABLE")).update_item(
        Key={"order_id": order_id}, UpdateExpression="SET payment_status = :p REMOVE payment.authorization_id",
        ExpressionAttributeValues={":p": "PENDING"})
    assert "authorization_key" in order(stack, order_id)["payment"]
    step(stack, context, "payment", "void", order_id)
    final = order(stack, order_id)
    assert final["payment_status"] == "VOIDED"
    assert [a["status"] for a in _sandbox(stack).ledger()] == ["canceled"]
    assert orders.require(order_id)["payment"]["authorization_id"].startswith("pi_sandbox_")


def test_a_declined_card_leaves_nothing_to_void(stack, context):
    stock(stack, context)
    order_id = placed(stack, context, token="tok_chargeDeclined")
    with pytest.raises(PaymentDeclined):
        step(stack, context, "payment", "authorize", order_id)
    assert step(stack, context, "payment", "void", order_id) == {"payment_status": "PENDING"}
    assert _sandbox(stack).ledger() == []


def test_park_holds_an_unconfirmed_order_keeps_its_payment_and_counts_repeats(stack, context):
    stock(stack, context)
    order_id = placed(stack, context)
    step(stack, context, "payment", "authorize", order_id)
    failure = {"step": "ReserveStock", "Error": "TransientError",
               "Cause": json.dumps({"errorMessage": "ThrottlingException: Rate exceeded"})}
    result = step(stack, context, "order_status", "park", order_id, task_token="t1", failure=failure)
    parked = order(stack, order_id)
    assert (parked["status"], parked["payment_status"]) == ("ON_HOLD", "AUTHORIZED")
    hold = parked["technical_hold"]
    assert (hold["step"], hold["error"], hold["attempts"], hold["count"]) == ("ReserveStock", "TransientError", 9, 1)
    assert hold["cause"] == "ThrottlingException: Rate exceeded" and result["alerted"] is True
    assert "longer than usual" in parked["status_detail"]
    step(stack, context, "order_status", "park", order_id, task_token="t2", failure=failure)  # a retried park
    again = order(stack, order_id)
    assert again["technical_hold"]["count"] == 1 and again["park_task_token"] == "t2"
    assert [e["event"] for e in again["timeline"]].count("technical_hold") == 1


def test_a_failing_ops_alert_never_fails_the_step(stack, context):
    from oms.adapters.notifications import OpsAlerts
    from oms.adapters.orders_repo import OrdersRepository
    from oms.logic import order_status

    stock(stack, context)
    order_id = placed(stack, context)
    broken = OpsAlerts("arn:aws:sns:us-east-1:123456789012:no-such-topic")
    result = order_status.park(order_id, "t", {"step": "AssessRisk", "Error": "KeyError", "Cause": "{}"},
                               OrdersRepository(stack.env("order_status", "ORDERS_TABLE")), broken)
    assert result["alerted"] is False and order(stack, order_id)["status"] == "ON_HOLD"


@pytest.mark.parametrize(("error", "reason", "says"), [
    ({"Error": "TechnicalFailure", "Cause": "not resolved in time"}, "technical_failure", "technical problem"),
    ({"Error": "OrderCancelled", "Cause": json.dumps({"reason": "FRAUD", "notify_customer": False})},
     "ops_cancelled", "Our team cancelled your order because we could not verify it"),
])
def test_closing_tells_the_truth_and_honours_notify_customer(stack, context, error, reason, says):
    from oms.adapters.orders_repo import Change, OrdersRepository

    stock(stack, context)
    order_id = placed(stack, context)
    step(stack, context, "payment", "authorize", order_id)
    if error["Error"] == "OrderCancelled":  # as POST /admin/orders/{id}/cancel records it, notify_customer false
        OrdersRepository(stack.env("payment", "ORDERS_TABLE")).apply(order_id, Change(sets={
            "cancellation": {"reason": "FRAUD", "note": "stolen card", "by": "ops", "at": "2026-12-02T10:00:00Z",
                             "fee": 0},
            "cancellation_silent": True}))
    step(stack, context, "payment", "void", order_id)
    step(stack, context, "order_status", "close", order_id, error=error)
    final = order(stack, order_id)
    assert (final["status"], final["close_reason"]) == ("CANCELLED", reason)
    assert says in final["status_detail"] and "not been charged" in final["status_detail"]
    assert "stolen" not in final["status_detail"]
    assert final["cancellation"]["by"] == ("ops" if error["Error"] == "OrderCancelled" else "system")
    notified = "order_cancelled" in queued_events(stack)
    assert notified is (error["Error"] != "OrderCancelled")
