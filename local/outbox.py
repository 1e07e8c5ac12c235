"""Read the email and SMS that moto 'sent' (its SES and SNS backends live in the local stack's process)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from typing import Any


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts else None


def _raw_parts(raw: str) -> tuple[str | None, str | None, str | None, list[str]]:
    msg = email.message_from_string(raw, policy=email.policy.default)
    text = html = None
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and text is None:
            text = part.get_content()
        elif part.get_content_type() == "text/html" and html is None:
            html = part.get_content()
    to = [a.strip() for a in str(msg.get("To", "")).split(",") if a.strip()]
    return msg.get("Subject"), text, html, to


def collect() -> dict[str, list[dict[str, Any]]]:
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    emails: list[dict[str, Any]] = []
    for _account, region, backend in ses_backends.iter_backends():
        for m in backend.sent_messages:
            item: dict[str, Any] = {"id": m.id, "from": m.source, "region": region,
                                    "timestamp": _iso(getattr(m, "sent_at", None))}
            if hasattr(m, "raw_data"):
                subject, text, html, to = _raw_parts(m.raw_data)
                item.update(to=list(m.destinations) or to, subject=subject, text=text, html=html)
            elif hasattr(m, "template"):
                dest = m.destinations if isinstance(m.destinations, dict) else {}
                item.update(to=dest.get("ToAddresses", []), subject=None, template=m.template,
                            template_data=m.template_data, text=None, html=None)
            else:
                item.update(to=m.destinations.get("ToAddresses", []), subject=m.subject,
                            text=getattr(m, "text_body", m.body), html=getattr(m, "html_body", None))
            emails.append(item)
    sms: list[dict[str, Any]] = []
    for _account, region, backend in sns_backends.iter_backends():
        for message_id, obj in backend.sms_message_objects.items():
            sms.append({"id": message_id, "to": obj.phone_number, "text": obj.message, "region": region,
                        "timestamp": _iso(getattr(obj, "sent_at", None))})
    emails.sort(key=lambda e: e["timestamp"] or "")
    sms.sort(key=lambda e: e["timestamp"] or "")
    return {"email": emails, "sms": sms, "skipped": skipped(), "alerts": alerts()}


def alerts() -> list[dict[str, Any]]:
    """What was published to the ops topics (order alerts, low stock; CloudWatch alarms), in publishing order."""
    from moto.sns.models import sns_backends

    found: list[dict[str, Any]] = []
    for _account, _region, backend in sns_backends.iter_backends():
        for arn, topic in backend.topics.items():
            for message_id, message, subject, _attributes, _group in topic.sent_notifications:
                found.append({"id": message_id, "topic": arn.rsplit(":", 1)[-1], "subject": subject,
                              "text": message})
    return found


def skipped() -> list[dict[str, Any]]:
    """Messages notify decided not to send (no consent, order updates off, a suppressed address, a number that
    replied STOP), from the records on the orders, oldest first."""
    from moto.dynamodb.models import dynamodb_backends

    from oms.adapters.ddb import from_item

    found: list[dict[str, Any]] = []
    for _account, _region, backend in dynamodb_backends.iter_backends():
        for name, table in backend.tables.items():
            if "Orders" not in name:
                continue
            for item in table.all_items():
                order = from_item(item.to_json()["Attributes"])
                for record in (order.get("notifications") or {}).values():
                    if record.get("status") != "SENT":
                        found.append({"order_id": order["order_id"], **record})
    return sorted(found, key=lambda r: r.get("at", ""))


def mentions(item: dict[str, Any], needle: str) -> bool:
    return any(needle in str(item.get(k) or "") for k in ("subject", "text", "html", "template_data", "order_id"))


def reply_stop(phone: str) -> dict[str, Any]:
    """As if ``phone`` replied STOP: it joins SNS's opt-out list in every region (SNS's opt_in_phone_number
    takes it off again, as on AWS)."""
    from moto.sns.models import sns_backends

    if not phone.startswith("+"):
        return {"opted_out": False, "message": "phone must be in E.164, e.g. +4915112345678"}
    for _account, _region, backend in sns_backends.iter_backends():
        if phone not in backend.opt_out_numbers:
            backend.opt_out_numbers.append(phone)
    return {"opted_out": True, "phone": phone}
