"""Refunds whose answer is lost, and cancellation fees, on moto with the sandbox gateway (Stripe's behaviour)."""

import pytest

from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository
from oms.adapters.payment_gateway import SandboxGateway
from oms.domain.errors import PaymentGatewayError, RefundPending
from oms.logic import refunds
from tests.handlers.helpers import order, step, stock
from tests.handlers.test_workflow_steps import placed


class LostAnswers(SandboxGateway):
    """The sandbox, behind a network that loses the answer of the first ``lose`` refunds after they happened."""

    def __init__(self, table: str, lose: int) -> None:
        super().__init__(table)
        self.lose = lose

    def refund(self, *, capture_id: str, amount: int, idempotency_key: str) -> str:
        refund_id = super().refund(capture_id=capture_id, amount=amount, idempotency_key=idempotency_key)
        if self.lose:
            self.lose -= 1
            raise PaymentGatewayError("read timeout")
        return refund_id


def _captured(stack, context) -> str:
    stock(stack, context)
    order_id = placed(stack, context)
    for function, action in (("payment", "authorize"), ("payment", "capture")):
        step(stack, context, function, action, order_id)
    return order_id


def test_a_refund_whose_answer_was_lost_is_finished_by_the_same_request_once(stack, context, monkeypatch):
    monkeypatch.setattr(refunds.time, "sleep", lambda _: None)
    order_id = _captured(stack, context)
    orders = OrdersRepository(stack.env("payment", "ORDERS_TABLE"))
    queue = NotificationQueue(stack.env("fulfillment", "NOTIFICATIONS_QUEUE_URL"))
    command = refunds.RefundCommand(idempotency_key="r-1", reason="late parcel", amount=500)
    gateway = LostAnswers(stack.env("payment", "SANDBOX_LEDGER_TABLE"), lose=refunds.ATTEMPTS)
    with pytest.raises(RefundPending):
        refunds.refund(order_id, command, orders, gateway, queue)
    unknown = order(stack, order_id)
    (entry,) = [e for e in unknown["ledger"].values() if e["operation"] == "REFUND"]
    assert (entry["status"], unknown["refund_pending"], unknown["amount_refunded"]) == ("PENDING", 500, 0)
    # While it is unknown, the reserved amount counts: nothing can be refunded past the capture meanwhile.
    with pytest.raises(refunds.RefundExceedsCaptured):
        refunds.refund(order_id, refunds.RefundCommand(idempotency_key="r-2", reason="x",
                                                       amount=unknown["total"] - 499), orders, gateway, queue)
    finished, replayed = refunds.refund(order_id, command, orders, gateway, queue)
    assert replayed and (finished["amount_refunded"], finished["refund_pending"]) == (500, 0)
    assert finished["payment_status"] == "PARTIALLY_REFUNDED"
    (entry,) = [e for e in finished["ledger"].values() if e["operation"] == "REFUND"]
    assert entry["status"] == "SUCCEEDED" and entry["gateway_reference"].startswith("re_")
    charge = gateway.objects()
    assert [o["amount"] for o in charge if o["authorization_id"].startswith("re_")] == [500]  # one refund


def test_a_cancellation_fee_is_captured_and_the_rest_of_the_hold_released(stack, context):
    stock(stack, context)
    order_id = placed(stack, context)
    step(stack, context, "payment", "authorize", order_id)
    orders = OrdersRepository(stack.env("payment", "ORDERS_TABLE"))
    orders.apply(order_id, Change(sets={"cancellation": {"reason": "CHANGED_MIND", "note": "", "by": "customer",
                                                         "at": "2026-12-02T10:00:00Z", "fee": 150}}))
    step(stack, context, "inventory", "release", order_id)
    step(stack, context, "payment", "void", order_id)
    step(stack, context, "order_status", "close", order_id,
         error={"Error": "OrderCancelled", "Cause": "{}"})
    closed = order(stack, order_id)
    assert (closed["status"], closed["payment_status"], closed["amount_captured"]) == ("CANCELLED", "CAPTURED", 150)
    assert closed["cancellation"]["fee"] == 150 and "USD 1.50" in closed["status_detail"]
    intents = SandboxGateway(stack.env("payment", "SANDBOX_LEDGER_TABLE")).ledger()
    assert [(i["status"], i["captured_amount"]) for i in intents] == [("succeeded", 150)]
