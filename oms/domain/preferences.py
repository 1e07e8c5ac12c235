"""A customer's communication preferences, and who gets which message of an order event.

Email goes to the order's address unless the event is an order update the customer turned off; receipts and
messages that need an answer always go. SMS needs consent: the order's ``sms_opt_in`` or the preferences' SMS
order updates, whichever the customer said last. Suppressed addresses and numbers that replied STOP are checked
by the caller, which has to ask DynamoDB and SNS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from typing_extensions import TypedDict

from oms.domain.order import Order, iso

if TYPE_CHECKING:  # the request models and the policy's are built by the functions that parse them
    from oms.domain.models import PreferencesRequest
    from oms.domain.notification_policy import EventRule

Channel = Literal["email", "sms"]


class EmailPreferences(TypedDict):
    order_updates: bool
    marketing: bool


class SmsPreferences(TypedDict):
    order_updates: bool


class Preferences(TypedDict):
    locale: str | None
    email: EmailPreferences
    sms: SmsPreferences
    phone: str | None
    marketing_consent_at: str | None  # when marketing consent was given (None: not given)
    updated_at: str | None  # None: never saved (these are the defaults)


def default_preferences() -> Preferences:
    return {"locale": None, "email": {"order_updates": True, "marketing": False}, "sms": {"order_updates": False},
            "phone": None, "marketing_consent_at": None, "updated_at": None}


def updated(current: Preferences | None, request: PreferencesRequest, now: datetime) -> Preferences:
    """The preferences after a PUT; marketing consent keeps the time it was first given until withdrawn."""
    before = current or default_preferences()
    marketing = request.email.marketing
    consent_at = (before["marketing_consent_at"] or iso(now)) if marketing else None
    return {"locale": request.locale,
            "email": {"order_updates": request.email.order_updates, "marketing": marketing},
            "sms": {"order_updates": request.sms.order_updates}, "phone": request.phone,
            "marketing_consent_at": consent_at, "updated_at": iso(now)}


SkipReason = Literal["order_updates_off", "no_sms_consent", "address_suppressed", "phone_opted_out"]


@dataclass(frozen=True)
class Planned:
    channel: Channel
    to: str
    skip: SkipReason | None = None  # decided before sending: recorded as skipped


def sms_consent(order: Order, preferences: Preferences | None) -> bool:
    """The customer's latest word on texting this order: preferences saved after the order win over the order's
    opt-in; before it, either one opting in is consent."""
    opted_in_on_order = bool(order["contact"].get("sms_opt_in"))
    if preferences is None or preferences["updated_at"] is None:
        return opted_in_on_order
    if preferences["updated_at"] > order["created_at"]:
        return preferences["sms"]["order_updates"]
    return opted_in_on_order or preferences["sms"]["order_updates"]


def plan(order: Order, rule: EventRule, preferences: Preferences | None) -> list[Planned]:
    """The channels an event of ``order`` goes to, each to send or to record as skipped."""
    planned = [] if rule.email == "never" else [
        Planned("email", order["contact"]["email"],
                "order_updates_off" if rule.email == "order_updates" and preferences is not None
                and not preferences["email"]["order_updates"] else None)]
    phone = order["contact"].get("phone") or (preferences["phone"] if preferences else None)
    if rule.sms and phone:
        planned.append(Planned("sms", phone, None if sms_consent(order, preferences) else "no_sms_consent"))
    return planned
