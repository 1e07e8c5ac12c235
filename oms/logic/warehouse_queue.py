"""A warehouse's pick queue: orders with units waiting to ship from it, express first, then oldest."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

from oms.adapters.orders_repo import OrdersRepository
from oms.domain.order import Order, Picking
from oms.domain.shipping import to_ship
from oms.domain.status import OrderStatus

#: Orders that can have units waiting on a shelf for their parcel.
SHIPPING_STATUSES = (OrderStatus.PROCESSING, OrderStatus.PARTIALLY_SHIPPED)


class PickLine(TypedDict):
    sku: str
    name: str
    quantity: int


class QueuedOrder(TypedDict):
    order_id: str
    status: OrderStatus
    shipping_method: Literal["standard", "express"]
    created_at: str
    lines: list[PickLine]  # to pick at this warehouse
    picking: Picking | None


class WarehouseQueue(TypedDict):
    warehouse: str
    orders: list[QueuedOrder]
    total: int  # orders in the queue (``orders`` holds the first ``limit``)


def queue_for(warehouse: str, limit: int, orders: OrdersRepository) -> WarehouseQueue:
    """Every PROCESSING or PARTIALLY_SHIPPED order with units at ``warehouse`` not shipped yet; express orders before
    standard ones, then the oldest first. Being cancelled: left out (nothing to pick)."""
    queued = [entry for status in SHIPPING_STATUSES for order in orders.each_in_status(status)
              if (entry := _entry(order, warehouse)) is not None]
    queued.sort(key=lambda o: (o["shipping_method"] != "express", o["created_at"], o["order_id"]))
    return {"warehouse": warehouse, "orders": queued[:limit], "total": len(queued)}


def _entry(order: Order, warehouse: str) -> QueuedOrder | None:
    if "cancellation" in order or "fulfillment_task_token" not in order:
        return None
    waiting = to_ship(order, warehouse)
    if not waiting:
        return None
    names = {line["sku"]: line["name"] for line in order["lines"]}
    return {"order_id": order["order_id"], "status": order["status"], "shipping_method": order["shipping_method"],
            "created_at": order["created_at"], "picking": order.get("picking"),
            "lines": [{"sku": sku, "name": names.get(sku, sku), "quantity": quantity}
                      for (sku, _), quantity in sorted(waiting.items())]}
