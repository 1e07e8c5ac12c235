"""POST /webhooks/tracking/easypost: EasyPost tracker events, verified with X-Hmac-Signature."""

import base64
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import OrdersRepository
from oms.domain.easypost import Event, Tracker, signature_is_valid
from oms.domain.errors import TransientError
from oms.http import error, header, install_error_handlers
from oms.logic.tracking import apply_tracking
from oms.settings import setting

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()
install_error_handlers(app)

orders = OrdersRepository(setting("ORDERS_TABLE"), setting("SHIPMENTS_TABLE"))
queue = NotificationQueue(setting("NOTIFICATIONS_QUEUE_URL"))
SECRETS_ARN = setting("WEBHOOK_SECRETS_ARN")


def _secret(provider: str) -> str:
    secrets: Any = parameters.get_secret(SECRETS_ARN, transform="json", max_age=300)
    return str(secrets[provider])


def _raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


@app.post("/webhooks/tracking/easypost", summary="EasyPost tracker events (signed)")
@tracer.capture_method
def easypost() -> Response[dict[str, Any]]:
    raw = _raw_body()
    if not signature_is_valid(raw, _secret("easypost"), header(app, "X-Hmac-Signature")):
        metrics.add_metric(name="WebhookSignatureRejected", unit=MetricUnit.Count, value=1)
        return error(HTTPStatus.UNAUTHORIZED, "invalid_signature", "X-Hmac-Signature is missing or does not match")
    try:
        event = Event.model_validate_json(raw)
        if not event.description.startswith("tracker."):
            return Response(200, "application/json", {"result": "ignored", "reason": event.description})
        tracker = Tracker.model_validate(event.result)
    except ValidationError as exc:
        fields = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return error(HTTPStatus.BAD_REQUEST, "validation_error", "Not an EasyPost tracker event", fields)
    logger.append_keys(tracking_code=tracker.tracking_code, carrier_status=tracker.status)
    try:
        outcome = apply_tracking(tracker, orders, queue)
    except TransientError as exc:
        return error(HTTPStatus.SERVICE_UNAVAILABLE, "retry_later", str(exc))
    metrics.add_metric(name=f"TrackingUpdate_{outcome}", unit=MetricUnit.Count, value=1)
    logger.info("tracking update", extra={"outcome": outcome})
    return Response(200, "application/json", {"result": outcome})


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
