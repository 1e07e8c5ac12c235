"""The order: its declared shape, how a new one is built, the views the API returns, and how a failed
workflow closes it.

``Order`` is the item stored in DynamoDB (the repository returns it); ``OrderView`` is the public resource and
``OpsOrderView`` what ops see. They are ``TypedDict``s: typed for mypy, free at run time, and turned into the
OpenAPI document's schemas by pydantic.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, NotRequired, cast

from typing_extensions import TypedDict

from oms.contract import Error
from oms.domain.delivery import expected_delivery
from oms.domain.errors import ValidationFailed
from oms.domain.ledger import LedgerEntry
from oms.domain.pricing import DEFAULT_POLICY, CatalogProduct, PricingPolicy, quote
from oms.domain.status import CUSTOMER_DETAIL, FulfillmentStatus, OrderStatus, PaymentStatus

if TYPE_CHECKING:
    from oms.domain.models import PlaceOrderRequest


class OrderLine(TypedDict):
    sku: str
    name: str
    quantity: int
    unit_price: int
    line_total: int


class LineAllocation(TypedDict):
    warehouse: str
    quantity: int


class OrderLineView(OrderLine):
    """A line as the API shows it: with where it ships from and what is waiting or gone."""

    backordered_quantity: int  # units waiting for incoming goods
    expected_ship_date: str | None  # when the backordered units are expected to ship (YYYY-MM-DD)
    shipped_quantity: int
    cancelled_quantity: int  # ops cancelled the rest of a partly shipped order
    allocation: list[LineAllocation]  # which warehouse ships how many (empty until stock is reserved)
    returned_quantity: int  # units returned and settled (refunded or exchanged)


class Address(TypedDict):
    name: str
    line1: str
    line2: NotRequired[str]
    city: str
    region: NotRequired[str]
    postal_code: str
    country: str


class Contact(TypedDict):
    email: str
    phone: NotRequired[str]
    sms_opt_in: NotRequired[bool]


class DeliveryWindow(TypedDict):
    earliest: str
    latest: str


class TimelineEntry(TypedDict):
    at: str
    event: str
    detail: str


class TrackingEvent(TypedDict):
    at: str | None
    status: str  # EasyPost's words, as before
    message: str
    location: str
    tracking_status: NotRequired[str | None]  # normalized (oms.domain.tracking)
    raw_status: NotRequired[str]  # the source's own status word
    source: NotRequired[str]  # easypost, aftership, generic


class ShipmentLine(TypedDict):
    sku: str
    quantity: int


class Shipment(TypedDict):
    carrier: str
    tracking_number: str
    status: str  # EasyPost's words, kept for existing clients
    status_detail: str
    events: list[TrackingEvent]
    created_at: str
    est_delivery_date: NotRequired[str]
    tracking_status: NotRequired[str]  # LABEL_CREATED ... EXPIRED
    status_at: NotRequired[str]  # when the news behind tracking_status happened (out-of-order events lose to it)
    tracking_url: NotRequired[str]
    delay_notified: NotRequired[bool]  # the customer was told of a later estimate once
    warehouse: NotRequired[str]  # where the parcel left from (absent when it holds units of several)
    lines: NotRequired[list[ShipmentLine]]  # what is in the parcel
    amount: NotRequired[int]  # the parcel's share of the order total (captured when it shipped; the last: the rest)
    final: NotRequired[bool]  # the parcel that completed the order


class Risk(TypedDict):
    score: int
    reasons: list[str]
    decision: Literal["accept", "review"]
    threshold: int
    assessed_at: str


class Review(TypedDict):
    decision: Literal["approve", "reject"]
    note: str
    reviewer: str
    at: str


class TechnicalHold(TypedDict):
    """A workflow step kept failing past its retries; the order waits for ops (retry or cancel)."""

    step: str  # the state that failed, e.g. ReserveStock
    error: str
    cause: str
    attempts: int  # how many times the step ran before the order was parked
    parked_at: str
    count: int  # how many times this order has been parked


class Cancellation(TypedDict):
    reason: str
    note: str
    by: Literal["customer", "ops", "system"]
    at: str
    fee: int  # minor units


class NotificationRecord(TypedDict):
    """What became of one message of an order: one record per (event, channel), the last outcome."""

    event: str  # with its occurrence for events that repeat (``payment_refunded:<entry>``)
    channel: Literal["email", "sms"]
    status: Literal["SENT", "SKIPPED", "FAILED", "BOUNCED", "COMPLAINED"]
    reason: NotRequired[str]  # why skipped or failed
    to: str
    locale: NotRequired[str]  # the template's
    message_id: NotRequired[str]
    attempts: int
    at: str


class CancelKey(TypedDict):
    """The request behind a customer's cancellation: a repeat with the same Idempotency-Key answers the same."""

    idempotency_key: str
    request_hash: str


