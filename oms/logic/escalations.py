"""The escalation engine (scheduled, every 5 minutes): SLA reminders, escalations and default actions for work waiting
for ops, one alert per stuck order, and the gauges of the queues (``policies/escalation.json``,
``oms.domain.escalation``).

One run:

1. every order ON_HOLD (its ``ops_queue`` shards) falls in a queue (``order_review``, ``technical_hold``,
   ``payment_update``; an order parked in another status is found by step 2 and joins ``technical_hold``), and every
   return REQUESTED in ``return_review``. The stage due (``next_stage``) is recorded on the item first, with a write
   conditional on the item still waiting in the same way and on the record read (so two runs never both act, and
   recording is not a step: ``updated_at`` stays); only then is the alert published: a reminder on the order-alerts
   topic, an escalation on the Escalations topic. A publish that fails puts the previous record back, so the next
   run tries again. At the hard limit the queue's default action is taken through the same use cases as ops'
   (``review_order``, the return review) as reviewer ``policy:<version>``, and announced on the Escalations topic.
2. for each status with a stuck rule, the orders whose ``updated_at`` is older than the rule allows (a filter on the
   query) get one alert on the Escalations topic per stuck episode: ``stuck_alert`` = {status, since: updated_at,
   at} is recorded conditionally (on the order still being in that status with that ``updated_at``), so the same
   episode is never alerted twice, and a new one (the order moved, then stopped again) is.
3. the counts and the oldest wait per queue, and the BACKORDERED orders (the handler's gauges).

One item's failure (a publish, a write, a default action) never stops the run for the others: it is reported in the
outcome. A run cut off midway is continued by the next one: every write is conditional.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal, TypedDict, cast

from oms.adapters.notifications import OpsAlerts
from oms.adapters.orders_repo import Note, OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict
from oms.domain.escalation import (
    QUEUES,
    STUCK_STATUSES,
    DefaultAction,
    EscalationPolicy,
    Queue,
    QueueRule,
    Stage,
    describe_minutes,
    next_stage,
    stuck_before,
    waited_minutes,
)
from oms.domain.order import Order, iso
from oms.domain.status import OrderStatus, ReturnStatus
from oms.logic import returns as return_logic
from oms.logic.returns import Returns
from oms.logic.review import review_order

#: What each queue's item is waiting for, and what ops do about it (the alerts' wording).
WAITING_FOR: dict[Queue, tuple[str, str]] = {
    "order_review": ("Order {id} waits for review",
                     "Decide with POST /admin/orders/{id}/review (the queue: GET /admin/orders?status=ON_HOLD)."),
    "technical_hold": ("Order {id} is parked (technical hold)",
                       "Find the cause (oms trace locally; on AWS the execution's history and the step's logs), fix "
                       "it, then POST /admin/orders/{id}/retry; or POST /admin/orders/{id}/cancel before shipment."),
    "payment_update": ("Order {id} waits for the customer's new card",
                       "The customer was emailed; only they can give a new payment method (POST "
                       "/orders/{id}/payment). Contact them if the order matters."),
    "return_review": ("Return {id} waits for review",
                      "Decide with POST /admin/returns/{id}/review (the queue: GET /admin/returns?status=REQUESTED)."),
}
DONE: dict[DefaultAction, str] = {"approve": "approved", "reject": "rejected"}
#: What to look at for an order stuck in each status.
STUCK_HINT: dict[str, str] = {
    "PENDING": "Its workflow is failing or gone: oms trace locally, or the execution named after the order (the "
               "sweeper starts a missing one).",
    "PROCESSING": "The warehouse has not shipped it: ask them; record the parcel (POST /admin/orders/{id}/shipments) "
                  "or cancel (POST /admin/orders/{id}/cancel).",
    "BACKORDERED": "Its goods have not come: check the supplier and the incoming batches of its SKUs (GET "
                   "/admin/inventory/<sku>); the customer is emailed when an ETA moves.",
    "PARTIALLY_SHIPPED": "The rest of the order has not shipped: ask the warehouse, or cancel the rest.",
    "SHIPPED": "No carrier news: check the tracking number with the carrier and open a claim if the parcel is lost.",
}


class EscalationRecord(TypedDict):
    """``escalation`` on an order or a return: the last stage acted on for its current wait."""

    queue: str
    since: str  # when the wait began (its episode)
    stage: Stage
    at: str


class StuckAlert(TypedDict):
    """``stuck_alert`` on an order: the stuck episode ops were alerted to."""

    status: str
    since: str  # the order's updated_at then
    at: str


@dataclass(frozen=True)
class Escalations:
    """What a run works with."""

    policy: EscalationPolicy
    orders: OrdersRepository
    returns: Returns  # the returns' context (repository, return policy, return workflow, customer messages)
    workflow: Workflow  # the order workflow: a default review decision resumes it
    reminders: OpsAlerts  # the order-alerts topic
    escalations: OpsAlerts  # the Escalations topic


@dataclass
class Gauge:
    count: int = 0
    oldest_minutes: int = 0

    def add(self, minutes: int) -> None:
        self.count += 1
        self.oldest_minutes = max(self.oldest_minutes, minutes)


@dataclass
class Outcome:
    """What a run did (ids per kind of action) and saw (the gauges)."""

    queues: dict[Queue, Gauge] = field(default_factory=lambda: {queue: Gauge() for queue in QUEUES})
    backorders_waiting: int = 0
    reminders: list[str] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)
    default_actions: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    alerts_failed: list[str] = field(default_factory=list)  # published nothing; the next run tries again
    failures: list[dict[str, str]] = field(default_factory=list)  # {"item", "error"}: an item the run skipped

    def summary(self) -> dict[str, Any]:
        return {"queues": {q: {"count": g.count, "oldest_minutes": g.oldest_minutes} for q, g in self.queues.items()},
                "backorders_waiting": self.backorders_waiting, "reminders": self.reminders,
                "escalations": self.escalations, "default_actions": self.default_actions, "stuck": self.stuck,
                "alerts_failed": self.alerts_failed, "failures": self.failures}


@dataclass(frozen=True)
class Waiting:
    """An order or a return in a queue, and the conditions under which it still waits the same way."""

    kind: Literal["order", "return"]
    item_id: str
    queue: Queue
    since: str
    previous: EscalationRecord | None
    still: Note  # expect / present / absent only


def run(ctx: Escalations, now: datetime) -> Outcome:
    outcome = Outcome()
    for order in ctx.orders.each_in_status(OrderStatus.ON_HOLD):
        waiting = order_waiting(order)
        if waiting is not None:
            _guarded(outcome, waiting.item_id, partial(_advance, ctx, waiting, now, outcome))
    for record in ctx.returns.returns.each_in_status(ReturnStatus.REQUESTED):
        waiting = Waiting("return", record["return_id"], "return_review", record["created_at"],
                          _escalation_of(record), Note(expect={"status": ReturnStatus.REQUESTED.value}))
        _guarded(outcome, waiting.item_id, partial(_advance, ctx, waiting, now, outcome))
    for status in STUCK_STATUSES:
        cutoff = stuck_before(ctx.policy, status, now)
        counted = status == OrderStatus.BACKORDERED  # read whole, for its gauge
        orders = ctx.orders.each_in_status(
            OrderStatus(status), updated_before=None if counted or cutoff is None else iso(cutoff),
            or_parked=not counted)
        for order in orders:
            if counted:
                outcome.backorders_waiting += 1
            waiting = order_waiting(order)
            if waiting is not None:  # parked: it waits in its queue, it is not stuck
                _guarded(outcome, waiting.item_id, partial(_advance, ctx, waiting, now, outcome))
            elif cutoff is not None and order["updated_at"] < iso(cutoff):
                _guarded(outcome, order["order_id"], partial(_stuck, ctx, order, status, now, outcome))
    return outcome


def _escalation_of(item: Mapping[str, Any]) -> EscalationRecord | None:
    return cast(EscalationRecord | None, item.get("escalation"))


def order_waiting(order: Order) -> Waiting | None:
    """The queue an order waits in, since when, and while what holds; None when it waits for nobody (e.g. ON_HOLD
    with its review recorded, the workflow moving on)."""
    previous = _escalation_of(order)
    order_id = order["order_id"]
    hold = order.get("technical_hold")
    if hold is not None:  # parked (in any status): first, as ops' own view says
        return Waiting("order", order_id, "technical_hold", hold["parked_at"], previous,
                       Note(expect={"technical_hold.parked_at": hold["parked_at"]}))
    if order["status"] != OrderStatus.ON_HOLD:
        return None
    if "payment_task_token" in order:
        since = _last_event(order, "payment_update_required") or order["updated_at"]
        return Waiting("order", order_id, "payment_update", since, previous,
                       Note(expect={"status": OrderStatus.ON_HOLD.value}, present=["payment_task_token"],
                            absent=["technical_hold"]))
    if "review_task_token" in order and "review" not in order:
        since = _last_event(order, "held_for_review") or order.get("risk", {}).get("assessed_at") \
            or order["updated_at"]
        return Waiting("order", order_id, "order_review", since, previous,
                       Note(expect={"status": OrderStatus.ON_HOLD.value}, present=["review_task_token"],
                            absent=["review", "technical_hold", "payment_task_token"]))
    return None


def _last_event(order: Order, event: str) -> str | None:
    found = [entry["at"] for entry in order.get("timeline", []) if entry["event"] == event]
    return max(found) if found else None


def _guarded(outcome: Outcome, item_id: str, work: Callable[[], None]) -> None:
    """Run one item's work; its failure is reported and the run goes on with the others."""
    try:
        work()
    except Exception as error:
        outcome.failures.append({"item": item_id, "error": f"{type(error).__name__}: {error}"[:500]})


