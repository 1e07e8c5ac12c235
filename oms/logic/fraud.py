"""Workflow steps of the fraud function: score the order; hold it for review when needed."""

from decimal import Decimal
from typing import Any

from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.domain.fraud import RiskInput, assess
from oms.domain.money import format_minor
from oms.domain.order import Risk, iso, timeline_entry
from oms.domain.status import CUSTOMER_DETAIL, OrderStatus
from oms.logic.clock import now
from oms.logic.waiting import raise_if_cancelled, unless_cancelled


def assess_order(order_id: str, orders: OrdersRepository, *, threshold: int, review_amount: Decimal) -> dict[str, Any]:
    order = orders.require(order_id)
    facts = RiskInput(
        total=order["total"],
        currency=order["currency"],
        shipping_country=order["shipping_address"]["country"],
        billing_country=order["billing_address"]["country"],
        shipping_method=order["shipping_method"],
        email=order["contact"]["email"],
        quantities=[line["quantity"] for line in order["lines"]],
    )
    result = assess(facts, threshold=threshold, review_amount=str(review_amount))
    risk: Risk = {"score": result.score, "reasons": result.reasons, "decision": result.decision,
                  "threshold": threshold, "assessed_at": iso(now())}
    orders.apply(order_id, Change(sets={"risk": risk}))
    return {"decision": result.decision, "score": result.score, "reasons": result.reasons}


def hold_for_review(order_id: str, task_token: str, orders: OrdersRepository, alerts: OpsAlerts,
                    queue: NotificationQueue) -> dict[str, Any]:
    """Put the order ON_HOLD and keep the task token the ops review will resume; tell the customer (once: the
    message is idempotent per order) that the order needs more time, never why."""
    change = unless_cancelled(Change(
        status=OrderStatus.ON_HOLD,
        status_detail=CUSTOMER_DETAIL[OrderStatus.ON_HOLD],
        sets={"review_task_token": task_token},
        events=[timeline_entry(now(), "held_for_review", "Your order is being reviewed by our team.")],
    ))
    try:
        order = orders.apply(order_id, change)
    except TransitionRejected as rejected:
        raise_if_cancelled(rejected.order)
        if rejected.order["status"] != OrderStatus.ON_HOLD:
            raise
        # A retried invocation of the same wait, or a retry after a technical hold: keep the newest token.
        try:
            order = orders.apply(order_id, unless_cancelled(Change(
                sets={"review_task_token": task_token}, status_detail=CUSTOMER_DETAIL[OrderStatus.ON_HOLD],
                expect={"status": OrderStatus.ON_HOLD.value},
            )))
        except TransitionRejected as again:
            raise_if_cancelled(again.order)
            raise
    queue.publish(order_id, "order_held")
    reasons = "\n".join(f"- {reason}" for reason in order.get("risk", {}).get("reasons", []))
    alerted = alerts.alert(
        f"Order {order_id} is waiting for review",
        f"Order {order_id} ({format_minor(order['total'], order['currency'])}) is ON_HOLD.\n{reasons}\n"
        f"Decide with POST /admin/orders/{order_id}/review.",
    )
    return {"alerted": alerted}