class Picking(TypedDict):
    """The warehouse started picking the order: customers can no longer cancel it."""

    started_at: str
    by: str


class WaitPlan(TypedDict):
    """How long a wait step may wait this time, in the workflow's time: what is left of its policy, and what the
    current plan allows before the payment hold needs renewing."""

    remaining: int  # seconds of the wait's policy left
    planned: int  # seconds this plan waits
    plan: int  # the plan's number (a renewal consumes the plan it ended once)
    renewed: bool


class AllocationRecord(TypedDict):
    sku: str
    warehouse: str
    quantity: int  # units this warehouse ships for the line (held, or promised from incoming goods)
    backordered: NotRequired[int]  # of them, units still waiting for goods to arrive
    eta: NotRequired[str | None]  # when the backordered units are expected to ship
    shipped: NotRequired[int]  # of them, units that left in a parcel
    shards: NotRequired[dict[str, int]]  # sharded stock: units held on shards 1..N-1 (the rest is on shard 0)


class ExchangeOf(TypedDict):
    """A replacement order: the order and return it replaces items of."""

    order_id: str
    return_id: str


class Backorder(TypedDict):
    first_eta: str  # the earliest promised date when the order was placed
    deadline: str  # nothing arrived by then: the order is cancelled (backorderLimitDays past first_eta)


ReservationState = Literal["HELD", "RELEASED", "COMMITTED"]

#: Why an order is held: a fraud review, a step that kept failing (``technical_hold``), or a payment hold that
#: could not be renewed (the customer must update their payment).
HoldReason = Literal["review", "technical", "payment"]


class Reservation(TypedDict):
    state: ReservationState
    allocations: list[AllocationRecord]


class PaymentRecord(TypedDict):
    token: str  # a one-off gateway token, or a saved payment method's id (then ``customer`` is set)
    customer: NotRequired[str]  # the gateway's customer the saved payment method is attached to
    payment_method_id: NotRequired[str]  # the saved payment method the customer chose
    authorization_key: NotRequired[str]  # the gateway idempotency key, recorded before authorizing
    authorization_requested_at: NotRequired[str]
    authorization_id: NotRequired[str]
    authorized_at: NotRequired[str]  # when the current hold was placed (it lapses after the hold lifetime)
    reauthorizations: NotRequired[int]
    token_replaced: NotRequired[bool]  # the customer gave a new token: the next authorization uses it
    capture_id: NotRequired[str]


class _OrderFields(TypedDict):
    order_id: str
    customer_id: str
    status: OrderStatus
    status_detail: str
    payment_status: PaymentStatus
    fulfillment_status: FulfillmentStatus
    currency: str
    lines: list[OrderLine]
    subtotal: int
    shipping_total: int
    tax_total: int
    total: int
    shipping_method: Literal["standard", "express"]
    shipping_address: Address
    billing_address: Address
    contact: Contact
    locale: str
    expected_delivery: DeliveryWindow
    timeline: list[TimelineEntry]
    created_at: str
    updated_at: str