def _note(ctx: Escalations, waiting: Waiting, note: Note) -> bool:
    if waiting.kind == "order":
        return ctx.orders.note(waiting.item_id, note)
    return ctx.returns.returns.note(waiting.item_id, note)


def _advance(ctx: Escalations, waiting: Waiting, now: datetime, outcome: Outcome) -> None:
    rule = ctx.policy.rule(waiting.queue)
    outcome.queues[waiting.queue].add(waited_minutes(_moment(waiting.since), now))
    previous = waiting.previous
    same_wait = previous is not None and (previous["queue"], previous["since"]) == (waiting.queue, waiting.since)
    alerted: Stage = previous["stage"] if previous is not None and same_wait else "none"
    stage = next_stage(rule, _moment(waiting.since), alerted, now)
    if stage == "none":
        return
    record: EscalationRecord = {"queue": waiting.queue, "since": waiting.since, "stage": stage, "at": iso(now)}
    claim = Note(sets={"escalation": record}, expect={**waiting.still.expect}, present=list(waiting.still.present),
                 absent=list(waiting.still.absent))
    if previous is None:
        claim.absent.append("escalation")
    else:
        claim.expect["escalation.at"] = previous["at"]
    if not _note(ctx, waiting, claim):
        return  # it moved on meanwhile, or another run took this stage
    if stage == "default_action":
        _take_default_action(ctx, waiting, rule, record, now, outcome)
        return
    topic = ctx.reminders if stage == "reminder" else ctx.escalations
    if topic.alert(*_alert(waiting, rule, stage, now)):
        (outcome.reminders if stage == "reminder" else outcome.escalations).append(waiting.item_id)
    else:
        _put_back(ctx, waiting, previous, record)
        outcome.alerts_failed.append(waiting.item_id)


