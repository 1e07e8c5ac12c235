"""The steps of the ``ReturnWorkflow`` state machine (``infra/returns_stack.py`` sequences them).

Each is idempotent: a step retried after a crash finds its own earlier write and answers the same. A wait stores
its task token on the return conditionally on the status it waits in; when the return has already moved on (ops
decided, the parcel moved or came) it resumes itself at once with what the move means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.payment_gateway import PaymentGateway
from oms.adapters.returns_repo import ReturnTransitionRejected
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict, ReturnCancelled, TransientError
from oms.domain.money import format_minor
from oms.domain.order import Order, iso, order_id_for, timeline_entry
from oms.domain.returns import CUSTOMER_DETAIL, ReturnRecord, auto_approves
from oms.domain.shipping import line_progress
from oms.domain.status import FulfillmentStatus, OrderStatus, ReturnStatus
from oms.logic import refunds
from oms.logic.clock import now
from oms.logic.returns import Returns, _end, _publish, decide, decision_output, replacement_value

Result = dict[str, Any]


def _alert(ctx: Returns, subject: str, message: str) -> None:
    if ctx.alerts is not None:
        ctx.alerts.alert(subject, message)


def approve_or_review(return_id: str, ctx: Returns) -> Result:
    """``Decide``: approve under the policy (and email), or ask ops to review."""
    record = ctx.returns.require(return_id)
    if record["status"] == ReturnStatus.CANCELLED:
        raise ReturnCancelled(return_id)
    if record["status"] != ReturnStatus.REQUESTED:  # decided already (this step retried after its write)
        return decision_output(record) if "approval" in record else {"decision": "review"}
    if auto_approves(record, ctx.policy):
        try:
            return decision_output(decide(record, "approve", "", "policy", ctx))
        except Conflict:
            return approve_or_review(return_id, ctx)
    _alert(ctx, f"Return {return_id} needs review",
           f"Return {return_id} of order {record['order_id']} waits for a decision: "
           f"POST /admin/returns/{return_id}/review (queue: GET /admin/returns?status=REQUESTED).")
    return {"decision": "review"}


def await_review(return_id: str, token: str, ctx: Returns) -> Result:
    return _wait(return_id, token, ReturnStatus.REQUESTED, ctx)


def await_parcel(return_id: str, token: str, stage: str, ctx: Returns) -> Result:
    """``AwaitShipBack`` (APPROVED) or ``AwaitReceipt`` (IN_TRANSIT)."""
    waiting_in = ReturnStatus.APPROVED if stage == "ship_back" else ReturnStatus.IN_TRANSIT
    return _wait(return_id, token, waiting_in, ctx)


def _wait(return_id: str, token: str, waiting_in: ReturnStatus, ctx: Returns) -> Result:
    change = Change(sets={"task_token": token}, expect={"status": waiting_in.value})
    try:
        ctx.returns.apply(return_id, change)
        return {"waiting": True}
    except ReturnTransitionRejected as rejected:
        record = rejected.record
    output = moved_on(record)
    ctx.workflow.resume(token, output)
    return {"waiting": False, **output}


def moved_on(record: ReturnRecord) -> Result:
    """What a wait resumes with, for a return that is past what it waited for."""
    status = record["status"]
    if status in (ReturnStatus.CANCELLED,):
        raise ReturnCancelled(record["return_id"])
    if status in (ReturnStatus.APPROVED, ReturnStatus.REJECTED):
        return decision_output(record)
    if status == ReturnStatus.IN_TRANSIT:
        return {"event": "in_transit"}
    return {"event": "received"}


def remind_review(return_id: str, ctx: Returns) -> Result:
    """The review SLA passed: remind ops, or past the policy's limit take its default decision."""
    record = ctx.returns.require(return_id)
    if record["status"] != ReturnStatus.REQUESTED:
        return moved_on(record)
    reminders = record.get("reminders", 0) + 1
    waited = reminders * ctx.policy.review_reminder_hours
    if waited >= ctx.policy.review_limit_hours:
        try:
            note = f"Not reviewed within {ctx.policy.review_limit_hours} hours: the policy's default applies."
            return decision_output(decide(record, ctx.policy.review_default, note, "policy", ctx))
        except Conflict:
            return moved_on(ctx.returns.require(return_id))
    ctx.returns.apply(return_id, Change(sets={"reminders": reminders}))
    _alert(ctx, f"Return {return_id} waits for review ({waited} h)",
           f"Return {return_id} of order {record['order_id']} has waited {waited} hours for a decision "
           f"(SLA {ctx.policy.review_reminder_hours} h; the policy decides '{ctx.policy.review_default}' at "
           f"{ctx.policy.review_limit_hours} h): POST /admin/returns/{return_id}/review")
    return {"decision": "wait"}


