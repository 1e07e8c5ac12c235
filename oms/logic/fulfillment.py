"""Fulfillment: the workflow asks the warehouse to ship and waits; ops record the shipment."""

from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict
from oms.domain.order import Order, Shipment, iso, timeline_entry
from oms.domain.status import CUSTOMER_DETAIL, FulfillmentStatus, OrderStatus
from oms.domain.tracking import DESCRIPTION
from oms.logic.clock import now


def request_fulfillment(order_id: str, task_token: str, orders: OrdersRepository, queue: NotificationQueue) -> None:
    """The order is accepted: PROCESSING, waiting (task token) for the warehouse's shipment."""
    change = Change(
        status=OrderStatus.PROCESSING,
        fulfillment_status=FulfillmentStatus.AWAITING_SHIPMENT,
        status_detail=CUSTOMER_DETAIL[OrderStatus.PROCESSING],
        sets={"fulfillment_task_token": task_token},
        events=[timeline_entry(now(), "order_confirmed", "Order confirmed; it is being picked and packed.")],
    )
    try:
        orders.apply(order_id, change)
    except TransitionRejected as rejected:
        if rejected.order["status"] != OrderStatus.PROCESSING:
            raise
        orders.apply(order_id, Change(
            sets={"fulfillment_task_token": task_token},
            expect={"status": OrderStatus.PROCESSING.value},
        ))
    queue.publish(order_id, "order_confirmed")


def record_shipment(
    order_id: str, carrier: str, tracking_number: str, orders: OrdersRepository, workflow: Workflow
) -> Order:
    """The warehouse handed the parcel to ``carrier``; resumes the waiting workflow. The same shipment again, at
    once or later, answers the same; a different one for an order that is not waiting is a Conflict."""
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
                raise
    elif existing["carrier"] != carrier:
        raise Conflict(f"tracking_number {tracking_number} is already recorded with {existing['carrier']}")
    token = order.get("fulfillment_task_token")
    if token:
        try:
            workflow.resume(token, {"carrier": carrier, "tracking_number": tracking_number})
        except Conflict:
            if existing is None:
                raise
    return orders.require(order_id)


def _record(order: Order, carrier: str, tracking_number: str, orders: OrdersRepository) -> None:
    order_id = order["order_id"]
    if order["status"] != OrderStatus.PROCESSING or "fulfillment_task_token" not in order:
        raise Conflict(f"order {order_id} is {order['status']}; only PROCESSING orders can be shipped")
    moment = now()
    shipment: Shipment = {
        "carrier": carrier, "tracking_number": tracking_number, "status": "pre_transit",
        "status_detail": DESCRIPTION["pre_transit"], "events": [], "created_at": iso(moment),
    }
    change = Change(
        fulfillment_status=FulfillmentStatus.SHIPPED,
        sets={f"shipments.{tracking_number}": shipment},
        expect={"status": OrderStatus.PROCESSING.value},
        events=[timeline_entry(moment, "shipment_created",
                               f"Handed to {carrier}, tracking number {tracking_number}.")],
    )
    orders.record_shipment(order_id, change, tracking_number, carrier)
