"""Workflow step: the order's final states (shipped, or closed with a reason) and capture failures."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.logic import closing
from oms.settings import setting
from oms.steps import run_step

logger = Logger()
tracer = Tracer()
orders = OrdersRepository(setting("ORDERS_TABLE"))
queue = NotificationQueue(setting("NOTIFICATIONS_QUEUE_URL"))
alerts = OpsAlerts(setting("OPS_ALERTS_TOPIC_ARN"))

STEPS = {
    "mark_shipped": lambda e: closing.mark_shipped(e["order_id"], orders, queue),
    "close": lambda e: closing.close(e["order_id"], e.get("error") or {}, orders, queue),
    "flag_capture_failure": lambda e: closing.flag_capture_failure(e["order_id"], e.get("error") or {}, orders, alerts),
}


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
