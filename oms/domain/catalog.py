"""Products and stock levels as the catalog and inventory routes return them."""

from typing import NotRequired

from typing_extensions import TypedDict


class Product(TypedDict):
    sku: str
    name: str
    price: int  # minor units of currency
    currency: str
    category: NotRequired[str]
    weight_grams: NotRequired[int]
    active: bool


class WarehouseStock(TypedDict):
    warehouse: str
    on_hand: int
    reserved: int
    available: int  # on_hand - reserved


class StockLevels(TypedDict):
    """A SKU's stock: totals over its warehouses, and each warehouse."""

    sku: str
    on_hand: int
    reserved: int
    available: int
    warehouses: list[WarehouseStock]