class Order(_OrderFields):
    """The stored order item."""

    shipments: dict[str, Shipment]  # by tracking number
    created_key: str  # "<created_at>#<order_id>": sort key of the by_customer / by_status indexes
    payment: PaymentRecord
    request_hash: str  # fingerprint of the placement request (same Idempotency-Key, other body -> 422)
    reservation: NotRequired[Reservation]
    risk: NotRequired[Risk]
    review: NotRequired[Review]
    close_reason: NotRequired[str]
    review_task_token: NotRequired[str]
    fulfillment_task_token: NotRequired[str]
    technical_hold: NotRequired[TechnicalHold]
    park_task_token: NotRequired[str]
    parked_count: NotRequired[int]
    cancellation: NotRequired[Cancellation]
    cancel_request: NotRequired[CancelKey]
    payment_task_token: NotRequired[str]  # waiting for the customer's new payment method
    wait_plans: NotRequired[dict[str, WaitPlan]]  # by wait step (HoldForReview, RequestFulfillment)
    cancellation_silent: NotRequired[bool]  # ops cancelled with notify_customer false: no email
    picking: NotRequired[Picking]
    backorderable_skus: NotRequired[list[str]]  # SKUs the catalog let this order promise from incoming goods
    low_stock_thresholds: NotRequired[dict[str, int]]  # the catalog's, at placement: reserving checks them
    backorder: NotRequired[Backorder]
    stock_task_token: NotRequired[str]  # waiting for backordered goods
    capture_due: NotRequired[int]  # the rest was cancelled: what the shipped parcels owe in all
    rest_cancelled: NotRequired[Cancellation]  # ops cancelled what had not shipped of a partially shipped order
    # Money movements (minor units); ``ledger`` holds every gateway call (``oms.domain.ledger``).
    amount_captured: NotRequired[int]
    amount_refunded: NotRequired[int]
    refund_pending: NotRequired[int]  # refunds sent to the gateway whose outcome is not recorded yet
    refunded_quantities: NotRequired[dict[str, int]]
    shipping_refunded: NotRequired[bool]
    ledger: NotRequired[dict[str, LedgerEntry]]
    notifications: NotRequired[dict[str, NotificationRecord]]  # by "<event>#<channel>"
    refund_requests: NotRequired[dict[str, str]]  # ledger entry id -> fingerprint of the refund request
    delivered_at: NotRequired[str]  # when the carrier delivered the last parcel (return windows count from it)
    return_quantities: NotRequired[dict[str, int]]  # per SKU: units in returns not rejected, cancelled or expired
    returned_quantities: NotRequired[dict[str, int]]  # per SKU: units returned and settled
    exchanges: NotRequired[list[str]]  # replacement orders of this order's returns
    exchange_of: NotRequired[ExchangeOf]  # this order replaces items of another
    exchange_credit: NotRequired[int]  # the returned items' value, deducted from this replacement's total


class OrderView(_OrderFields):
    """The order resource of the public API (money in minor units of ``currency``)."""

    lines: list[OrderLineView]  # type: ignore[misc]
    shipments: list[Shipment]
    amount_captured: int
    amount_refunded: int
    cancellation: NotRequired[Cancellation]
    delivered_at: NotRequired[str]
    exchanges: NotRequired[list[str]]
    exchange_of: NotRequired[ExchangeOf]
    exchange_credit: NotRequired[int]  # a replacement: ``total`` is what was charged after this credit


class OpsOrderView(OrderView):
    """What ops see of an order: the public resource plus risk, review, payment reference, close reason and a
    technical hold (a step that kept failing: ops retry it or cancel the order)."""

    risk: NotRequired[Risk]
    review: NotRequired[Review]
    payment_reference: NotRequired[str]
    close_reason: NotRequired[str]
    hold_reason: NotRequired[HoldReason]
    technical_hold: NotRequired[TechnicalHold]
    picking: NotRequired[Picking]
    notifications: NotRequired[list[NotificationRecord]]  # every message sent, skipped or failed, oldest first


class OrderPage(TypedDict):
    orders: list[OrderView]
    next_cursor: str | None


class OpsOrderPage(TypedDict):
    orders: list[OpsOrderView]
    next_cursor: str | None


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def timeline_entry(at: datetime, event: str, detail: str) -> TimelineEntry:
    return {"at": iso(at), "event": event, "detail": detail}


@dataclass(frozen=True)
class SavedChoices:
    """What a placement named by id, resolved: a saved shipping or billing address, a saved card."""

    shipping: Address | None = None
    billing: Address | None = None
    payment: PaymentRecord | None = None


def order_id_for(customer_id: str, idempotency_key: str) -> str:
    """Deterministic order id: a retried placement with the same key converges on the same order."""
    digest = hashlib.sha256(f"{customer_id}\x00{idempotency_key}".encode()).hexdigest()
    return "ord_" + digest[:24]


ORDER_ID_PATTERN = r"^ord_[0-9a-f]{24}$"


