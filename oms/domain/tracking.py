"""Carrier tracking statuses (EasyPost's set), normalized and forward-only."""

from typing import Final, Literal, NotRequired

from typing_extensions import TypedDict

# Progress rank: an update is applied only when it moves the shipment forward.
# ``failure`` (a delivery exception) ranks with out_for_delivery so a re-attempt can follow it.
RANK: Final[dict[str, int]] = {
    "unknown": 0,
    "pre_transit": 1,
    "in_transit": 2,
    "out_for_delivery": 3,
    "failure": 3,
    "available_for_pickup": 4,
    "delivered": 9,
    "return_to_sender": 9,
    "cancelled": 9,
    "error": 0,
}
FINAL: Final = frozenset({"delivered", "return_to_sender", "cancelled"})

DESCRIPTION: Final[dict[str, str]] = {
    "unknown": "Tracking information is not available yet.",
    "pre_transit": "The carrier has the label; the parcel has not been scanned yet.",
    "in_transit": "Your parcel is in transit.",
    "out_for_delivery": "Your parcel is out for delivery.",
    "failure": "The carrier could not deliver your parcel and will try again or contact you.",
    "available_for_pickup": "Your parcel is ready for pickup.",
    "delivered": "Your parcel has been delivered.",
    "return_to_sender": "Your parcel is being returned to us.",
    "cancelled": "The shipment was cancelled by the carrier.",
    "error": "The carrier reported an error with this shipment.",
}


def normalize(status: str) -> str:
    status = status.strip().lower()
    return status if status in RANK else "unknown"


def is_forward(current: str, new: str) -> bool:
    """True when ``new`` should replace ``current`` on a shipment."""
    if current in FINAL or new == current:
        return False
    return RANK[new] >= RANK[current]


class WebhookResult(TypedDict):
    """A carrier webhook's answer: what the update did (``stale``: it did not move the shipment forward)."""

    result: Literal["applied", "stale", "unknown_tracking_number", "ignored"]
    reason: NotRequired[str]
