"""Carrier webhooks, whatever their source, read into one ``CarrierUpdate``.

- EasyPost: an Event whose ``result`` is a Tracker (``tracking_details`` oldest first); event id ``evt_...``.
- AfterShip: ``{"event": "tracking_update", "event_id": <uuid>, "ts", "msg": <Tracking>}`` with ``msg.tag`` and
  ``msg.checkpoints`` (oldest first). Estimated delivery from ``latest_estimated_delivery``,
  ``courier_estimated_delivery_date`` or (up to webhook version 2024-07) ``expected_delivery``.
- generic: our own documented body for carriers posting directly, one event at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oms.domain.easypost import Event, Tracker
from oms.domain.tracking import TRACKING_STATUSES, TrackingStatus, normalized

Source = Literal["easypost", "aftership", "generic"]
SOURCES: tuple[Source, ...] = ("easypost", "aftership", "generic")
TRACKING_NUMBER = r"^[A-Za-z0-9-]{4,64}$"


class NotAnUpdate(ValueError):
    """A well-signed event that is not a tracking update (e.g. EasyPost's ``batch.created``): acknowledged, ignored."""


@dataclass(frozen=True)
class Checkpoint:
    at: str | None  # ISO-8601 as the carrier gave it
    tracking_status: TrackingStatus | None
    raw_status: str
    message: str
    location: str


@dataclass(frozen=True)
class CarrierUpdate:
    source: Source
    event_id: str
    tracking_number: str
    carrier: str
    tracking_status: TrackingStatus | None  # None: no news about progress
    raw_status: str
    occurred_at: str | None
    estimated_delivery: str | None = None  # YYYY-MM-DD
    tracking_url: str | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)


def _date(value: Any) -> str | None:
    """``2025-01-14``, ``2025-01-14T20:40:17Z`` or ``...-05:00`` -> ``2025-01-14``; anything else None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.fromisoformat(value[:10]).date().isoformat()
    except ValueError:
        return None


def instant(value: str | None) -> str | None:
    """A timestamp with an offset in UTC (``2026-12-02T07:30:00-05:00`` -> ``2026-12-02T12:30:00+00:00``), so
    events from sources that use different offsets order correctly. A local time without an offset (AfterShip's
    ``checkpoint_time`` often is) is kept as the carrier gave it."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return parsed.astimezone(UTC).isoformat() if parsed.tzinfo else value


def _place(*parts: Any) -> str:
    return ", ".join(str(p) for p in parts if p)


# -- EasyPost --------------------------------------------------------------------------------------


def from_easypost(raw: bytes) -> CarrierUpdate:
    event = Event.model_validate_json(raw)
    if not event.description.startswith("tracker."):
        raise NotAnUpdate(event.description[:200])
    tracker = Tracker.model_validate(event.result)
    checkpoints = [
        Checkpoint(at=instant(d.datetime), tracking_status=normalized("easypost", d.status or "", d.status_detail),
                   raw_status=d.status or "", message=d.message or "",
                   location=_place(*((d.tracking_location or {}).get(k) for k in ("city", "state", "country"))))
        for d in tracker.tracking_details
    ]
    last = tracker.tracking_details[-1] if tracker.tracking_details else None
    return CarrierUpdate(
        source="easypost", event_id=event.id or f"{tracker.tracking_code}:{tracker.updated_at}:{tracker.status}",
        tracking_number=tracker.tracking_code, carrier=tracker.carrier or "",
        tracking_status=normalized("easypost", tracker.status, tracker.status_detail), raw_status=tracker.status,
        occurred_at=instant((last.datetime if last else None) or tracker.updated_at),
        estimated_delivery=_date(tracker.est_delivery_date), tracking_url=tracker.public_url,
        checkpoints=checkpoints)


# -- AfterShip -------------------------------------------------------------------------------------