def new_order(
    *,
    order_id: str,
    customer_id: str,
    request: PlaceOrderRequest,
    products: dict[str, CatalogProduct],
    now: datetime,
    locale: str = "en-US",
    policy: PricingPolicy = DEFAULT_POLICY,
    saved: SavedChoices | None = None,
) -> Order:
    """Build a PENDING order priced from the catalog. Raises ``ValidationFailed`` naming the field. ``saved``
    holds what the request named by id (a saved address, a saved card), already read from the address book."""
    saved = saved or SavedChoices()
    if saved.shipping is not None:
        shipping = saved.shipping
    elif request.shipping_address is not None:
        shipping = cast(Address, request.shipping_address.model_dump(exclude_none=True))
    else:
        raise ValidationFailed("shipping_address_id", "no saved address with this id")
    if saved.billing is not None:
        billing_address = saved.billing
    elif request.billing_address is not None:
        billing_address = cast(Address, request.billing_address.model_dump(exclude_none=True))
    else:
        billing_address = shipping
    priced = quote(
        request.currency,
        [(line.sku, line.quantity) for line in request.lines],
        products,
        request.shipping_method,
        shipping["country"],
        policy,
    )
    window = expected_delivery(now, request.shipping_method, policy)
    created_at = iso(now)
    request_json = request.model_dump(mode="json")
    payment: PaymentRecord = saved.payment or {"token": str(request.payment.token)}
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "status": OrderStatus.PENDING,
        "status_detail": CUSTOMER_DETAIL[OrderStatus.PENDING],
        "payment_status": PaymentStatus.PENDING,
        "fulfillment_status": FulfillmentStatus.UNFULFILLED,
        "currency": priced.currency,
        "lines": [
            {"sku": line.sku, "name": line.name, "quantity": line.quantity,
             "unit_price": line.unit_price, "line_total": line.line_total}
            for line in priced.lines
        ],
        "subtotal": priced.subtotal,
        "shipping_total": priced.shipping_total,
        "tax_total": priced.tax_total,
        "total": priced.total,
        "shipping_method": request.shipping_method,
        "shipping_address": shipping,
        "billing_address": billing_address,
        "contact": cast(Contact, request.contact.model_dump(exclude_none=True)),
        "locale": locale,
        "expected_delivery": {"earliest": window.earliest.isoformat(), "latest": window.latest.isoformat()},
        "shipments": {},
        "timeline": [timeline_entry(now, "order_placed", "Order received.")],
        "created_at": created_at,
        "updated_at": created_at,
        "created_key": f"{created_at}#{order_id}",
        "payment": payment,
        "amount_captured": 0,
        "amount_refunded": 0,
        "ledger": {},
        "notifications": {},
        "request_hash": fingerprint(request_json),
    }


