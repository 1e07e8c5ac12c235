"""Ops refund captured money: an amount, or lines (their goods and tax share, shipping when asked).

The refund is reserved on the order before the gateway is called, with a write conditional on the amounts it
read, so two concurrent refunds that together exceed the capture cannot both pass: the second re-reads and is
refused (``RefundExceedsCaptured``). The gateway call is recorded in the ledger; a refusal releases the
reservation, a call whose outcome is unknown keeps it (and the ledger entry ``PENDING``) until the same request
is repeated with the same Idempotency-Key, which retries the call with the same gateway key: one refund, never two.
"""

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.payment_gateway import PaymentGateway
from oms.domain.errors import (
    Conflict,
    IdempotencyKeyReused,
    PaymentDeclined,
    RefundDeclined,
    RefundExceedsCaptured,
    RefundPending,
    ValidationFailed,
)
from oms.domain.ledger import entry_id, lines_refund_amount
from oms.domain.money import format_minor
from oms.domain.order import Order, fingerprint, timeline_entry
from oms.domain.status import PaymentStatus
from oms.logic import ledger
from oms.logic.clock import now

REFUNDABLE = (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED)
#: In-request retries of a gateway call whose outcome is unknown (same key), before answering 503.
ATTEMPTS = 3


@dataclass(frozen=True)
class RefundCommand:
    idempotency_key: str
    reason: str
    amount: int | None = None
    lines: tuple[tuple[str, int], ...] = ()
    include_shipping: bool = False
    who: str = ""
    notify: bool = True  # email the customer (a return's refund has its own email)

    def fingerprint(self) -> str:
        return fingerprint({"amount": self.amount, "lines": [list(line) for line in self.lines],
                            "include_shipping": self.include_shipping, "reason": self.reason})


def refund(order_id: str, command: RefundCommand, orders: OrdersRepository, gateway: PaymentGateway,
           queue: NotificationQueue) -> tuple[Order, bool]:
    """Refund and return the order, and whether this answered a repeat of an earlier request."""
    order = orders.require(order_id)
    key = gateway_key(order_id, command.idempotency_key)
    eid = entry_id(key)
    existing = order.get("ledger", {}).get(eid)
    if existing is not None:
        return _resume(order, command, key, orders, gateway, queue)
    amount = _amount(order, command)
    order = _reserve(order, command, key, amount, orders)
    return _run(order, command, key, amount, orders, gateway, queue), False


def gateway_key(order_id: str, idempotency_key: str) -> str:
    return f"{order_id}:refund:{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


def _amount(order: Order, command: RefundCommand) -> int:
    if order["payment_status"] not in REFUNDABLE:
        raise Conflict(f"order {order['order_id']} has no captured payment to refund "
                       f"(payment_status {order['payment_status']})")
    remaining = order.get("amount_captured", 0) - order.get("amount_refunded", 0) - order.get("refund_pending", 0)
    if command.amount is not None:
        amount = command.amount
    else:
        amount = lines_refund_amount(
            {line["sku"]: (line["quantity"], line["unit_price"]) for line in order["lines"]},
            order["subtotal"], order["tax_total"],
            order["shipping_total"], list(command.lines), order.get("refunded_quantities", {}),
            command.include_shipping, order.get("shipping_refunded", False))
        if _refunds_everything(order, command):
            amount = max(amount, remaining)  # the last lines take the rounding remainder
    if amount <= 0:
        raise ValidationFailed("amount", "the refund must be positive")
    if amount > remaining:
        raise RefundExceedsCaptured(
            f"a refund of {format_minor(amount, order['currency'])} exceeds the "
            f"{format_minor(max(remaining, 0), order['currency'])} still refundable of "
            f"{format_minor(order.get('amount_captured', 0), order['currency'])} captured")
    return amount


def _refunds_everything(order: Order, command: RefundCommand) -> bool:
    already = order.get("refunded_quantities", {})
    asked = dict(command.lines)
    goods_done = all(already.get(line["sku"], 0) + asked.get(line["sku"], 0) == line["quantity"]
                     for line in order["lines"])
    shipping_done = order["shipping_total"] == 0 or order.get("shipping_refunded", False) or command.include_shipping
    return goods_done and shipping_done


