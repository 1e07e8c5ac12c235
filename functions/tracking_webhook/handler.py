"""Carrier tracking webhooks: verify the source's signature, store the raw event, queue it, answer 200.

Processing happens from the queue (``functions/tracking_events``), so a webhook answers in milliseconds and a
burst of events never times a carrier out. The same event id twice is stored and queued once.
"""

import time
from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.secrets import secret
from oms.adapters.tracking_inbox import KEEP_SECONDS, PARK_SECONDS, TrackingInbox
from oms.api.errors import FieldError, error, field_name
from oms.api.resolver import KIB, ApiResolver
from oms.api.responses import responses
from oms.domain.tracking import WebhookResult
from oms.settings import TrackingWebhookSettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()
# No parameters to validate: the raw body is verified, then parsed as the source documents it.
app = ApiResolver(audience="public", max_body_bytes=256 * KIB, validation=False)
ANSWERS = responses(200, WebhookResult, "Stored and queued (`accepted`), or already received (`duplicate`)",
                    400, 401, 413, 415, 422)


class _Deps:
    def __init__(self) -> None:
        self.env = TrackingWebhookSettings.from_env()
        self.inbox = TrackingInbox(self.env.tracking_events_table, self.env.tracking_queue_url,
                                   keep_seconds=self.env.tracking_body_ttl_seconds or KEEP_SECONDS,
                                   park_seconds=self.env.tracking_park_ttl_seconds or PARK_SECONDS)

    def secrets(self, source: str) -> list[str]:
        from oms.domain.webhook_signatures import accepted_secrets

        arn = {"easypost": self.env.webhook_secrets_arn, "aftership": self.env.aftership_secret_arn,
               "generic": self.env.generic_secret_arn}[source]
        document = secret(arn, transform="json")
        return accepted_secrets(document if isinstance(document, dict) else {}, source)


@cache
def deps() -> _Deps:
    return _Deps()


def receive(source: str) -> Response[Any]:
    from pydantic import ValidationError

    from oms.domain.carrier_events import NotAnUpdate, parse
    from oms.domain.webhook_signatures import SignatureRejected, verify
    from oms.logic.tracking import accept

    body = app.current_event.body or ""
    raw = body.encode()
    headers = {k.lower(): v for k, v in (app.current_event.headers or {}).items()}
    try:
        verify(source, raw, headers, deps().secrets(source), time.time())
    except SignatureRejected as exc:
        metrics.add_metric(name="WebhookSignatureRejected", unit=MetricUnit.Count, value=1)
        header = {"easypost": "X-Hmac-Signature", "aftership": "aftership-hmac-sha256"}.get(source, "X-Signature")
        return error(HTTPStatus.UNAUTHORIZED, "invalid_signature", str(exc), [{"field": header, "message": str(exc)}])
    try:
        update = parse(source, raw)
    except NotAnUpdate as exc:
        return _answer({"result": "ignored", "reason": str(exc)})
    except ValidationError as exc:
        fields: list[FieldError] = [{"field": field_name(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return error(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error",
                     f"Not a {source} tracking event: " + "; ".join(f"{f['field']}: {f['message']}" for f in fields),
                     fields)
    logger.append_keys(source=source, event_id=update.event_id, tracking_number=update.tracking_number)
    result = accept(update, body, deps().inbox)
    metrics.add_metric(name=f"TrackingEvents_{result}", unit=MetricUnit.Count, value=1)
    logger.info("tracking event", extra={"result": result, "carrier_status": update.raw_status})
    return _answer({"result": result, "event_id": update.event_id})


@app.post("/webhooks/tracking/easypost", summary="EasyPost tracker events (signed)", responses=ANSWERS,
          description="EasyPost's Event with a Tracker, signed `X-Hmac-Signature: hmac-sha256-hex=<HMAC-SHA256(raw "
                      "body, webhook secret)>`. Stored and queued; the same event `id` again is a `duplicate`.")
@tracer.capture_method
def easypost() -> Response[Any]:
    return receive("easypost")


@app.post("/webhooks/tracking/aftership", summary="AfterShip tracking_update events (signed)", responses=ANSWERS,
          description="AfterShip's webhook (`event`, `event_id`, `ts`, `msg` = the tracking with `tag` and "
                      "`checkpoints`), signed `aftership-hmac-sha256: <base64 HMAC-SHA256(raw body, secret)>`.")
@tracer.capture_method
def aftership() -> Response[Any]:
    return receive("aftership")


@app.post("/webhooks/tracking/generic", summary="Tracking events from carriers posting directly (signed)",
          responses=ANSWERS,
          description="One event: `event_id`, `tracking_number`, `carrier`, `status` (LABEL_CREATED, IN_TRANSIT, "
                      "OUT_FOR_DELIVERY, DELIVERY_ATTEMPTED, AVAILABLE_FOR_PICKUP, DELIVERED, EXCEPTION, "
                      "RETURN_TO_SENDER, EXPIRED), `occurred_at`, optional `location`, `message`, "
                      "`estimated_delivery`, `tracking_url`. Signed `X-Signature: t=<unix seconds>,v1=<hex "
                      "HMAC-SHA256(\"<t>.<raw body>\")>`; a `t` more than 300 s from now is refused (401).")
@tracer.capture_method
def generic() -> Response[Any]:
    return receive("generic")


def _answer(result: WebhookResult) -> Response[Any]:
    return Response(status_code=HTTPStatus.OK.value, content_type=content_types.APPLICATION_JSON, body=result)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
