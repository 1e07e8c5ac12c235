"""Products in DynamoDB, and the one read placement needs: the lines' products and their stock together."""

from dataclasses import dataclass
from typing import cast

from oms.adapters.aws import client
from oms.adapters.ddb import batch_get, from_item, to_item
from oms.domain.catalog import Product
from oms.domain.pricing import CatalogProduct


class CatalogRepository:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def put(self, product: Product) -> None:
        self.ddb.put_item(TableName=self.table, Item=to_item(dict(product)))

    def get(self, sku: str) -> Product | None:
        response = self.ddb.get_item(TableName=self.table, Key={"sku": {"S": sku}})
        return cast(Product, from_item(response["Item"])) if "Item" in response else None

    def many(self, skus: list[str]) -> dict[str, Product]:
        """The products of ``skus`` that exist, by SKU (one BatchGetItem per 100)."""
        unique = sorted(set(skus))
        found = batch_get(self.ddb, {self.table: [{"sku": {"S": sku}} for sku in unique]}) if unique else {}
        return {item["sku"]: cast(Product, item) for item in found.get(self.table, [])}


@dataclass(frozen=True)
class Placement:
    products: dict[str, CatalogProduct]
    units: dict[str, int]
    backorderable: frozenset[str]
    thresholds: dict[str, int]


class PlacementReader:
    """Prices and stock for the SKUs of an order, in one BatchGetItem over the catalog and inventory tables."""

    def __init__(self, catalog_table: str, inventory_table: str, warehouses: tuple[str, ...]) -> None:
        self.catalog_table = catalog_table
        self.inventory_table = inventory_table
        self.warehouses = warehouses
        self.ddb = client("dynamodb")

    def read(self, skus: list[str]) -> Placement:
        """Active catalog entries by SKU, the units each SKU can still be sold (on the shelves, plus what incoming
        goods can still promise for a backorderable SKU), the backorderable SKUs and the low-stock thresholds."""
        unique = sorted(set(skus))
        found = batch_get(self.ddb, {
            self.catalog_table: [{"sku": {"S": sku}} for sku in unique],
            self.inventory_table: [{"sku": {"S": sku}, "warehouse": {"S": wh}}
                                   for sku in unique for wh in self.warehouses],
        })
        products = {
            item["sku"]: CatalogProduct(item["sku"], item["name"], int(item["price"]), item["currency"])
            for item in found[self.catalog_table] if item.get("active", True)
        }
        backorderable = frozenset(item["sku"] for item in found[self.catalog_table] if item.get("backorderable"))
        units: dict[str, int] = {}
        for row in found[self.inventory_table]:
            promisable = int(row.get("promisable", 0)) if row["sku"] in backorderable else 0
            units[row["sku"]] = units.get(row["sku"], 0) + int(row["available"]) + max(0, promisable)
        thresholds = {item["sku"]: int(item["low_stock_threshold"]) for item in found[self.catalog_table]
                      if item.get("low_stock_threshold")}
        return Placement(products, units, backorderable, thresholds)


