"""Workflow step: accept the order (PROCESSING) and wait for the warehouse's shipment (task token)."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import OrdersRepository
from oms.logic import fulfilment
from oms.settings import setting
from oms.steps import run_step

logger = Logger()
tracer = Tracer()
orders = OrdersRepository(setting("ORDERS_TABLE"))
queue = NotificationQueue(setting("NOTIFICATIONS_QUEUE_URL"))

STEPS = {
    "request": lambda e: fulfilment.request_fulfilment(e["order_id"], e["task_token"], orders, queue),
}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
