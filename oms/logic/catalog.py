"""Catalog and stock, as ops manage them: products, counted stock and expected arrivals per warehouse, receipts,
stock levels and the movement log."""

from __future__ import annotations

from dataclasses import dataclass

from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository, StockContention
from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.catalog import MovementPage, Product, StockLevels
from oms.domain.errors import Conflict, NotFound, TransientError
from oms.domain.models import InventoryRequest, ProductRequest, ReceiptRequest
from oms.domain.order import fingerprint
from oms.domain.stock import IncomingBatch, check_warehouse, redistribute, shrink_incoming
from oms.logic import backorders
from oms.logic.low_stock import LowStock

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class StockContext:
    """What a change of stock may touch: waiting orders (served, rescheduled, resumed) and the low-stock alert."""

    catalog: CatalogRepository
    inventory: InventoryRepository
    orders: OrdersRepository
    workflow: Workflow
    queue: NotificationQueue
    low_stock: LowStock
    warehouses: tuple[str, ...]


def put_product(sku: str, request: ProductRequest, catalog: CatalogRepository) -> Product:
    product: Product = {"sku": sku, "name": request.name, "price": request.price, "currency": request.currency,
                        "active": True, "backorderable": request.backorderable}
    if request.category is not None:
        product["category"] = request.category
    if request.weight_grams is not None:
        product["weight_grams"] = request.weight_grams
    if request.low_stock_threshold is not None:
        product["low_stock_threshold"] = request.low_stock_threshold
    catalog.put(product)
    return product


def _check(sku: str, warehouse: str, ctx: StockContext) -> None:
    check_warehouse(warehouse, ctx.warehouses)
    if ctx.catalog.get(sku) is None:
        raise NotFound(f"sku {sku!r} is not in the catalog; PUT /admin/products/{sku} first")


def set_stock(sku: str, request: InventoryRequest, by: str, ctx: StockContext) -> StockLevels:
    """Set the counted stock of ``sku`` at a warehouse and, when given, its expected arrivals (the whole list):
    never below what is reserved or promised there (``Conflict``). More stock serves waiting orders; a later date
    reschedules them and tells each customer once."""
    _check(sku, request.warehouse, ctx)
    incoming: list[IncomingBatch] | None = (
        [{"quantity": b.quantity, "eta": b.eta} for b in request.incoming]
        if request.incoming is not None else None)
    for _ in range(MAX_ATTEMPTS):
        current = ctx.inventory.row(sku, request.warehouse)
        try:
            if current.shard_span > 1 or (request.shards or 1) > 1:
                _set_sharded(sku, request.warehouse, request.on_hand, incoming, request.shards, by, ctx)
            else:
                ctx.inventory.set_stock(current, request.on_hand, incoming, by)
            break
        except StockContention:
            continue
    else:
        raise TransientError("the stock changed repeatedly while it was set; retry")
    if incoming is not None:
        backorders.reschedule_waiting(sku, request.warehouse, incoming, ctx.orders, ctx.inventory, ctx.queue)
    after_more_stock(sku, request.warehouse, ctx, current.shard_span > 1 or (request.shards or 1) > 1)
    return stock_levels(sku, ctx.catalog, ctx.inventory)


def _set_sharded(sku: str, warehouse: str, on_hand: int, incoming: list[IncomingBatch] | None,
                 shards: int | None, by: str, ctx: StockContext) -> None:
    """Count a sharded row (or shard one): the total on hand becomes ``on_hand``, its free units spread evenly over
    the shards (shard 0 keeps what waiting orders can take), in one transaction up to 40 shards."""
    current = ctx.inventory.sharded(sku, warehouse)
    count = shards if shards is not None else current.count
    try:
        changes = redistribute([s["on_hand"] for s in current.shards], [s["reserved"] for s in current.shards],
                               on_hand, count, current.header.stock["backordered"])
    except ValueError:
        raise Conflict(f"on_hand: {on_hand} is below the {current.total['reserved']} units reserved at "
                       f"{warehouse}") from None
    ctx.inventory.set_sharded(current, on_hand, incoming, count, changes, by)


def receive(sku: str, request: ReceiptRequest, receipt_key: str, by: str,
            ctx: StockContext) -> tuple[StockLevels, bool]:
    """Goods arrived: on-hand stock grows, the earliest expected batches shrink by what came, and waiting orders
    are served, oldest first. Returns the levels and whether this repeated an earlier receipt (same
    ``receipt_key``: counted once)."""
    _check(sku, request.warehouse, ctx)
    key = fingerprint({"key": receipt_key})[:32]
    for _ in range(MAX_ATTEMPTS):
        current = ctx.inventory.row(sku, request.warehouse)
        if key in current.receipt_keys:
            return stock_levels(sku, ctx.catalog, ctx.inventory), True
        left = shrink_incoming(current.stock["incoming"], request.quantity)
        try:
            ctx.inventory.receive(current, request.quantity, left, by, key)
            break
        except StockContention:
            continue
    else:
        raise TransientError("the stock changed repeatedly while the receipt was recorded; retry")
    after_more_stock(sku, request.warehouse, ctx, current.shard_span > 1)
    return stock_levels(sku, ctx.catalog, ctx.inventory), False


def after_more_stock(sku: str, warehouse: str, ctx: StockContext, sharded: bool | None = None) -> None:
    """More units on a shelf: serve the orders waiting for them, oldest first, and re-check the low-stock alert
    (of a sharded row on its shards' total; ``sharded`` None: read the row to know)."""
    backorders.serve(sku, warehouse, ctx.orders, ctx.inventory, ctx.workflow)
    if sharded is None:
        sharded = ctx.inventory.row(sku, warehouse).shard_span > 1
    if sharded:
        from oms.logic.inventory import check_low_sharded

        check_low_sharded(sku, warehouse, ctx.inventory, ctx.low_stock)  # on the shards' total
    else:
        ctx.low_stock.check([(sku, warehouse)])


def stock_levels(sku: str, catalog: CatalogRepository, inventory: InventoryRepository) -> StockLevels:
    rows = inventory.levels(sku)
    if not rows and catalog.get(sku) is None:
        raise NotFound(f"sku {sku!r} not found")
    return {
        "sku": sku,
        "on_hand": sum(r["on_hand"] for r in rows),
        "reserved": sum(r["reserved"] for r in rows),
        "available": sum(r["available"] for r in rows),
        "backordered": sum(r["backordered"] for r in rows),
        "incoming_total": sum(r["incoming_total"] for r in rows),
        "warehouses": rows,
    }


def movements(sku: str, limit: int, cursor: str | None, catalog: CatalogRepository,
              inventory: InventoryRepository) -> MovementPage:
    page, next_cursor = inventory.movements(sku, limit, cursor)
    if not page and cursor is None and catalog.get(sku) is None:
        raise NotFound(f"sku {sku!r} not found")
    return {"movements": page, "next_cursor": next_cursor}
