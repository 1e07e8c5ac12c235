"""Signed links to one order's tracking page, for emails: ``/track/<order_id>.<expires>.<mac>``.

The MAC (HMAC-SHA256, truncated to 128 bits, base64url) covers the order id and the expiry, keyed by a Secrets
Manager secret; a changed byte, another order's id or a later expiry fails it. Links live 90 days.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

LIFETIME_SECONDS = 90 * 86400
_TOKEN = re.compile(r"^(ord_[0-9a-f]{24})\.(\d{9,11})\.([A-Za-z0-9_-]{22})$")


class LinkInvalid(ValueError):
    """Not a link this system signed."""


class LinkExpired(ValueError):
    """A genuine link, past its expiry."""


def _mac(key: bytes, order_id: str, expires: int) -> str:
    digest = hmac.new(key, f"{order_id}.{expires}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(order_id: str, key: bytes, now: float, lifetime: int = LIFETIME_SECONDS) -> str:
    expires = int(now) + lifetime
    return f"{order_id}.{expires}.{_mac(key, order_id, expires)}"


def verify(token: str, key: bytes, now: float) -> str:
    """The order id the token is for; ``LinkInvalid`` or ``LinkExpired`` otherwise."""
    match = _TOKEN.fullmatch(token)
    if not match:
        raise LinkInvalid("not a tracking link")
    order_id, expires, mac = match.group(1), int(match.group(2)), match.group(3)
    if not hmac.compare_digest(_mac(key, order_id, expires), mac):
        raise LinkInvalid("not a tracking link")
    if now > expires:
        raise LinkExpired("this tracking link has expired")
    return order_id
