"""Ops resume an order parked by a technical failure: the workflow runs the failed step again."""

from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict
from oms.domain.order import Order, timeline_entry
from oms.domain.status import CUSTOMER_DETAIL, TECHNICAL_HOLD_DETAIL, OrderStatus
from oms.logic.clock import now


def retry_order(order_id: str, who: str, orders: OrdersRepository, workflow: Workflow) -> Order:
    """Resume the parked execution at the step that failed. ``Conflict`` when the order is not parked (or was
    resumed by someone else first, or its hold timed out meanwhile).

    The hold is cleared before the execution resumes, so a step that fails again can park afresh; if resuming
    fails for a passing reason, the hold is put back and ops can retry again."""
    order = orders.require(order_id)
    token = order.get("park_task_token")
    hold = order.get("technical_hold")
    if token is None or hold is None:
        raise Conflict(f"order {order_id} is not held for a technical problem")
    release = Change(removes=["technical_hold", "park_task_token"], expect={"park_task_token": token},
                     events=[timeline_entry(now(), "technical_hold_released", "We are processing your order again.")])
    waiting_for_payment_or_stock = order["status"] == OrderStatus.ON_HOLD and "review_task_token" not in order
    if waiting_for_payment_or_stock:
        release.status_detail = CUSTOMER_DETAIL[OrderStatus.PENDING]
    try:
        released = orders.apply(order_id, release)
    except TransitionRejected:
        raise Conflict(f"order {order_id} was resumed by someone else") from None
    try:
        workflow.resume(token, {"decision": "retry", "by": who})
    except Conflict:
        raise Conflict(f"order {order_id} is no longer parked (its hold timed out)") from None
    except Exception:
        orders.apply(order_id, Change(
            sets={"technical_hold": hold, "park_task_token": token}, absent=["park_task_token"],
            status_detail=TECHNICAL_HOLD_DETAIL if waiting_for_payment_or_stock else None,
        ))
        raise
    return released
