"""Returns: a customer asks, the policy or ops approve, the parcel comes back, ops receive it, the refund (or the
exchange) settles it. The ``ReturnWorkflow`` state machine sequences it (``oms.logic.return_steps``); this module
holds what the API routes and the carrier events do to a return.

Every change is a conditional write on the return's status (``oms.domain.status``); what also touches the order
(units held by returns) or the stock (units back on the shelf) is written in the same transaction, so nothing is
ever half-written. A wait of the workflow stores its task token on the return; whoever moves the return on resumes
it, and a wait that starts after the move resumes itself (``return_steps``).
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import Change, OrdersRepository
from oms.adapters.returns_repo import (
    ClaimTaken,
    OrderMoved,
    ReturnsRepository,
    ReturnTransitionRejected,
    RmaTaken,
    claim_id,
)
from oms.adapters.workflow import Workflow
from oms.domain.errors import (
    Conflict,
    IdempotencyKeyReused,
    NotFound,
    ReturnCancelled,
    StockUnavailable,
    TransientError,
    ValidationFailed,
)
from oms.domain.order import Order, iso, timeline_entry
from oms.domain.pricing import DEFAULT_POLICY
from oms.domain.returns import (
    CANCELLABLE,
    CUSTOMER_DETAIL,
    RETURNABLE_ORDER_STATUSES,
    Condition,
    ExchangeLine,
    ReceivedLine,
    RequestedLine,
    Resolution,
    ReturnRecord,
    advance_exchange,
    check_request,
    new_rma,
    quote,
    settled_refund,
    ship_by,
)
from oms.domain.shipping import allocations
from oms.domain.status import ReturnStatus
from oms.logic.clock import now

if TYPE_CHECKING:
    from oms.domain.return_policy import ReturnPolicy

ATTEMPTS = 5


@dataclass(frozen=True)
class ReturnCommand:
    idempotency_key: str
    request_hash: str
    lines: list[RequestedLine]
    resolution: Resolution
    exchange_for: list[tuple[str, int]]


@dataclass(frozen=True)
class Returns:
    """What the return routes and steps work with (each function builds only the parts it uses)."""

    returns: ReturnsRepository
    orders: OrdersRepository
    policy: ReturnPolicy
    workflow: Workflow  # the ReturnWorkflow state machine
    notifications: NotificationQueue | None = None
    alerts: OpsAlerts | None = None


# -- the customer ------------------------------------------------------------------------------------------------

def request_return(order_id: str, customer_id: str, command: ReturnCommand, ctx: Returns,
                   catalog: CatalogRepository, inventory: InventoryRepository) -> tuple[ReturnRecord, bool]:
    """Create the return (REQUESTED) and start its workflow; a repeat of the same Idempotency-Key answers the same
    return (and True)."""
    order = _own_order(order_id, customer_id, ctx.orders)
    claim = claim_id(order_id, hashlib.sha256(command.idempotency_key.encode()).hexdigest()[:32])
    replayed = _replay(claim, command, ctx)
    if replayed is not None:
        return replayed, True
    products = catalog.many([line.sku for line in command.lines] + [sku for sku, _ in command.exchange_for])
    categories = {sku: p.get("category") for sku, p in products.items()}
    for _ in range(ATTEMPTS):
        check_request(order, command.lines, categories, ctx.policy, now().date())
        exchange = _exchange_lines(order, command, products, inventory)
        record = _new_record(order, command, exchange, ctx.policy)
        held = dict(order.get("return_quantities", {}))
        for line in command.lines:
            held[line.sku] = held.get(line.sku, 0) + line.quantity
        change = Change(sets={"return_quantities": held},
                        expect_in={"status": [s.value for s in RETURNABLE_ORDER_STATUSES]})
        _expect_as_read(change, order, "return_quantities")  # two returns of the last unit: one wins
        try:
            ctx.returns.create(record, claim, ctx.orders, change)
        except RmaTaken:
            continue
        except OrderMoved:
            order = _own_order(order_id, customer_id, ctx.orders)
            continue
        except ClaimTaken:  # a concurrent request with the same key created it first
            replayed = _replay(claim, command, ctx)
            assert replayed is not None
            return replayed, True
        ctx.workflow.start(record["return_id"], key="return_id")
        return record, False
    raise TransientError("the order kept changing while the return was recorded; repeat the request")


def _expect_as_read(change: Change, order: Order, field: str) -> None:
    if field in order:
        change.expect[field] = order[field]  # type: ignore[literal-required]
    else:
        change.absent.append(field)


def _replay(claim: str, command: ReturnCommand, ctx: Returns) -> ReturnRecord | None:
    taken = ctx.returns.claim(claim)
    if taken is None:
        return None
    if taken["request_hash"] != command.request_hash:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different return")
    record = ctx.returns.require(taken["points_to"])
    ctx.workflow.start(record["return_id"], key="return_id")  # a first attempt may have stopped before it
    return record


def _own_order(order_id: str, customer_id: str, orders: OrdersRepository) -> Order:
    order = orders.get(order_id)
    if order is None or order["customer_id"] != customer_id:
        raise NotFound(f"order {order_id} not found")
    return order


def _exchange_lines(order: Order, command: ReturnCommand, products: dict[str, Any],
                    inventory: InventoryRepository) -> list[ExchangeLine]:
    """The replacement's lines, priced: the original unit price for a SKU on the order, the catalog's for
    another; each in stock now (409 naming the line otherwise)."""
    if command.resolution == "refund":
        return []
    bought = {line["sku"]: line for line in order["lines"]}
    lines: list[ExchangeLine] = []
    for i, (sku, quantity) in enumerate(command.exchange_for):
        product = products.get(sku)
        if product is None or not product.get("active", True):
            raise ValidationFailed(f"exchange_for[{i}].sku", f"unknown sku {sku!r}")
        if product["currency"] != order["currency"]:
            raise ValidationFailed(f"exchange_for[{i}].sku", f"{sku!r} is sold in {product['currency']}, not in "
                                                             f"{order['currency']}")
        available = sum(row["available"] for row in inventory.levels(sku))
        if quantity > available:
            raise StockUnavailable(f"exchange_for[{i}].quantity",
                                   f"only {max(available, 0)} of {sku} available for the exchange")
        price = bought[sku]["unit_price"] if sku in bought else int(product["price"])
        lines.append({"sku": sku, "name": bought[sku]["name"] if sku in bought else product["name"],
                      "quantity": quantity, "unit_price": price})
    return lines


def replacement_value(order: Order, lines: list[ExchangeLine]) -> int:
    """The replacement's goods and tax (the destination's rate; exchanges ship free)."""
    from decimal import ROUND_HALF_UP, Decimal

    goods = sum(line["unit_price"] * line["quantity"] for line in lines)
    rate = Decimal(DEFAULT_POLICY.tax_rates.get(order["shipping_address"]["country"], "0"))
    return goods + int((Decimal(goods) * rate).quantize(Decimal(1), ROUND_HALF_UP))


def _new_record(order: Order, command: ReturnCommand, exchange: list[ExchangeLine],
                policy: ReturnPolicy) -> ReturnRecord:
    priced = quote(order, command.lines, command.resolution, policy)
    created = iso(now())
    rma = new_rma()
    credit = priced.value if command.resolution == "exchange" else 0
    refund_estimate = priced.refund_estimate
    if command.resolution == "exchange":
        refund_estimate = max(0, credit - replacement_value(order, exchange))
    record: ReturnRecord = {
        "return_id": rma, "order_id": order["order_id"], "customer_id": order["customer_id"],
        "status": ReturnStatus.REQUESTED, "status_detail": CUSTOMER_DETAIL[ReturnStatus.REQUESTED],
        "currency": order["currency"], "locale": order.get("locale", "en-US"), "lines": priced.lines,
        "resolution": command.resolution, "exchange_for": exchange, "refund_estimate": refund_estimate,
        "restocking_fee": priced.restocking_fee, "return_shipping_fee": priced.return_shipping_fee,
        "label_free": priced.label_free, "credit": credit, "advance_exchange": False,
        "policy_version": policy.version, "request_hash": command.request_hash,
        "timeline": [timeline_entry(now(), "return_requested", f"Return {rma} requested.")],
        "created_at": created, "updated_at": created, "created_key": f"{created}#{rma}",
    }
    record["advance_exchange"] = advance_exchange(record, policy)
    if command.resolution == "exchange":
        record["exchange_difference"] = replacement_value(order, exchange) - credit
    return record


def owned_return(order_id: str, return_id: str, customer_id: str, ctx: Returns) -> ReturnRecord:
    record = ctx.returns.get(return_id)
    if record is None or record["order_id"] != order_id or record["customer_id"] != customer_id:
        raise NotFound(f"return {return_id} not found")
    return record


def order_returns(order_id: str, customer_id: str, ctx: Returns) -> list[ReturnRecord]:
    _own_order(order_id, customer_id, ctx.orders)
    return [r for r in ctx.returns.for_order(order_id) if r["customer_id"] == customer_id]


def cancel_return(order_id: str, return_id: str, customer_id: str, ctx: Returns) -> ReturnRecord:
    """The customer changed their mind before sending anything back: CANCELLED, its units free to return again.
    Repeating it is safe; 409 once the parcel is on its way."""
    record = owned_return(order_id, return_id, customer_id, ctx)
    if record["status"] == ReturnStatus.CANCELLED:
        return record
    if record["status"] not in CANCELLABLE:
        raise Conflict(f"return {return_id} is {record['status']} and can no longer be cancelled")
    if "exchange" in record:
        raise Conflict(f"the replacement order {record['exchange']['order_id']} of return {return_id} is already on "
                       "its way; please send the items back")
    change = Change(status=ReturnStatus.CANCELLED, status_detail=CUSTOMER_DETAIL[ReturnStatus.CANCELLED],
                          absent=["exchange"],  # an advance exchange created meanwhile wins
                          events=[timeline_entry(now(), "return_cancelled", "You cancelled the return.")])
    record = _end(record, change, ctx)
    _stop_waiting(record, ctx, cancelled=True)
    return record


def _end(record: ReturnRecord, change: Change, ctx: Returns,
         kept: dict[str, int] | None = None) -> ReturnRecord:
    """Move the return on and give the order back the units it held, less ``kept`` (what came back), together."""
    kept = kept or {}
    released = {line["sku"]: line["quantity"] - kept.get(line["sku"], 0) for line in record["lines"]}
    items = []
    if any(released.values()):
        items.append(ctx.orders.transaction_item(record["order_id"], Change(
            increments={("return_quantities", sku): -n for sku, n in released.items() if n})))
    items.append(ctx.returns.transaction_item(record["return_id"], change))
    try:
        return ctx.returns.transact(items, record["return_id"])
    except ReturnTransitionRejected as rejected:
        raise Conflict(f"return {record['return_id']} is {rejected.record['status']}") from None


def _stop_waiting(record: ReturnRecord, ctx: Returns, *, cancelled: bool = False,
                  output: dict[str, Any] | None = None) -> None:
    """Resume (or, for a cancellation, fail) the workflow's wait, if one is listening; one that starts later sees
    the new status and goes on by itself."""
    token = record.get("task_token")
    parked = record.get("park_task_token") if cancelled else None  # a parked step of a cancelled return ends too
    for waiting in (token, parked):
        if not waiting:
            continue
        with contextlib.suppress(Conflict):
            if cancelled:
                ctx.workflow.fail(waiting, ReturnCancelled.__name__, {"return_id": record["return_id"]})
            else:
                ctx.workflow.resume(waiting, output or {})


def register_parcel(order_id: str, return_id: str, customer_id: str, carrier: str, tracking_number: str,
                    ctx: Returns) -> ReturnRecord:
    """The parcel's carrier and tracking number: carrier events for it move the return to IN_TRANSIT (and a
    registered parcel is never expired unsent). Repeating it is safe."""
    record = owned_return(order_id, return_id, customer_id, ctx)
    parcel = record.get("parcel")
    if parcel is not None and parcel["tracking_number"] == tracking_number:
        return record
    if record["status"] not in (ReturnStatus.APPROVED, ReturnStatus.IN_TRANSIT) or parcel is not None:
        why = "already has a parcel" if parcel is not None else f"is {record['status']}"
        raise Conflict(f"return {return_id} {why}; a parcel can be given once, after approval")
    lookup = ctx.orders.tracking_lookup(tracking_number)
    if lookup is None and not ctx.orders.register_return_parcel(tracking_number, order_id, return_id, carrier):
        lookup = ctx.orders.tracking_lookup(tracking_number)
    if lookup is not None and lookup.get("return_id") != return_id:
        raise Conflict(f"tracking_number {tracking_number} is already used by another parcel")
    change = Change(sets={"parcel": {"carrier": carrier, "tracking_number": tracking_number,
                                           "registered_at": iso(now())}},
                          expect_in={"status": [ReturnStatus.APPROVED.value, ReturnStatus.IN_TRANSIT.value]},
                          absent=["parcel"],
                          events=[timeline_entry(now(), "parcel_registered",
                                                 f"Return parcel {carrier} {tracking_number} registered.")])
    try:
        return ctx.returns.apply(return_id, change)
    except ReturnTransitionRejected as rejected:
        if rejected.record.get("parcel", {}).get("tracking_number") == tracking_number:
            return rejected.record
        raise Conflict(f"return {return_id} is {rejected.record['status']}") from None


#: Carrier statuses that mean the parcel is moving (not only a label printed).
_MOVING = {"IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERY_ATTEMPTED", "DELIVERED", "AVAILABLE_FOR_PICKUP", "EXCEPTION"}


def parcel_update(return_id: str, tracking_status: str | None, occurred_at: str | None,
                  ctx: Returns) -> Literal["applied", "stale"]:
    """A carrier event for a return parcel: the first sign of movement makes it IN_TRANSIT and resumes the
    workflow's wait; later ones are kept on the parcel."""
    record = ctx.returns.require(return_id)
    parcel = record.get("parcel")
    if parcel is None or tracking_status is None or parcel.get("tracking_status") == tracking_status:
        return "stale"
    change = Change(sets={"parcel.tracking_status": tracking_status,
                                "parcel.status_at": occurred_at or iso(now())},
                          expect={"updated_at": record["updated_at"]})
    moving = record["status"] == ReturnStatus.APPROVED and tracking_status in _MOVING
    if moving:
        change.status = ReturnStatus.IN_TRANSIT
        change.status_detail = CUSTOMER_DETAIL[ReturnStatus.IN_TRANSIT]
        change.events = [timeline_entry(now(), "in_transit", f"The carrier has the parcel ({tracking_status}).")]
    try:
        record = ctx.returns.apply(return_id, change)
    except ReturnTransitionRejected:
        raise TransientError(f"return {return_id} changed meanwhile; applying again") from None
    if moving:
        _stop_waiting(record, ctx, output={"event": "in_transit"})
    return "applied"