class _AfterShip(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AfterShipCheckpoint(_AfterShip):
    checkpoint_time: str | None = None
    tag: str = ""
    subtag: str | None = None
    message: str | None = None
    location: str | None = None
    city: str | None = None
    state: str | None = None
    country_region: str | None = None
    country_iso3: str | None = None


class AfterShipTracking(_AfterShip):
    tracking_number: Annotated[str, Field(pattern=TRACKING_NUMBER)]
    slug: str = ""
    tag: str
    subtag: str | None = None
    updated_at: str | None = None
    courier_tracking_link: str | None = None
    expected_delivery: str | None = None  # webhook versions up to 2024-07
    courier_estimated_delivery_date: dict[str, Any] | None = None
    latest_estimated_delivery: dict[str, Any] | None = None
    checkpoints: list[AfterShipCheckpoint] = []


class AfterShipWebhook(_AfterShip):
    event: str
    event_id: Annotated[str, Field(min_length=1, max_length=128)]
    ts: int | None = None
    msg: AfterShipTracking


def from_aftership(raw: bytes) -> CarrierUpdate:
    hook = AfterShipWebhook.model_validate_json(raw)
    if hook.event not in ("tracking_update", "edd_revise"):
        raise NotAnUpdate(hook.event[:200])
    msg = hook.msg
    estimate = (_date((msg.latest_estimated_delivery or {}).get("datetime"))
                or _date((msg.courier_estimated_delivery_date or {}).get("estimated_delivery_date"))
                or _date(msg.expected_delivery))
    checkpoints = [
        Checkpoint(at=instant(c.checkpoint_time), tracking_status=normalized("aftership", c.tag, c.subtag),
                   raw_status=c.tag,
                   message=c.message or "",
                   location=c.location or _place(c.city, c.state, c.country_region or c.country_iso3))
        for c in msg.checkpoints
    ]
    last = msg.checkpoints[-1] if msg.checkpoints else None
    occurred = (last.checkpoint_time if last else None) or (
        datetime.fromtimestamp(hook.ts, UTC).isoformat() if hook.ts else msg.updated_at)
    status = normalized("aftership", msg.tag, msg.subtag) if hook.event == "tracking_update" else None
    return CarrierUpdate(
        source="aftership", event_id=hook.event_id, tracking_number=msg.tracking_number, carrier=msg.slug,
        tracking_status=status, raw_status=msg.tag if not msg.subtag else f"{msg.tag}/{msg.subtag}",
        occurred_at=instant(occurred), estimated_delivery=estimate, tracking_url=msg.courier_tracking_link,
        checkpoints=checkpoints)


# -- generic ---------------------------------------------------------------------------------------


class GenericEvent(BaseModel):
    """What a carrier posts to ``/webhooks/tracking/generic``: one tracking event, signed (``X-Signature``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "event_id": "evt-20261203-0001", "tracking_number": "JD014600006281230311", "carrier": "DHL",
        "status": "OUT_FOR_DELIVERY", "occurred_at": "2026-12-03T07:45:00+01:00", "location": "Berlin, DE",
        "message": "Out for delivery", "estimated_delivery": "2026-12-03"}]})

    event_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
    tracking_number: Annotated[str, Field(pattern=TRACKING_NUMBER)]
    carrier: Annotated[str, Field(min_length=1, max_length=64)]
    status: Literal[TRACKING_STATUSES]  # type: ignore[valid-type]
    occurred_at: datetime
    location: Annotated[str, Field(max_length=200)] = ""
    message: Annotated[str, Field(max_length=500)] = ""
    estimated_delivery: datetime | None = None
    tracking_url: Annotated[str | None, Field(max_length=500, pattern=r"^https://")] = None


def from_generic(raw: bytes) -> CarrierUpdate:
    event = GenericEvent.model_validate_json(raw)
    at = event.occurred_at.astimezone(UTC).isoformat() if event.occurred_at.tzinfo else event.occurred_at.isoformat()
    status: TrackingStatus = event.status
    return CarrierUpdate(
        source="generic", event_id=event.event_id, tracking_number=event.tracking_number, carrier=event.carrier,
        tracking_status=status, raw_status=event.status, occurred_at=at,
        estimated_delivery=event.estimated_delivery.date().isoformat() if event.estimated_delivery else None,
        tracking_url=event.tracking_url,
        checkpoints=[Checkpoint(at=at, tracking_status=status, raw_status=event.status, message=event.message,
                                location=event.location)])


PARSERS = {"easypost": from_easypost, "aftership": from_aftership, "generic": from_generic}


def parse(source: str, raw: bytes) -> CarrierUpdate:
    """The update in ``raw``; ``ValidationError`` when it is not the source's documented body, ``NotAnUpdate``
    when it is a well-formed event of another kind."""
    return PARSERS[source](raw)


__all__ = ["SOURCES", "CarrierUpdate", "Checkpoint", "GenericEvent", "NotAnUpdate", "ValidationError", "parse"]
