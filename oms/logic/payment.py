"""Workflow steps of the payment function: authorize, capture, void. Each is idempotent, and every authorization
ends voided or captured: the intent (with the gateway's idempotency key) is recorded before the gateway is called,
so compensation asks the gateway when the order does not know whether a hold was placed."""

from typing import Any

from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.payment_gateway import PaymentGateway
from oms.domain.money import format_minor
from oms.domain.order import Order, iso, timeline_entry
from oms.domain.status import PaymentStatus
from oms.logic.clock import now

PaymentResult = dict[str, Any]


def authorization_key(order_id: str) -> str:
    return f"{order_id}:authorize"


def authorize(order_id: str, orders: OrdersRepository, gateway: PaymentGateway) -> PaymentResult:
    order = orders.require(order_id)
    if order["payment_status"] != PaymentStatus.PENDING:
        return {"payment_status": order["payment_status"]}
    key = authorization_key(order_id)
    if order["payment"].get("authorization_key") != key:
        # The intent first: if the gateway answers and we crash before recording it, void finds the hold.
        order = orders.apply(order_id, Change(
            sets={"payment.authorization_key": key, "payment.authorization_requested_at": iso(now())},
            expect={"payment_status": PaymentStatus.PENDING.value},
        ))
    authorization_id = gateway.authorize(token=order["payment"]["token"], amount=order["total"],
                                         currency=order["currency"], idempotency_key=key)
    return {"payment_status": _record_authorization(orders, order, authorization_id)["payment_status"]}


def _record_authorization(orders: OrdersRepository, order: Order, authorization_id: str) -> Order:
    amount = format_minor(order["total"], order["currency"])
    change = Change(
        payment_status=PaymentStatus.AUTHORIZED,
        sets={"payment.authorization_id": authorization_id},
        events=[timeline_entry(now(), "payment_authorized", f"Payment of {amount} authorized.")],
    )
    return _apply(orders, order["order_id"], change)


def capture(order_id: str, orders: OrdersRepository, gateway: PaymentGateway) -> PaymentResult:
    order = orders.require(order_id)
    if order["payment_status"] == PaymentStatus.CAPTURED:
        return {"payment_status": order["payment_status"]}
    capture_id = gateway.capture(
        authorization_id=_authorization(order), amount=order["total"], idempotency_key=f"{order_id}:capture",
    )
    amount = format_minor(order["total"], order["currency"])
    change = Change(
        payment_status=PaymentStatus.CAPTURED,
        sets={"payment.capture_id": capture_id},
        events=[timeline_entry(now(), "payment_captured", f"Payment of {amount} charged.")],
    )
    return {"payment_status": _apply(orders, order_id, change)["payment_status"]}


def void(order_id: str, orders: OrdersRepository, gateway: PaymentGateway) -> PaymentResult:
    """Compensation: release an authorization that will not be captured. When the order never recorded one but
    an authorization was requested, the gateway is asked, so a hold placed just before a failure is released too."""
    order = orders.require(order_id)
    if order["payment_status"] == PaymentStatus.PENDING and "authorization_key" in order["payment"]:
        found = gateway.find_authorization(order["payment"]["authorization_key"])
        if found is not None and found["status"] == "requires_capture":
            order = _record_authorization(orders, order, found["authorization_id"])
    if order["payment_status"] not in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURE_FAILED):
        return {"payment_status": order["payment_status"]}
    gateway.void(authorization_id=_authorization(order), idempotency_key=f"{order_id}:void")
    change = Change(
        payment_status=PaymentStatus.VOIDED,
        events=[timeline_entry(now(), "payment_voided", "Payment authorization released; you were not charged.")],
    )
    return {"payment_status": _apply(orders, order_id, change)["payment_status"]}


def _authorization(order: Order) -> str:
    authorization_id = order["payment"].get("authorization_id")
    if authorization_id is None:
        raise RuntimeError(f"order {order['order_id']} is {order['payment_status']} without an authorization id")
    return authorization_id


def _apply(orders: OrdersRepository, order_id: str, change: Change) -> Order:
    """Apply; a concurrent duplicate that already reached the same payment status counts as done."""
    try:
        return orders.apply(order_id, change)
    except TransitionRejected as rejected:
        if rejected.order["payment_status"] == change.payment_status:
            return rejected.order
        raise
