"""Customer messages per order event: subject, plain text, HTML and SMS (en-US for now; templates
are keyed by locale so other languages can be added as data)."""

from dataclasses import dataclass
from html import escape

from oms.domain.money import format_minor
from oms.domain.order import Address, Order


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    sms: str


_SUBJECTS = {
    "order_confirmed": "Order {order_id} is confirmed",
    "order_shipped": "Order {order_id} has shipped",
    "order_delivered": "Order {order_id} was delivered",
    "order_rejected": "Order {order_id} could not be accepted",
    "order_cancelled": "Order {order_id} was cancelled",
    "payment_refunded": "Refund for order {order_id}",
    "payment_update_required": "Order {order_id}: please update your payment method",
}


def _address(address: Address) -> list[str]:
    city = " ".join(p for p in (address.get("postal_code"), address.get("city"), address.get("region")) if p)
    return [p for p in (address.get("name"), address.get("line1"), address.get("line2"), city,
                        address.get("country")) if p]


def _body(event: str, order: Order, ref: str) -> list[str]:
    currency = order["currency"]
    if event == "order_confirmed":
        window = order["expected_delivery"]
        lines = [f"Thank you for your order {order['order_id']}. It is confirmed and being packed.", ""]
        lines += [f"{line['quantity']} x {line['name']} ({line['sku']}): {format_minor(line['line_total'], currency)}"
                  for line in order["lines"]]
        lines += [
            f"Subtotal: {format_minor(order['subtotal'], currency)}",
            f"Shipping ({order['shipping_method']}): {format_minor(order['shipping_total'], currency)}",
            f"Tax: {format_minor(order['tax_total'], currency)}",
            f"Total: {format_minor(order['total'], currency)}",
            "",
            "Shipping to:", *_address(order["shipping_address"]),
            "",
            f"Expected delivery: {window['earliest']} to {window['latest']}.",
        ]
        return lines
    if event == "order_shipped":
        shipments = order["shipments"].values()
        parcels = [f"{s['carrier']}, tracking number {s['tracking_number']}" for s in shipments]
        window = order["expected_delivery"]
        return [f"Your order {order['order_id']} is on its way.", *parcels,
                f"Expected delivery: {window['earliest']} to {window['latest']}."]
    if event == "order_delivered":
        return [f"Your order {order['order_id']} has been delivered. Enjoy!"]
    if event == "payment_refunded":
        entry = order.get("ledger", {}).get(ref)
        amount = format_minor(entry["amount"] if entry else order.get("amount_refunded", 0), currency)
        return [f"We have refunded {amount} for your order {order['order_id']}.",
                f"In all, {format_minor(order.get('amount_refunded', 0), currency)} of "
                f"{format_minor(order.get('amount_captured', 0), currency)} paid has been refunded.",
                "Refunds reach your card within 5 to 10 business days, depending on your bank."]
    if event == "payment_update_required":
        return [f"We could not renew the hold on your payment for order {order['order_id']} while it waited.",
                "Please give us a new payment method from your order page so we can ship it.",
                "You have not been charged."]
    return [f"Order {order['order_id']}: {order.get('status_detail', '')}"]


def render(event: str, order: Order, ref: str = "") -> Message:
    """The message for ``event``; ``ref`` names which occurrence (a refund's ledger entry)."""
    if event not in _SUBJECTS:
        raise ValueError(f"no message for event {event!r}")
    subject = _SUBJECTS[event].format(order_id=order["order_id"])
    body = _body(event, order, ref)
    text = "\n".join(body) + "\n"
    html = "<html><body>" + "".join(f"<p>{escape(line)}</p>" if line else "<br>" for line in body) + "</body></html>"
    total = format_minor(order["total"], order["currency"])
    sms = f"{subject}. Total {total}." if event == "order_confirmed" else f"{subject}. {body[0]}"
    return Message(subject, text, html, sms[:300])
