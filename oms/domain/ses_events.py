"""SES's bounce and complaint events, as a configuration set publishes them to SNS (``eventType``; identity
notifications spell it ``notificationType``), and which of them end our mail to an address.

A permanent bounce (the address does not exist) and a complaint (the recipient marked us as spam) suppress the
address; a transient bounce (a full mailbox) does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oms.domain.suppression import SuppressionReason


class _Ses(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Recipient(_Ses):
    email_address: str = Field(alias="emailAddress")
    diagnostic_code: str = Field("", alias="diagnosticCode")


class Bounce(_Ses):
    bounce_type: str = Field(alias="bounceType")  # Permanent | Transient | Undetermined
    bounce_sub_type: str = Field("", alias="bounceSubType")
    recipients: list[Recipient] = Field(alias="bouncedRecipients")


class Complaint(_Ses):
    recipients: list[Recipient] = Field(alias="complainedRecipients")
    feedback_type: str = Field("", alias="complaintFeedbackType")


class Mail(_Ses):
    message_id: str = Field("", alias="messageId")
    tags: dict[str, list[str]] = {}


class SesEvent(_Ses):
    event_type: str = Field(alias="eventType")
    mail: Mail = Field(default_factory=lambda: Mail.model_validate({}))
    bounce: Bounce | None = None
    complaint: Complaint | None = None

    @model_validator(mode="before")
    @classmethod
    def _identity_notifications(cls, data: Any) -> Any:
        if isinstance(data, dict) and "eventType" not in data and "notificationType" in data:
            return {**data, "eventType": data["notificationType"]}
        return data

    def tag(self, name: str) -> str | None:
        values = self.mail.tags.get(name) or []
        return values[0] if values else None


@dataclass(frozen=True)
class Finding:
    email: str
    reason: SuppressionReason
    detail: str


def findings(event: SesEvent) -> list[Finding]:
    """The addresses this event suppresses (none for a transient bounce or another event type)."""
    if event.event_type == "Bounce" and event.bounce and event.bounce.bounce_type == "Permanent":
        detail = f"Permanent/{event.bounce.bounce_sub_type}".rstrip("/")
        return [Finding(r.email_address.lower(), "BOUNCE", f"{detail} {r.diagnostic_code}".strip())
                for r in event.bounce.recipients]
    if event.event_type == "Complaint" and event.complaint:
        return [Finding(r.email_address.lower(), "COMPLAINT", event.complaint.feedback_type or "complaint")
                for r in event.complaint.recipients]
    return []
