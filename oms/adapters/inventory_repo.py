"""Stock per SKU per warehouse. ``available`` is stored (= on_hand - reserved) so that
conditional writes can guard it: stock is never reserved beyond what is on hand."""

from typing import Any, cast

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import from_item, is_conditional_failure
from oms.domain.allocation import Allocation
from oms.domain.catalog import WarehouseStock
from oms.domain.errors import Conflict


class StockContention(Exception):
    """A stock row's condition failed inside a transaction (someone else took the units)."""


class OrderChangeRejected(Exception):
    """The order's part of a stock transaction failed its condition (already done or wrong state)."""


def _stock(row: dict[str, Any]) -> WarehouseStock:
    return cast(WarehouseStock, {k: row[k] for k in ("warehouse", "on_hand", "reserved", "available")})


def _key(sku: str, warehouse: str) -> dict[str, Any]:
    return {"sku": {"S": sku}, "warehouse": {"S": warehouse}}


class InventoryRepository:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def set_on_hand(self, sku: str, warehouse: str, on_hand: int) -> WarehouseStock:
        """Set the counted stock at a warehouse; refuses to go below what is reserved."""
        try:
            response = self.ddb.update_item(
                TableName=self.table,
                Key=_key(sku, warehouse),
                UpdateExpression=(
                    "SET on_hand = :n, reserved = if_not_exists(reserved, :zero), "
                    "available = :n - if_not_exists(reserved, :zero)"
                ),
                ConditionExpression="attribute_not_exists(reserved) OR reserved <= :n",
                ExpressionAttributeValues={":n": {"N": str(on_hand)}, ":zero": {"N": "0"}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_conditional_failure(error):
                current = self.levels(sku)
                reserved = next((row["reserved"] for row in current if row["warehouse"] == warehouse), 0)
                raise Conflict(
                    f"on_hand: {on_hand} is below the {reserved} units reserved at {warehouse}"
                ) from error
            raise
        return _stock(from_item(response["Attributes"]))

    def levels(self, sku: str) -> list[WarehouseStock]:
        response = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="sku = :sku",
            ExpressionAttributeValues={":sku": {"S": sku}},
            ConsistentRead=True,
        )
        return [_stock(from_item(item)) for item in response.get("Items", [])]

    def available(self, skus: list[str]) -> dict[str, dict[str, int]]:
        """``{sku: {warehouse: available}}`` for allocation."""
        return {sku: {row["warehouse"]: int(row["available"]) for row in self.levels(sku)} for sku in skus}

    def _transact(self, stock_updates: list[dict[str, Any]], order_update: dict[str, Any]) -> None:
        try:
            self.ddb.transact_write_items(TransactItems=[*stock_updates, order_update])
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if reasons and reasons[-1] == "ConditionalCheckFailed":
                raise OrderChangeRejected() from error
            if "ConditionalCheckFailed" in reasons:
                raise StockContention() from error
            raise

    def _stock_update(self, allocation: Allocation, expression: str, condition: str | None) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(allocation.sku, allocation.warehouse),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": {":q": {"N": str(allocation.quantity)}},
        }
        if condition:
            update["ConditionExpression"] = condition
        return {"Update": update}

    def reserve(self, allocations: list[Allocation], order_update: dict[str, Any]) -> None:
        """Hold stock for every allocation and mark the order, all or nothing."""
        self._transact(
            [
                self._stock_update(a, "SET reserved = reserved + :q, available = available - :q", "available >= :q")
                for a in allocations
            ],
            order_update,
        )

    def release(self, allocations: list[Allocation], order_update: dict[str, Any]) -> None:
        """Give held stock back (the order did not go ahead)."""
        self._transact(
            [self._stock_update(a, "SET reserved = reserved - :q, available = available + :q", None)
             for a in allocations],
            order_update,
        )

    def commit(self, allocations: list[Allocation], order_update: dict[str, Any]) -> None:
        """The parcel left: held stock leaves the warehouse."""
        self._transact(
            [self._stock_update(a, "SET reserved = reserved - :q, on_hand = on_hand - :q", None)
             for a in allocations],
            order_update,
        )
