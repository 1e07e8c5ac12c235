"""Ops cancel an order before it ships: the waiting workflow step fails with ``OrderCancelled``, and the state
machine's own compensation releases the stock, voids the authorization and closes the order (CANCELLED)."""

from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.workflow import Workflow
from oms.contract import Error
from oms.domain.errors import Conflict, NotCancellable
from oms.domain.order import Cancellation, Order, iso, timeline_entry
from oms.domain.status import FulfillmentStatus, OrderStatus
from oms.logic.clock import now

#: Steps an order waits in before it ships, by the attribute holding the wait's task token.
WAITING_TOKENS = ("park_task_token", "review_task_token", "fulfillment_task_token")
SHIPPED = (FulfillmentStatus.SHIPPED, FulfillmentStatus.PARTIALLY_SHIPPED, FulfillmentStatus.DELIVERED)


def cancel_by_ops(order_id: str, reason: str, note: str, notify_customer: bool, who: str, orders: OrdersRepository,
                  workflow: Workflow) -> Order:
    order = orders.require(order_id)
    if order["status"] in (OrderStatus.CANCELLED, OrderStatus.REJECTED) or order["fulfillment_status"] in SHIPPED:
        raise NotCancellable(f"order {order_id} is {order['status']} (fulfillment {order['fulfillment_status']}); "
                             "an order that has shipped is returned, not cancelled")
    token = next((order[key] for key in WAITING_TOKENS if key in order), None)  # type: ignore[literal-required]
    if token is None:
        raise Conflict(f"order {order_id} is between two workflow steps; try again in a few seconds")
    moment = now()
    cancellation: Cancellation = {"reason": reason, "note": note, "by": "ops", "at": iso(moment), "fee": 0}
    try:
        orders.apply(order_id, Change(
            sets={"cancellation": cancellation}, absent=["cancellation"],
            events=[timeline_entry(moment, "cancellation_requested", "The order is being cancelled by our team.")],
        ))
    except TransitionRejected:
        raise Conflict(f"order {order_id} is already being cancelled") from None
    try:
        workflow.fail(token, Error.ORDER_CANCELLED.value,
                      {"reason": reason, "note": note, "by": who, "notify_customer": notify_customer})
    except Exception as error:
        # Nothing was cancelled (the step moved on, or Step Functions did not answer): ops may try again.
        orders.apply(order_id, Change(removes=["cancellation"]))
        if isinstance(error, Conflict):
            raise Conflict(f"order {order_id} moved to its next step while cancelling; try again") from None
        raise
    return orders.require(order_id)