def expire(return_id: str, ctx: Returns) -> Result:
    """Nothing was sent back in time: EXPIRED and the units given back, unless a parcel was given (then wait for
    it) or the return moved on meanwhile."""
    record = ctx.returns.require(return_id)
    if record["status"] != ReturnStatus.APPROVED:
        return moved_on(record)
    if "parcel" in record:
        return {"event": "in_transit"}  # the customer gave a tracking number: wait for the parcel to arrive
    change = Change(status=ReturnStatus.EXPIRED, status_detail=CUSTOMER_DETAIL[ReturnStatus.EXPIRED],
                          events=[timeline_entry(now(), "return_expired",
                                                 f"Nothing was sent back by {record.get('ship_by')}.")])
    try:
        record = _end(record, change, ctx)
    except Conflict:
        return moved_on(ctx.returns.require(return_id))
    _publish(record, "return_expired", ctx)
    if "exchange" in record:
        _alert(ctx, f"Return {return_id} expired after its replacement shipped",
               f"The replacement order {record['exchange']['order_id']} of return {return_id} was sent in advance, "
               "and the items never came back. Decide whether to charge the customer for them.")
    return {"event": "expired"}


def remind_receipt(return_id: str, ctx: Returns) -> Result:
    record = ctx.returns.require(return_id)
    if record["status"] == ReturnStatus.IN_TRANSIT:
        parcel = record.get("parcel", {})
        _alert(ctx, f"Return {return_id}: parcel not received",
               f"The parcel {parcel.get('carrier', '')} {parcel.get('tracking_number', '')} of return {return_id} "
               f"has not been received for {ctx.policy.receipt_reminder_days} days. Check with the carrier, or "
               f"record it: POST /admin/returns/{return_id}/receive")
    return {"reminded": True}


@dataclass(frozen=True)
class Settlement:
    """What settling needs beyond the return itself: the payment gateway and the order workflow."""

    gateway: PaymentGateway
    order_workflow: Workflow


def create_exchange(return_id: str, ctx: Returns, settlement: Settlement) -> Result:
    """Create the replacement order (once: its id comes from the return) and start its workflow. The return
    records it first, conditionally on still being open, so a cancellation and an exchange cannot both win."""
    record = ctx.returns.require(return_id)
    order_id = order_id_for(record["customer_id"], f"exchange:{return_id}")
    order = ctx.orders.require(record["order_id"])
    if "exchange" not in record:
        if record["status"] not in _EXCHANGEABLE:
            raise ReturnCancelled(f"return {return_id} is {record['status']}")
        value = replacement_value(order, record["exchange_for"])
        exchange = {"order_id": order_id, "difference": value - record["credit"], "lines": record["exchange_for"]}
        change = Change(sets={"exchange": exchange}, absent=["exchange"],
                              expect_in={"status": [s.value for s in _EXCHANGEABLE]},
                              events=[timeline_entry(now(), "exchange_created",
                                                     f"Replacement order {order_id} created.")])
        try:
            record = ctx.returns.apply(return_id, change)
        except ReturnTransitionRejected as rejected:
            if "exchange" not in rejected.record:  # cancelled meanwhile
                raise ReturnCancelled(f"return {return_id} is {rejected.record['status']}") from None
            record = rejected.record  # a retry of this step recorded it first
    ctx.orders.create(replacement_order(order, record))  # an existing one (a retry) is kept as it is
    _link(ctx.orders, order, order_id)
    settlement.order_workflow.start(order_id)
    return {"order_id": order_id}


_EXCHANGEABLE = (ReturnStatus.APPROVED, ReturnStatus.IN_TRANSIT, ReturnStatus.RECEIVED)


