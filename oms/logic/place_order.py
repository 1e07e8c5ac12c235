"""Placing an order: price it from the catalog, store it PENDING, start its workflow."""

from datetime import datetime
from typing import Any

from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict, StockUnavailable
from oms.domain.models import PlaceOrderRequest
from oms.domain.order import new_order, order_id_for


def place_order(
    *,
    customer_id: str,
    idempotency_key: str,
    request: PlaceOrderRequest,
    orders: OrdersRepository,
    catalog: CatalogRepository,
    inventory: InventoryRepository,
    workflow: Workflow,
    now: datetime,
) -> dict[str, Any]:
    """Returns the stored order. Safe to repeat: the order id derives from (customer, key), the write
    is conditional and the execution is named after the order, so a retry converges on one order."""
    order_id = order_id_for(customer_id, idempotency_key)
    skus = [line.sku for line in request.lines]
    order = new_order(
        order_id=order_id, customer_id=customer_id, request=request, products=catalog.products(skus), now=now
    )
    existing = orders.get(order_id)
    if existing is not None:
        if existing["request_hash"] != order["request_hash"]:
            raise Conflict("Idempotency-Key was already used for a different order; use a new key")
        workflow.start(order_id)
        return existing
    # Early answer for the storefront; the workflow's atomic reservation is what prevents oversell.
    available = inventory.available(skus)
    for index, line in enumerate(request.lines):
        units = sum(available.get(line.sku, {}).values())
        if units < line.quantity:
            raise StockUnavailable(
                f"lines[{index}].quantity", f"only {units} of {line.sku!r} available, {line.quantity} requested"
            )
    if not orders.create(order):  # lost a race with a concurrent retry of the same request
        return place_order(
            customer_id=customer_id, idempotency_key=idempotency_key, request=request, orders=orders,
            catalog=catalog, inventory=inventory, workflow=workflow, now=now,
        )
    workflow.start(order_id)
    return order
