"""Workflow step: authorize, capture or void an order's payment."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.payment_gateway import gateway_for
from oms.logic import payments
from oms.settings import setting
from oms.steps import run_step

logger = Logger()
tracer = Tracer()
orders = OrdersRepository(setting("ORDERS_TABLE"))
gateway = gateway_for(setting("PAYMENT_GATEWAY", "sandbox"))

STEPS = {
    "authorize": lambda e: payments.authorize(e["order_id"], orders, gateway),
    "capture": lambda e: payments.capture(e["order_id"], orders, gateway),
    "void": lambda e: payments.void(e["order_id"], orders, gateway),
}


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
