"""The status model: an order's three status sets and a return's, with their allowed transitions in one table.

Every write that changes a status is conditional on the current value being one of
``allowed_sources(new)`` (see ``oms.adapters.orders_repo``), so a late or duplicate event
can never move an order backwards. ``docs/status-model.md`` explains each value.
"""

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    ON_HOLD = "ON_HOLD"
    BACKORDERED = "BACKORDERED"
    PROCESSING = "PROCESSING"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"
    RETURNED = "RETURNED"


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"
    VOIDED = "VOIDED"
    CAPTURED = "CAPTURED"
    CAPTURE_FAILED = "CAPTURE_FAILED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class FulfillmentStatus(StrEnum):
    UNFULFILLED = "UNFULFILLED"
    RESERVED = "RESERVED"
    AWAITING_SHIPMENT = "AWAITING_SHIPMENT"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    RELEASED = "RELEASED"
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"
    RETURNED = "RETURNED"


class ReturnStatus(StrEnum):
    """A return (RMA): requested, approved or rejected, sent back, received, settled (refunded or exchanged) and
    closed; or it ends early: rejected, cancelled by the customer before it ships back, or expired unsent."""

    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    IN_TRANSIT = "IN_TRANSIT"
    RECEIVED = "RECEIVED"
    REFUNDED = "REFUNDED"
    EXCHANGED = "EXCHANGED"
    CLOSED = "CLOSED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


_O, _P, _F, _R = OrderStatus, PaymentStatus, FulfillmentStatus, ReturnStatus

# status set -> status -> the statuses it may move to. Terminal statuses map to an empty set.
# (Keyed by set first: OrderStatus.PENDING and PaymentStatus.PENDING are equal strings.)
TRANSITIONS: dict[type[StrEnum], dict[StrEnum, frozenset[StrEnum]]] = {
    OrderStatus: {
        _O.PENDING: frozenset({_O.ON_HOLD, _O.BACKORDERED, _O.PROCESSING, _O.CANCELLED, _O.REJECTED}),
        # ON_HOLD -> BACKORDERED: approved after review (or a payment hold resolved) while goods are still coming.
        _O.ON_HOLD: frozenset({_O.BACKORDERED, _O.PROCESSING, _O.CANCELLED, _O.REJECTED}),
        _O.BACKORDERED: frozenset({_O.ON_HOLD, _O.PROCESSING, _O.CANCELLED}),
        # PROCESSING -> ON_HOLD: the payment hold could not be renewed; the customer must update their payment.
        _O.PROCESSING: frozenset({_O.ON_HOLD, _O.PARTIALLY_SHIPPED, _O.SHIPPED, _O.CANCELLED}),
        _O.PARTIALLY_SHIPPED: frozenset({_O.SHIPPED, _O.DELIVERED}),
        _O.SHIPPED: frozenset({_O.DELIVERED, _O.RETURNED}),
        _O.DELIVERED: frozenset({_O.PARTIALLY_RETURNED, _O.RETURNED}),
        _O.PARTIALLY_RETURNED: frozenset({_O.RETURNED}),
        _O.CANCELLED: frozenset(),
        _O.REJECTED: frozenset(),
        _O.RETURNED: frozenset(),
    },
    PaymentStatus: {
        _P.PENDING: frozenset({_P.AUTHORIZED, _P.DECLINED, _P.FAILED}),
        _P.AUTHORIZED: frozenset({_P.CAPTURED, _P.VOIDED, _P.CAPTURE_FAILED}),
        _P.CAPTURE_FAILED: frozenset({_P.CAPTURED, _P.VOIDED}),
        _P.CAPTURED: frozenset({_P.PARTIALLY_REFUNDED, _P.REFUNDED}),
        _P.PARTIALLY_REFUNDED: frozenset({_P.REFUNDED}),
        _P.DECLINED: frozenset(),
        _P.FAILED: frozenset(),
        _P.VOIDED: frozenset(),
        _P.REFUNDED: frozenset(),
    },
    FulfillmentStatus: {
        _F.UNFULFILLED: frozenset({_F.RESERVED, _F.RELEASED}),
        _F.RESERVED: frozenset({_F.AWAITING_SHIPMENT, _F.RELEASED}),
        _F.AWAITING_SHIPMENT: frozenset({_F.PARTIALLY_SHIPPED, _F.SHIPPED, _F.RELEASED}),
        _F.PARTIALLY_SHIPPED: frozenset({_F.SHIPPED, _F.DELIVERED}),
        _F.SHIPPED: frozenset({_F.DELIVERED, _F.RETURNED}),
        _F.DELIVERED: frozenset({_F.PARTIALLY_RETURNED, _F.RETURNED}),
        _F.PARTIALLY_RETURNED: frozenset({_F.RETURNED}),
        _F.RELEASED: frozenset(),
        _F.RETURNED: frozenset(),
    },
    ReturnStatus: {
        _R.REQUESTED: frozenset({_R.APPROVED, _R.REJECTED, _R.CANCELLED}),
        # APPROVED -> RECEIVED: the parcel came without a carrier event (handed in at a store, or untracked).
        _R.APPROVED: frozenset({_R.IN_TRANSIT, _R.RECEIVED, _R.EXPIRED, _R.CANCELLED}),
        _R.IN_TRANSIT: frozenset({_R.RECEIVED}),
        _R.RECEIVED: frozenset({_R.REFUNDED, _R.EXCHANGED}),
        _R.REFUNDED: frozenset({_R.CLOSED}),
        _R.EXCHANGED: frozenset({_R.CLOSED}),
        _R.REJECTED: frozenset(),
        _R.EXPIRED: frozenset(),
        _R.CANCELLED: frozenset(),
        _R.CLOSED: frozenset(),
    },
}

