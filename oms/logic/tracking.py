"""Carrier events: accepted at the webhook (verify, store, queue) and applied from the queue.

Applying an update: the shipment's ``tracking_status`` moves only forward (``oms.domain.tracking.supersedes``),
its events are merged whatever their order, and the customer hears of what matters: out for delivery (SMS, if
they opted in), a failed attempt, an exception or a return (email, and an ops alert), a carrier estimate more than
a day past the promised window (email, once), and the delivery. Every shipment delivered delivers the order.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.tracking_inbox import TrackingInbox, event_key
from oms.domain.errors import TransientError
from oms.domain.order import Order, TrackingEvent, iso, timeline_entry
from oms.domain.status import CUSTOMER_DETAIL, FulfillmentStatus, OrderStatus
from oms.domain.tracking import DESCRIPTION, LEGACY_STATUS, PROBLEMS, supersedes
from oms.logic.clock import now

if TYPE_CHECKING:  # the sources' pydantic models are built on the first event, not at the function's init
    from collections.abc import Callable

    from oms.domain.carrier_events import CarrierUpdate
    from oms.logic.returns import Returns

Accepted = Literal["accepted", "duplicate"]
Outcome = Literal["applied", "stale", "parked", "expired", "ignored"]


def accept(update: CarrierUpdate, body: str, inbox: TrackingInbox) -> Accepted:
    """Store the raw event and queue it; a repeated event id is not queued again, unless it never got processed
    (its first queueing may have failed), so a carrier's retry never loses an event."""
    key = event_key(update.source, update.event_id)
    if inbox.store(update.source, update.event_id, update.tracking_number, body, iso(now())):
        inbox.enqueue(key)
        return "accepted"
    stored = inbox.get(key)
    if stored is not None and stored.get("state") == "QUEUED":
        inbox.enqueue(key)
    return "duplicate"


def process(key: str, inbox: TrackingInbox, orders: OrdersRepository, queue: NotificationQueue,
            alerts: OpsAlerts, returns: Callable[[], Returns] | None = None) -> Outcome:
    """Apply one stored event. Raises ``TransientError`` to be retried (a delivery before the shipment is
    recorded as shipped, a concurrent update)."""
    stored = inbox.get(key)
    if stored is None:
        return "ignored"  # past its 30 days
    if stored.get("state") in ("APPLIED", "STALE", "IGNORED", "EXPIRED"):
        return "stale"  # queued twice (a carrier's retry raced its first delivery): applied once
    from oms.domain.carrier_events import NotAnUpdate, parse

    try:
        update = parse(stored["source"], stored["body"].encode())
    except (NotAnUpdate, ValueError) as exc:
        inbox.mark(key, "IGNORED", str(exc))
        return "ignored"
    lookup = orders.tracking_lookup(update.tracking_number)
    order_id = str(lookup["order_id"]) if lookup else None
    if lookup is not None and lookup.get("return_id") and returns is not None:
        from oms.logic.returns import parcel_update

        outcome = parcel_update(str(lookup["return_id"]), update.tracking_status, update.occurred_at, returns())
        inbox.mark(key, outcome.upper())
        return outcome
    if order_id is None:
        received = stored.get("received_at", "")
        if received and received < iso(now() - timedelta(seconds=inbox.park_seconds)):
            hours = inbox.park_seconds / 3600
            inbox.mark(key, "EXPIRED", f"no shipment with this tracking number appeared within {hours:g} hours")
            return "expired"
        inbox.park(update.tracking_number, key)
        inbox.mark(key, "PARKED", "no shipment has this tracking number yet")
        return "parked"
    outcome = apply_update(order_id, update, orders, queue, alerts)
    inbox.mark(key, outcome.upper())
    return outcome


def _events(existing: list[TrackingEvent], update: CarrierUpdate) -> list[TrackingEvent]:
    """The shipment's events with the update's checkpoints merged in (each once), oldest first."""
    merged: dict[tuple[Any, ...], TrackingEvent] = {
        (e.get("at"), e.get("raw_status", e["status"]), e["message"]): e for e in existing}
    for c in update.checkpoints:
        merged.setdefault((c.at, c.raw_status, c.message), {
            "at": c.at, "status": LEGACY_STATUS.get(c.tracking_status or "", c.raw_status or "unknown"),
            "message": c.message, "location": c.location, "tracking_status": c.tracking_status,
            "raw_status": c.raw_status, "source": update.source})
    return sorted(merged.values(), key=lambda e: e.get("at") or "")[-100:]


