"""Shipment tracking: one normalized status set for every source, mapped in one table, forward-only.

``tracking_status`` is the normalized status; the shipment's older ``status`` (EasyPost's words) stays beside it
for clients that read it. Each event keeps its source's raw status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, NotRequired

from typing_extensions import TypedDict

if TYPE_CHECKING:
    from oms.domain.order import Order

TrackingStatus = Literal["LABEL_CREATED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERY_ATTEMPTED",
                         "AVAILABLE_FOR_PICKUP", "DELIVERED", "EXCEPTION", "RETURN_TO_SENDER", "EXPIRED"]
TRACKING_STATUSES: Final[tuple[TrackingStatus, ...]] = (
    "LABEL_CREATED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERY_ATTEMPTED", "AVAILABLE_FOR_PICKUP", "DELIVERED",
    "EXCEPTION", "RETURN_TO_SENDER", "EXPIRED")

#: Progress along the way to the customer.
RANK: Final[dict[str, int]] = {
    "LABEL_CREATED": 1, "IN_TRANSIT": 2, "OUT_FOR_DELIVERY": 3, "DELIVERY_ATTEMPTED": 3, "AVAILABLE_FOR_PICKUP": 4,
    "EXCEPTION": 2, "DELIVERED": 9, "RETURN_TO_SENDER": 9, "EXPIRED": 9,
}
#: Nothing follows these.
FINAL: Final = frozenset({"DELIVERED", "RETURN_TO_SENDER", "EXPIRED"})
#: Detours: they may come at any point before the end, and the journey goes on after them.
DETOURS: Final = frozenset({"EXCEPTION", "DELIVERY_ATTEMPTED"})

#: Each source's raw status -> the normalized one (None: no news about the parcel's progress).
#: EasyPost: Tracker.status (and status_detail, below); AfterShip: msg.tag; generic: already normalized.
MAPPING: Final[dict[str, dict[str, TrackingStatus | None]]] = {
    "easypost": {
        "unknown": None, "pre_transit": "LABEL_CREATED", "in_transit": "IN_TRANSIT",
        "out_for_delivery": "OUT_FOR_DELIVERY", "available_for_pickup": "AVAILABLE_FOR_PICKUP",
        "delivered": "DELIVERED", "return_to_sender": "RETURN_TO_SENDER", "failure": "DELIVERY_ATTEMPTED",
        "cancelled": "EXCEPTION", "canceled": "EXCEPTION", "error": "EXCEPTION",
    },
    "aftership": {
        "Pending": None, "InfoReceived": "LABEL_CREATED", "InTransit": "IN_TRANSIT",
        "OutForDelivery": "OUT_FOR_DELIVERY", "AttemptFail": "DELIVERY_ATTEMPTED", "Delivered": "DELIVERED",
        "AvailableForPickup": "AVAILABLE_FOR_PICKUP", "Exception": "EXCEPTION", "Expired": "EXPIRED",
    },
    "generic": {status: status for status in TRACKING_STATUSES},
}
#: A more precise word than the status: EasyPost's status_detail, AfterShip's subtag.
DETAIL_MAPPING: Final[dict[str, dict[str, TrackingStatus]]] = {
    "easypost": {"delivery_exception": "DELIVERY_ATTEMPTED", "return": "RETURN_TO_SENDER", "expired": "EXPIRED",
                 "lost": "EXCEPTION", "damaged": "EXCEPTION", "refused": "EXCEPTION", "missorted": "EXCEPTION",
                 "transit_exception": "EXCEPTION", "address_correction": "EXCEPTION"},
    # Exception_010/_011: returning / returned to the sender.
    "aftership": {"Exception_010": "RETURN_TO_SENDER", "Exception_011": "RETURN_TO_SENDER"},
}

#: The older ``status`` field (EasyPost's words), kept readable for existing clients.
LEGACY_STATUS: Final[dict[str, str]] = {
    "LABEL_CREATED": "pre_transit", "IN_TRANSIT": "in_transit", "OUT_FOR_DELIVERY": "out_for_delivery",
    "DELIVERY_ATTEMPTED": "failure", "AVAILABLE_FOR_PICKUP": "available_for_pickup", "DELIVERED": "delivered",
    "EXCEPTION": "error", "RETURN_TO_SENDER": "return_to_sender", "EXPIRED": "unknown",
}

DESCRIPTION: Final[dict[str, str]] = {
    "LABEL_CREATED": "The carrier has the label; the parcel has not been scanned yet.",
    "IN_TRANSIT": "Your parcel is in transit.",
    "OUT_FOR_DELIVERY": "Your parcel is out for delivery.",
    "DELIVERY_ATTEMPTED": "The carrier tried to deliver your parcel and will try again or leave a notice.",
    "AVAILABLE_FOR_PICKUP": "Your parcel is ready for pickup.",
    "DELIVERED": "Your parcel has been delivered.",
    "EXCEPTION": "The carrier reported a problem with your parcel.",
    "RETURN_TO_SENDER": "Your parcel is being returned to us.",
    "EXPIRED": "The carrier stopped reporting on this parcel.",
}

#: Statuses that email the customer (with what to do) and alert ops.
PROBLEMS: Final = frozenset({"DELIVERY_ATTEMPTED", "EXCEPTION", "RETURN_TO_SENDER"})


def normalized(source: str, raw_status: str, raw_detail: str | None = None) -> TrackingStatus | None:
    """The normalized status of a source's raw status (and detail); None when it says nothing new."""
    if raw_detail and raw_detail in DETAIL_MAPPING.get(source, {}):
        return DETAIL_MAPPING[source][raw_detail]
    return MAPPING.get(source, {}).get(raw_status)


