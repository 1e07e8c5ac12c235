"""Workflow step: score an order's fraud risk; hold it for ops review (task token)."""

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.contract import Action
from oms.logic import fraud
from oms.settings import FraudSettings
from oms.steps import run_step

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()


@cache
def _settings() -> FraudSettings:
    return FraudSettings.from_env()


@cache
def _orders() -> OrdersRepository:
    return OrdersRepository(_settings().orders_table)


def _hold(event: dict[str, Any]) -> dict[str, Any]:
    result = fraud.hold_for_review(event["order_id"], event["task_token"], _orders(),
                                   OpsAlerts(_settings().ops_alerts_topic_arn),
                                   NotificationQueue(_settings().notifications_queue_url))
    if not result["alerted"]:
        metrics.add_metric(name="OrderAlertsFailed", unit=MetricUnit.Count, value=1)
    return result


STEPS = {
    Action.ASSESS: lambda e: fraud.assess_order(e["order_id"], _orders(), threshold=_settings().fraud_threshold,
                                                review_amount=_settings().review_amount),
    Action.HOLD: _hold,
}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
