"""The escalation policy (data: ``policies/escalation.json``, validated when the CDK app synthesizes; the escalations
function reads it from ``ESCALATION_POLICY``): how long work waiting for ops may wait, and when an order counts as
stuck.

Queues (what waits, and since when):

- ``order_review``: an order ON_HOLD for a fraud review (a review task, no decision yet), since it was held;
- ``technical_hold``: an order parked by a technical failure (``technical_hold``), since it was parked;
- ``payment_update``: an order ON_HOLD for the customer's new payment method, since the customer was asked;
- ``return_review``: a return REQUESTED and not approved by the policy, since it was requested.

Each queue's rule: a reminder to ops at ``sla_minutes``, an escalation (a second topic) at
``escalation_minutes`` (default ``escalation_multiplier`` x the SLA), and optionally, at ``hard_limit_minutes``, the
policy's ``default_action`` (approve or reject) taken for ops. Each stage fires once per wait (``next_stage``).

Stuck orders: per non-terminal status (ON_HOLD is covered by the queues), the longest an order may go without a step
(its ``updated_at``) before ops are alerted, once per stuck episode (``is_stuck``).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Stage = Literal["none", "reminder", "escalation", "default_action"]
#: The stages in the order they fire; a later stage supersedes the earlier ones.
STAGES: tuple[Stage, ...] = get_args(Stage)
Queue = Literal["order_review", "technical_hold", "payment_update", "return_review"]
QUEUES: tuple[Queue, ...] = get_args(Queue)
StuckStatus = Literal["PENDING", "PROCESSING", "BACKORDERED", "PARTIALLY_SHIPPED", "SHIPPED"]
STUCK_STATUSES: tuple[StuckStatus, ...] = get_args(StuckStatus)
DefaultAction = Literal["approve", "reject"]

#: The longest wait a rule may name: 90 days.
MAX_MINUTES = 90 * 24 * 60
#: Queues whose wait is not ops' to decide: no default action (see ``Queues``).
NO_DEFAULT_ACTION: dict[Queue, str] = {
    "technical_hold": "a parked order is retried or cancelled by a person who knows the cause (the workflow "
                      "compensates it after technicalHoldTimeoutHours)",
    "payment_update": "the customer, not ops, gives the new payment method (the workflow cancels the order after "
                      "paymentUpdateHours)",
}

Minutes = Annotated[int, Field(strict=True, ge=1, le=MAX_MINUTES)]
#: For the people editing the file; left out of the function's copy (``to_json``).
Description = Annotated[str, Field(max_length=600)]


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueRule(_Policy):
    """One queue's SLA. ``sla_minutes`` null: the queue is only counted, nobody is alerted."""

    description: Description = ""
    sla_minutes: Minutes | None = 240
    escalation_minutes: Minutes | None = None  # default: escalation_multiplier x sla_minutes
    escalation_multiplier: Annotated[float, Field(strict=True, gt=1, le=10)] = 2.0
    hard_limit_minutes: Minutes | None = None
    default_action: DefaultAction | None = None

    @model_validator(mode="after")
    def _stages_in_order(self) -> QueueRule:
        if {"escalation_minutes", "escalation_multiplier"} <= self.model_fields_set \
                and self.escalation_minutes is not None:
            raise ValueError("escalation_minutes and escalation_multiplier: give one of them, not both")
        if (self.hard_limit_minutes is None) != (self.default_action is None):
            raise ValueError("hard_limit_minutes and default_action go together: give both or neither")
        if self.sla_minutes is None:
            if self.escalation_minutes is not None or self.hard_limit_minutes is not None:
                raise ValueError("sla_minutes is null (no alerts), so escalation_minutes and hard_limit_minutes "
                                 "must be null too")
            return self
        escalation = self.escalation_after
        assert escalation is not None
        if escalation <= self.sla_minutes:
            raise ValueError(f"escalation_minutes ({escalation}) must be later than sla_minutes ({self.sla_minutes})")
        if escalation > MAX_MINUTES:
            raise ValueError(f"escalation_minutes ({escalation}) must be at most {MAX_MINUTES}")
        if self.hard_limit_minutes is not None and self.hard_limit_minutes <= escalation:
            raise ValueError(f"hard_limit_minutes ({self.hard_limit_minutes}) must be later than the escalation "
                             f"({escalation} minutes)")
        return self

    @property
    def escalation_after(self) -> int | None:
        """Minutes of waiting after which the wait is escalated (None: no alerts at all)."""
        if self.sla_minutes is None:
            return None
        if self.escalation_minutes is not None:
            return self.escalation_minutes
        return math.ceil(self.sla_minutes * self.escalation_multiplier)

    def threshold(self, stage: Stage) -> int | None:
        """Minutes of waiting at which ``stage`` is due (None: never)."""
        if stage == "reminder":
            return self.sla_minutes
        if stage == "escalation":
            return self.escalation_after
        if stage == "default_action":
            return self.hard_limit_minutes
        return 0


