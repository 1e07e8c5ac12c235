"""SQS consumer (batches of one): an order event's messages, each (order, event, channel) sent or skipped once.

A channel that fails fails the record, which SQS redelivers; the channels already done answer from their
idempotency record and are not repeated. After 5 receives the message moves to the dead-letter queue, alone.
"""

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.aws import client
from oms.adapters.customers_repo import CustomersRepository
from oms.adapters.mailer import Mailer
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.suppressions_repo import SuppressionsRepository
from oms.domain.messages import Shop
from oms.logic import notify
from oms.logic.clock import now
from oms.settings import NotifySettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()
# A failed record is reported (SQS redelivers it), not raised: a function error then means a crash.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
env = NotifySettings.from_env()
# Each record lives as long as the retention policy's notification_records_days (TTL attribute ``expiration``).
idempotency = IdempotencyConfig(event_key_jmespath="[order_id, event, channel]",
                                expires_after_seconds=env.notification_record_ttl_seconds or 30 * 86400)
# The persistence layer reuses the function's DynamoDB client instead of building a second session.
persistence = DynamoDBPersistenceLayer(table_name=env.idempotency_table, boto3_client=client("dynamodb"))


@cache
def _notifier() -> notify.Notifier:
    # Built on the first message: the policy's pydantic models and the repositories are not part of init.
    from oms.domain.notification_policy import load_policy

    return notify.Notifier(
        orders=OrdersRepository(env.orders_table), customers=CustomersRepository(env.customers_table),
        suppressions=SuppressionsRepository(env.suppressions_table),
        mailer=Mailer(env.sender_email, env.configuration_set), policy=load_policy(env.notification_policy),
        shop=Shop(env.shop_name, env.support_email, env.support_url or ""), clock=now, tracking_link=_tracking_link,
        return_context=_return_context)


def _return_context(return_id: str) -> dict[str, Any]:
    """A return's facts for its messages (read when a return event is notified)."""
    from oms.domain.returns import message_context

    returns, policy = _returns()
    return message_context(returns.require(return_id), policy)


@cache
def _returns() -> tuple[Any, Any]:
    from oms.adapters.returns_repo import ReturnsRepository
    from oms.domain.return_policy import load_policy

    return ReturnsRepository(env.returns_table), load_policy(env.return_policy)


def _tracking_link(order_id: str) -> str:
    """``<public API URL>/track/<signed token>``; "" when the URL or the key cannot be read (the message goes
    out without the link rather than not at all)."""
    import time

    from oms.adapters.secrets import secret
    from oms.domain.tracking_links import sign

    try:
        base = _public_url()
        key = secret(env.tracking_link_secret_arn).encode()
    except Exception:  # a missing link must never stop a message
        logger.warning("tracking link unavailable", exc_info=True)
        return ""
    return f"{base.rstrip('/')}/track/{sign(order_id, key, time.time())}" if base else ""


@cache
def _public_url() -> str:
    return str(client("ssm").get_parameter(Name=env.public_url_parameter)["Parameter"]["Value"])


@idempotent_function(data_keyword_argument="delivery", config=idempotency, persistence_store=persistence)
def deliver(delivery: notify.Delivery, message: Any, attempt: int) -> dict[str, str]:
    """Once per (order, event, channel): a repeat returns the first result and sends nothing."""
    record = notify.deliver(delivery, message, _notifier(), attempt)
    metrics.add_metric(name="NotificationsSent" if record["status"] == "SENT" else "NotificationsSkipped",
                       unit=MetricUnit.Count, value=1)
    _count(delivery["channel"], "SENT" if record["status"] == "SENT" else "SKIPPED")
    return {"channel": delivery["channel"], "status": record["status"], "message_id": record.get("message_id", "")}


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    body = json.loads(record.body)
    logger.set_correlation_id(record.message_id)
    logger.append_keys(order_id=body.get("order_id"), notification=body.get("event"))
    notifier = _notifier()
    order = notifier.orders.require(body["order_id"])
    ref = str(body.get("ref") or "")
    message = notify.message_for(order, body["event"], ref, notifier)
    attempt = int((record.raw_event.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
    for delivery in notify.deliveries(order, body["event"], ref, notifier):
        try:
            deliver(delivery=delivery, message=message, attempt=attempt)
        except Exception:
            metrics.add_metric(name=f"NotificationsFailed_{delivery['channel']}", unit=MetricUnit.Count, value=1)
            _count(delivery["channel"], "FAILED")
            raise


def _count(channel: str, outcome: str) -> None:
    """``Notifications`` by channel and outcome (the business dashboard's widget), one EMF line of its own."""
    with single_metric(name="Notifications", unit=MetricUnit.Count, value=1,
                       default_dimensions={"service": "notify", "channel": channel, "outcome": outcome}):
        pass


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    idempotency.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