def supersedes(current: str | None, current_at: str | None, new: str, new_at: str | None) -> bool:
    """Should ``new`` (seen at ``new_at``) replace the shipment's ``current`` status (set by news of
    ``current_at``)? An end is never replaced; older news never replaces newer; detours come and go; otherwise
    only progress moves the status."""
    if current is None:
        return True
    if current in FINAL or new == current:
        return False
    if current_at and new_at and new_at < current_at:
        return False
    if new in FINAL or new in DETOURS or current in DETOURS:
        return True
    return RANK[new] > RANK[current]


class WebhookResult(TypedDict):
    """A carrier webhook's answer. ``accepted``: stored and queued; ``duplicate``: this event id was received
    before. (``applied``, ``stale``, ``unknown_tracking_number`` and ``ignored`` describe processing.)"""

    result: Literal["accepted", "duplicate", "applied", "stale", "unknown_tracking_number", "ignored"]
    reason: NotRequired[str]
    event_id: NotRequired[str]


class TrackingEventView(TypedDict):
    at: str | None
    tracking_status: str | None
    raw_status: str
    message: str
    location: str


class ShipmentTracking(TypedDict):
    carrier: str
    tracking_number: str
    tracking_url: str | None
    tracking_status: str
    status: str  # EasyPost's words, as on the order
    status_detail: str
    estimated_delivery: str | None  # the carrier's estimate, when it gave one
    events: list[TrackingEventView]  # newest first


class OrderTracking(TypedDict):
    """Where an order's parcels are: no address, email or price (the public page shows exactly this)."""

    order_id: str
    status: str
    expected_delivery: dict[str, str]
    shipments: list[ShipmentTracking]


def tracking_view(order: Order) -> OrderTracking:
    from oms.domain.carriers import tracking_url

    shipments: list[ShipmentTracking] = []
    for s in order["shipments"].values():
        events = sorted(s.get("events", []), key=lambda e: e.get("at") or "", reverse=True)
        shipments.append({
            "carrier": s["carrier"], "tracking_number": s["tracking_number"],
            "tracking_url": s.get("tracking_url") or tracking_url(s["carrier"], s["tracking_number"]),
            "tracking_status": s.get("tracking_status") or "LABEL_CREATED", "status": s["status"],
            "status_detail": s["status_detail"], "estimated_delivery": s.get("est_delivery_date"),
            "events": [{"at": e.get("at"), "tracking_status": e.get("tracking_status"),
                        "raw_status": e.get("raw_status", e.get("status", "")), "message": e.get("message", ""),
                        "location": e.get("location", "")} for e in events],
        })
    return {"order_id": order["order_id"], "status": str(order["status"]),
            "expected_delivery": {"earliest": order["expected_delivery"]["earliest"],
                                  "latest": order["expected_delivery"]["latest"]},
            "shipments": sorted(shipments, key=lambda x: x["tracking_number"])}