def replacement_order(order: Order, record: ReturnRecord) -> Order:
    """A PENDING order for the exchange's lines, to the same address and paid by the same payment: its total is
    what the replacement costs beyond the returned items' credit (0 when the credit covers it)."""
    from oms.domain.delivery import expected_delivery
    from oms.domain.order import fingerprint

    at = now()
    created = iso(at)
    order_id = order_id_for(order["customer_id"], f"exchange:{record['return_id']}")
    lines = [{"sku": line["sku"], "name": line["name"], "quantity": line["quantity"], "unit_price": line["unit_price"],
              "line_total": line["unit_price"] * line["quantity"]} for line in record["exchange_for"]]
    subtotal = sum(line["unit_price"] * line["quantity"] for line in record["exchange_for"])
    value = replacement_value(order, record["exchange_for"])
    credit = min(record["credit"], value)
    window = expected_delivery(at, "standard")
    replacement: dict[str, Any] = {
        **{key: order[key] for key in ("customer_id", "currency", "shipping_address", "billing_address",
                                       "contact", "locale")},
        "order_id": order_id, "status": OrderStatus.PENDING, "status_detail": "Your replacement order is being "
        "prepared.", "payment_status": "PENDING", "fulfillment_status": FulfillmentStatus.UNFULFILLED,
        "lines": lines, "subtotal": subtotal, "shipping_total": 0, "tax_total": value - subtotal,
        "total": value - credit, "shipping_method": "standard",
        "expected_delivery": {"earliest": window.earliest.isoformat(), "latest": window.latest.isoformat()},
        "shipments": {}, "created_at": created, "updated_at": created, "created_key": f"{created}#{order_id}",
        "timeline": [timeline_entry(at, "order_placed", f"Replacement for return {record['return_id']} of order "
                                                        f"{order['order_id']}.")],
        "payment": {k: v for k, v in order["payment"].items()
                    if k in ("token", "customer", "payment_method_id")},
        "amount_captured": 0, "amount_refunded": 0, "ledger": {},
        "notifications": {}, "request_hash": fingerprint({"exchange": record["return_id"]}),
        "exchange_of": {"order_id": order["order_id"], "return_id": record["return_id"]}, "exchange_credit": credit,
    }
    return replacement  # type: ignore[return-value]


def _link(orders: OrdersRepository, order: Order, replacement_id: str) -> None:
    for _ in range(5):
        links = order.get("exchanges", [])
        if replacement_id in links:
            return
        change = Change(sets={"exchanges": [*links, replacement_id]})
        if "exchanges" in order:
            change.expect["exchanges"] = links
        else:
            change.absent.append("exchanges")
        try:
            orders.apply(order["order_id"], change)
            return
        except TransitionRejected as rejected:
            order = rejected.order


def settle(return_id: str, ctx: Returns, settlement: Settlement) -> Result:
    """Refund what came back (through the payment ledger: one refund, whatever the retries), or complete the
    exchange (its replacement created if it was not sent in advance, a cheaper one's difference refunded); the
    order becomes PARTIALLY_RETURNED or RETURNED."""
    record = ctx.returns.require(return_id)
    if record["status"] in (ReturnStatus.REFUNDED, ReturnStatus.EXCHANGED, ReturnStatus.CLOSED):
        return {"status": record["status"]}
    if record["resolution"] == "exchange" and "exchange" not in record:
        create_exchange(return_id, ctx, settlement)
        record = ctx.returns.require(return_id)
    amount = record.get("refund_amount", 0)
    if record["resolution"] == "exchange":
        amount = max(0, -record["exchange"]["difference"])
    came: dict[str, int] = {}
    for line in record.get("received", []):
        came[line["sku"]] = came.get(line["sku"], 0) + line["quantity"]
    if amount > 0:
        command = refunds.RefundCommand(
            idempotency_key=f"return:{return_id}", reason=f"Return {return_id}", amount=amount,
            lines=tuple(sorted(came.items())) if record["resolution"] == "refund" else (),
            who="returns", notify=False)
        assert ctx.notifications is not None, "the return steps publish their messages"
        refunds.refund(record["order_id"], command, ctx.orders, settlement.gateway, ctx.notifications)
    status = ReturnStatus.REFUNDED if record["resolution"] == "refund" else ReturnStatus.EXCHANGED
    detail = (f"Refund of {format_minor(amount, record['currency'])} issued." if status == ReturnStatus.REFUNDED
              else "Exchange completed.")
    order_change = _returned(ctx.orders.require(record["order_id"]), came)
    items = [ctx.orders.transaction_item(record["order_id"], order_change),
             ctx.returns.transaction_item(return_id, Change(
                 status=status, status_detail=CUSTOMER_DETAIL[status], sets={"refund_amount": amount},
                 events=[timeline_entry(now(), status.lower(), detail)]))]
    try:
        record = ctx.returns.transact(items, return_id)
    except ReturnTransitionRejected as rejected:
        return {"status": rejected.record["status"]}
    except Conflict as changed:  # the order changed meanwhile (another return settling): the workflow retries
        raise TransientError(str(changed)) from None
    _publish(record, "return_refunded" if status == ReturnStatus.REFUNDED else "return_exchanged", ctx)
    return {"status": record["status"], "refunded": amount}


