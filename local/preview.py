"""``oms preview``: render a customer message to an HTML file, from a sample order or a real one."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, cast

from oms.domain.messages import Message, Shop, render
from oms.domain.order import Order
from oms.domain.shipping import capture_share

SAMPLE_SHOP = Shop(name="OMS Demo Shop", support_email="help@shop.example", support_url="https://shop.example/help")

#: Per locale: a customer and a shipping address of that country, and the currency its shoppers pay in.
_PEOPLE: dict[str, tuple[str, dict[str, str]]] = {
    "en-US": ("USD", {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield", "region": "IL",
                      "postal_code": "62701", "country": "US"}),
    "en-GB": ("GBP", {"name": "Oliver Smith", "line1": "221B Baker Street", "city": "London",
                      "postal_code": "NW1 6XE", "country": "GB"}),
    "de-DE": ("EUR", {"name": "Jürgen Müller", "line1": "Friedrichstraße 43", "city": "Berlin",
                      "postal_code": "10117", "country": "DE"}),
    "fr-FR": ("EUR", {"name": "Élodie Dubois", "line1": "12 rue de Rivoli", "city": "Paris",
                      "postal_code": "75001", "country": "FR"}),
    "es-ES": ("EUR", {"name": "Lucía García", "line1": "Calle de Alcalá 50", "city": "Madrid",
                      "postal_code": "28014", "country": "ES"}),
}


#: The sample products as a shop in that language would name them in its catalog.
_PRODUCTS = {"de-DE": ("Kaffeebecher mit Logo", "T-Shirt, schwarz, M"), "fr-FR": ("Mug à logo", "T-shirt noir, M"),
             "es-ES": ("Taza con logo", "Camiseta negra, M")}


def sample_order(event: str, locale: str = "en-US") -> Order:
    """A realistic order in the state ``event`` is sent from (two lines, tax, a parcel, a refund, a backorder)."""
    currency, address = _PEOPLE.get(locale, _PEOPLE["en-US"])
    mug, tee = _PRODUCTS.get(locale, ("Logo mug", "T-shirt, black, M"))
    order: dict[str, Any] = {
        "order_id": "ord_5f2c9a1e7b3d4c6a8e0f1b2c", "customer_id": "sample", "status": "PROCESSING",
        "status_detail": "", "payment_status": "AUTHORIZED", "fulfillment_status": "AWAITING_SHIPMENT",
        "currency": currency,
        "lines": [{"sku": "MUG-LOGO", "name": mug, "quantity": 2, "unit_price": 1250, "line_total": 2500},
                  {"sku": "TEE-BLK-M", "name": tee, "quantity": 1, "unit_price": 129900,
                   "line_total": 129900}],
        "subtotal": 132400, "shipping_total": 500, "tax_total": 25250, "total": 158150,
        "shipping_method": "express", "shipping_address": address, "billing_address": address,
        "contact": {"email": "customer@example.com"}, "locale": locale,
        "expected_delivery": {"earliest": "2026-12-07", "latest": "2026-12-09"},
        "timeline": [], "created_at": "2026-12-02T09:30:00.000Z", "updated_at": "2026-12-02T09:30:00.000Z",
        "shipments": {}, "amount_captured": 0, "amount_refunded": 0,
    }
    returning = event.startswith("return_")
    if event in ("order_shipped", "order_delivered", "payment_refunded", "out_for_delivery", "delivery_problem",
                 "delivery_delayed") or returning:
        order["shipments"] = {"1Z999AA10123456784": {
            "carrier": "UPS", "tracking_number": "1Z999AA10123456784", "status": "in_transit",
            "status_detail": "", "events": [], "created_at": "2026-12-03T10:00:00.000Z"}}
        order["amount_captured"] = order["total"]
    if event == "delivery_delayed":
        order["shipments"]["1Z999AA10123456784"]["est_delivery_date"] = "2026-12-14"
    if returning:
        # Delivered and paid; the customer sends the T-shirt back (``sample_extra`` is the return).
        order.update(status="DELIVERED", fulfillment_status="DELIVERED", payment_status="CAPTURED",
                     delivered_at="2026-12-08T14:20:00.000Z", updated_at="2026-12-08T14:20:00.000Z")
        order["shipments"]["1Z999AA10123456784"].update(status="delivered", tracking_status="DELIVERED")
    if event == "payment_refunded":
        order["amount_refunded"] = 2500 + 1250
        order["ledger"] = {"re_1": {"kind": "REFUND", "amount": 1250}}
    if event == "order_cancelled":
        order["status"] = "CANCELLED"
        order["cancellation"] = {"reason": "CHANGED_MIND", "note": "", "by": "customer",
                                 "at": "2026-12-02T10:00:00.000Z", "fee": 0}
    if event == "order_rejected":
        order["status"] = "REJECTED"
        order["close_reason"] = "payment_declined:insufficient_funds"
    if event in ("order_backordered", "backorder_delayed"):
        # The mugs wait for the supplier's delivery (later again once it slipped); the T-shirt is on the shelf.
        delayed = event == "backorder_delayed"
        eta = "2027-01-08" if delayed else "2026-12-18"
        delivery = ({"earliest": "2027-01-11", "latest": "2027-01-13"} if delayed
                    else {"earliest": "2026-12-21", "latest": "2026-12-23"})
        order.update(status="BACKORDERED", fulfillment_status="RESERVED", expected_delivery=delivery)
        order["reservation"] = {"state": "HELD", "allocations": [
            {"sku": "MUG-LOGO", "warehouse": "wh-east", "quantity": 2, "backordered": 2, "eta": eta, "shipped": 0},
            {"sku": "TEE-BLK-M", "warehouse": "wh-east", "quantity": 1, "backordered": 0, "eta": None, "shipped": 0}]}
    if event == "items_cancelled":
        # The mugs left in one parcel; the T-shirt never came in, so ops cancelled it (its allocation is gone) and the
        # order owes only the parcel's share of the total (goods, with shipping and tax pro rata).
        mugs = capture_share(order["total"], order["subtotal"], 2500, 0, False)
        order.update(status="SHIPPED", fulfillment_status="SHIPPED", payment_status="CAPTURED",
                     amount_captured=mugs, capture_due=mugs)
        order["shipments"] = {"1Z999AA10123456784": {
            "carrier": "UPS", "tracking_number": "1Z999AA10123456784", "status": "in_transit",
            "status_detail": "", "events": [], "created_at": "2026-12-03T10:00:00.000Z", "warehouse": "wh-east",
            "lines": [{"sku": "MUG-LOGO", "quantity": 2}], "amount": mugs, "final": False}}
        order["rest_cancelled"] = {"reason": "OUT_OF_STOCK", "note": "", "by": "ops",
                                   "at": "2026-12-05T10:00:00.000Z", "fee": 0}
        order["reservation"] = {"state": "COMMITTED", "allocations": [
            {"sku": "MUG-LOGO", "warehouse": "wh-east", "quantity": 2, "backordered": 0, "eta": None, "shipped": 2}]}
    return cast(Order, order)


SAMPLE_LINK = "https://shop.example/track/ord_5f2c9a1e7b3d4c6a8e0f1b2c.1804000000.sAmPlEsIgNaTuRe0000000"


def sample_ref(event: str, order: Order, problem: str = "DELIVERY_ATTEMPTED") -> str:
    """Which occurrence of ``event`` to render: a refund's ledger entry, a parcel (and its problem), a backorder's
    slipped ship date."""
    if event == "payment_refunded":
        return next(iter(order.get("ledger", {})), "")
    if event == "backorder_delayed":
        return "2026-12-18.2027-01-08"  # <previous expected ship date>.<new one>
    parcel = next(iter(order.get("shipments", {})), "")
    if event == "delivery_problem":
        return f"{parcel}.{problem}"
    return parcel if event in ("out_for_delivery", "delivery_delayed") else ""


#: The replacement in the sample exchange: the T-shirt in another colour and size, as each locale's catalog names it.
_REPLACEMENTS = {"de-DE": "T-Shirt, weiß, L", "fr-FR": "T-shirt blanc, L", "es-ES": "Camiseta blanca, L"}

#: The notes ops give a rejected sample return, in the customer's language.
_REVIEW_NOTES = {
    "en-US": "The 30-day return window for this order has ended.",
    "en-GB": "The 30-day return period for this order has ended.",
    "de-DE": "Die 30-tägige Rückgabefrist für diese Bestellung ist abgelaufen.",
    "fr-FR": "Le délai de retour de 30 jours pour cette commande est dépassé.",
    "es-ES": "El plazo de devolución de 30 días de este pedido ha finalizado.",
}

#: Where returns go (the return policy's address).
_RETURN_ADDRESS = {"name": "OMS Demo Shop Returns", "line1": "1 Warehouse Way", "line2": "", "city": "Newark",
                   "region": "NJ", "postal_code": "07102", "country": "US"}

_RETURN_STATUS = {"return_approved": "APPROVED", "return_rejected": "REJECTED", "return_received": "RECEIVED",
                  "return_refunded": "REFUNDED", "return_exchanged": "EXCHANGED", "return_expired": "EXPIRED"}


def sample_extra(event: str, order: Order) -> dict[str, Any]:
    """What ``render`` gets besides the order: for a ``return_*`` event the return (``rma``) of the order's last line,
    a refund for a size that did not fit (less the return shipping fee), or for ``return_exchanged`` an exchange for
    another colour that costs more; nothing for the other events."""
    if event not in _RETURN_STATUS:
        return {}
    line = order["lines"][-1]
    locale = str(order.get("locale") or "en-US")
    exchanged = event == "return_exchanged"
    taxable = order["subtotal"] + order["shipping_total"]
    value = line["line_total"] + (order["tax_total"] * line["line_total"] // taxable if taxable else 0)
    shipping_fee = 0 if exchanged else (450 if order["currency"] == "GBP" else 500)
    estimate = 0 if exchanged else value - shipping_fee
    came_back = event in ("return_received", "return_refunded", "return_exchanged")
    rma: dict[str, Any] = {
        "return_id": "RMA-7K3F9Q", "status": _RETURN_STATUS[event], "resolution": "exchange" if exchanged else "refund",
        "lines": [{"sku": line["sku"], "name": line["name"], "quantity": line["quantity"], "reason": "SIZE_OR_FIT"}],
        "refund_estimate": estimate, "restocking_fee": 0, "return_shipping_fee": shipping_fee,
        "label_free": exchanged, "refund_amount": estimate if event == "return_refunded" else 0,
        "ship_by": "2026-12-16", "return_address": dict(_RETURN_ADDRESS),
        "review_note": _REVIEW_NOTES.get(locale, _REVIEW_NOTES["en-US"]) if event == "return_rejected" else "",
        "received": [{"sku": line["sku"], "name": line["name"], "quantity": line["quantity"],
                      "condition": "RESELLABLE"}] if came_back else [],
        "advance_exchange": False,
        "exchange": {"order_id": "ord_8e1d4a7c2b9f3e6d0a5c7b1e", "difference": 500,
                     "lines": [{"sku": "TEE-WHT-L", "name": _REPLACEMENTS.get(locale, "T-shirt, white, L"),
                                "quantity": line["quantity"]}]} if exchanged else None,
    }
    return {"rma": rma}


def preview(event: str, locale: str, order: Order | None = None, out_dir: Path | None = None,
            shop: Shop = SAMPLE_SHOP) -> tuple[Message, Path]:
    """Render ``event`` for ``order`` (a sample when None) in ``locale``; writes the HTML and returns its path."""
    chosen = copy.deepcopy(order) if order is not None else sample_order(event, locale)
    chosen["locale"] = locale
    message = render(event, chosen, sample_ref(event, chosen), shop=shop, tracking_link=SAMPLE_LINK,
                     extra=sample_extra(event, chosen))
    out = (out_dir or Path(".oms/preview"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{event}.{locale}.html"
    path.write_text(message.html, encoding="utf-8")
    return message, path
