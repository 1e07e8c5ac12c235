"""Products and stock levels as the catalog and inventory routes return them."""

from typing import NotRequired

from typing_extensions import TypedDict

from oms.domain.stock import IncomingBatch, MovementKind


class Product(TypedDict):
    sku: str
    name: str
    price: int  # minor units of currency
    currency: str
    category: NotRequired[str]
    weight_grams: NotRequired[int]
    active: bool
    backorderable: NotRequired[bool]  # orders beyond the shelves are promised from incoming goods
    low_stock_threshold: NotRequired[int]  # a warehouse's available units dropping below it alerts ops once


class ShardStock(TypedDict):
    """One shard of a sharded warehouse row (shard 0 is the row itself)."""

    shard: int
    on_hand: int
    reserved: int
    available: int


class WarehouseStock(TypedDict):
    warehouse: str
    on_hand: int
    reserved: int
    available: int  # on_hand - reserved
    backordered: int  # units of incoming goods promised to waiting orders
    incoming: list[IncomingBatch]
    incoming_total: int
    shards: NotRequired[int]  # a sharded row: how many shards take new reservations (the counters are their sums)
    by_shard: NotRequired[list[ShardStock]]  # a sharded row: each shard (retired ones too while they hold units)


class Movement(TypedDict):
    """One change to a warehouse's stock of a SKU: which counters moved by how much, why, and who caused it."""

    movement_id: str
    at: str
    warehouse: str
    kind: MovementKind
    changes: dict[str, int]  # on_hand, reserved, backordered, incoming
    order_id: NotRequired[str]
    by: str


class MovementPage(TypedDict):
    movements: list[Movement]
    next_cursor: str | None


class StockLevels(TypedDict):
    """A SKU's stock: totals over its warehouses, and each warehouse."""

    sku: str
    on_hand: int
    reserved: int
    available: int
    backordered: int
    incoming_total: int
    warehouses: list[WarehouseStock]
