"""The API functions' resolver: Powertools' REST resolver with request validation and the OMS error body, behind
a guard that answers, before any route runs, what must never reach one:

- a caller without claims (401), or outside the ops group on an ops-only function (403);
- a body over the function's limit (413), a body that is not JSON (415);
- bytes that are not UTF-8, JSON that does not parse, or JSON nested deeper than ``MAX_DEPTH`` (400).

Every answer is the OMS error body naming the field or header. Nothing a client sends can reach a route as
something the route does not expect, so no input becomes a 5xx.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver

from oms.api.auth import Caller, caller_from_event
from oms.api.errors import install_error_handlers, raw_error

Audience = Literal["public", "customer", "ops"]
MAX_DEPTH = 32
KIB = 1024


class ApiResolver(APIGatewayRestResolver):
    def __init__(self, *, audience: Audience, max_body_bytes: int = 16 * KIB, validation: bool = True,
                 public: frozenset[str] = frozenset()) -> None:
        """``validation=False`` for a function whose routes take no parameters (it then skips Powertools'
        OpenAPI validation machinery in its cold start); ``public``: resources (template paths) of the function
        that anyone may call (API Gateway has no authorizer on them either)."""
        super().__init__(enable_validation=validation)
        self.audience = audience
        self.public = public
        self.max_body_bytes = max_body_bytes
        install_error_handlers(self)

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        checked = dict(event)
        rejection = self.guard(checked)
        return rejection if rejection is not None else super().resolve(checked, context)

    @property
    def caller(self) -> Caller:
        """The verified caller of the current request (the guard has refused requests without one)."""
        who = caller_from_event(self.current_event.raw_event)
        assert who is not None, "routes of a public resolver have no caller"
        return who

    def guard(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """None when the request may go on (``event``'s body normalized to JSON text), else the error response."""
        if self.audience != "public" and event.get("resource") not in self.public:
            who = caller_from_event(event)
            if who is None:
                return raw_error(HTTPStatus.UNAUTHORIZED, "unauthorized", "Sign in: send a Cognito ID token")
            if self.audience == "ops" and not who.is_ops:
                return raw_error(HTTPStatus.FORBIDDEN, "forbidden", "This route is for the ops team (group 'ops')")
        raw = event.get("body")
        if not raw:
            return None
        if event.get("isBase64Encoded"):
            try:
                data = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                return _bad_body("is not valid base64")
        else:
            data = str(raw).encode("utf-8", "surrogatepass")
        if len(data) > self.max_body_bytes:
            limit = f"{self.max_body_bytes // KIB} KiB"
            return raw_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large",
                             f"The request body is {len(data)} bytes; this route takes at most {limit}",
                             [{"field": "body", "message": f"larger than {limit}"}])
        content_type = _header(event, "Content-Type")
        if content_type is not None and not _is_json(content_type):
            return raw_error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                             f"Send the body as JSON (Content-Type: application/json), not {content_type[:100]!r}",
                             [{"field": "Content-Type", "message": "must be application/json"}])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _bad_body(f"is not valid UTF-8 (byte {exc.start})")
        try:
            parsed = json.loads(text)
        except RecursionError:
            return _bad_body(f"nests deeper than {MAX_DEPTH} levels")
        except ValueError as exc:
            return _bad_body(f"is not valid JSON: {str(exc)[:200]}")
        if _depth(parsed) > MAX_DEPTH:
            return _bad_body(f"nests deeper than {MAX_DEPTH} levels")
        event["body"], event["isBase64Encoded"] = text, False
        return None


def _bad_body(message: str) -> dict[str, Any]:
    return raw_error(HTTPStatus.BAD_REQUEST, "invalid_body", f"The request body {message}",
                     [{"field": "body", "message": message}])


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _header(event: dict[str, Any], name: str) -> str | None:
    lowered = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == lowered:
            return str(value)
    return None


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest
