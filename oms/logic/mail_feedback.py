"""SES feedback: suppress an address that bounced for good or complained, and mark the order's message."""

from __future__ import annotations

from datetime import datetime

from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.suppressions_repo import SuppressionsRepository
from oms.domain.order import iso, timeline_entry
from oms.domain.ses_events import SesEvent, findings
from oms.domain.suppression import Suppression, masked


def apply(event: SesEvent, suppressions: SuppressionsRepository, orders: OrdersRepository, now: datetime) -> int:
    """Record what ``event`` tells; returns how many addresses it newly suppressed. Safe to repeat."""
    added = 0
    order_id, message_event = event.tag("order_id"), event.tag("event")
    for finding in findings(event):
        suppression: Suppression = {"email": finding.email, "reason": finding.reason, "detail": finding.detail[:500],
                                    "at": iso(now), "source_message_id": event.mail.message_id}
        if order_id:
            suppression["order_id"] = order_id
        added += suppressions.suppress(suppression)
        if order_id and message_event:
            status = "BOUNCED" if finding.reason == "BOUNCE" else "COMPLAINED"
            note = None
            if finding.reason == "BOUNCE":
                note = timeline_entry(now, "email_bounced", f"Our email to {masked(finding.email)} could not be "
                                                            f"delivered. Please check your email address.")
            orders.mark_notification(order_id, f"{message_event}#email", status, finding.detail[:200], note)
    return added