class Queues(_Policy):
    order_review: QueueRule
    technical_hold: QueueRule
    payment_update: QueueRule
    return_review: QueueRule

    @model_validator(mode="after")
    def _no_automatic_action_where_ops_do_not_decide(self) -> Queues:
        for queue, why in NO_DEFAULT_ACTION.items():
            if getattr(self, queue).default_action is not None:
                raise ValueError(f"{queue}.default_action must be null: {why}")
        return self


class StuckRule(_Policy):
    max_minutes: Minutes | None  # null: orders in this status are never reported as stuck
    description: Description = ""


class StuckRules(_Policy):
    """Per status, as the status is spelled (the keys of the JSON object)."""

    PENDING: StuckRule
    PROCESSING: StuckRule
    BACKORDERED: StuckRule
    PARTIALLY_SHIPPED: StuckRule
    SHIPPED: StuckRule


class EscalationPolicy(_Policy):
    version: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""
    queues: Queues
    stuck: StuckRules

    def rule(self, queue: Queue) -> QueueRule:
        rule: QueueRule = getattr(self.queues, queue)
        return rule

    def stuck_minutes(self, status: str) -> int | None:
        """The longest an order in ``status`` may go without a step; None: never stuck (or not a status ruled)."""
        if status not in STUCK_STATUSES:
            return None
        rule: StuckRule = getattr(self.stuck, status)
        return rule.max_minutes

    def beyond_workflow_limits(self, *, review_timeout_minutes: int, return_review_limit_minutes: int) -> list[str]:
        """Hard limits the workflows' own timeouts would always beat (the order workflow rejects an unreviewed
        order at ``reviewTimeoutHours``; the return workflow applies its ``review_default`` at
        ``review_limit_hours``): each a message naming the field, none when the policy fits."""
        problems = []
        limits: list[tuple[Queue, int, str]] = [
            ("order_review", review_timeout_minutes, "the order workflow's review timeout (reviewTimeoutHours)"),
            ("return_review", return_review_limit_minutes, "the return policy's review_limit_hours"),
        ]
        for queue, limit, what in limits:
            hard = self.rule(queue).hard_limit_minutes
            if hard is not None and hard > limit:
                problems.append(f"queues.{queue}.hard_limit_minutes ({hard}) must not exceed {what}: {limit} "
                                "minutes")
        return problems

    def to_json(self) -> str:
        """The policy as the escalations function reads it: compact, without the descriptions (a function's whole
        environment must fit in 4 KB)."""
        document = _without_descriptions(self.model_dump(mode="json", exclude_unset=True))
        return json.dumps(document, separators=(",", ":"))


def _without_descriptions(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_descriptions(v) for k, v in value.items() if k != "description"}
    return value


def load_policy(text: str) -> EscalationPolicy:
    """Parse and validate a policy document; raises ``pydantic.ValidationError`` naming the bad field."""
    return EscalationPolicy.model_validate(json.loads(text))


def waited_minutes(since: datetime, now: datetime) -> int:
    """Whole minutes from ``since`` to ``now`` (0 if ``since`` is in the future)."""
    return max(0, int((now - since).total_seconds() // 60))


def due_stage(rule: QueueRule, waited: int) -> Stage:
    """The latest stage due after ``waited`` minutes."""
    due: Stage = "none"
    for stage in STAGES[1:]:
        threshold = rule.threshold(stage)
        if threshold is not None and waited >= threshold:
            due = stage
    return due


def next_stage(rule: QueueRule, since: datetime, alerted: Stage, now: datetime) -> Stage:
    """The stage to act on now for a wait that began at ``since`` and has had ``alerted`` already: the latest one
    due if it is later than ``alerted``, else ``"none"``. Stages are never repeated, and a stage passed over (the
    engine did not run meanwhile) is not sent late: the later one says more."""
    due = due_stage(rule, waited_minutes(since, now))
    return due if STAGES.index(due) > STAGES.index(alerted) else "none"


def stuck_before(policy: EscalationPolicy, status: str, now: datetime) -> datetime | None:
    """Orders in ``status`` whose last step is before this moment are stuck (None: the status has no rule)."""
    minutes = policy.stuck_minutes(status)
    return None if minutes is None else now - timedelta(minutes=minutes)


def is_stuck(policy: EscalationPolicy, status: str, updated_at: datetime, now: datetime) -> bool:
    """No step for longer than the policy allows in ``status``."""
    cutoff = stuck_before(policy, status, now)
    return cutoff is not None and updated_at < cutoff


def describe_minutes(minutes: int) -> str:
    """``45 min``, ``5 h``, ``5 h 30 min``, ``3 d 4 h``: a wait as ops read it."""
    if minutes < 60:
        return f"{minutes} min"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    return f"{hours} h {mins} min" if mins else f"{hours} h"
