"""SQS consumer of SES's bounce and complaint events (configuration set -> SNS -> SQS, raw delivery)."""

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.suppressions_repo import SuppressionsRepository
from oms.logic.clock import now
from oms.settings import MailFeedbackSettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def _deps() -> tuple[SuppressionsRepository, OrdersRepository]:
    env = MailFeedbackSettings.from_env()
    return SuppressionsRepository(env.suppressions_table), OrdersRepository(env.orders_table)


def _event(body: str) -> dict[str, Any]:
    data = json.loads(body)
    if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        data = json.loads(data["Message"])  # an SNS envelope (a subscription without raw delivery)
    return data if isinstance(data, dict) else {}


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    # Imported on the first event: the event's pydantic models are not part of init.
    from pydantic import ValidationError

    from oms.domain.ses_events import SesEvent
    from oms.logic import mail_feedback

    logger.set_correlation_id(record.message_id)
    try:
        event = SesEvent.model_validate(_event(record.body))
    except (ValueError, ValidationError):
        # Not an SES event: retrying cannot fix it. Logged and dropped rather than sent to the DLQ five times.
        logger.warning("not an SES bounce or complaint event; ignored")
        metrics.add_metric(name="MailFeedbackIgnored", unit=MetricUnit.Count, value=1)
        return
    suppressions, orders = _deps()
    added = mail_feedback.apply(event, suppressions, orders, now())
    logger.info("SES feedback", extra={"event_type": event.event_type, "suppressed": added})
    if added:
        metrics.add_metric(name="EmailAddressesSuppressed", unit=MetricUnit.Count, value=added)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