# -- ops ---------------------------------------------------------------------------------------------------------

def review(return_id: str, decision: Literal["approve", "reject"], note: str, who: str,
           ctx: Returns) -> ReturnRecord:
    """Approve or reject a REQUESTED return; 409 once decided."""
    record = ctx.returns.require(return_id)
    if record["status"] != ReturnStatus.REQUESTED:
        raise Conflict(f"return {return_id} is {record['status']}, not waiting for review")
    record = decide(record, decision, note, who, ctx)
    _stop_waiting(record, ctx, output=decision_output(record))
    return record


def decide(record: ReturnRecord, decision: Literal["approve", "reject"], note: str, who: str,
           ctx: Returns) -> ReturnRecord:
    """Record the decision (approved: the ship-by date; rejected: the units given back) and email it."""
    at = now()
    approval = {"decision": decision, "by": who, "note": note, "at": iso(at)}
    if decision == "approve":
        change = Change(status=ReturnStatus.APPROVED, status_detail=CUSTOMER_DETAIL[ReturnStatus.APPROVED],
                              sets={"approval": approval, "ship_by": ship_by(at, ctx.policy)},
                              events=[timeline_entry(at, "return_approved", "Return approved" + (
                                  " automatically under the return policy." if who == "policy" else "."))])
        try:
            record = ctx.returns.apply(record["return_id"], change)
        except ReturnTransitionRejected as rejected:
            raise Conflict(f"return {record['return_id']} is {rejected.record['status']}") from None
    else:
        change = Change(status=ReturnStatus.REJECTED, status_detail=CUSTOMER_DETAIL[ReturnStatus.REJECTED],
                              sets={"approval": approval},
                              events=[timeline_entry(at, "return_rejected", f"Return rejected: {note}")])
        record = _end(record, change, ctx)
    _publish(record, "return_approved" if decision == "approve" else "return_rejected", ctx)
    return record


