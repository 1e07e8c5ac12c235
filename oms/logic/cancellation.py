"""Cancelling an order before it ships, by its customer or by ops, under the cancellation policy.

The cancellation is recorded on the order with one conditional write that also checks the policy's stage (the
status, picking not started for a customer) and that nothing shipped: a shipment is recorded only while no
cancellation is, so of a cancel and a shipment racing, exactly one wins. Then the workflow is told: the step the
order waits in (review, fulfillment, a technical hold) fails with ``OrderCancelled``, and the state machine's own
compensation releases the stock, voids the authorization (or captures only the fee) and closes the order
CANCELLED. An order between two steps has no token yet; its next wait sees the cancellation and ends the same way.
"""

from dataclasses import dataclass

from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.workflow import Workflow
from oms.contract import Error
from oms.domain.cancellation import CancellationPolicy, Canceller, cancellation_fee, stage_of
from oms.domain.errors import Conflict, IdempotencyKeyReused, NotCancellable
from oms.domain.order import CancelKey, Cancellation, Order, iso, timeline_entry
from oms.domain.status import FulfillmentStatus
from oms.logic.clock import now

#: Steps an order waits in before it ships, by the attribute holding the wait's task token.
WAITING_TOKENS = ("park_task_token", "payment_task_token", "review_task_token", "fulfillment_task_token",
                  "stock_task_token")
UNSHIPPED = [FulfillmentStatus.UNFULFILLED.value, FulfillmentStatus.RESERVED.value,
             FulfillmentStatus.AWAITING_SHIPMENT.value]
#: The order statuses a stage may be in (PICKING is PROCESSING with ``picking`` set).
STAGE_STATUS = {"PENDING": "PENDING", "ON_HOLD": "ON_HOLD", "BACKORDERED": "BACKORDERED",
                "PROCESSING": "PROCESSING", "PICKING": "PROCESSING"}


@dataclass(frozen=True)
class CancelCommand:
    by: Canceller
    reason: str
    note: str
    who: str  # the user id or ops name, for the workflow's record
    notify_customer: bool = True
    request: CancelKey | None = None  # a customer's Idempotency-Key and request fingerprint


def cancel(order_id: str, command: CancelCommand, policy: CancellationPolicy, orders: OrdersRepository,
           workflow: Workflow) -> tuple[Order, bool]:
    """Record the cancellation and end the waiting step; returns the order and whether this was a replay of an
    earlier request with the same Idempotency-Key. Raises ``NotCancellable`` (too late for this caller),
    ``Conflict`` (already being cancelled) or ``IdempotencyKeyReused``."""
    order = orders.require(order_id)
    replay = _replay(order, command)
    if replay is not None:
        return replay, True
    if "cancellation" in order:
        done = "cancelled" if order["status"] == "CANCELLED" else "being cancelled"
        raise NotCancellable(f"The order is already {done}.")
    fee = cancellation_fee(order, command.by, command.reason, policy)  # raises NotCancellable
    stage = stage_of(order)
    moment = now()
    cancellation: Cancellation = {"reason": command.reason, "note": command.note, "by": command.by,
                                  "at": iso(moment), "fee": fee}
    sets: dict[str, object] = {"cancellation": cancellation}
    if command.request is not None:
        sets["cancel_request"] = command.request
    if not command.notify_customer:
        sets["cancellation_silent"] = True
    allowed = [s for s, rule in policy.stages.items()
               if (rule.customer if command.by == "customer" else rule.ops)]
    change = Change(
        sets=sets, absent=["cancellation"],
        expect_in={"status": sorted({STAGE_STATUS[s] for s in allowed}), "fulfillment_status": UNSHIPPED},
        events=[timeline_entry(moment, "cancellation_requested", _requested(command.by))],
    )
    if command.by == "customer" or "PICKING" not in allowed:
        change.absent.append("picking")
    try:
        recorded = orders.apply(order_id, change)
    except TransitionRejected as rejected:
        # The order moved on meanwhile (picked, shipped, cancelled): answer as if it had been read now.
        return _after_race(rejected.order, command, policy, stage)
    token = next((recorded[key] for key in WAITING_TOKENS if key in recorded), None)  # type: ignore[literal-required]
    if token is not None:
        try:
            workflow.fail(token, Error.ORDER_CANCELLED.value, {
                "reason": command.reason, "note": command.note, "by": command.who,
                "notify_customer": command.notify_customer})
        except Conflict:
            pass  # the step moved on; the next wait finds the cancellation and ends the same way
        except Exception:
            # Step Functions did not answer: nothing was cancelled, and the caller may try again.
            orders.apply(order_id, Change(removes=["cancellation", "cancel_request", "cancellation_silent"]))
            raise
    return orders.require(order_id), False


def _replay(order: Order, command: CancelCommand) -> Order | None:
    previous = order.get("cancel_request")
    if command.request is None or previous is None:
        return None
    if previous["idempotency_key"] != command.request["idempotency_key"]:
        return None
    if previous["request_hash"] != command.request["request_hash"]:
        raise IdempotencyKeyReused("this Idempotency-Key cancelled the order with a different request body")
    return order


def _after_race(order: Order, command: CancelCommand, policy: CancellationPolicy,
                stage: str | None) -> tuple[Order, bool]:
    replay = _replay(order, command)
    if replay is not None:
        return replay, True
    if "cancellation" in order:
        raise Conflict("The order is already being cancelled.")
    cancellation_fee(order, command.by, command.reason, policy)  # raises NotCancellable if too late now
    raise Conflict(f"The order changed while it was being cancelled (it was {stage}); try again.")


def _requested(by: Canceller) -> str:
    return "You asked to cancel the order." if by == "customer" else "The order is being cancelled by our team."
