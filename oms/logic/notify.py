"""Customer messages for an order event: plan one delivery per channel, then send or skip each, and record what
became of it on the order (``notifications``, one record per (event, channel)).

Each delivery happens once: the notify function makes it idempotent on (order, event, channel), so a failing SMS is
retried alone and never repeats the email, and a redelivered or redriven message sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from oms.adapters.customers_repo import CustomersRepository
from oms.adapters.mailer import Mailer
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.suppressions_repo import SuppressionsRepository
from oms.domain.messages import Message, Shop, render
from oms.domain.order import NotificationRecord, Order, TimelineEntry, iso, timeline_entry
from oms.domain.preferences import Channel, plan
from oms.domain.suppression import masked

if TYPE_CHECKING:
    from oms.domain.notification_policy import NotificationPolicy



class Delivery(TypedDict):
    order_id: str
    event: str  # with its occurrence for events that repeat (``payment_refunded:<entry>``)
    channel: Channel
    to: str
    skip: str | None  # decided by the plan (preferences, consent): recorded, not sent


@dataclass(frozen=True)
class Notifier:
    orders: OrdersRepository
    customers: CustomersRepository
    suppressions: SuppressionsRepository
    mailer: Mailer
    policy: NotificationPolicy
    shop: Shop
    clock: Callable[[], datetime]
    tracking_link: Callable[[str], str] = lambda order_id: ""  # the signed page of an order ("" if unavailable)
    return_context: Callable[[str], dict[str, Any]] | None = None  # a return's facts for its messages, by RMA


def deliveries(order: Order, event: str, ref: str, notifier: Notifier) -> list[Delivery]:
    """The messages one event of ``order`` sends or skips, one per channel."""
    occurrence = f"{event}:{ref}" if ref else event
    preferences = notifier.customers.preferences(order["customer_id"])
    return [{"order_id": order["order_id"], "event": occurrence, "channel": p.channel, "to": p.to, "skip": p.skip}
            for p in plan(order, notifier.policy.rule(event), preferences)]


def message_for(order: Order, event: str, ref: str, notifier: Notifier) -> Message:
    extra = {"rma": notifier.return_context(ref)} if event.startswith("return_") and notifier.return_context else {}
    return render(event, order, ref, shop=notifier.shop, tracking_link=notifier.tracking_link(order["order_id"]),
                  extra=extra)


def deliver(delivery: Delivery, message: Message, notifier: Notifier, attempt: int = 1) -> NotificationRecord:
    """Send or skip one delivery and record the outcome; a failed send is recorded, then raised (to be retried)."""
    record: NotificationRecord = {"event": delivery["event"], "channel": delivery["channel"], "status": "SKIPPED",
                                  "to": delivery["to"], "locale": message.locale, "attempts": attempt,
                                  "at": iso(notifier.clock())}
    note: TimelineEntry | None = None
    skip = delivery["skip"]
    if skip is None and delivery["channel"] == "email" and notifier.suppressions.get(delivery["to"]):
        skip = "address_suppressed"
        note = timeline_entry(notifier.clock(), "email_suppressed",
                              f"We did not email you about this: earlier emails to {masked(delivery['to'])} "
                              f"bounced or were reported. Please check your email address.")
    if skip is None and delivery["channel"] == "sms" and notifier.mailer.opted_out(delivery["to"]):
        skip = "phone_opted_out"
    if skip is not None:
        record["reason"] = skip
    else:
        try:
            if delivery["channel"] == "email":
                record["message_id"] = notifier.mailer.email(
                    delivery["to"], message, tags={"order_id": delivery["order_id"], "event": delivery["event"]})
            else:
                record["message_id"] = notifier.mailer.sms(delivery["to"], message)
            record["status"] = "SENT"
        except Exception as error:
            failed: NotificationRecord = {**record, "status": "FAILED", "reason": type(error).__name__}
            notifier.orders.record_notification(delivery["order_id"], _key(delivery), failed)
            raise
    notifier.orders.record_notification(delivery["order_id"], _key(delivery), record, note)
    return record


def _key(delivery: Delivery) -> str:
    return f"{delivery['event']}#{delivery['channel']}"
