"""Products in DynamoDB."""

from typing import Any

from oms.adapters.aws import client
from oms.adapters.ddb import from_item, to_item
from oms.domain.pricing import CatalogProduct


class CatalogRepository:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def put(self, product: dict[str, Any]) -> None:
        self.ddb.put_item(TableName=self.table, Item=to_item(product))

    def get(self, sku: str) -> dict[str, Any] | None:
        response = self.ddb.get_item(TableName=self.table, Key={"sku": {"S": sku}})
        return from_item(response["Item"]) if "Item" in response else None

    def products(self, skus: list[str]) -> dict[str, CatalogProduct]:
        """The catalog entries for ``skus`` (missing SKUs are absent from the result)."""
        if not skus:
            return {}
        response = self.ddb.batch_get_item(
            RequestItems={self.table: {"Keys": [{"sku": {"S": sku}} for sku in set(skus)], "ConsistentRead": True}}
        )
        items = [from_item(item) for item in response["Responses"].get(self.table, [])]
        return {
            item["sku"]: CatalogProduct(item["sku"], item["name"], int(item["price"]), item["currency"])
            for item in items
            if item.get("active", True)
        }
