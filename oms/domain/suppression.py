"""Suppressed email addresses: SES reported a permanent bounce or a complaint, so we stop writing to them."""

from __future__ import annotations

from typing import Literal, NotRequired

from typing_extensions import TypedDict

SuppressionReason = Literal["BOUNCE", "COMPLAINT"]


class Suppression(TypedDict):
    email: str  # lower-cased
    reason: SuppressionReason
    detail: str  # SES's bounce type and subtype, or the complaint's feedback type
    at: str
    source_message_id: NotRequired[str]  # the SES message that bounced
    order_id: NotRequired[str]  # the order whose message bounced, when the message said


class SuppressionPage(TypedDict):
    suppressions: list[Suppression]
    next_cursor: str | None


def masked(email: str) -> str:
    """``ann.lee@example.com`` -> ``a***@example.com``: how a customer-facing text names an address."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
