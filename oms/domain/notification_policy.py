"""The notification policy (data: ``policies/notifications.json``, validated when the CDK app synthesizes): which
channels each customer event may use, and the locales every event must have a template in.

Whether a message is then sent depends on the customer: their preferences, their SMS consent, a suppressed address
(``oms.domain.consent``).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Every customer event the OMS publishes. A policy must cover each one, and each needs a template per locale.
EVENTS: tuple[str, ...] = (
    "order_confirmed", "order_held", "order_shipped", "order_delivered", "order_rejected", "order_cancelled",
    "payment_refunded", "payment_update_required", "out_for_delivery", "delivery_problem", "delivery_delayed",
    "order_backordered", "backorder_delayed", "items_cancelled",
    "return_approved", "return_rejected", "return_received", "return_refunded", "return_exchanged", "return_expired",
)

EmailRule = Literal["always", "order_updates", "never"]


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventRule(_Policy):
    email: EmailRule
    sms: bool


class NotificationPolicy(_Policy):
    version: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""
    default_locale: str = "en-US"
    required_locales: Annotated[list[str], Field(min_length=1)]
    events: dict[str, EventRule]

    @model_validator(mode="after")
    def _complete(self) -> NotificationPolicy:
        unknown = sorted(set(self.events) - set(EVENTS))
        if unknown:
            raise ValueError(f"events: unknown events {unknown}; known: {list(EVENTS)}")
        missing = [event for event in EVENTS if event not in self.events]
        if missing:
            raise ValueError(f"events: every event needs a rule; missing {missing}")
        if self.default_locale not in self.required_locales:
            raise ValueError(f"default_locale {self.default_locale!r} must be one of required_locales")
        return self

    def rule(self, event: str) -> EventRule:
        return self.events[event]

    def to_json(self) -> str:
        return self.model_dump_json(exclude={"description"})


def load_policy(text: str) -> NotificationPolicy:
    """Parse and validate a policy document; raises ``pydantic.ValidationError`` naming the bad field."""
    return NotificationPolicy.model_validate(json.loads(text))


def missing_templates(policy: NotificationPolicy) -> list[str]:
    """``locale/event`` pairs the policy needs and the templates lack (each must exist, not only a fallback)."""
    from oms.domain.messages import BLOCKS, TEMPLATES

    missing = []
    for locale in policy.required_locales:
        for event in policy.events:
            path = TEMPLATES / locale / f"{event}.j2"
            if not path.is_file():
                missing.append(f"{locale}/{event}")
                continue
            text = path.read_text(encoding="utf-8")
            missing += [f"{locale}/{event} (block {block})" for block in BLOCKS if f"{{% block {block} %}}" not in text]
        if not (TEMPLATES / locale / "_parts.j2").is_file():
            missing.append(f"{locale}/_parts")
    return missing