def _returned(order: Order, came: dict[str, int]) -> Change:
    """The order's change for units returned: counted per SKU, and PARTIALLY_RETURNED or RETURNED."""
    returned = dict(order.get("returned_quantities", {}))
    for sku, n in came.items():
        returned[sku] = returned.get(sku, 0) + n
    shipped = {sku: p["shipped_quantity"] for sku, p in line_progress(order).items()}
    everything = all(returned.get(sku, 0) >= n for sku, n in shipped.items())
    change = Change(sets={"returned_quantities": returned})
    if "returned_quantities" in order:
        change.expect["returned_quantities"] = order["returned_quantities"]
    else:
        change.absent.append("returned_quantities")
    status = OrderStatus.RETURNED if everything else OrderStatus.PARTIALLY_RETURNED
    if status != order["status"]:
        change.status = status
        change.fulfillment_status = (FulfillmentStatus.RETURNED if everything
                                     else FulfillmentStatus.PARTIALLY_RETURNED)
        change.status_detail = ("Your items have been returned." if everything
                                else "Some of your items have been returned.")
    return change


def close(return_id: str, ctx: Returns) -> Result:
    record = ctx.returns.require(return_id)
    if record["status"] == ReturnStatus.CLOSED:
        return {"status": "CLOSED"}
    record = ctx.returns.apply(return_id, Change(
        status=ReturnStatus.CLOSED, status_detail=CUSTOMER_DETAIL[ReturnStatus.CLOSED], removes=["task_token"],
        events=[timeline_entry(now(), "return_closed", "Return complete.")]))
    return {"status": record["status"]}


def park(return_id: str, token: str, failure: dict[str, Any], ctx: Returns) -> Result:
    """A step kept failing past its retries: hold the return for ops (``POST /admin/returns/{id}/retry``)."""
    error = str(failure.get("Error", "Unknown"))
    cause = str(failure.get("Cause", ""))[:500]
    step = str(failure.get("step", ""))
    hold = {"step": step, "error": error, "cause": cause, "parked_at": iso(now())}
    ctx.returns.apply(return_id, Change(sets={"technical_hold": hold, "park_task_token": token}, events=[
        timeline_entry(now(), "technical_hold", "Settling this return is taking longer than usual.")]))
    _alert(ctx, f"Return {return_id} parked at {step}",
           f"The step {step} of return {return_id} kept failing ({error}: {cause[:200]}). Fix the cause, then "
           f"POST /admin/returns/{return_id}/retry")
    return {"parked": True}


def refund_unfulfilled_replacement(replacement: Order, ctx_orders: OrdersRepository, gateway: PaymentGateway,
                                   queue: NotificationQueue, alerts: OpsAlerts) -> int:
    """A replacement order closed without shipping (sold out, declined, cancelled): the customer sent items back and
    got nothing for them, so the credit it used is refunded on the original order (once: the ledger key names the
    return), and ops are told."""
    link = replacement.get("exchange_of")
    credit = replacement.get("exchange_credit", 0)
    if link is None or credit <= 0:
        return 0
    command = refunds.RefundCommand(
        idempotency_key=f"exchange-closed:{link['return_id']}", amount=credit, who="returns",
        reason=f"Replacement {replacement['order_id']} for return {link['return_id']} was not fulfilled")
    refunds.refund(link["order_id"], command, ctx_orders, gateway, queue)
    alerts.alert(f"Replacement for return {link['return_id']} closed unshipped",
                 f"The replacement order {replacement['order_id']} closed {replacement['status']} "
                 f"({replacement.get('close_reason', '')}). The items' credit, "
                 f"{format_minor(credit, replacement['currency'])}, was refunded on order {link['order_id']}.")
    return credit
