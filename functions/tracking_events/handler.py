"""SQS consumer of stored carrier events: apply each to its shipment (or park it until the shipment exists).

A transient failure (a delivery that arrived before the order is marked shipped, a concurrent update, an AWS
error) fails the record, which SQS redelivers; after 5 receives it moves to the DLQ (``oms webhooks replay``).
"""

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.tracking_inbox import KEEP_SECONDS, PARK_SECONDS, TrackingInbox
from oms.logic import tracking
from oms.settings import TrackingEventsSettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def _deps() -> tuple[TrackingInbox, OrdersRepository, NotificationQueue, OpsAlerts]:
    env = TrackingEventsSettings.from_env()
    inbox = TrackingInbox(env.tracking_events_table, keep_seconds=env.tracking_body_ttl_seconds or KEEP_SECONDS,
                          park_seconds=env.tracking_park_ttl_seconds or PARK_SECONDS)
    return (inbox, OrdersRepository(env.orders_table, env.shipments_table),
            NotificationQueue(env.notifications_queue_url), OpsAlerts(env.ops_alerts_topic_arn))


@cache
def _returns() -> Any:
    """What a return parcel's events move (built on the first one)."""
    from oms.adapters.returns_repo import ReturnsRepository
    from oms.adapters.workflow import Workflow
    from oms.domain.return_policy import load_policy
    from oms.logic.returns import Returns

    env = TrackingEventsSettings.from_env()
    return Returns(returns=ReturnsRepository(env.returns_table), orders=_deps()[1],
                   policy=load_policy(env.return_policy), workflow=Workflow())


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    logger.set_correlation_id(record.message_id)
    key = str(json.loads(record.body).get("key", ""))
    logger.append_keys(tracking_event=key)
    outcome = tracking.process(key, *_deps(), returns=_returns)
    metrics.add_metric(name=f"TrackingEvent_{outcome}", unit=MetricUnit.Count, value=1)
    logger.info("tracking event processed", extra={"outcome": outcome})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
