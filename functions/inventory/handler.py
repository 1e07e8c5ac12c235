"""Workflow step: reserve, release or commit an order's stock."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.logic import stock
from oms.settings import setting
from oms.steps import run_step

logger = Logger()
tracer = Tracer()
orders = OrdersRepository(setting("ORDERS_TABLE"))
inventory = InventoryRepository(setting("INVENTORY_TABLE"))

STEPS = {
    "reserve": lambda e: stock.reserve(e["order_id"], orders, inventory),
    "release": lambda e: stock.release(e["order_id"], orders, inventory),
    "commit": lambda e: stock.commit(e["order_id"], orders, inventory),
}


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
