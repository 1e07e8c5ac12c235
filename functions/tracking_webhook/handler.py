"""POST /webhooks/tracking/easypost: EasyPost tracker events, verified with X-Hmac-Signature."""

from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from oms import observability
from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.secrets import secret
from oms.api.errors import FieldError, error, field_name
from oms.api.resolver import KIB, ApiResolver
from oms.api.responses import responses
from oms.domain.easypost import Event, Tracker, signature_is_valid
from oms.domain.errors import TransientError
from oms.domain.tracking import WebhookResult
from oms.logic.tracking import apply_tracking
from oms.settings import TrackingWebhookSettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()
# No parameters to validate: the raw body is verified, then parsed as EasyPost's event.
app = ApiResolver(audience="public", max_body_bytes=256 * KIB, validation=False)


class _Deps:
    def __init__(self) -> None:
        self.env = TrackingWebhookSettings.from_env()
        self.orders = OrdersRepository(self.env.orders_table, self.env.shipments_table)
        self.queue = NotificationQueue(self.env.notifications_queue_url)

    def secret(self, provider: str) -> str:
        return str(secret(self.env.webhook_secrets_arn, transform="json")[provider])


@cache
def deps() -> _Deps:
    return _Deps()


@app.post(
    "/webhooks/tracking/easypost",
    summary="EasyPost tracker events (signed)",
    description="Signed with `X-Hmac-Signature: hmac-sha256-hex=<HMAC-SHA256(raw body, webhook secret)>`. "
                "Answers 503 when a `delivered` event arrives before the order is marked shipped, so EasyPost "
                "retries it.",
    responses=responses(200, WebhookResult, "What the event did", 400, 401, 413, 415, 422),
)
@tracer.capture_method
def easypost() -> Response[Any]:
    raw = (app.current_event.body or "").encode()
    d = deps()
    if not signature_is_valid(raw, d.secret("easypost"), app.current_event.headers.get("X-Hmac-Signature")):
        metrics.add_metric(name="WebhookSignatureRejected", unit=MetricUnit.Count, value=1)
        return error(HTTPStatus.UNAUTHORIZED, "invalid_signature", "X-Hmac-Signature is missing or does not match",
                     [{"field": "X-Hmac-Signature", "message": "missing or does not match"}])
    try:
        event = Event.model_validate_json(raw)
        if not event.description.startswith("tracker."):
            return _answer({"result": "ignored", "reason": event.description[:200]})
        tracker = Tracker.model_validate(event.result)
    except ValidationError as exc:
        fields: list[FieldError] = [{"field": field_name(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return error(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", "Not an EasyPost tracker event", fields)
    logger.append_keys(tracking_code=tracker.tracking_code, carrier_status=tracker.status)
    try:
        outcome = apply_tracking(tracker, d.orders, d.queue)
    except TransientError as exc:
        return error(HTTPStatus.SERVICE_UNAVAILABLE, "retry_later", str(exc), headers={"Retry-After": "60"})
    metrics.add_metric(name=f"TrackingUpdate_{outcome}", unit=MetricUnit.Count, value=1)
    logger.info("tracking update", extra={"outcome": outcome})
    return _answer({"result": outcome})


def _answer(result: WebhookResult) -> Response[Any]:
    return Response(status_code=HTTPStatus.OK.value, content_type=content_types.APPLICATION_JSON, body=result)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
