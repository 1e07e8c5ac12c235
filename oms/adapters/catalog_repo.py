"""Products in DynamoDB, and the one read placement needs: the lines' products and their stock together."""

import time
from dataclasses import dataclass
from typing import Any, cast

from oms.adapters.aws import client
from oms.adapters.ddb import batch_get, from_item, to_item
from oms.domain.catalog import Product
from oms.domain.pricing import CatalogProduct
from oms.domain.stock import SHARDED_READ_SECONDS


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


_SHARD_UNITS: dict[str, tuple[float, int]] = {}  # "<sku>#<n>|<warehouse>" -> (read at, available units)


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
        }, eventually=frozenset({self.inventory_table}))
        products = {
            item["sku"]: CatalogProduct(item["sku"], item["name"], int(item["price"]), item["currency"])
            for item in found[self.catalog_table] if item.get("active", True)
        }
        backorderable = frozenset(item["sku"] for item in found[self.catalog_table] if item.get("backorderable"))
        units: dict[str, int] = {}
        shard_keys = []
        for row in found[self.inventory_table]:
            promisable = int(row.get("promisable", 0)) if row["sku"] in backorderable else 0
            units[row["sku"]] = units.get(row["sku"], 0) + int(row["available"]) + max(0, promisable)
            shard_keys += [{"sku": {"S": f"{row['sku']}#{n}"}, "warehouse": {"S": row["warehouse"]}}
                           for n in range(1, int(row.get("shard_span", 1)))]
        # A sharded row: its other shards' units, read eventually consistent and reused by this container for a
        # second (SHARDED_READ_SECONDS), so a hot SKU's shards are not read once per order.
        for sku, shard_units in self._shard_units(shard_keys).items():
            units[sku] = units.get(sku, 0) + shard_units
        thresholds = {item["sku"]: int(item["low_stock_threshold"]) for item in found[self.catalog_table]
                      if item.get("low_stock_threshold")}
        return Placement(products, units, backorderable, thresholds)

    def _shard_units(self, keys: list[dict[str, Any]]) -> dict[str, int]:
        """Each sharded SKU's units on its shards 1..N-1 (``keys``), read at most once a second per container."""
        now = time.monotonic()
        names = {f"{k['sku']['S']}|{k['warehouse']['S']}": k for k in keys}
        missing = [k for name, k in names.items() if now - _SHARD_UNITS.get(name, (0.0, 0))[0] >= SHARDED_READ_SECONDS]
        if missing:
            found = batch_get(self.ddb, {self.inventory_table: missing}, eventually=frozenset({self.inventory_table}))
            read = {f"{i['sku']}|{i['warehouse']}": max(0, int(i.get("available", 0)))
                    for i in found.get(self.inventory_table, [])}
            for k in missing:
                name = f"{k['sku']['S']}|{k['warehouse']['S']}"
                _SHARD_UNITS[name] = (now, read.get(name, 0))
        units: dict[str, int] = {}
        for name in names:
            sku = name.split("|", 1)[0].rsplit("#", 1)[0]
            units[sku] = units.get(sku, 0) + _SHARD_UNITS[name][1]
        return units

    def recount(self, sku: str, backorderable: bool) -> int:
        """A SKU's sellable units counted now, its stock rows read consistently (when the placement read looks
        short: a unit released a moment ago must not refuse an order)."""
        from oms.adapters.inventory_repo import InventoryRepository

        rows = InventoryRepository(self.inventory_table).levels(sku)
        return sum(r["available"] + (max(0, r["incoming_total"] - r["backordered"]) if backorderable else 0)
                   for r in rows if r["warehouse"] in self.warehouses)


