"""Opaque, tamper-evident pagination cursors.

A cursor carries only the sort key of the last item of a page (``created_key`` = ``<created_at>#<order_id>``) and an
HMAC-SHA256 over it and the listing it belongs to (the customer, or the status queue). A status queue is read from
several shards merged in ``created_key`` order, so the last key returned is every shard's position at once
(``OrdersRepository.list_in_status``). The partition key of the next page comes from the request, never from the
cursor, so a cursor shows no customer id, cannot be moved to another customer's or another queue's listing, and
cannot be forged: any change fails the MAC and answers 422 naming ``cursor``. The key is a Secrets Manager secret
(``CURSOR_SECRET_ARN``); rotating it only invalidates cursors in flight.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable

from oms.domain.errors import ValidationFailed

VERSION = b"\x01"
MAC_BYTES = 16


class CursorCodec:
    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key = key  # fetched on first use: a page without a cursor in or out never reads the secret

    def _mac(self, listing: str, created_key: bytes) -> bytes:
        return hmac.new(self._key(), listing.encode() + b"\x00" + created_key, hashlib.sha256).digest()[:MAC_BYTES]

    def encode(self, listing: str, created_key: str | None) -> str | None:
        if not created_key:
            return None
        raw = created_key.encode()
        token = VERSION + self._mac(listing, raw) + raw
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def decode(self, listing: str, cursor: str | None) -> str | None:
        """The ``created_key`` a cursor of ``listing`` carries; ``ValidationFailed("cursor")`` for anything else."""
        if not cursor:
            return None
        try:
            token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            token = b""
        raw = token[1 + MAC_BYTES:]
        if (
            token[:1] != VERSION
            or not raw
            or not hmac.compare_digest(token[1:1 + MAC_BYTES], self._mac(listing, raw))
        ):
            raise ValidationFailed("cursor", "is not a cursor this API returned for this listing")
        return raw.decode()