def _reserve(order: Order, command: RefundCommand, key: str, amount: int, orders: OrdersRepository) -> Order:
    """Reserve the amount and record the gateway call as PENDING, in one write conditional on the amounts this
    decision read (optimistic concurrency)."""
    eid = entry_id(key)
    sets: dict[str, Any] = {"refund_pending": order.get("refund_pending", 0) + amount,
                            **ledger.recording(order, "REFUND", amount, key)}
    entry = sets.get(f"ledger.{eid}") or sets["ledger"][eid]
    entry["reason"], entry["by"] = command.reason, command.who
    sets.update({f"refund_requests.{eid}": command.fingerprint()} if "refund_requests" in order
                else {"refund_requests": {eid: command.fingerprint()}})
    if command.lines:
        quantities = dict(order.get("refunded_quantities", {}))
        for sku, quantity in command.lines:
            quantities[sku] = quantities.get(sku, 0) + quantity
        sets["refunded_quantities"] = quantities
    if command.include_shipping:
        sets["shipping_refunded"] = True
    change = Change(sets=sets, expect_in={"payment_status": [s.value for s in REFUNDABLE]})
    for field in ("amount_refunded", "refund_pending"):
        if field in order:
            change.expect[field] = order.get(field)
        else:
            change.absent.append(field)
    try:
        return orders.apply(order["order_id"], change)
    except TransitionRejected as rejected:
        # Another refund (or a capture) changed the amounts: decide again on what is there now.
        if eid in rejected.order.get("ledger", {}):
            raise Conflict("the same refund is being made by a concurrent request; repeat it shortly") from None
        _amount(rejected.order, command)  # raises RefundExceedsCaptured if it no longer fits
        raise Conflict("another refund changed the order meanwhile; try again") from None


def _run(order: Order, command: RefundCommand, key: str, amount: int, orders: OrdersRepository,
         gateway: PaymentGateway, queue: NotificationQueue) -> Order:
    capture_id = order["payment"].get("capture_id")
    if not capture_id:
        raise Conflict(f"order {order['order_id']} has no capture to refund")
    for attempt in range(ATTEMPTS):
        try:
            reference = ledger.call(orders, order, "REFUND", amount, key, lambda: gateway.refund(
                capture_id=capture_id, amount=amount, idempotency_key=key))
            break
        except PaymentDeclined as declined:
            _release(order, command, amount, orders)
            raise RefundDeclined(declined.code, declined.message or declined.code) from None
        except Exception as error:
            if attempt == ATTEMPTS - 1:
                raise RefundPending(f"the payment provider did not confirm the refund ({error}); repeat the "
                                    "request with the same Idempotency-Key to finish it") from None
            time.sleep(0.2 * 2**attempt)
    return _complete(order["order_id"], command, key, amount, reference, orders, queue)


def _complete(order_id: str, command: RefundCommand, key: str, amount: int, reference: str,
              orders: OrdersRepository, queue: NotificationQueue) -> Order:
    eid = entry_id(key)
    for _ in range(5):
        order = orders.require(order_id)
        if order["ledger"][eid]["status"] == "SUCCEEDED":
            return order
        refunded = order.get("amount_refunded", 0) + amount
        change = Change(
            sets={"amount_refunded": refunded, "refund_pending": order.get("refund_pending", 0) - amount,
                  **ledger.succeeded(key, reference)},
            expect={f"ledger.{eid}.status": "PENDING", "refund_pending": order.get("refund_pending", 0)},
            events=[timeline_entry(now(), "refunded", f"Refund of {format_minor(amount, order['currency'])} "
                                                      "issued.")],
        )
        status = PaymentStatus.REFUNDED if refunded >= order.get("amount_captured", 0) \
            else PaymentStatus.PARTIALLY_REFUNDED
        if status != order["payment_status"]:
            change.payment_status = status
        try:
            order = orders.apply(order_id, change)
        except TransitionRejected:
            continue  # a concurrent refund moved the amounts; read again
        if command.notify:
            queue.publish(order_id, "payment_refunded", ref=eid)
        return order
    raise Conflict("the order kept changing while the refund was recorded; repeat the request to finish it")


def _release(order: Order, command: RefundCommand, amount: int, orders: OrdersRepository) -> None:
    """The gateway refused: give back the reserved amount and line quantities (atomic decrements: one write that
    no concurrent refund can make fail)."""
    change = Change(increments={"refund_pending": -amount,  # a SKU may contain a dot: its path is given in parts
                                **{("refunded_quantities", sku): -quantity for sku, quantity in command.lines}})
    if command.include_shipping:
        change.sets["shipping_refunded"] = False
    orders.apply(order["order_id"], change)


def _resume(order: Order, command: RefundCommand, key: str, orders: OrdersRepository, gateway: PaymentGateway,
            queue: NotificationQueue) -> tuple[Order, bool]:
    """The same Idempotency-Key again: the same answer, or finishing a refund whose outcome was unknown."""
    eid = entry_id(key)
    if order.get("refund_requests", {}).get(eid) != command.fingerprint():
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different refund")
    entry = order["ledger"][eid]
    if entry["status"] == "SUCCEEDED":
        return order, True
    if entry["status"] == "FAILED":
        raise RefundDeclined(entry["error_code"] or "declined", "the earlier request with this key was refused")
    return _run(order, command, key, entry["amount"], orders, gateway, queue), True
