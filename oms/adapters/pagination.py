"""Opaque cursors: DynamoDB's LastEvaluatedKey, base64url-encoded."""

import base64
import json
from typing import Any

from oms.domain.errors import ValidationFailed


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor", "is not a cursor returned by this API") from exc
    if not isinstance(key, dict) or not all(isinstance(v, dict) for v in key.values()):
        raise ValidationFailed("cursor", "is not a cursor returned by this API")
    return key
