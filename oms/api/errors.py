"""One error body for every 4xx (and the 503 of a transient failure), and the mapping from domain errors to it.

``{"code": "validation_error", "message": "...", "errors": [{"field": "lines[0].quantity", "message": "..."}]}``
``code`` is stable and machine-readable; ``message`` is for people; ``errors`` names each offending field.
API Gateway's own answers (401, 403, 429, a missing header) use the same body through the gateway responses
defined in ``infra/api_stack.py``.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NotRequired

from typing_extensions import TypedDict

from oms.domain.errors import (
    Conflict,
    ErasureBlocked,
    IdempotencyKeyReused,
    LimitReached,
    NotCancellable,
    NotFound,
    ReauthenticationRequired,
    RefundDeclined,
    RefundExceedsCaptured,
    ReturnRefused,
    StockUnavailable,
    TransientError,
    ValidationFailed,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response


class FieldError(TypedDict):
    field: str
    message: str


class BlockingEntry(TypedDict):
    kind: str  # "order" or "return"
    id: str
    status: str


class ErrorBody(TypedDict):
    """The body of every error response."""

    code: str
    message: str
    errors: NotRequired[list[FieldError]]
    blocking: NotRequired[list[BlockingEntry]]  # erasure_blocked: what is still in progress


def error_body(code: str, message: str, errors: list[FieldError] | None = None) -> ErrorBody:
    body: ErrorBody = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return body


def error(status: HTTPStatus, code: str, message: str, errors: list[FieldError] | None = None,
          headers: dict[str, str] | None = None) -> Response[ErrorBody]:
    from aws_lambda_powertools.event_handler import Response, content_types

    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON,
                    body=error_body(code, message, errors), headers=headers)


def raw_error(status: HTTPStatus, code: str, message: str, errors: list[FieldError] | None = None) -> dict[str, Any]:
    """The same answer as a Lambda proxy response, for checks that run before the resolver."""
    return {
        "statusCode": status.value,
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "body": json.dumps(error_body(code, message, errors), separators=(",", ":")),
        "isBase64Encoded": False,
    }


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "lines", 0, "quantity")`` -> ``lines[0].quantity``; a query or path parameter keeps its name;
    a header is spelled as HTTP spells it (``("header", "idempotency-key")`` -> ``Idempotency-Key``)."""
    if len(loc) == 2 and loc[0] == "header":
        return "-".join(part.capitalize() for part in str(loc[1]).split("-"))
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?)*")


