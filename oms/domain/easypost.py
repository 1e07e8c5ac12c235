"""EasyPost webhooks: the Event envelope with a Tracker result, and the X-Hmac-Signature check.

EasyPost signs the raw body with HMAC-SHA256 keyed by the webhook secret (NFKD-normalized) and sends
``X-Hmac-Signature: hmac-sha256-hex=<hex digest>``.
"""

import hashlib
import hmac
import unicodedata

from pydantic import BaseModel, ConfigDict

SIGNATURE_PREFIX = "hmac-sha256-hex="


def sign(body: bytes, secret: str) -> str:
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_is_valid(body: bytes, secret: str, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(sign(body, secret), str(header))


class TrackingDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    datetime: str | None = None
    message: str | None = None
    status: str | None = None
    status_detail: str | None = None
    tracking_location: dict[str, object] | None = None


class Tracker(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    tracking_code: str
    status: str
    status_detail: str | None = None
    public_url: str | None = None
    carrier: str | None = None
    est_delivery_date: str | None = None
    updated_at: str | None = None
    tracking_details: list[TrackingDetail] = []


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    description: str
    result: dict[str, object]