def decision_output(record: ReturnRecord) -> dict[str, Any]:
    """What a review wait resumes with (the state machine's ``ReviewDecision`` reads it)."""
    decision = record.get("approval", {}).get("decision", "reject")
    return {"decision": decision, "advance": decision == "approve" and record["advance_exchange"]}


def _publish(record: ReturnRecord, event: str, ctx: Returns) -> None:
    if ctx.notifications is not None:
        ctx.notifications.publish(record["order_id"], event, ref=record["return_id"])


@dataclass(frozen=True)
class ReceivedUnits:
    sku: str
    quantity: int
    condition: Condition


def receive(return_id: str, lines: list[ReceivedUnits], warehouse: str | None, who: str, ctx: Returns,
            inventory: InventoryRepository, warehouses: tuple[str, ...]) -> ReturnRecord:
    """The parcel came: resellable units back on the shelf of ``warehouse`` (default: where they shipped from),
    damaged ones written off, each a stock movement; the return RECEIVED with the refund it earns, and units that
    did not come given back to the order, all in one transaction. The workflow then settles it."""
    record = ctx.returns.require(return_id)
    if record["status"] not in (ReturnStatus.APPROVED, ReturnStatus.IN_TRANSIT):
        raise Conflict(f"return {return_id} is {record['status']}; only an approved return can be received")
    asked = {line["sku"]: line["quantity"] for line in record["lines"]}
    came: dict[str, int] = {}
    for i, line in enumerate(lines):
        if line.sku not in asked:
            raise ValidationFailed(f"lines[{i}].sku", f"{line.sku!r} is not in return {return_id}")
        came[line.sku] = came.get(line.sku, 0) + line.quantity
        if came[line.sku] > asked[line.sku]:
            raise ValidationFailed(f"lines[{i}].quantity", f"more {line.sku} than the {asked[line.sku]} being "
                                                           "returned")
    order = ctx.orders.require(record["order_id"])
    received: list[ReceivedLine] = []
    items: list[dict[str, Any]] = []
    by = f"ops:{who}"
    per_row: dict[tuple[str, str], dict[str, int]] = {}
    for line in lines:
        where = warehouse or _shipped_from(order, line.sku, warehouses)
        received.append({"sku": line.sku, "quantity": line.quantity, "condition": line.condition,
                         "warehouse": where})
        counts = per_row.setdefault((line.sku, where), {"RESELLABLE": 0, "DAMAGED": 0})
        counts[line.condition] += line.quantity
    for (sku, where), counts in per_row.items():
        items += inventory.returned(sku, where, counts["RESELLABLE"], counts["DAMAGED"],
                                    order_id=record["order_id"], by=by)
    refund = settled_refund(record, came) if record["resolution"] == "refund" else 0
    count = sum(came.values())
    change = Change(status=ReturnStatus.RECEIVED, status_detail=CUSTOMER_DETAIL[ReturnStatus.RECEIVED],
                          sets={"received": received, "refund_amount": refund},
                          events=[timeline_entry(now(), "return_received",
                                                 f"{count} item{'s' if count != 1 else ''} received.")])
    released = {sku: asked[sku] - came.get(sku, 0) for sku in asked}
    if any(released.values()):
        items.append(ctx.orders.transaction_item(record["order_id"], Change(
            increments={("return_quantities", sku): -n for sku, n in released.items() if n})))
    items.append(ctx.returns.transaction_item(return_id, change))
    try:
        record = ctx.returns.transact(items, return_id)
    except ReturnTransitionRejected as rejected:
        raise Conflict(f"return {return_id} is {rejected.record['status']}") from None
    _publish(record, "return_received", ctx)
    _stop_waiting(record, ctx, output={"event": "received"})
    return record


def _shipped_from(order: Order, sku: str, warehouses: tuple[str, ...]) -> str:
    shipped = [a["warehouse"] for a in allocations(order) if a["sku"] == sku and a.get("shipped")]
    return shipped[0] if shipped else warehouses[0]


def retry(return_id: str, who: str, ctx: Returns) -> ReturnRecord:
    """Resume a return parked by a technical failure at the step that failed; 409 when it is not parked."""
    record = ctx.returns.require(return_id)
    token = record.get("park_task_token")
    if not token:
        raise Conflict(f"return {return_id} is not held for a technical problem")
    change = Change(removes=["park_task_token", "technical_hold"], expect={"park_task_token": token},
                          events=[timeline_entry(now(), "technical_hold_released", f"Resumed by {who}.")])
    try:
        record = ctx.returns.apply(return_id, change)
    except ReturnTransitionRejected:
        raise Conflict(f"return {return_id} was resumed by someone else") from None
    try:
        ctx.workflow.resume(token, {"decision": "retry", "by": who})
    except Conflict:
        raise Conflict(f"return {return_id} is no longer parked") from None
    return record


