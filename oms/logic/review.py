"""Ops review of a held order: record the decision and resume the waiting workflow."""

from typing import Literal

from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict
from oms.domain.order import Order, Review, iso, timeline_entry
from oms.domain.status import OrderStatus
from oms.logic.clock import now


def review_order(order_id: str, decision: Literal["approve", "reject"], note: str, reviewer: str,
                 orders: OrdersRepository, workflow: Workflow) -> Order:
    order = orders.require(order_id)
    if order["status"] != OrderStatus.ON_HOLD or "review_task_token" not in order:
        raise Conflict(f"order {order_id} is {order['status']}; only ON_HOLD orders can be reviewed")
    moment = now()
    review: Review = {"decision": decision, "note": note, "reviewer": reviewer, "at": iso(moment)}
    detail = ("Your order was approved by our team." if decision == "approve"
              else "Your order did not pass our review.")
    change = Change(
        sets={"review": review},
        expect={"status": OrderStatus.ON_HOLD.value},
        absent=["review"],
        events=[timeline_entry(moment, f"review_{decision}d", detail)],
    )
    try:
        orders.apply(order_id, change)
    except TransitionRejected as rejected:
        previous = rejected.order.get("review", {})
        if previous.get("decision") != decision:
            raise Conflict(f"order {order_id} was already reviewed ({previous.get('decision')})") from None
    workflow.resume(order["review_task_token"], {"decision": decision, "note": note, "reviewer": reviewer})
    return orders.require(order_id)
