"""Workflow step: the order's final states (shipped, or closed with a reason) and capture failures."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.contract import Action
from oms.logic import order_status
from oms.settings import OrderStatusSettings
from oms.steps import run_step

logger = observability.logger()
tracer = observability.tracer()


@cache
def _settings() -> OrderStatusSettings:
    return OrderStatusSettings.from_env()


@cache
def _orders() -> OrdersRepository:
    return OrdersRepository(_settings().orders_table)


@cache
def _queue() -> NotificationQueue:
    return NotificationQueue(_settings().notifications_queue_url)


STEPS = {
    Action.MARK_SHIPPED: lambda e: order_status.mark_shipped(e["order_id"], _orders(), _queue()),
    Action.CLOSE: lambda e: order_status.close(e["order_id"], e.get("error") or {}, _orders(), _queue()),
    Action.FLAG_CAPTURE_FAILURE: lambda e: order_status.flag_capture_failure(
        e["order_id"], e.get("error") or {}, _orders(), OpsAlerts(_settings().ops_alerts_topic_arn)),
}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