TERMINAL_ORDER_STATUSES = frozenset(s for s, targets in TRANSITIONS[OrderStatus].items() if not targets)


def can_transition(current: StrEnum, new: StrEnum) -> bool:
    return type(current) is type(new) and new in TRANSITIONS[type(current)][current]


def allowed_sources(new: StrEnum) -> frozenset[StrEnum]:
    """The statuses from which ``new`` may be reached (what a conditional write checks)."""
    return frozenset(s for s, targets in TRANSITIONS[type(new)].items() if new in targets)


#: ``status_detail`` while an order waits for the customer to update their payment.
PAYMENT_HOLD_DETAIL = ("We could not renew the hold on your payment. Please update your payment method so we can "
                       "ship your order; until then it is on hold.")

#: ``status_detail`` while an order is held for a technical problem (before it ships).
TECHNICAL_HOLD_DETAIL = ("Your order is taking a little longer than usual. We are on it and will email you as soon "
                         "as it is confirmed.")

# What each order status means to the customer; shown as ``status_detail`` unless a
# more specific sentence (a decline reason, a carrier event) replaces it.
CUSTOMER_DETAIL: dict[OrderStatus, str] = {
    _O.PENDING: "We have received your order and are checking payment and stock.",
    _O.ON_HOLD: "Your order is being reviewed by our team. We will email you as soon as it is confirmed.",
    _O.BACKORDERED: "Some items are on backorder. We will ship as soon as they are back in stock.",
    _O.PROCESSING: "Your order is confirmed and is being picked and packed.",
    _O.PARTIALLY_SHIPPED: "Part of your order is on its way; the rest will follow.",
    _O.SHIPPED: "Your order is on its way.",
    _O.DELIVERED: "Your order has been delivered.",
    _O.CANCELLED: "Your order was cancelled. You have not been charged.",
    _O.REJECTED: "We could not accept your order. You have not been charged.",
    _O.PARTIALLY_RETURNED: "Part of your order has been returned.",
    _O.RETURNED: "Your order has been returned.",
}
