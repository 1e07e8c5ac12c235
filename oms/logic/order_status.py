"""Workflow steps of the order_status function: the order's final states."""

from typing import Any

from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.domain.order import close_outcome, timeline_entry
from oms.domain.status import CUSTOMER_DETAIL, TERMINAL_ORDER_STATUSES, OrderStatus, PaymentStatus
from oms.logic.clock import now


def mark_shipped(order_id: str, orders: OrdersRepository, queue: NotificationQueue) -> dict[str, Any]:
    order = orders.require(order_id)
    parcels = ", ".join(f"{s['carrier']} {s['tracking_number']}" for s in order["shipments"].values())
    change = Change(
        status=OrderStatus.SHIPPED,
        status_detail=CUSTOMER_DETAIL[OrderStatus.SHIPPED],
        removes=["fulfillment_task_token"],
        events=[timeline_entry(now(), "shipped", f"Your order is on its way ({parcels}).")],
    )
    try:
        order = orders.apply(order_id, change)
    except TransitionRejected as rejected:
        if rejected.order["status"] not in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            raise
        order = rejected.order
    queue.publish(order_id, "order_shipped")
    return {"status": order["status"]}


def close(order_id: str, error: dict[str, Any], orders: OrdersRepository, queue: NotificationQueue) -> dict[str, Any]:
    """Compensation's last step: the terminal status and the reason the customer reads."""
    outcome = close_outcome(str(error.get("Error", "")), str(error.get("Cause", "")))
    order = orders.require(order_id)
    change = Change(
        status=outcome.status,
        status_detail=outcome.detail,
        sets={"close_reason": outcome.reason},
        removes=["review_task_token", "fulfillment_task_token"],
        events=[timeline_entry(now(), outcome.status.value.lower(), outcome.detail)],
    )
    if outcome.payment_status and order["payment_status"] == PaymentStatus.PENDING:
        change.payment_status = outcome.payment_status
    try:
        order = orders.apply(order_id, change)
    except TransitionRejected as rejected:
        if rejected.order["status"] not in TERMINAL_ORDER_STATUSES:
            raise
        return {"status": rejected.order["status"]}
    event = "order_rejected" if outcome.status == OrderStatus.REJECTED else "order_cancelled"
    queue.publish(order_id, event)
    return {"status": order["status"], "reason": outcome.reason}


def flag_capture_failure(
    order_id: str, error: dict[str, Any], orders: OrdersRepository, alerts: OpsAlerts
) -> dict[str, Any]:
    """The parcel has left but the charge failed: keep shipping, tell ops to collect."""
    try:
        orders.apply(order_id, Change(payment_status=PaymentStatus.CAPTURE_FAILED))
    except TransitionRejected as rejected:
        if rejected.order["payment_status"] != PaymentStatus.CAPTURE_FAILED:
            raise
    alerts.alert(
        f"Payment capture failed for order {order_id}",
        f"The order shipped but capturing its payment failed: {error.get('Error')}: {error.get('Cause')}",
    )
    return {"payment_status": PaymentStatus.CAPTURE_FAILED.value}
