"""The order document: construction, timeline entries and how a failed workflow closes an order."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oms.domain.delivery import expected_delivery
from oms.domain.models import PlaceOrderRequest
from oms.domain.pricing import CatalogProduct, PricingPolicy, quote
from oms.domain.status import CUSTOMER_DETAIL, FulfillmentStatus, OrderStatus, PaymentStatus

# Fields the public order resource exposes (everything else on the stored item is internal).
PUBLIC_FIELDS = (
    "order_id", "customer_id", "status", "status_detail", "payment_status", "fulfillment_status",
    "currency", "lines", "subtotal", "shipping_total", "tax_total", "total", "shipping_method",
    "shipping_address", "billing_address", "contact", "locale", "expected_delivery", "shipments",
    "timeline", "created_at", "updated_at",
)
# Extra fields ops see.
OPS_FIELDS = ("risk", "review", "payment_reference")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def timeline_entry(at: datetime, event: str, detail: str) -> dict[str, str]:
    return {"at": iso(at), "event": event, "detail": detail}


def order_id_for(customer_id: str, idempotency_key: str) -> str:
    """Deterministic order id, so a retried placement converges on the same order."""
    digest = hashlib.sha256(f"{customer_id}\x00{idempotency_key}".encode()).hexdigest()
    return "ord_" + digest[:24]


def request_fingerprint(request: PlaceOrderRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_order(
    *,
    order_id: str,
    customer_id: str,
    request: PlaceOrderRequest,
    products: dict[str, CatalogProduct],
    now: datetime,
    policy: PricingPolicy | None = None,
) -> dict[str, Any]:
    """Build a PENDING order priced from the catalog. Raises ``ValidationFailed`` naming the field."""
    kwargs = {"policy": policy} if policy else {}
    priced = quote(
        request.currency,
        [(line.sku, line.quantity) for line in request.lines],
        products,
        request.shipping_method,
        request.shipping_address.country,
        **kwargs,
    )
    window = expected_delivery(now, request.shipping_method, **kwargs)
    created_at = iso(now)
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "status": OrderStatus.PENDING.value,
        "status_detail": CUSTOMER_DETAIL[OrderStatus.PENDING],
        "payment_status": PaymentStatus.PENDING.value,
        "fulfillment_status": FulfillmentStatus.UNFULFILLED.value,
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
        "shipping_address": request.shipping_address.model_dump(exclude_none=True),
        "billing_address": (request.billing_address or request.shipping_address).model_dump(
            exclude_none=True
        ),
        "contact": request.contact.model_dump(exclude_none=True),
        "locale": request.locale,
        "expected_delivery": {"earliest": window.earliest.isoformat(), "latest": window.latest.isoformat()},
        "shipments": {},
        "timeline": [timeline_entry(now, "order_placed", "Order received.")],
        "created_at": created_at,
        "updated_at": created_at,
        "created_key": f"{created_at}#{order_id}",
        "payment": {"token": request.payment.token},
        "request_hash": request_fingerprint(request),
    }


def public_view(item: dict[str, Any], *, ops: bool = False) -> dict[str, Any]:
    """The order resource as the API returns it (shipments as a list, internal fields dropped)."""
    view = {name: item[name] for name in PUBLIC_FIELDS if name in item}
    view["shipments"] = sorted(item.get("shipments", {}).values(), key=lambda s: str(s.get("created_at", "")))
    if ops:
        view.update({name: item[name] for name in OPS_FIELDS if name in item})
        authorization = item.get("payment", {}).get("authorization_id")
        if authorization:
            view["payment_reference"] = authorization
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
    reason: str  # machine-readable reason code
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
    if error == "PaymentDeclined":
        why = _DECLINE_TEXT.get(message, "the card was declined")
        return Outcome(OrderStatus.REJECTED, f"payment_declined:{message or 'card_declined'}",
                       f"Your payment was declined: {why}. {not_charged}", PaymentStatus.DECLINED)
    if error == "PaymentGatewayError":
        return Outcome(OrderStatus.REJECTED, "payment_processing_error",
                       f"We could not process your payment because of an error at the payment provider. "
                       f"{not_charged} Please try again.", PaymentStatus.FAILED)
    if error == "OutOfStock":
        return Outcome(OrderStatus.CANCELLED, "out_of_stock",
                       f"Sorry, an item sold out before we could reserve it ({message}). {not_charged}", None)
    if error == "ReviewRejected":
        return Outcome(OrderStatus.REJECTED, "review_rejected",
                       f"We could not accept your order after reviewing it. {not_charged}", None)
    if error == "ReviewTimeout":
        return Outcome(OrderStatus.CANCELLED, "review_timeout",
                       f"We could not confirm your order in time, so it was cancelled. {not_charged}", None)
    if error == "FulfilmentTimeout":
        return Outcome(OrderStatus.CANCELLED, "fulfilment_timeout",
                       f"We could not ship your order in time, so it was cancelled. {not_charged}", None)
    return Outcome(OrderStatus.CANCELLED, "internal_error",
                   f"We could not complete your order because of a technical problem. {not_charged}", None)
