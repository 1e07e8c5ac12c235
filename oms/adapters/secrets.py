"""Secrets from Secrets Manager, cached in the warm function for ``max_age`` seconds."""

import json
import time
from typing import Any

from oms.adapters.aws import client

_cache: dict[tuple[int, str], tuple[float, str]] = {}  # by (client, ARN): a new client starts afresh


def secret(arn: str, *, max_age: int = 300, transform: str | None = None) -> Any:
    """The secret's value (``transform="json"`` parses it); fetched at most once per ``max_age`` seconds, so a
    rotated secret is picked up within that time."""
    secrets_manager = client("secretsmanager")
    key = (id(secrets_manager), arn)
    cached = _cache.get(key)
    if cached is None or time.monotonic() - cached[0] > max_age:
        value = secrets_manager.get_secret_value(SecretId=arn)["SecretString"]
        cached = _cache[key] = (time.monotonic(), str(value))
    return json.loads(cached[1]) if transform == "json" else cached[1]
