"""The retention policy (data: ``policies/retention.json``, validated when the CDK app synthesizes): how long the
OMS keeps data it only needs for a while. DynamoDB TTL and an S3 lifecycle rule delete it afterwards; the CDK app
hands the periods to the functions as plain seconds (``TRACKING_BODY_TTL_SECONDS``, ``TRACKING_PARK_TTL_SECONDS``,
``NOTIFICATION_RECORD_TTL_SECONDS``), so no function imports this module.

- ``tracking_webhook_bodies_days``: raw carrier webhook bodies in TrackingEvents (TTL ``expires_at``);
- ``parked_tracking_events_hours``: a carrier event parked there until its shipment exists (TTL ``expires_at``);
- ``notification_records_days``: the notify function's idempotency record per message sent (Idempotency table,
  TTL ``expiration``);
- ``data_exports_days``: customer data exports in S3 (the exports bucket's lifecycle rule).
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

DAY = 86400
HOUR = 3600

#: Each retention field's bounds and unit (checked with a message naming the field).
BOUNDS: dict[str, tuple[int, int, str]] = {
    "tracking_webhook_bodies_days": (1, 90, "days"),
    "parked_tracking_events_hours": (1, 168, "hours"),
    # At least as long as a message can wait in the notifications queue and its dead-letter queue (4 + 14 days):
    # a record that expired first would let a redriven message be sent twice.
    "notification_records_days": (18, 365, "days"),
    "data_exports_days": (1, 7, "days"),
}

Period = Annotated[int, Field(strict=True)]
Description = Annotated[str, Field(min_length=1, max_length=300)]


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionDescriptions(_Policy):
    """What each period keeps and why (for the people editing the file; every period needs one)."""

    tracking_webhook_bodies_days: Description
    parked_tracking_events_hours: Description
    notification_records_days: Description
    data_exports_days: Description


class RetentionPolicy(_Policy):
    version: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""
    tracking_webhook_bodies_days: Period = Field(30, description="Raw carrier webhook bodies (TrackingEvents)")
    parked_tracking_events_hours: Period = Field(24, description="Carrier events waiting for their shipment")
    notification_records_days: Period = Field(30, description="The notify function's idempotency records")
    data_exports_days: Period = Field(1, description="Customer data exports in S3")
    descriptions: RetentionDescriptions

    @field_validator(*BOUNDS)
    @classmethod
    def _within_bounds(cls, value: int, info: ValidationInfo) -> int:
        assert info.field_name is not None
        low, high, unit = BOUNDS[info.field_name]
        if not low <= value <= high:
            raise ValueError(f"{info.field_name} must be {low} to {high} {unit}, got {value}")
        return value

    @model_validator(mode="after")
    def _parked_events_keep_their_body(self) -> RetentionPolicy:
        # A parked event is only a pointer to the stored body: released after the body expired, it is lost.
        if self.parked_tracking_events_hours > self.tracking_webhook_bodies_days * 24:
            raise ValueError(f"parked_tracking_events_hours ({self.parked_tracking_events_hours}) must not outlast "
                             f"tracking_webhook_bodies_days ({self.tracking_webhook_bodies_days} days): a parked "
                             "event needs its stored body when it is released")
        return self

    @property
    def tracking_body_seconds(self) -> int:
        return self.tracking_webhook_bodies_days * DAY

    @property
    def parked_event_seconds(self) -> int:
        return self.parked_tracking_events_hours * HOUR

    @property
    def notification_record_seconds(self) -> int:
        return self.notification_records_days * DAY

    def to_json(self) -> str:
        return self.model_dump_json()


def load_policy(text: str) -> RetentionPolicy:
    """Parse and validate a policy document; raises ``pydantic.ValidationError`` naming the bad field."""
    return RetentionPolicy.model_validate(json.loads(text))
