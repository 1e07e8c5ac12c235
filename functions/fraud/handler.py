"""Workflow step: score an order's fraud risk; hold it for ops review (task token)."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.adapters.notifications import OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.logic import risk
from oms.settings import setting
from oms.steps import run_step

logger = Logger()
tracer = Tracer()
orders = OrdersRepository(setting("ORDERS_TABLE"))
alerts = OpsAlerts(setting("OPS_ALERTS_TOPIC_ARN"))
THRESHOLD = int(setting("FRAUD_THRESHOLD", "60"))
REVIEW_AMOUNT = setting("REVIEW_AMOUNT", "1000.00")

STEPS = {
    "assess": lambda e: risk.assess_order(e["order_id"], orders, threshold=THRESHOLD, review_amount=REVIEW_AMOUNT),
    "hold": lambda e: risk.hold_for_review(e["order_id"], e["task_token"], orders, alerts),
}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
