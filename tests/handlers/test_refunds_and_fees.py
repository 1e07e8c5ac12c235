"""Refunds whose answer is lost, and cancellation fees, on moto with the sandbox gateway (Stripe's behaviour)."""

import pytest

from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository
from oms.adapters.payment_gateway import SandboxGateway
from oms.domain.errors import PaymentDeclined, PaymentGatewayError, RefundDeclined, RefundPending
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


class Disputed(SandboxGateway):
    """The sandbox, for a charge the customer disputed: Stripe refuses refunds of it (``charge_disputed``)."""

    def refund(self, *, capture_id: str, amount: int, idempotency_key: str) -> str:
        raise PaymentDeclined("charge_disputed", "Charge has been disputed.")


def test_a_refused_refund_gives_back_what_it_reserved(stack, context):
    stock(stack, context, sku="MUG.2", on_hand=5)  # a SKU with a dot in it
    order_id = placed(stack, context, sku="MUG.2", quantity=2)
    for function, action in (("payment", "authorize"), ("payment", "capture")):
        step(stack, context, function, action, order_id)
    orders = OrdersRepository(stack.env("payment", "ORDERS_TABLE"))
    queue = NotificationQueue(stack.env("fulfillment", "NOTIFICATIONS_QUEUE_URL"))
    command = refunds.RefundCommand(idempotency_key="r-1", reason="broken", lines=(("MUG.2", 2),),
                                    include_shipping=True)
    disputed = Disputed(stack.env("payment", "SANDBOX_LEDGER_TABLE"))
    with pytest.raises(RefundDeclined):
        refunds.refund(order_id, command, orders, disputed, queue)
    refused = order(stack, order_id)
    assert (refused["refund_pending"], refused["refunded_quantities"], refused["shipping_refunded"]) == (
        0, {"MUG.2": 0}, False)
    (entry,) = [e for e in refused["ledger"].values() if e["operation"] == "REFUND"]
    assert (entry["status"], entry["error_code"]) == ("FAILED", "charge_disputed")
    with pytest.raises(RefundDeclined):  # the same key answers the same
        refunds.refund(order_id, command, orders, SandboxGateway(stack.env("payment", "SANDBOX_LEDGER_TABLE")),
                       queue)
    # Nothing stays reserved: once the dispute is resolved, the whole order can be refunded.
    retry = refunds.RefundCommand(idempotency_key="r-2", reason="broken", lines=(("MUG.2", 2),),
                                  include_shipping=True)
    done, _ = refunds.refund(order_id, retry, orders, SandboxGateway(stack.env("payment", "SANDBOX_LEDGER_TABLE")),
                             queue)
    assert (done["amount_refunded"], done["payment_status"]) == (done["total"], "REFUNDED")
