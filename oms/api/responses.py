"""What each route documents it can answer: its success status and body, its headers, and the error statuses
(all with the one error body). The OpenAPI document is generated from these declarations, so the contract
test holds the API to them.
"""

from __future__ import annotations

from typing import Any

from oms.api.errors import ErrorBody

JSON = "application/json"

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body is not UTF-8 JSON (or nests too deep), or a required header is missing",
    401: "No valid Cognito ID token (or, for a webhook, no valid signature)",
    403: "The caller may not use this route (ops routes need the Cognito group 'ops')",
    404: "No such resource, or not the caller's",
    409: "The request conflicts with the current state (e.g. not enough stock, wrong status)",
    410: "The link has expired",
    413: "The body is larger than the route takes",
    415: "The body is not sent as application/json",
    422: "A field or header is invalid; `errors` names each one",
    429: "Too many requests (API Gateway throttling); retry with backoff",
    503: "A dependency is briefly unavailable; retry the same request after `Retry-After` seconds",
}
#: Answers any route can give: the gateway's throttling and a transient failure behind it.
COMMON = (429, 503)
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}


def responses(status: int, model: Any, description: str, *errors: int,
              headers: dict[str, Any] | None = None) -> dict[int, Any]:
    """Powertools ``responses=`` for a route answering ``status`` with ``model``, or one of ``errors``."""
    documented: dict[int, Any] = {status: {"description": description, "content": {JSON: {"model": model}}}}
    if headers:
        documented[status]["headers"] = headers
    for code in sorted({*errors, *COMMON}):
        documented[code] = {"description": ERROR_DESCRIPTIONS[code], "content": {JSON: {"model": ErrorBody}}}
    documented[503]["headers"] = RETRY_AFTER
    return documented


def no_content(description: str, *errors: int) -> dict[int, Any]:
    """``responses=`` for a route answering 204 with no body, or one of ``errors``."""
    documented = responses(204, None, description, *errors)
    documented[204] = {"description": description}
    return documented