def _put_back(ctx: Escalations, waiting: Waiting, previous: EscalationRecord | None, ours: EscalationRecord) -> None:
    """Undo our record (only if it is still ours), so the next run acts on the stage again."""
    undo = Note(expect={"escalation.at": ours["at"], "escalation.stage": ours["stage"]})
    if previous is None:
        undo.removes.append("escalation")
    else:
        undo.sets["escalation"] = previous
    _note(ctx, waiting, undo)


def _take_default_action(ctx: Escalations, waiting: Waiting, rule: QueueRule, record: EscalationRecord,
                         now: datetime, outcome: Outcome) -> None:
    action: DefaultAction | None = rule.default_action
    assert action is not None and rule.hard_limit_minutes is not None  # the policy pairs them
    reviewer = f"policy:{ctx.policy.version}"
    note = f"Not reviewed within {describe_minutes(rule.hard_limit_minutes)}: the policy's default applies."
    try:
        taken = _decide(ctx, waiting, action, note, reviewer)
    except Exception:
        _put_back(ctx, waiting, waiting.previous, record)  # the next run tries again
        raise
    if not taken:
        return  # ops decided first: nothing to announce
    outcome.default_actions.append(waiting.item_id)
    title = f"{waiting.kind.title()} {waiting.item_id}"
    waited = describe_minutes(waited_minutes(_moment(waiting.since), now))
    if not ctx.escalations.alert(
        f"{title}: {DONE[action]} by the escalation policy after {waited}",
        f"{title} was not reviewed within {describe_minutes(rule.hard_limit_minutes)} (waiting since "
        f"{waiting.since}): the escalation policy {ctx.policy.version} took its default action, {action}, as "
        f"reviewer {reviewer}. Nothing else to do; its timeline and ops view show the decision.",
    ):
        outcome.alerts_failed.append(waiting.item_id)


