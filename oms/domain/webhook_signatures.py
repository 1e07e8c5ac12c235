"""Each tracking source's signature, checked against every secret the source accepts (two during a rotation).

- EasyPost: ``X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256(raw body)>``, the secret NFKD-normalized.
- AfterShip: ``aftership-hmac-sha256: <base64 HMAC-SHA256(raw body)>``, the secret's UTF-8 bytes.
- generic: ``X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256("<t>.<raw body>")>`` (Stripe's scheme); more than
  one ``v1`` may be sent, and ``t`` must be within the tolerance of now, so a captured request cannot be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from oms.domain.easypost import signature_is_valid as easypost_signature_is_valid

TOLERANCE_SECONDS = 300


class SignatureRejected(ValueError):
    """The request is not signed by the source (or too old to trust)."""


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def aftership_signature(body: bytes, secret: str) -> str:
    return base64.b64encode(_hmac(secret, body)).decode()


def generic_signature(body: bytes, secret: str, timestamp: int) -> str:
    return f"t={timestamp},v1={_hmac(secret, f'{timestamp}.'.encode() + body).hex()}"


def verify(source: str, body: bytes, headers: dict[str, str], secrets: list[str], now: float) -> None:
    """Raise ``SignatureRejected`` (with the reason) unless one of ``secrets`` signed ``body``."""
    if not secrets:
        raise SignatureRejected("no secret is configured for this source")
    if source == "easypost":
        header = headers.get("x-hmac-signature")
        if not any(easypost_signature_is_valid(body, s, header) for s in secrets):
            raise SignatureRejected("X-Hmac-Signature is missing or does not match")
    elif source == "aftership":
        header = headers.get("aftership-hmac-sha256") or ""
        if not header or not any(hmac.compare_digest(aftership_signature(body, s), header) for s in secrets):
            raise SignatureRejected("aftership-hmac-sha256 is missing or does not match")
    else:
        _verify_generic(body, headers.get("x-signature") or "", secrets, now)


def _verify_generic(body: bytes, header: str, secrets: list[str], now: float) -> None:
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureRejected("X-Signature must be t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">")
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureRejected(f"X-Signature timestamp is more than {TOLERANCE_SECONDS} s from now (a replay?)")
    signed = f"{timestamp}.".encode() + body
    expected = [_hmac(s, signed).hex() for s in secrets]
    if not any(hmac.compare_digest(e, given) for e in expected for given in signatures):
        raise SignatureRejected("X-Signature does not match")


def accepted_secrets(document: dict[str, object], source: str) -> list[str]:
    """The secrets a source accepts from its Secrets Manager document: ``current`` then ``previous`` (during a
    rotation both are accepted); the EasyPost document keeps its original key ``easypost``."""
    keys = ("current", "previous") if source != "easypost" else ("easypost", "easypost_previous")
    return [str(document[k]) for k in keys if document.get(k)]
