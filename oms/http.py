"""What every API handler shares: the caller's identity and mapping errors to clear 4xx answers.

Error body: ``{"code": ..., "message": ..., "errors": [{"field": ..., "message": ...}]}``.
"""

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, UnauthorizedError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from oms.domain.errors import Conflict, NotFound, StockUnavailable, ValidationFailed

OPS_GROUP = "ops"


@dataclass(frozen=True)
class Caller:
    user_id: str
    email: str
    groups: frozenset[str]

    @property
    def is_ops(self) -> bool:
        return OPS_GROUP in self.groups


def _groups(raw: Any) -> frozenset[str]:
    """API Gateway's Cognito authorizer passes ``cognito:groups`` as a string ("ops" or "[a b]" or "a,b")."""
    if isinstance(raw, list):
        return frozenset(str(g) for g in raw)
    text = str(raw or "").strip("[]")
    return frozenset(g for g in text.replace(",", " ").split() if g)


def caller(app: APIGatewayRestResolver) -> Caller:
    claims = (app.current_event.request_context.authorizer.claims or {}) if app.current_event else {}
    if not claims.get("sub"):
        raise UnauthorizedError("Unauthorized")
    return Caller(str(claims["sub"]), str(claims.get("email", "")), _groups(claims.get("cognito:groups")))


def require_ops(app: APIGatewayRestResolver) -> Caller:
    who = caller(app)
    if not who.is_ops:
        raise ForbiddenError("This route is for the ops team (Cognito group 'ops')")
    return who


def error(status: HTTPStatus, code: str, message: str, errors: list[dict[str, str]] | None = None) -> Response[Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def install_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[Any]:
        errors = []
        for item in exc.errors():
            message = str(item.get("msg") or item.get("type", "invalid"))
            message = message.removeprefix("Value error, ")
            if item.get("type") == "extra_forbidden":
                message = "unknown field"
            elif item.get("type") == "missing":
                message = "is required"
            errors.append({"field": _field(item.get("loc", ())), "message": message})
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return error(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", f"Invalid request: {summary}", errors)

    @app.exception_handler(StockUnavailable)
    def _stock(exc: StockUnavailable) -> Response[Any]:
        fields = [{"field": exc.field, "message": exc.message}]
        return error(HTTPStatus.CONFLICT, "insufficient_stock", str(exc), fields)

    @app.exception_handler(ValidationFailed)
    def _rule(exc: ValidationFailed) -> Response[Any]:
        return error(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", str(exc),
                     [{"field": exc.field, "message": exc.message}])

    @app.exception_handler(NotFound)
    def _missing(exc: NotFound) -> Response[Any]:
        return error(HTTPStatus.NOT_FOUND, "not_found", str(exc))

    @app.exception_handler(Conflict)
    def _conflict(exc: Conflict) -> Response[Any]:
        return error(HTTPStatus.CONFLICT, "conflict", str(exc))

    @app.exception_handler(IdempotencyValidationError)
    def _reused_key(exc: IdempotencyValidationError) -> Response[Any]:
        return error(HTTPStatus.UNPROCESSABLE_ENTITY, "idempotency_key_reused",
                     "Idempotency-Key was already used with a different request body; use a new key",
                     [{"field": "Idempotency-Key", "message": "already used with a different body"}])

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def _in_progress(exc: IdempotencyAlreadyInProgressError) -> Response[Any]:
        return error(HTTPStatus.CONFLICT, "request_in_progress",
                     "A request with this Idempotency-Key is still being processed; retry shortly")


def header(app: APIGatewayRestResolver, name: str) -> str | None:
    headers = app.current_event.headers or {}
    lowered = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == lowered), None)