def install_error_handlers(app: APIGatewayRestResolver) -> None:
    from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    from oms.adapters.aws import is_transient

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[ErrorBody]:
        paths_only = exc.errors() and all(tuple(item.get("loc", ()))[:1] == ("path",) for item in exc.errors())
        if paths_only and app.current_event.http_method != "PUT":
            # A path that is not an id this API issues names no resource: 404, like an unknown id. (A PUT
            # creates what its path names, so there a bad path is a 422 naming the parameter.)
            names = ", ".join(f"{item['loc'][-1]} {str(item.get('input'))[:100]!r}" for item in exc.errors())
            return error(HTTPStatus.NOT_FOUND, "not_found", f"No such resource: {names}")
        errors: list[FieldError] = []
        for item in exc.errors():
            message = str(item.get("msg") or item.get("type", "invalid")).removeprefix("Value error, ")
            if item.get("type") == "extra_forbidden":
                message = "unknown field"
            elif item.get("type") == "missing":
                message = "is required"
            field = field_name(item.get("loc", ()))
            named, _, rest = message.partition(": ")
            if item.get("type") == "value_error" and rest and _FIELD.fullmatch(named):
                # A rule across fields names its field first ("note: required when ..."): report it there.
                field, message = (named if field == "body" else f"{field}.{named}"), rest
            errors.append({"field": field, "message": message})
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return error(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", f"Invalid request: {summary}", errors)

    @app.exception_handler(StockUnavailable)
    def _stock(exc: StockUnavailable) -> Response[ErrorBody]:
        return error(HTTPStatus.CONFLICT, "insufficient_stock", str(exc),
                     [{"field": exc.field, "message": exc.message}])

    @app.exception_handler(IdempotencyKeyReused)
    def _reused_key(exc: IdempotencyKeyReused) -> Response[ErrorBody]:
        return error(HTTPStatus.UNPROCESSABLE_ENTITY, "idempotency_key_reused", str(exc),
                     [{"field": "Idempotency-Key", "message": "already used with a different request body"}])

    @app.exception_handler(ValidationFailed)
    def _rule(exc: ValidationFailed) -> Response[ErrorBody]:
        return error(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", str(exc),
                     [{"field": exc.field, "message": exc.message}])

    @app.exception_handler(NotFound)
    def _missing(exc: NotFound) -> Response[ErrorBody]:
        return error(HTTPStatus.NOT_FOUND, "not_found", str(exc))

    @app.exception_handler(ErasureBlocked)
    def _erasure_blocked(exc: ErasureBlocked) -> Response[ErrorBody]:
        from aws_lambda_powertools.event_handler import Response, content_types

        body = error_body("erasure_blocked", str(exc))
        body["blocking"] = [{"kind": str(i["kind"]), "id": str(i["id"]), "status": str(i["status"])}
                            for i in exc.items]
        return Response(status_code=HTTPStatus.CONFLICT.value, content_type=content_types.APPLICATION_JSON,
                        body=body)

    @app.exception_handler(LimitReached)
    def _limit(exc: LimitReached) -> Response[ErrorBody]:
        return error(HTTPStatus.CONFLICT, "limit_reached", str(exc))

    @app.exception_handler(ReauthenticationRequired)
    def _reauthenticate(exc: ReauthenticationRequired) -> Response[ErrorBody]:
        return error(HTTPStatus.FORBIDDEN, "reauthentication_required", str(exc),
                     [{"field": "password", "message": exc.message}])

    @app.exception_handler(NotCancellable)
    def _not_cancellable(exc: NotCancellable) -> Response[ErrorBody]:
        return error(HTTPStatus.CONFLICT, "not_cancellable", str(exc))

    @app.exception_handler(RefundExceedsCaptured)
    def _over_refund(exc: RefundExceedsCaptured) -> Response[ErrorBody]:
        return error(HTTPStatus.CONFLICT, "refund_exceeds_captured", str(exc),
                     [{"field": "amount", "message": str(exc)}])

    @app.exception_handler(RefundDeclined)
    def _refund_declined(exc: RefundDeclined) -> Response[ErrorBody]:
        return error(HTTPStatus.CONFLICT, "refund_declined", str(exc))

    @app.exception_handler(ReturnRefused)
    def _return_refused(exc: ReturnRefused) -> Response[ErrorBody]:
        return error(HTTPStatus.CONFLICT, exc.code, exc.message, [{"field": exc.field, "message": exc.message}])

    @app.exception_handler(Conflict)
    def _conflict(exc: Conflict) -> Response[ErrorBody]:
        return error(HTTPStatus.CONFLICT, "conflict", str(exc))

    @app.exception_handler(ClientError)
    def _aws(exc: ClientError) -> Response[ErrorBody]:
        if not is_transient(exc):
            raise exc
        return _unavailable(exc)

    @app.exception_handler(TransientError)
    def _transient(exc: TransientError) -> Response[ErrorBody]:
        return _unavailable(exc)

    @app.exception_handler(ConnectionError)
    def _connection(exc: ConnectionError) -> Response[ErrorBody]:
        return _unavailable(exc)

    @app.exception_handler(ReadTimeoutError)
    def _timeout(exc: ReadTimeoutError) -> Response[ErrorBody]:
        return _unavailable(exc)


def _unavailable(cause: BaseException) -> Response[ErrorBody]:
    """A dependency is throttling or failing after the SDK's own retries: tell the client to retry (and ops,
    in the function's log, which dependency)."""
    from aws_lambda_powertools import Logger

    Logger(child=True).warning("dependency unavailable, answered 503",
                               extra={"error": f"{type(cause).__name__}: {cause}"[:500]})
    return error(HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable",
                 "The service is briefly unavailable; retry the same request (with the same Idempotency-Key)",
                 headers={"Retry-After": "1"})
