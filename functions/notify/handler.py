"""SQS consumer: send each order event's email (and SMS) once; failed records are retried, then DLQ'd."""

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
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
from oms.adapters.mailer import Mailer
from oms.adapters.orders_repo import OrdersRepository
from oms.logic.notify import send_notification
from oms.settings import NotifySettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()
processor = BatchProcessor(event_type=EventType.SQS)
env = NotifySettings.from_env()
orders = OrdersRepository(env.orders_table)
mailer = Mailer(env.sender_email)
idempotency = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=7 * 24 * 3600)
# The persistence layer reuses the function's DynamoDB client instead of building a second session.
persistence = DynamoDBPersistenceLayer(table_name=env.idempotency_table, boto3_client=client("dynamodb"))


@idempotent_function(data_keyword_argument="message", config=idempotency, persistence_store=persistence)
def deliver(message: dict[str, Any]) -> dict[str, Any]:
    """Exactly once per event id (a redelivered message returns the first result)."""
    sent = send_notification(message["order_id"], message["event"], orders, mailer)
    metrics.add_metric(name="NotificationsSent", unit=MetricUnit.Count, value=1)
    return sent


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    message = json.loads(record.body)
    logger.set_correlation_id(record.message_id)
    logger.append_keys(order_id=message.get("order_id"), notification=message.get("event"))
    deliver(message=message)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    idempotency.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
