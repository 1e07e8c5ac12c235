"""Powertools Logger, Tracer and Metrics, set up the same way in every function.

- **Logger**: JSON lines through ``RedactingFormatter``: card and task tokens, passwords and codes, emails,
  phones, names, street lines and cities never reach a log line (by key anywhere in a record, and emails and
  international phone numbers inside any text, exception messages included). Handlers inject the Lambda
  context with ``clear_state=True`` (no key of one invocation leaks into the next) and a correlation id: the
  API request id, the workflow execution, or the queue message. Events are never logged whole
  (``log_event=False`` everywhere): they carry addresses and tokens. A step logs its action and order id
  instead (``oms/steps.py``).
- **Tracer**: the real Powertools Tracer only where tracing is on. With ``POWERTOOLS_TRACE_DISABLED=true`` a
  no-op stand-in keeps the X-Ray SDK (and its two clients) out of the cold start.
- **Metrics**: EMF, namespace from ``POWERTOOLS_METRICS_NAMESPACE``; created only by the functions that emit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

F = TypeVar("F", bound=Callable[..., Any])

#: Keys whose values are masked wherever they appear in a log record (nested dicts and lists included).
SENSITIVE_KEYS = frozenset({
    "token", "task_token", "authorization", "email", "phone", "name", "line1", "line2", "postal_code", "city",
    "shipping_address", "billing_address", "address", "addresses", "contact", "payment", "idempotency_key",
    "signature", "given_name", "family_name", "password", "code", "confirmation_code", "to", "phone_number",
    "username", "customer_email",
})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
#: An international phone number in free text (E.164 with optional separators).
_PHONE = re.compile(r"\+\d[\d ().-]{6,18}\d")
MASK = "*****"


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if str(k).lower() in SENSITIVE_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        if "@" in value:
            value = _EMAIL.sub(MASK, value)
        if "+" in value:
            value = _PHONE.sub(MASK, value)
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        return super().serialize(redact(log))


def logger() -> Logger:
    return Logger(logger_formatter=RedactingFormatter())


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in ("true", "1")


class _NoTracer:
    """Tracer's decorators and annotations, doing nothing (tracing is disabled)."""

    def capture_lambda_handler(self, fn: F) -> F:
        return fn

    def capture_method(self, fn: F) -> F:
        return fn

    def put_annotation(self, key: str, value: Any) -> None:
        return None


def tracer() -> Any:
    if tracing_enabled():
        from aws_lambda_powertools.tracing import Tracer

        return Tracer()
    return _NoTracer()


def metrics() -> Any:
    from aws_lambda_powertools.metrics import Metrics

    return Metrics()
