"""Carrier tracking updates: forward-only shipment status; ``delivered`` delivers the order."""

from typing import Any, Literal

from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.domain.easypost import Tracker
from oms.domain.errors import TransientError
from oms.domain.order import timeline_entry
from oms.domain.status import CUSTOMER_DETAIL, FulfillmentStatus, OrderStatus
from oms.domain.tracking import DESCRIPTION, is_forward, normalize
from oms.logic.clock import now


def _location(detail: Any) -> str:
    place = detail.tracking_location or {}
    return ", ".join(str(place[k]) for k in ("city", "state", "country") if place.get(k))


TrackingOutcome = Literal["applied", "stale", "unknown_tracking_number"]


def apply_tracking(tracker: Tracker, orders: OrdersRepository, queue: NotificationQueue) -> TrackingOutcome:
    """Returns what happened: ``unknown_tracking_number``, ``stale`` or ``applied``.
    Raises TransientError when the update arrives before the order is marked shipped (retry later)."""
    order_id = orders.order_for_tracking(tracker.tracking_code)
    if order_id is None:
        return "unknown_tracking_number"
    order = orders.require(order_id)
    shipment = order["shipments"][tracker.tracking_code]
    status = normalize(tracker.status)
    if not is_forward(shipment["status"], status):
        return "stale"
    path = f"shipments.{tracker.tracking_code}"
    events = [
        {"at": d.datetime, "status": normalize(d.status or "unknown"), "message": d.message or "",
         "location": _location(d)}
        for d in tracker.tracking_details
    ]
    change = Change(
        sets={f"{path}.status": status, f"{path}.status_detail": DESCRIPTION[status], f"{path}.events": events,
              **({f"{path}.est_delivery_date": tracker.est_delivery_date} if tracker.est_delivery_date else {})},
        expect={f"{path}.status": shipment["status"]},
    )
    delivered = status == "delivered"
    if delivered:
        change.status = OrderStatus.DELIVERED
        change.fulfillment_status = FulfillmentStatus.DELIVERED
        change.status_detail = CUSTOMER_DETAIL[OrderStatus.DELIVERED]
        change.events = [timeline_entry(now(), "delivered", f"Delivered by {shipment['carrier']}.")]
    try:
        orders.apply(order_id, change)
    except TransitionRejected as rejected:
        current = rejected.order
        if current["shipments"][tracker.tracking_code]["status"] != shipment["status"]:
            return "stale"  # a concurrent update got there first; the carrier's next event supersedes
        raise TransientError(f"order {order_id} is {current['status']}; retry the delivery update later") from None
    if delivered:
        queue.publish(order_id, "order_delivered")
    return "applied"
