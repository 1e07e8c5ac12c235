"""Workflow step: reserve, wait for backordered goods, release or commit an order's stock; and the shards' rebalancer
(``{"action": "rebalance"}`` every minute from EventBridge, ``{"action": "rebalance", "sku": ...}`` on demand)."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.contract import Action
from oms.domain.stock import Warehouse, parse_locations
from oms.logic import inventory
from oms.logic.low_stock import LowStock
from oms.settings import InventorySettings
from oms.steps import run_step

logger = observability.logger()
tracer = observability.tracer()


class _Deps:
    def __init__(self) -> None:
        env = InventorySettings.from_env()
        self.env = env
        self.orders = OrdersRepository(env.orders_table)
        self.inventory = InventoryRepository(env.inventory_table, env.movements_table, env.backorders_table)
        self.warehouses: list[Warehouse] = parse_locations(env.warehouse_locations)
        self.low_stock = LowStock(CatalogRepository(env.catalog_table), self.inventory,
                                  OpsAlerts(env.ops_alerts_topic_arn))
        self.queue = NotificationQueue(env.notifications_queue_url)
        self.workflow = Workflow()  # resumes the waiting orders a release fills


@cache
def deps() -> _Deps:
    return _Deps()


def _reserve(event: dict[str, Any]) -> Any:
    d = deps()
    return inventory.reserve(event["order_id"], d.orders, d.inventory, d.warehouses, d.env.backorder_limit_days,
                             d.low_stock)


def _await_stock(event: dict[str, Any]) -> Any:
    d = deps()
    return inventory.await_stock(event["order_id"], event["task_token"], d.orders, d.queue)


STEPS = {
    Action.RESERVE: _reserve,
    Action.AWAIT_STOCK: _await_stock,
    Action.RELEASE: lambda e: inventory.release(e["order_id"], deps().orders, deps().inventory, deps().queue,
                                                deps().workflow),
    Action.COMMIT: lambda e: inventory.commit(e["order_id"], deps().orders, deps().inventory),
}


REBALANCE = "rebalance"


def _rebalance(event: dict[str, Any]) -> Any:
    d = deps()
    result = inventory.rebalance(d.inventory, d.orders, d.workflow, d.low_stock, sku=event.get("sku"))
    logger.info("shards rebalanced", extra={"result": result})
    return result


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if event.get("action") == REBALANCE:
        return _rebalance(event)
    return run_step(STEPS, event, logger)
