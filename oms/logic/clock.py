"""The current time (one place to read it)."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
