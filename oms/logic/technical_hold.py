"""Ops resume an order parked by a technical failure: the workflow runs the failed step again."""

from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict
from oms.domain.order import Order, timeline_entry
from oms.domain.status import CUSTOMER_DETAIL, OrderStatus
from oms.logic.clock import now


def retry_order(order_id: str, who: str, orders: OrdersRepository, workflow: Workflow) -> Order:
    """Resume the parked execution at the step that failed. ``Conflict`` when the order is not parked (or was
    resumed by someone else first)."""
    order = orders.require(order_id)
    token = order.get("park_task_token")
    hold = order.get("technical_hold")
    if token is None or hold is None:
        raise Conflict(f"order {order_id} is not held for a technical problem")
    workflow.resume(token, {"decision": "retry", "by": who})
    change = Change(removes=["technical_hold", "park_task_token"], expect={"park_task_token": token},
                    events=[timeline_entry(now(), "technical_hold_released", "We are processing your order again.")])
    if order["status"] == OrderStatus.ON_HOLD and "review_task_token" not in order:
        change.status_detail = CUSTOMER_DETAIL[OrderStatus.PENDING]
    try:
        return orders.apply(order_id, change)
    except TransitionRejected as rejected:  # the step already failed again and re-parked (a new token)
        return rejected.order
