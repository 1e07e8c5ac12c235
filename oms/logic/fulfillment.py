"""Fulfillment: the workflow asks the warehouse to ship and waits; ops record the shipment."""

from contextlib import suppress

from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.tracking_inbox import TrackingInbox
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict, OrderShipped
from oms.domain.order import Order, Shipment, iso, timeline_entry
from oms.domain.status import CUSTOMER_DETAIL, FulfillmentStatus, OrderStatus
from oms.domain.tracking import DESCRIPTION
from oms.logic.clock import now
from oms.logic.waiting import raise_if_cancelled, unless_cancelled


def request_fulfillment(order_id: str, task_token: str, orders: OrdersRepository, queue: NotificationQueue) -> None:
    """The order is accepted: PROCESSING, waiting (task token) for the warehouse's shipment."""
    change = unless_cancelled(Change(
        status=OrderStatus.PROCESSING,
        fulfillment_status=FulfillmentStatus.AWAITING_SHIPMENT,
        status_detail=CUSTOMER_DETAIL[OrderStatus.PROCESSING],
        sets={"fulfillment_task_token": task_token},
        events=[timeline_entry(now(), "order_confirmed", "Order confirmed; it is being picked and packed.")],
    ))
    try:
        orders.apply(order_id, change)
    except TransitionRejected as rejected:
        raise_if_cancelled(rejected.order)
        current = rejected.order
        if current["fulfillment_status"] == FulfillmentStatus.SHIPPED and current["status"] == OrderStatus.PROCESSING:
            # The shipment was recorded while this wait was being renewed: nothing to wait for.
            raise OrderShipped(f"order {order_id} was shipped while its wait was renewed") from None
        if current["fulfillment_status"] != FulfillmentStatus.AWAITING_SHIPMENT or \
                current["status"] not in (OrderStatus.PROCESSING, OrderStatus.ON_HOLD):
            raise
        # A retried invocation, a retry after a technical hold, a renewed wait after a re-authorization, or the
        # end of a payment hold (ON_HOLD again PROCESSING once the customer's new payment method is authorized).
        resumed = Change(sets={"fulfillment_task_token": task_token}, expect={"status": current["status"]})
        if current["status"] == OrderStatus.ON_HOLD:
            resumed.status = OrderStatus.PROCESSING
            resumed.status_detail = CUSTOMER_DETAIL[OrderStatus.PROCESSING]
        try:
            orders.apply(order_id, unless_cancelled(resumed))
        except TransitionRejected as again:
            raise_if_cancelled(again.order)
            raise
    queue.publish(order_id, "order_confirmed")


def record_shipment(
    order_id: str, carrier: str, tracking_number: str, orders: OrdersRepository, workflow: Workflow,
    inbox: TrackingInbox | None = None,
) -> Order:
    """The warehouse handed the parcel to ``carrier``; resumes the waiting workflow. The same shipment again, at
    once or later, answers the same; a different one for an order that is not waiting is a Conflict. Carrier
    events that arrived before the shipment (parked, at most 24 hours) are queued again to be applied."""
    order = orders.require(order_id)
    existing = order["shipments"].get(tracking_number)
    if existing is None:
        try:
            _record(order, carrier, tracking_number, orders)
        except Conflict:
            # A concurrent identical request may have won the race: then this one is a repeat, not a conflict.
            order = orders.require(order_id)
            existing = order["shipments"].get(tracking_number)
            if existing is None or existing["carrier"] != carrier:
                if "cancellation" in order:
                    raise Conflict(f"order {order_id} is being cancelled; do not ship it") from None
                raise
    elif existing["carrier"] != carrier:
        raise Conflict(f"tracking_number {tracking_number} is already recorded with {existing['carrier']}")
    token = order.get("fulfillment_task_token")
    if token:
        # If the wait ended meanwhile (its payment hold being renewed, or a timeout), the shipment is recorded all
        # the same, and the step that runs next finds it (``OrderShipped``) and goes on to ship.
        with suppress(Conflict):
            workflow.resume(token, {"carrier": carrier, "tracking_number": tracking_number})
    if inbox is not None:
        inbox.release_parked(tracking_number)
    return orders.require(order_id)


def _record(order: Order, carrier: str, tracking_number: str, orders: OrdersRepository) -> None:
    order_id = order["order_id"]
    if order["status"] != OrderStatus.PROCESSING or "fulfillment_task_token" not in order:
        raise Conflict(f"order {order_id} is {order['status']}; only PROCESSING orders can be shipped")
    moment = now()
    shipment: Shipment = {
        "carrier": carrier, "tracking_number": tracking_number, "status": "pre_transit",
        "status_detail": DESCRIPTION["LABEL_CREATED"], "events": [], "created_at": iso(moment),
        "tracking_status": "LABEL_CREATED",
    }
    if "cancellation" in order:
        raise Conflict(f"order {order_id} is being cancelled ({order['cancellation']['by']}); do not ship it")
    change = Change(
        fulfillment_status=FulfillmentStatus.SHIPPED,
        sets={f"shipments.{tracking_number}": shipment},
        expect={"status": OrderStatus.PROCESSING.value},
        absent=["cancellation"],  # of a shipment and a cancellation racing, exactly one is recorded
        events=[timeline_entry(moment, "shipment_created",
                               f"Handed to {carrier}, tracking number {tracking_number}.")],
    )
    orders.record_shipment(order_id, change, tracking_number, carrier)


def start_picking(order_id: str, who: str, orders: OrdersRepository) -> Order:
    """The warehouse started picking: from now on the customer can no longer cancel (ops still can, until it
    ships). Repeating it answers the same; a PROCESSING order being cancelled is not picked (Conflict)."""
    change = Change(
        sets={"picking": {"started_at": iso(now()), "by": who}},
        expect={"status": OrderStatus.PROCESSING.value,
                "fulfillment_status": FulfillmentStatus.AWAITING_SHIPMENT.value},
        absent=["picking", "cancellation"],
        events=[timeline_entry(now(), "picking_started", "The warehouse is picking your order.")],
    )
    try:
        return orders.apply(order_id, change)
    except TransitionRejected as rejected:
        order = rejected.order
        if "picking" in order:
            return order
        if "cancellation" in order:
            raise Conflict(f"order {order_id} is being cancelled; do not pick it") from None
        raise Conflict(f"order {order_id} is {order['status']} (fulfillment {order['fulfillment_status']}); "
                       "only a PROCESSING order awaiting shipment can be picked") from None