def _decide(ctx: Escalations, waiting: Waiting, action: DefaultAction, note: str, reviewer: str) -> bool:
    """The default decision through ops' own use cases; False when the item was decided by someone else first."""
    if waiting.kind == "order":
        try:
            review_order(waiting.item_id, action, note, reviewer, ctx.orders, ctx.workflow)
        except Conflict:
            # Decided by ops first, or our decision is recorded but the workflow no longer waits for it (its own
            # review timeout ended the wait, and it compensates by itself).
            order = ctx.orders.get(waiting.item_id)
            return order is not None and order.get("review", {}).get("reviewer") == reviewer
        return True
    try:
        return_logic.review(waiting.item_id, action, note, reviewer, ctx.returns)
    except Conflict:
        return False
    return True


def _alert(waiting: Waiting, rule: QueueRule, stage: Stage, now: datetime) -> tuple[str, str]:
    title, todo = (text.format(id=waiting.item_id) for text in WAITING_FOR[waiting.queue])
    waited = describe_minutes(waited_minutes(_moment(waiting.since), now))
    escalation = rule.escalation_after
    assert rule.sla_minutes is not None and escalation is not None  # a queue without an SLA has no stages
    sla = describe_minutes(rule.sla_minutes)
    if stage == "reminder":
        subject = f"SLA reminder: {title} ({waited})"
        later = f"It is escalated at {describe_minutes(escalation)}."
    else:
        subject = f"ESCALATED: {title} for {waited}"
        later = "Ops were reminded at the SLA."
    if rule.hard_limit_minutes is not None:
        later += (f" At {describe_minutes(rule.hard_limit_minutes)} the escalation policy will {rule.default_action} "
                  "it, unless ops decide first.")
    message = (f"{title}: waiting since {waiting.since} ({waited}; SLA {sla}). {todo}\n{later}\n"
               f"Queue: {waiting.queue}.")
    return subject, message


def _stuck(ctx: Escalations, order: Order, status: str, now: datetime, outcome: Outcome) -> None:
    order_id, since = order["order_id"], order["updated_at"]
    previous = cast(StuckAlert | None, cast(Mapping[str, Any], order).get("stuck_alert"))
    if previous is not None and (previous["status"], previous["since"]) == (status, since):
        return  # this episode was alerted
    alert: StuckAlert = {"status": status, "since": since, "at": iso(now)}
    claim = Note(sets={"stuck_alert": alert}, expect={"status": status, "updated_at": since})
    if previous is None:
        claim.absent.append("stuck_alert")
    else:
        claim.expect["stuck_alert.at"] = previous["at"]
    if not ctx.orders.note(order_id, claim):
        return  # it moved meanwhile, or another run alerted
    waited = describe_minutes(waited_minutes(_moment(since), now))
    allowed = ctx.policy.stuck_minutes(status)
    assert allowed is not None
    hint = STUCK_HINT[status].format(id=order_id)
    if ctx.escalations.alert(
        f"Stuck order {order_id}: {status} without a step for {waited}",
        f"Order {order_id} has been {status} since its last step at {since} ({waited}; the escalation policy "
        f"allows {describe_minutes(allowed)}). {hint}\nThis alert comes once; it comes again only if the order "
        "moves and stops again.",
    ):
        outcome.stuck.append(order_id)
        return
    undo = Note(expect={"stuck_alert.at": alert["at"]})
    if previous is None:
        undo.removes.append("stuck_alert")
    else:
        undo.sets["stuck_alert"] = previous
    ctx.orders.note(order_id, undo)
    outcome.alerts_failed.append(order_id)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)
