"""Workflow step: accept the order (PROCESSING) and wait for the warehouse's shipment (task token)."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import OrdersRepository
from oms.contract import Action
from oms.logic import fulfillment
from oms.settings import FulfillmentSettings
from oms.steps import run_step

logger = observability.logger()
tracer = observability.tracer()


@cache
def _deps() -> tuple[OrdersRepository, NotificationQueue]:
    env = FulfillmentSettings.from_env()
    return OrdersRepository(env.orders_table), NotificationQueue(env.notifications_queue_url)


STEPS = {
    Action.REQUEST_FULFILLMENT: lambda e: fulfillment.request_fulfillment(e["order_id"], e["task_token"], *_deps()),
}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
