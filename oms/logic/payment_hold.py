"""A payment hold that could not be renewed: the order waits (task token) for the customer's new payment method.

``await_payment`` is the workflow step (ON_HOLD, ``hold_reason`` payment, the customer emailed); ``update_payment``
is the customer's answer (``POST /orders/{id}/payment``): the new token is stored and the workflow resumes, places a
fresh hold with it and goes on waiting for the warehouse. Nothing ships unpaid.
"""

from typing import Any

from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict
from oms.domain.order import Order, PaymentRecord, iso, timeline_entry
from oms.domain.status import PAYMENT_HOLD_DETAIL, OrderStatus
from oms.logic.clock import now
from oms.logic.waiting import raise_if_cancelled, unless_cancelled

HOLDABLE = [OrderStatus.ON_HOLD.value, OrderStatus.PROCESSING.value]


def await_payment(order_id: str, task_token: str, orders: OrdersRepository,
                  queue: NotificationQueue) -> dict[str, Any]:
    order = orders.require(order_id)
    raise_if_cancelled(order)
    repeat = "payment_task_token" in order
    change = unless_cancelled(Change(
        status_detail=PAYMENT_HOLD_DETAIL,
        sets={"payment_task_token": task_token},
        expect_in={"status": HOLDABLE},
        events=[] if repeat else [timeline_entry(now(), "payment_update_required", PAYMENT_HOLD_DETAIL)],
    ))
    if order["status"] == OrderStatus.PROCESSING:
        change.status = OrderStatus.ON_HOLD
    try:
        orders.apply(order_id, change)
    except TransitionRejected as rejected:
        raise_if_cancelled(rejected.order)
        raise
    queue.publish(order_id, "payment_update_required", ref=str(order["payment"].get("reauthorizations", 0)))
    return {"hold_reason": "payment"}


def update_payment(order_id: str, customer_id: str, payment: PaymentRecord, orders: OrdersRepository,
                   workflow: Workflow) -> Order:
    """The customer's new payment method for an order whose hold could not be renewed. ``Conflict`` when the
    order is not waiting for one."""
    order = orders.require(order_id)
    waiting = order.get("payment_task_token")
    if waiting is None:
        raise Conflict(f"order {order_id} is not waiting for a new payment method")
    orders.apply(order_id, Change(
        sets={**{f"payment.{k}": v for k, v in payment.items()}, "payment.token_replaced": True},
        removes=["payment_task_token", *(f"payment.{k}" for k in ("customer", "payment_method_id")
                                         if k not in payment)],
        expect={"payment_task_token": waiting},
        events=[timeline_entry(now(), "payment_updated", "Thank you: we received your new payment method.")],
    ))
    try:
        workflow.resume(waiting, {"updated_by": customer_id, "at": iso(now())})
    except Conflict:
        raise Conflict(f"order {order_id} stopped waiting for a payment method (it timed out)") from None
    return orders.require(order_id)
