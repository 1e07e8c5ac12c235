"""Workflow steps of the order_status function: the order's final states, and parking an order ops must see."""

import json
from typing import Any

from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.contract import attempts_before_park
from oms.domain.cancellation import cancelled_detail
from oms.domain.order import Cancellation, Outcome, TechnicalHold, close_outcome, iso, timeline_entry
from oms.domain.status import (
    CUSTOMER_DETAIL,
    TECHNICAL_HOLD_DETAIL,
    TERMINAL_ORDER_STATUSES,
    OrderStatus,
    PaymentStatus,
)
from oms.logic.clock import now
from oms.logic.waiting import raise_if_cancelled, unless_cancelled


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
    shipped = sorted(order["shipments"].values(), key=lambda s: s["created_at"])
    final = [s for s in shipped if s.get("final", True)]
    if len(shipped) == 1 or not any("lines" in s for s in shipped):
        queue.publish(order_id, "order_shipped")
    elif final:
        queue.publish(order_id, "order_shipped", ref=final[-1]["tracking_number"])  # the parcels before: theirs
    return {"status": order["status"]}


def close(order_id: str, error: dict[str, Any], orders: OrdersRepository, queue: NotificationQueue) -> dict[str, Any]:
    """Compensation's last step: the terminal status and the reason the customer reads."""
    outcome = close_outcome(str(error.get("Error", "")), str(error.get("Cause", "")))
    order = orders.require(order_id)
    sets: dict[str, Any] = {"close_reason": outcome.reason}
    requested = order.get("cancellation")
    if requested is not None:
        # A customer's or ops' cancellation: it decides the status and the sentence, whatever ended the workflow.
        outcome = Outcome(OrderStatus.CANCELLED, f"{requested['by']}_cancelled",
                          cancelled_detail(requested["by"], requested["reason"], order.get("amount_captured", 0),
                                           order["currency"]), None)
        sets = {"close_reason": outcome.reason, "cancellation.fee": order.get("amount_captured", 0)}
    elif outcome.status == OrderStatus.CANCELLED:
        system: Cancellation = {"reason": outcome.reason, "note": outcome.detail, "by": "system",
                                "at": iso(now()), "fee": 0}
        sets["cancellation"] = system
    change = Change(
        status=outcome.status,
        status_detail=outcome.detail,
        sets=sets,
        removes=["review_task_token", "fulfillment_task_token", "technical_hold", "park_task_token"],
        events=[timeline_entry(now(), outcome.status.value.lower(), outcome.detail)],
    )
    if outcome.payment_status and order["payment_status"] == PaymentStatus.PENDING:
        change.payment_status = outcome.payment_status
    try:
        order = orders.apply(order_id, change)
    except TransitionRejected as rejected:
        if rejected.order["status"] not in TERMINAL_ORDER_STATUSES:
            raise
        order = rejected.order
        if order["status"] != outcome.status:
            return {"status": order["status"]}
        # A retry after the write: publish again (the consumer sends each event once).
    if not order.get("cancellation_silent", False):  # ops cancelled with notify_customer false
        queue.publish(order_id, "order_rejected" if outcome.status == OrderStatus.REJECTED else "order_cancelled")
    if "exchange_of" in order:  # a return's replacement that will not ship: the caller refunds its credit
        return {"status": order["status"], "reason": outcome.reason, "replacement": True}
    return {"status": order["status"], "reason": outcome.reason}


def park(order_id: str, task_token: str, failure: dict[str, Any], orders: OrdersRepository,
         alerts: OpsAlerts, *, cancellable: bool = False) -> dict[str, Any]:
    """A step kept failing past its retries: hold the order where ops see it (status ON_HOLD before it is
    confirmed), keeping its authorization and reservation, until ops retry it or cancel it. Before shipment
    (``cancellable``), an order cancelled meanwhile is not parked: the wait ends with ``OrderCancelled``."""
    order = orders.require(order_id)
    if cancellable:
        raise_if_cancelled(order)
    error = str(failure.get("Error", ""))
    repeat = "technical_hold" in order  # a retried invocation of the same park
    hold: TechnicalHold = {
        "step": str(failure.get("step", "")),
        "error": error,
        "cause": _cause_message(failure.get("Cause"))[:500],
        "attempts": attempts_before_park(error),
        "parked_at": iso(now()),
        "count": order.get("parked_count", 0) + (0 if repeat else 1),
    }
    change = Change(sets={"technical_hold": hold, "park_task_token": task_token, "parked_count": hold["count"]})
    if order["status"] in (OrderStatus.PENDING, OrderStatus.ON_HOLD):
        change.status_detail = TECHNICAL_HOLD_DETAIL
        change.expect_in = {"status": [OrderStatus.PENDING.value, OrderStatus.ON_HOLD.value]}
        if order["status"] == OrderStatus.PENDING:
            change.status = OrderStatus.ON_HOLD
        if not repeat:
            change.events = [timeline_entry(now(), "technical_hold", TECHNICAL_HOLD_DETAIL)]
    if cancellable:
        unless_cancelled(change)
    try:
        orders.apply(order_id, change)
    except TransitionRejected as rejected:
        if cancellable:
            raise_if_cancelled(rejected.order)
        raise
    alerted = alerts.alert(
        f"Order {order_id} is parked: {hold['step']} kept failing",
        f"{hold['step']} failed {hold['attempts']} times ({error}: {hold['cause']}). The order keeps its payment "
        f"authorization and stock. Retry it with POST /admin/orders/{order_id}/retry once the cause is fixed, or "
        f"cancel it with POST /admin/orders/{order_id}/cancel (before it ships).",
    )
    return {"technical_hold": hold, "alerted": alerted}


def _cause_message(cause: Any) -> str:
    """Step Functions passes a Lambda error as JSON in ``Cause``; keep its message."""
    try:
        parsed = json.loads(str(cause or ""))
    except ValueError:
        return str(cause or "")
    return str(parsed.get("errorMessage", parsed)) if isinstance(parsed, dict) else str(parsed)


def flag_capture_failure(
    order_id: str, error: dict[str, Any], orders: OrdersRepository, alerts: OpsAlerts
) -> dict[str, Any]:
    """The parcel has left but the charge failed: keep shipping, tell ops to collect."""
    try:
        orders.apply(order_id, Change(payment_status=PaymentStatus.CAPTURE_FAILED))
    except TransitionRejected as rejected:
        if rejected.order["payment_status"] != PaymentStatus.CAPTURE_FAILED:
            raise
    alerted = alerts.alert(
        f"Payment capture failed for order {order_id}",
        f"The order shipped but capturing its payment failed: {error.get('Error')}: {error.get('Cause')}",
    )
    return {"payment_status": PaymentStatus.CAPTURE_FAILED.value, "alerted": alerted}