def _late(order: Order, estimate: str | None) -> bool:
    if not estimate:
        return False
    latest = date.fromisoformat(order["expected_delivery"]["latest"])
    return date.fromisoformat(estimate) > latest + timedelta(days=1)


def apply_update(order_id: str, update: CarrierUpdate, orders: OrdersRepository, queue: NotificationQueue,
                 alerts: OpsAlerts) -> Literal["applied", "stale"]:
    order = orders.require(order_id)
    number = update.tracking_number
    shipment = order["shipments"][number]
    moves = update.tracking_status is not None and supersedes(
        shipment.get("tracking_status"), shipment.get("status_at"), update.tracking_status, update.occurred_at)
    events = _events(shipment.get("events", []), update)
    delayed = _late(order, update.estimated_delivery) and not shipment.get("delay_notified")
    if not moves and events == shipment.get("events", []) and not delayed and (
            not update.estimated_delivery or update.estimated_delivery == shipment.get("est_delivery_date")):
        return "stale"
    at = f"shipments.{number}"  # tracking numbers are [A-Za-z0-9-] (a dotted one never matches a shipment)
    sets: dict[str, Any] = {f"{at}.events": events}
    if update.estimated_delivery:
        sets[f"{at}.est_delivery_date"] = update.estimated_delivery
    if update.tracking_url:
        sets[f"{at}.tracking_url"] = update.tracking_url
    if delayed:
        sets[f"{at}.delay_notified"] = True
    # Optimistic: the order is as read. Every write changes updated_at, so a concurrent event (whose checkpoints
    # this merge would overwrite) makes this one fail and be applied again from the queue.
    change = Change(sets=sets, expect={"updated_at": order["updated_at"]})
    new_status = update.tracking_status
    delivered_order = False
    if moves and new_status is not None:
        sets[f"{at}.tracking_status"] = new_status
        sets[f"{at}.status"] = LEGACY_STATUS[new_status]
        sets[f"{at}.status_detail"] = DESCRIPTION[new_status]
        if update.occurred_at:
            sets[f"{at}.status_at"] = update.occurred_at
        others = [s for n, s in order["shipments"].items() if n != number]
        # The order is delivered when every parcel is, and none is still to leave (a split order's first parcel
        # may arrive before the rest ships: it is recorded delivered, the order stays PARTIALLY_SHIPPED).
        if new_status == "DELIVERED" and all(s.get("tracking_status") == "DELIVERED" for s in others) and \
                order["fulfillment_status"] == FulfillmentStatus.SHIPPED:
            delivered_order = True
            change.status = OrderStatus.DELIVERED
            change.fulfillment_status = FulfillmentStatus.DELIVERED
            change.status_detail = CUSTOMER_DETAIL[OrderStatus.DELIVERED]
            change.events = [timeline_entry(now(), "delivered", f"Delivered by {shipment['carrier']}.")]
            sets["delivered_at"] = update.occurred_at or iso(now())  # the carrier's time: return windows start there
    try:
        orders.apply(order_id, change)
    except TransitionRejected as rejected:
        if rejected.order["updated_at"] != order["updated_at"]:
            raise TransientError(f"order {order_id} changed meanwhile; applying again") from None
        raise TransientError(f"order {order_id} is {rejected.order['status']}; the delivery is applied once "
                             f"the order is shipped") from None
    _tell(order, update, moves, delayed, delivered_order, queue, alerts)
    return "applied"


def _tell(order: Order, update: CarrierUpdate, moved: bool, delayed: bool, delivered: bool,
          queue: NotificationQueue, alerts: OpsAlerts) -> None:
    order_id, number, status = order["order_id"], update.tracking_number, update.tracking_status
    if moved and status == "OUT_FOR_DELIVERY":
        queue.publish(order_id, "out_for_delivery", ref=number)
    if moved and status in PROBLEMS:
        queue.publish(order_id, "delivery_problem", ref=f"{number}.{status}")
        alerts.alert(f"Order {order_id}: parcel {number} {status}",
                     f"{update.carrier} reports {update.raw_status} for parcel {number} of order {order_id}.\n"
                     f"The customer was emailed what to do. Tracking: GET /orders/{order_id}/tracking")
    if delayed:
        queue.publish(order_id, "delivery_delayed", ref=number)
    if delivered:
        queue.publish(order_id, "order_delivered")