def fingerprint(request_json: object) -> str:
    """A stable hash of a request body (keys sorted), to tell a retry from a different request."""
    canonical = json.dumps(request_json, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def public_view(order: Order) -> OrderView:
    """The order resource as the API returns it: shipments as a list, internal fields left out."""
    view: OrderView = {
        "order_id": order["order_id"],
        "customer_id": order["customer_id"],
        "status": order["status"],
        "status_detail": order["status_detail"],
        "payment_status": order["payment_status"],
        "fulfillment_status": order["fulfillment_status"],
        "currency": order["currency"],
        "lines": _line_views(order),
        "subtotal": order["subtotal"],
        "shipping_total": order["shipping_total"],
        "tax_total": order["tax_total"],
        "total": order["total"],
        "shipping_method": order["shipping_method"],
        "shipping_address": order["shipping_address"],
        "billing_address": order["billing_address"],
        "contact": order["contact"],
        "locale": order["locale"],
        "expected_delivery": order["expected_delivery"],
        "shipments": [_shipment_view(s) for s in sorted(order["shipments"].values(), key=lambda s: s["created_at"])],
        "amount_captured": order.get("amount_captured", 0),
        "amount_refunded": order.get("amount_refunded", 0),
        "timeline": order["timeline"],
        "created_at": order["created_at"],
        "updated_at": order["updated_at"],
    }
    for key in ("cancellation", "delivered_at", "exchanges", "exchange_of", "exchange_credit"):
        if key in order:
            view[key] = order[key]
    return view


def _line_views(order: Order) -> list[OrderLineView]:
    from oms.domain.shipping import line_progress

    progress = line_progress(order)
    returned = order.get("returned_quantities", {})
    return [cast(OrderLineView, {**line, **progress[line["sku"]], "returned_quantity": returned.get(line["sku"], 0)})
            for line in order["lines"]]


def _shipment_view(shipment: Shipment) -> Shipment:
    return cast(Shipment, {k: v for k, v in shipment.items() if k != "final"})


def ops_view(order: Order) -> OpsOrderView:
    view: OpsOrderView = {**public_view(order)}  # type: ignore[typeddict-item]
    if "risk" in order:
        view["risk"] = order["risk"]
    if "review" in order:
        view["review"] = order["review"]
    if "close_reason" in order:
        view["close_reason"] = order["close_reason"]
    if "picking" in order:
        view["picking"] = order["picking"]
    if "payment_task_token" in order:
        view["hold_reason"] = "payment"
    elif "technical_hold" in order:
        view["hold_reason"] = "technical"
        view["technical_hold"] = order["technical_hold"]
    elif order["status"] == OrderStatus.ON_HOLD and "review_task_token" in order and "review" not in order:
        view["hold_reason"] = "review"  # waiting for an ops decision
    authorization = order["payment"].get("authorization_id")
    if authorization:
        view["payment_reference"] = authorization
    view["notifications"] = sorted(order.get("notifications", {}).values(), key=lambda r: (r["at"], r["event"]))
    return view


# Decline codes we explain to customers; anything else (including fraud-related codes, which
# card networks ask merchants not to reveal) reads as a plain decline.
_DECLINE_TEXT = {
    "insufficient_funds": "the card has insufficient funds",
    "expired_card": "the card has expired",
    "incorrect_cvc": "the card's security code is incorrect",
    "incorrect_number": "the card number is incorrect",
}


@dataclass(frozen=True)
class Outcome:
    status: OrderStatus
    reason: str  # machine-readable reason code (the order's close_reason)
    detail: str  # sentence for the customer
    payment_status: PaymentStatus | None  # set when payment never got authorized


def _error_message(cause: str) -> str:
    """Step Functions puts a Lambda error's JSON (errorMessage, errorType, ...) in ``Cause``."""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return cause or ""
    return str(parsed.get("errorMessage", "")) if isinstance(parsed, dict) else str(parsed)


def close_outcome(error: str, cause: str) -> Outcome:
    """Map the error that stopped the workflow to the order's terminal status and reason."""
    message = _error_message(cause)
    not_charged = "You have not been charged."
    if error == Error.PAYMENT_DECLINED:
        why = _DECLINE_TEXT.get(message, "the card was declined")
        return Outcome(OrderStatus.REJECTED, f"payment_declined:{message or 'card_declined'}",
                       f"Your payment was declined: {why}. {not_charged}", PaymentStatus.DECLINED)
    if error == Error.PAYMENT_GATEWAY:
        return Outcome(OrderStatus.REJECTED, "payment_processing_error",
                       f"We could not process your payment because of an error at the payment provider. "
                       f"{not_charged} Please try again.", PaymentStatus.FAILED)
    if error == Error.OUT_OF_STOCK:
        return Outcome(OrderStatus.CANCELLED, "out_of_stock",
                       f"Sorry, an item sold out before we could reserve it ({message}). {not_charged}", None)
    if error == Error.REVIEW_REJECTED:
        return Outcome(OrderStatus.REJECTED, "review_rejected",
                       f"We could not accept your order after reviewing it. {not_charged}", None)
    if error == Error.REVIEW_TIMEOUT:
        return Outcome(OrderStatus.CANCELLED, "review_timeout",
                       f"We could not confirm your order in time, so it was cancelled. {not_charged}", None)
    if error == Error.FULFILLMENT_TIMEOUT:
        return Outcome(OrderStatus.CANCELLED, "fulfillment_timeout",
                       f"We could not ship your order in time, so it was cancelled. {not_charged}", None)
    if error == Error.ORDER_CANCELLED:
        return Outcome(OrderStatus.CANCELLED, "ops_cancelled",
                       f"Your order was cancelled by our team. {not_charged}", None)
    if error == Error.BACKORDER_TIMEOUT:
        return Outcome(OrderStatus.CANCELLED, "backorder_timeout",
                       f"The backordered items did not arrive in time, so we cancelled your order. {not_charged}",
                       None)
    if error == Error.PAYMENT_NOT_UPDATED:
        return Outcome(OrderStatus.CANCELLED, "payment_not_updated",
                       f"We could not renew the hold on your payment and it was not updated in time, so the order "
                       f"was cancelled. {not_charged}", None)
    if error == Error.TECHNICAL_FAILURE:
        return Outcome(OrderStatus.CANCELLED, "technical_failure",
                       f"We could not complete your order because of a technical problem, so we cancelled it. "
                       f"{not_charged}", None)
    return Outcome(OrderStatus.CANCELLED, "internal_error",
                   f"We could not complete your order because of a technical problem. {not_charged}", None)
