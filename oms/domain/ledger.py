"""The payment ledger: every call to the payment gateway, recorded before it runs (``PENDING``) and after
(``SUCCEEDED``/``FAILED``), keyed by the gateway idempotency key, so a call retried with the same key stays one
entry. What the customer paid is read from it: captured minus refunded.

Refund amounts for lines: the lines' share of the goods plus their share of the tax (pro rata to the goods),
shipping only when asked; what was already refunded per line is tracked on the order (``refunded_quantities``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from oms.domain.errors import ValidationFailed

Operation = Literal["AUTHORIZE", "REAUTHORIZE", "CAPTURE", "VOID", "REFUND"]
EntryStatus = Literal["PENDING", "SUCCEEDED", "FAILED"]


class PaymentEntry(TypedDict):
    """A gateway call, as ``GET /admin/orders/{id}/payments`` shows it."""

    operation: Operation
    amount: int
    currency: str
    status: EntryStatus
    gateway_reference: str | None
    idempotency_key: str
    error_code: str | None
    at: str  # when the call was first recorded (before it ran)
    reason: NotRequired[str]  # refunds: why, and which ops user
    by: NotRequired[str]


class LedgerEntry(PaymentEntry):
    """A gateway call as stored in the order's ``ledger`` map."""

    seq: int  # order of recording (ties of ``at``)


def payment_entries(order: Mapping[str, Any]) -> list[PaymentEntry]:
    """The order's ledger, oldest first."""
    entries: list[PaymentEntry] = []
    for e in in_order(order.get("ledger", {}).values()):
        entry: PaymentEntry = {"operation": e["operation"], "amount": e["amount"], "currency": e["currency"],
                               "status": e["status"], "gateway_reference": e.get("gateway_reference"),
                               "idempotency_key": e["idempotency_key"], "error_code": e.get("error_code"),
                               "at": e["at"]}
        for extra in ("reason", "by"):
            if extra in e:
                entry[extra] = e[extra]
        entries.append(entry)
    return entries


def entry_id(idempotency_key: str) -> str:
    """The ledger map key of a gateway call: a digest of its idempotency key (safe in DynamoDB paths)."""
    return "e" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]


def pending(operation: Operation, amount: int, currency: str, idempotency_key: str, at: str,
            seq: int) -> LedgerEntry:
    return {"operation": operation, "amount": amount, "currency": currency, "status": "PENDING",
            "gateway_reference": None, "idempotency_key": idempotency_key, "error_code": None, "at": at,
            "seq": seq}


def in_order(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    """Oldest first."""
    return sorted(entries, key=lambda e: (e["seq"], e["at"]))


def _total(entries: Iterable[LedgerEntry], operation: Operation) -> int:
    return sum(e["amount"] for e in entries if e["operation"] == operation and e["status"] == "SUCCEEDED")


def captured(entries: Iterable[LedgerEntry]) -> int:
    return _total(entries, "CAPTURE")


def refunded(entries: Iterable[LedgerEntry]) -> int:
    return _total(entries, "REFUND")


def paid(entries: Iterable[LedgerEntry]) -> int:
    """What the customer has paid and not been given back: captured minus refunded."""
    listed = list(entries)
    return captured(listed) - refunded(listed)


def lines_refund_amount(ordered: dict[str, tuple[int, int]], subtotal: int, tax_total: int,
                        shipping_total: int, requested: list[tuple[str, int]], already: dict[str, int],
                        include_shipping: bool, shipping_already_refunded: bool) -> int:
    """The refund for ``requested`` (sku, quantity) lines: goods plus their tax share, and shipping (with its
    share of the tax) when asked. Raises ``ValidationFailed`` naming the line for a SKU not on the order or a
    quantity above what is left to refund. ``ordered``: sku -> (quantity, unit price) of the order's lines."""
    goods = 0
    for index, (sku, quantity) in enumerate(requested):
        if sku not in ordered:
            raise ValidationFailed(f"lines[{index}].sku", f"{sku!r} is not on this order")
        bought, unit_price = ordered[sku]
        left = bought - already.get(sku, 0)
        if quantity > left:
            raise ValidationFailed(f"lines[{index}].quantity",
                                   f"{quantity} is more than the {left} of {bought} not refunded yet")
        goods += unit_price * quantity
    taxable = subtotal + shipping_total
    amount = goods + (tax_total * goods // taxable if taxable else 0)
    if include_shipping:
        if shipping_already_refunded:
            raise ValidationFailed("include_shipping", "shipping was already refunded")
        amount += shipping_total + (tax_total * shipping_total // taxable if taxable else 0)
    return amount
