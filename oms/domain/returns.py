"""Returns (RMAs): what may be returned, for how much, whether a person must approve it, and the resource the API
shows. Plain rules over the order and the return policy (``oms.domain.return_policy``); no AWS.

Money follows the refunds of ``oms.domain.ledger``: a line's value is its goods plus its share of the order's tax.
A refund return pays that value less the restocking fee of each line's reason and, unless a line's reason makes the
label free, the policy's return-shipping fee. An exchange carries no fees: the returned lines' value is a credit
towards the replacement, whose price difference is charged or refunded.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal, NotRequired

from typing_extensions import TypedDict

from oms.domain.errors import ReturnRefused, ValidationFailed
from oms.domain.order import Address, Order, TimelineEntry
from oms.domain.reasons import ReturnReason
from oms.domain.shipping import line_progress
from oms.domain.status import OrderStatus, ReturnStatus

if TYPE_CHECKING:  # the policy's pydantic models are built when a policy is loaded, not at import
    from oms.domain.return_policy import ReturnPolicy

Resolution = Literal["refund", "exchange"]
Condition = Literal["RESELLABLE", "DAMAGED"]
#: Crockford's base 32: no I, L, O or U, so an RMA number read aloud or typed from paper is not misread.
RMA_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RMA_PATTERN = r"^RMA-[0-9A-HJKMNP-TV-Z]{6}$"
RETURNABLE_ORDER_STATUSES = (OrderStatus.DELIVERED, OrderStatus.PARTIALLY_RETURNED)
#: Returns that still hold their units (the order's ``return_quantities``) and may still be cancelled.
OPEN = (ReturnStatus.REQUESTED, ReturnStatus.APPROVED, ReturnStatus.IN_TRANSIT, ReturnStatus.RECEIVED)
CANCELLABLE = (ReturnStatus.REQUESTED, ReturnStatus.APPROVED)

CUSTOMER_DETAIL: dict[ReturnStatus, str] = {
    ReturnStatus.REQUESTED: "We have your return request and will review it shortly.",
    ReturnStatus.APPROVED: "Your return is approved. Send the items back as the instructions say.",
    ReturnStatus.REJECTED: "We could not accept this return.",
    ReturnStatus.IN_TRANSIT: "Your parcel is on its way back to us.",
    ReturnStatus.RECEIVED: "We have received your items and are settling the return.",
    ReturnStatus.REFUNDED: "Your refund has been issued.",
    ReturnStatus.EXCHANGED: "Your replacement order has been created.",
    ReturnStatus.CLOSED: "This return is complete.",
    ReturnStatus.EXPIRED: "Nothing was sent back in time, so this return was closed.",
    ReturnStatus.CANCELLED: "You cancelled this return.",
}


class ReturnLine(TypedDict):
    sku: str
    name: str
    quantity: int
    reason: ReturnReason
    note: NotRequired[str]
    unit_price: int
    value: int  # goods and their tax share (minor units)
    restocking_fee: int


class ExchangeLine(TypedDict):
    sku: str
    name: str
    quantity: int
    unit_price: int  # the original price for the same SKU, else the catalog's when the return was requested


class ReceivedLine(TypedDict):
    sku: str
    quantity: int
    condition: Condition
    warehouse: str


class ReturnParcel(TypedDict):
    carrier: str
    tracking_number: str
    registered_at: str
    tracking_status: NotRequired[str]
    status_at: NotRequired[str]


class Approval(TypedDict):
    decision: Literal["approve", "reject"]
    by: str  # "policy" when approved automatically, else the ops user
    note: str
    at: str


class Exchange(TypedDict):
    order_id: str
    difference: int  # > 0 charged on the replacement order, < 0 refunded, 0 none
    lines: list[ExchangeLine]


class ReturnTechnicalHold(TypedDict):
    step: str
    error: str
    cause: str
    parked_at: str


class ReturnRecord(TypedDict):
    """The stored return item."""

    return_id: str
    order_id: str
    customer_id: str
    status: ReturnStatus
    status_detail: str
    currency: str
    locale: str
    lines: list[ReturnLine]
    resolution: Resolution
    exchange_for: list[ExchangeLine]
    refund_estimate: int
    restocking_fee: int
    return_shipping_fee: int
    label_free: bool
    credit: int  # an exchange: the returned lines' value, credited towards the replacement
    exchange_difference: NotRequired[int]  # an exchange: the replacement's price less the credit (> 0: charged)
    advance_exchange: bool
    policy_version: str
    ship_by: NotRequired[str]  # set at approval
    approval: NotRequired[Approval]
    parcel: NotRequired[ReturnParcel]
    received: NotRequired[list[ReceivedLine]]
    refund_amount: NotRequired[int]
    exchange: NotRequired[Exchange]
    task_token: NotRequired[str]
    park_task_token: NotRequired[str]
    technical_hold: NotRequired[ReturnTechnicalHold]
    reminders: NotRequired[int]
    request_hash: str
    timeline: list[TimelineEntry]
    created_at: str
    updated_at: str
    created_key: str  # "<created_at>#<return_id>": sort key of the by_order and by_status indexes


class ReturnView(TypedDict):
    """A return as the storefront sees it (money in minor units of ``currency``)."""

    return_id: str
    order_id: str
    status: ReturnStatus
    status_detail: str
    currency: str
    lines: list[ReturnLine]
    resolution: Resolution
    exchange_for: list[ExchangeLine]
    refund_estimate: int  # what the refund will be if everything comes back (fees deducted)
    exchange_difference: NotRequired[int]  # an exchange: > 0 charged on the replacement, < 0 refunded
    restocking_fee: int
    return_shipping_fee: int  # deducted from the refund (0 when the label is free)
    instructions: str
    ship_by: str | None  # send the parcel by this date (YYYY-MM-DD) once approved
    return_address: Address
    parcel: NotRequired[ReturnParcel]
    received: NotRequired[list[ReceivedLine]]
    refund_amount: NotRequired[int]
    exchange: NotRequired[Exchange]
    policy_version: str
    created_at: str
    updated_at: str
    timeline: list[TimelineEntry]


class OpsReturnView(ReturnView):
    customer_id: str
    approval: NotRequired[Approval]
    technical_hold: NotRequired[ReturnTechnicalHold]
    reminders: int


class ReturnPage(TypedDict):
    returns: list[OpsReturnView]
    next_cursor: str | None


def new_rma() -> str:
    return "RMA-" + "".join(secrets.choice(RMA_ALPHABET) for _ in range(6))


@dataclass(frozen=True)
class RequestedLine:
    sku: str
    quantity: int
    reason: ReturnReason
    note: str = ""


@dataclass(frozen=True)
class Quote:
    lines: list[ReturnLine]
    value: int
    restocking_fee: int
    return_shipping_fee: int
    label_free: bool
    refund_estimate: int


def delivered_on(order: Order) -> date | None:
    """When the order was delivered (the carrier's time of the last delivery), or None."""
    at = order.get("delivered_at") or next(
        (e["at"] for e in reversed(order["timeline"]) if e["event"] == "delivered"), None)
    if at is None and order["status"] in RETURNABLE_ORDER_STATUSES:
        at = order["updated_at"]  # delivered, its date unknown: no later than the last change
    return date.fromisoformat(str(at)[:10]) if at else None


def returnable_quantities(order: Order) -> dict[str, int]:
    """Per SKU: units delivered and not already in a return."""
    progress = line_progress(order)
    held = order.get("return_quantities", {})
    return {line["sku"]: progress[line["sku"]]["shipped_quantity"] - held.get(line["sku"], 0)
            for line in order["lines"]}


def check_request(order: Order, lines: list[RequestedLine], categories: dict[str, str | None],
                  policy: ReturnPolicy, today: date) -> None:
    """Raise ``ValidationFailed`` (422) or ``ReturnRefused`` (409) naming the line, or return."""
    if order["status"] not in RETURNABLE_ORDER_STATUSES:
        raise ReturnRefused("not_delivered", "order_id",
                            f"order {order['order_id']} is {order['status']}; items can be returned once delivered")
    delivered = delivered_on(order)
    ordered = {line["sku"] for line in order["lines"]}
    left = returnable_quantities(order)
    for i, line in enumerate(lines):
        if line.sku not in ordered:
            raise ValidationFailed(f"lines[{i}].sku", f"{line.sku!r} is not on this order")
        category = categories.get(line.sku)
        if not policy.returnable(category):
            raise ReturnRefused("not_returnable", f"lines[{i}].sku",
                                f"lines[{i}].sku: {line.sku} ({category}) cannot be returned")
        window = policy.window_for(category)
        if delivered is not None and today > delivered + timedelta(days=window):
            closed = delivered + timedelta(days=window)
            raise ReturnRefused("return_window_closed", f"lines[{i}].sku",
                                f"lines[{i}].sku: the {window}-day return window for {line.sku} closed on "
                                f"{closed.isoformat()} (delivered {delivered.isoformat()})")
        if line.quantity > left[line.sku]:
            raise ValidationFailed(f"lines[{i}].quantity",
                                   f"{line.quantity} is more than the {max(left[line.sku], 0)} delivered and not "
                                   "already being returned")


def line_value(order: Order, sku: str, quantity: int) -> int:
    """Goods plus their share of the tax, as a refund by lines counts it (``oms.domain.ledger``)."""
    unit_price = next(line["unit_price"] for line in order["lines"] if line["sku"] == sku)
    goods = unit_price * quantity
    taxable = order["subtotal"] + order["shipping_total"]
    return goods + (order["tax_total"] * goods // taxable if taxable else 0)


def _percent(amount: int, percent: Decimal) -> int:
    return int((Decimal(amount) * percent / 100).to_integral_value(ROUND_HALF_UP))


def quote(order: Order, lines: list[RequestedLine], resolution: Resolution, policy: ReturnPolicy) -> Quote:
    """The lines priced, and the refund they would bring if everything comes back."""
    names = {line["sku"]: line for line in order["lines"]}
    priced: list[ReturnLine] = []
    for line in lines:
        value = line_value(order, line.sku, line.quantity)
        fee = 0 if resolution == "exchange" else _percent(value, policy.reasons[line.reason].restocking_fee_percent)
        entry: ReturnLine = {"sku": line.sku, "name": names[line.sku]["name"], "quantity": line.quantity,
                             "reason": line.reason, "unit_price": names[line.sku]["unit_price"], "value": value,
                             "restocking_fee": fee}
        if line.note:
            entry["note"] = line.note
        priced.append(entry)
    label_free = resolution == "exchange" or any(
        policy.reasons[line.reason].return_shipping_refunded for line in lines)
    value = sum(line["value"] for line in priced)
    restocking = sum(line["restocking_fee"] for line in priced)
    shipping = 0 if label_free else min(policy.shipping_fee(order["currency"]), max(0, value - restocking))
    return Quote(priced, value, restocking, shipping, label_free, max(0, value - restocking - shipping))


def settled_refund(record: ReturnRecord, received: dict[str, int]) -> int:
    """The refund for the units that came back: each line's value and fee pro rata to what came, less the label
    fee (charged once)."""
    total = 0
    for line in record["lines"]:
        came = min(received.get(line["sku"], 0), line["quantity"])
        total += (line["value"] - line["restocking_fee"]) * came // line["quantity"]
    return max(0, total - record["return_shipping_fee"]) if total else 0


def auto_approves(record: ReturnRecord, policy: ReturnPolicy) -> bool:
    """Approved without a person: no line's reason excluded, and the refund within the currency's limit."""
    if any(line["reason"] in policy.auto_approve.excluded_reasons for line in record["lines"]):
        return False
    limit = policy.auto_limit(record["currency"])
    amount = record["credit"] if record["resolution"] == "exchange" else record["refund_estimate"]
    return limit is not None and amount <= limit


def advance_exchange(record: ReturnRecord, policy: ReturnPolicy) -> bool:
    """An exchange whose replacement ships at approval: every line's reason allows it."""
    return record["resolution"] == "exchange" and all(
        policy.reasons[line["reason"]].advance_exchange for line in record["lines"])


def instructions(record: ReturnRecord, policy: ReturnPolicy) -> str:
    a = policy.return_address
    address = ", ".join(part for part in (a.name, a.line1, a.line2, a.city, a.region, a.postal_code, a.country) if part)
    if record["status"] == ReturnStatus.REQUESTED:
        return (f"We are reviewing return {record['return_id']}; we will email you the instructions once it is "
                "approved. Please do not send anything yet.")
    if record["status"] != ReturnStatus.APPROVED:
        return CUSTOMER_DETAIL[record["status"]]
    steps = [f"Pack the items listed and write {record['return_id']} on the parcel.",
             f"Send it to {address} by {record.get('ship_by', '')}."]
    steps.append("Return shipping is free." if record["label_free"] else
                 "The return shipping fee is deducted from your refund.")
    if "parcel" not in record:
        steps.append("Then give us the parcel's carrier and tracking number on your order page.")
    return " ".join(steps)


def ship_by(approved_at: datetime, policy: ReturnPolicy) -> str:
    return (approved_at.date() + timedelta(days=policy.ship_back_days)).isoformat()


def public_view(record: ReturnRecord, policy: ReturnPolicy) -> ReturnView:
    view: ReturnView = {
        "return_id": record["return_id"], "order_id": record["order_id"], "status": record["status"],
        "status_detail": record["status_detail"], "currency": record["currency"], "lines": record["lines"],
        "resolution": record["resolution"], "exchange_for": record["exchange_for"],
        "refund_estimate": record["refund_estimate"], "restocking_fee": record["restocking_fee"],
        "return_shipping_fee": record["return_shipping_fee"], "instructions": instructions(record, policy),
        "ship_by": record.get("ship_by"), "return_address": _address(policy),
        "policy_version": record["policy_version"], "created_at": record["created_at"],
        "updated_at": record["updated_at"], "timeline": record["timeline"],
    }
    for key in ("exchange_difference", "parcel", "received", "refund_amount", "exchange"):
        if key in record:
            view[key] = record[key]
    return view


def ops_view(record: ReturnRecord, policy: ReturnPolicy) -> OpsReturnView:
    view: OpsReturnView = {**public_view(record, policy), "customer_id": record["customer_id"],  # type: ignore[typeddict-item]
                           "reminders": record.get("reminders", 0)}
    for key in ("approval", "technical_hold"):
        if key in record:
            view[key] = record[key]
    return view


def _address(policy: ReturnPolicy) -> Address:
    a = policy.return_address
    address: Address = {"name": a.name, "line1": a.line1, "city": a.city, "postal_code": a.postal_code,
                        "country": a.country}
    if a.line2:
        address["line2"] = a.line2
    if a.region:
        address["region"] = a.region
    return address


def message_context(record: ReturnRecord, policy: ReturnPolicy) -> dict[str, Any]:
    """What a return email's template sees as ``rma``."""
    names = {line["sku"]: line["name"] for line in record["lines"]}
    exchange = record.get("exchange")
    restocking, label = record["restocking_fee"], record["return_shipping_fee"]
    if "received" in record:  # the fees charged on what came back (pro rata), not the quote's
        came: dict[str, int] = {}
        for r in record["received"]:
            came[r["sku"]] = came.get(r["sku"], 0) + r["quantity"]
        restocking = sum(line["restocking_fee"] * min(came.get(line["sku"], 0), line["quantity"]) // line["quantity"]
                         for line in record["lines"])
        label = label if came else 0
    return {
        "return_id": record["return_id"], "status": record["status"], "resolution": record["resolution"],
        "lines": [{"sku": line["sku"], "name": line["name"], "quantity": line["quantity"], "reason": line["reason"]}
                  for line in record["lines"]],
        "refund_estimate": record["refund_estimate"], "restocking_fee": restocking,
        "return_shipping_fee": label, "label_free": record["label_free"],
        "refund_amount": record.get("refund_amount", 0), "ship_by": record.get("ship_by", ""),
        "return_address": {"line2": "", "region": "", **_address(policy)},
        "review_note": record.get("approval", {}).get("note", "") if record["status"] == ReturnStatus.REJECTED else "",
        "received": [{"sku": r["sku"], "name": names.get(r["sku"], r["sku"]), "quantity": r["quantity"],
                      "condition": r["condition"]} for r in record.get("received", [])],
        "advance_exchange": record["advance_exchange"],
        "exchange": {"order_id": exchange["order_id"], "difference": exchange["difference"],
                     "lines": [{"sku": line["sku"], "name": line["name"], "quantity": line["quantity"]}
                               for line in exchange["lines"]]} if exchange else None,
    }
