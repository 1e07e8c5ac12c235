"""Workflow step: reserve, release or commit an order's stock."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.contract import Action
from oms.logic import inventory
from oms.settings import InventorySettings
from oms.steps import run_step

logger = observability.logger()
tracer = observability.tracer()


@cache
def _deps() -> tuple[OrdersRepository, InventoryRepository]:
    env = InventorySettings.from_env()
    return OrdersRepository(env.orders_table), InventoryRepository(env.inventory_table)


STEPS = {
    Action.RESERVE: lambda e: inventory.reserve(e["order_id"], *_deps()),
    Action.RELEASE: lambda e: inventory.release(e["order_id"], *_deps()),
    Action.COMMIT: lambda e: inventory.commit(e["order_id"], *_deps()),
}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
