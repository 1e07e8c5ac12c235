"""Stock per SKU per warehouse, the queue of orders waiting for incoming goods, and the movement log.

A stock row keeps ``available`` (= on_hand - reserved) and ``promisable`` (= incoming_total - backordered) stored, so
conditional writes guard them: stock is never reserved beyond what is on hand, and never promised beyond what is
coming. Every change to a row is written in the same transaction as its movement (``StockMovements``: one item per
row and change), so the movements replay to the counters. Orders waiting for goods are items of ``Backorders``
(``sku#warehouse``, sorted by placement), served first come, first served.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import from_item, is_conditional_failure, to_item
from oms.adapters.pagination import CursorCodec
from oms.domain.catalog import Movement, WarehouseStock
from oms.domain.errors import Conflict
from oms.domain.order import iso
from oms.domain.stock import IncomingBatch, MovementKind, Position, sorted_incoming

#: How many receipts' Idempotency-Keys a stock row remembers (a repeat comes within minutes, not hundreds later).
RECEIPT_KEYS_KEPT = 100
#: The counters of a stock row; a movement carries a change of each.
COUNTERS = ("on_hand", "reserved", "backordered", "incoming")


class StockContention(Exception):
    """A condition other than the order's failed inside a transaction (someone else took the units; ``failed``
    holds the positions of the items whose condition failed)."""

    def __init__(self, failed: list[int] | None = None) -> None:
        super().__init__("stock changed concurrently")
        self.failed = failed or []


class OrderChangeRejected(Exception):
    """The order's part of a stock transaction failed its condition (already done or wrong state)."""


def _stock(row: dict[str, Any]) -> WarehouseStock:
    incoming = cast(list[IncomingBatch], row.get("incoming", []))
    return {
        "warehouse": row["warehouse"], "on_hand": int(row.get("on_hand", 0)), "reserved": int(row.get("reserved", 0)),
        "available": int(row.get("available", 0)), "backordered": int(row.get("backordered", 0)),
        "incoming": incoming, "incoming_total": int(row.get("incoming_total", 0)),
    }


def _key(sku: str, warehouse: str) -> dict[str, Any]:
    return {"sku": {"S": sku}, "warehouse": {"S": warehouse}}


def queue_key(sku: str, warehouse: str) -> str:
    return f"{sku}#{warehouse}"


class StockRow:
    """One warehouse's row as last read, with the version that guards edits of its incoming list."""

    def __init__(self, sku: str, warehouse: str, item: dict[str, Any] | None) -> None:
        self.sku = sku
        self.warehouse = warehouse
        self.exists = item is not None
        data = item or {"warehouse": warehouse}
        self.stock = _stock(data)
        self.version = int(data.get("version", 0))
        self.receipt_keys: list[str] = list(data.get("receipt_keys", []))


class InventoryRepository:
    def __init__(self, table_name: str, movements_table: str | None = None, backorders_table: str | None = None,
                 cursors: CursorCodec | None = None) -> None:
        self.table = table_name
        self.movements_table = movements_table
        self.backorders_table = backorders_table
        self.cursors = cursors
        self.ddb = client("dynamodb")

    # -- reading -----------------------------------------------------------------------------------------------

    def row(self, sku: str, warehouse: str) -> StockRow:
        response = self.ddb.get_item(TableName=self.table, Key=_key(sku, warehouse), ConsistentRead=True)
        return StockRow(sku, warehouse, from_item(response["Item"]) if "Item" in response else None)

    def levels(self, sku: str) -> list[WarehouseStock]:
        response = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="sku = :sku",
            ExpressionAttributeValues={":sku": {"S": sku}},
            ConsistentRead=True,
        )
        return [_stock(from_item(item)) for item in response.get("Items", [])]

    def positions(self, skus: list[str]) -> dict[str, dict[str, Position]]:
        """``{sku: {warehouse: Position}}`` for allocation."""
        positions: dict[str, dict[str, Position]] = {}
        for sku in skus:
            positions[sku] = {}
            for row in self.levels(sku):
                batches = sorted_incoming(row["incoming"])
                positions[sku][row["warehouse"]] = Position(
                    available=row["available"], promisable=max(0, row["incoming_total"] - row["backordered"]),
                    backordered=row["backordered"], incoming=tuple((b["quantity"], b["eta"]) for b in batches))
        return positions

    def waiting(self, sku: str, warehouse: str) -> list[dict[str, Any]]:
        """Orders waiting for goods at ``warehouse``, oldest first."""
        assert self.backorders_table, "backorders table not configured"
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "TableName": self.backorders_table, "KeyConditionExpression": "queue = :q",
            "ExpressionAttributeValues": {":q": {"S": queue_key(sku, warehouse)}}, "ConsistentRead": True,
        }
        while True:
            response = self.ddb.query(**params)
            items.extend(from_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def movements(self, sku: str, limit: int, cursor: str | None) -> tuple[list[Movement], str | None]:
        """A SKU's movements, newest first, a page at a time (signed cursor)."""
        assert self.movements_table and self.cursors, "movements table and cursor codec not configured"
        listing = f"movements:{sku}"
        params: dict[str, Any] = {
            "TableName": self.movements_table, "KeyConditionExpression": "sku = :sku",
            "ExpressionAttributeValues": {":sku": {"S": sku}}, "ScanIndexForward": False, "Limit": limit,
        }
        start = self.cursors.decode(listing, cursor)
        if start:
            params["ExclusiveStartKey"] = {"sku": {"S": sku}, "movement_id": {"S": start}}
        response = self.ddb.query(**params)
        last = response.get("LastEvaluatedKey")
        page = [cast(Movement, {k: v for k, v in from_item(item).items() if k != "sku"})
                for item in response.get("Items", [])]
        return page, self.cursors.encode(listing, last["movement_id"]["S"]) if last else None

    def all_movements(self, sku: str) -> Iterator[Movement]:
        """Every movement of a SKU, oldest first (the invariant check replays them)."""
        assert self.movements_table
        params: dict[str, Any] = {"TableName": self.movements_table, "KeyConditionExpression": "sku = :sku",
                                  "ExpressionAttributeValues": {":sku": {"S": sku}}, "ConsistentRead": True}
        while True:
            response = self.ddb.query(**params)
            for item in response.get("Items", []):
                yield cast(Movement, from_item(item))
            if "LastEvaluatedKey" not in response:
                return
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- writing: ops ----------------------------------------------------------------------------------------

    def set_stock(self, current: StockRow, on_hand: int, incoming: list[IncomingBatch] | None, by: str) -> None:
        """Set the counted stock (and, when given, the expected arrivals) of a row read as ``current``. Refuses to
        go below what is reserved or promised (``Conflict``); a concurrent edit is ``StockContention``."""
        stock = current.stock
        if on_hand < stock["reserved"]:
            raise Conflict(f"on_hand: {on_hand} is below the {stock['reserved']} units reserved at "
                           f"{current.warehouse}")
        batches = sorted_incoming(incoming) if incoming is not None else stock["incoming"]
        total = sum(b["quantity"] for b in batches)
        if total < stock["backordered"]:
            raise Conflict(f"incoming: {total} units are fewer than the {stock['backordered']} already promised to "
                           f"waiting orders at {current.warehouse}")
        deltas = {"on_hand": on_hand - stock["on_hand"], "incoming": total - stock["incoming_total"]}
        kind: MovementKind = "COUNT" if deltas["on_hand"] or incoming is None else "INCOMING"
        items = [self._replace_row(current, on_hand=on_hand, incoming=batches),
                 self._movement(current.sku, current.warehouse, kind, deltas, by=by)]
        if deltas["on_hand"] and incoming is not None and deltas["incoming"]:
            items[1] = self._movement(current.sku, current.warehouse, "COUNT", {"on_hand": deltas["on_hand"]}, by=by)
            items.append(self._movement(current.sku, current.warehouse, "INCOMING",
                                        {"incoming": deltas["incoming"]}, by=by))
        self._write(items)

    def receive(self, current: StockRow, quantity: int, incoming_left: list[IncomingBatch], by: str,
                receipt_key: str) -> None:
        """Goods arrived: ``on_hand`` grows by ``quantity`` and the incoming batches become ``incoming_left``. The
        receipt's key joins the row's last keys (``receipt_keys``), so a repeated receipt is recognised."""
        stock = current.stock
        total = sum(b["quantity"] for b in incoming_left)
        row = self._replace_row(current, on_hand=stock["on_hand"] + quantity, incoming=incoming_left)
        row["Update"]["UpdateExpression"] += ", receipt_keys = :keys"
        row["Update"]["ExpressionAttributeValues"][":keys"] = to_item(
            {"v": [*current.receipt_keys, receipt_key][-RECEIPT_KEYS_KEPT:]})["v"]
        self._write([
            row,
            self._movement(current.sku, current.warehouse, "RECEIPT",
                           {"on_hand": quantity, "incoming": total - stock["incoming_total"]}, by=by),
        ])

    def returned(self, sku: str, warehouse: str, resellable: int, damaged: int, *, order_id: str,
                 by: str) -> list[dict[str, Any]]:
        """The transaction items of units coming back from a customer: resellable ones onto the shelf (``RETURN``),
        damaged ones written off (``WRITE_OFF``, no counter moves). The row's version moves, so a concurrent count
        re-reads it."""
        items: list[dict[str, Any]] = []
        if resellable:
            items.append({"Update": {
                "TableName": self.table, "Key": _key(sku, warehouse),
                "UpdateExpression": (
                    "SET on_hand = if_not_exists(on_hand, :zero) + :q, "
                    "available = if_not_exists(available, :zero) + :q, "
                    "reserved = if_not_exists(reserved, :zero), backordered = if_not_exists(backordered, :zero), "
                    "incoming = if_not_exists(incoming, :none), incoming_total = if_not_exists(incoming_total, :zero), "
                    "promisable = if_not_exists(promisable, :zero), version = if_not_exists(version, :zero) + :one"),
                "ExpressionAttributeValues": {":q": {"N": str(resellable)}, ":zero": {"N": "0"}, ":one": {"N": "1"},
                                              ":none": {"L": []}},
            }})
            items.append(self._movement(sku, warehouse, "RETURN", {"on_hand": resellable}, order_id=order_id, by=by))
        if damaged:
            items.append(self._movement(sku, warehouse, "WRITE_OFF", {"written_off": damaged}, order_id=order_id,
                                        by=by))
        return items

    def _replace_row(self, current: StockRow, *, on_hand: int, incoming: list[IncomingBatch]) -> dict[str, Any]:
        total = sum(b["quantity"] for b in incoming)
        values = {":n": to_item({"v": on_hand})["v"], ":inc": to_item({"v": list(incoming)})["v"],
                  ":total": {"N": str(total)}, ":zero": {"N": "0"}, ":one": {"N": "1"},
                  ":version": {"N": str(current.version)}}
        update = {
            "TableName": self.table, "Key": _key(current.sku, current.warehouse),
            "UpdateExpression": (
                "SET on_hand = :n, reserved = if_not_exists(reserved, :zero), "
                "available = :n - if_not_exists(reserved, :zero), incoming = :inc, incoming_total = :total, "
                "backordered = if_not_exists(backordered, :zero), "
                "promisable = :total - if_not_exists(backordered, :zero), "
                "version = if_not_exists(version, :zero) + :one"),
            "ConditionExpression": ("attribute_not_exists(sku) OR version = :version" if not current.exists
                                    else "version = :version"),
            "ExpressionAttributeValues": values,
        }
        if current.exists and current.version == 0:
            update["ConditionExpression"] = "attribute_not_exists(version) OR version = :version"
        return {"Update": update}

    def set_low_alerted(self, sku: str, warehouse: str, below: int) -> bool:
        """Mark the row as alerted while its available units are below ``below``; True only for the one write that
        marked it (so a crossing alerts once, however many orders cross it together)."""
        try:
            self.ddb.update_item(
                TableName=self.table, Key=_key(sku, warehouse), UpdateExpression="SET low_alerted = :t",
                ConditionExpression="attribute_exists(sku) AND available < :below AND "
                                    "(attribute_not_exists(low_alerted) OR low_alerted = :f)",
                ExpressionAttributeValues={":t": {"BOOL": True}, ":f": {"BOOL": False}, ":below": {"N": str(below)}})
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def clear_low_alerted(self, sku: str, warehouse: str, below: int) -> None:
        """Stock is back at or above the threshold: the next crossing alerts again."""
        try:
            self.ddb.update_item(
                TableName=self.table, Key=_key(sku, warehouse), UpdateExpression="SET low_alerted = :f",
                ConditionExpression="available >= :below AND low_alerted = :t",
                ExpressionAttributeValues={":t": {"BOOL": True}, ":f": {"BOOL": False}, ":below": {"N": str(below)}})
        except ClientError as error:
            if not is_conditional_failure(error):
                raise

    # -- writing: orders -------------------------------------------------------------------------------------

    def reserve(self, order_id: str, created_key: str, lines: list[dict[str, Any]],
                order_update: dict[str, Any]) -> None:
        """Hold the shelf units and promise the backordered ones of every allocation, and mark the order, all or
        nothing. ``lines``: ``{sku, warehouse, held, backordered, eta, first_eta}``."""
        items: list[dict[str, Any]] = []
        for a in lines:
            items.append(self._moves(a, held=a["held"], promised=a["backordered"]))
            if a["held"]:
                items.append(self._movement(a["sku"], a["warehouse"], "RESERVE", {"reserved": a["held"]},
                                            order_id=order_id))
            if a["backordered"]:
                items.append(self._movement(a["sku"], a["warehouse"], "BACKORDER",
                                            {"backordered": a["backordered"]}, order_id=order_id))
                items.append({"Put": {"TableName": self.backorders_table, "Item": to_item({
                    "queue": queue_key(a["sku"], a["warehouse"]), "created_key": created_key, "order_id": order_id,
                    "sku": a["sku"], "warehouse": a["warehouse"], "quantity": a["backordered"], "eta": a["eta"],
                    "first_eta": a["first_eta"]})}})
        self._transact(items, order_update)

    def release(self, order_id: str, created_key: str, lines: list[dict[str, Any]],
                order_update: dict[str, Any]) -> None:
        """Give held units back and withdraw promises (the order did not go ahead). ``lines``: ``{sku, warehouse,
        held, backordered}`` still outstanding."""
        items: list[dict[str, Any]] = []
        for a in lines:
            if not a["held"] and not a["backordered"]:
                continue
            items.append(self._moves(a, held=-a["held"], promised=-a["backordered"]))
            if a["held"]:
                items.append(self._movement(a["sku"], a["warehouse"], "RELEASE", {"reserved": -a["held"]},
                                            order_id=order_id))
            if a["backordered"]:
                items.append(self._movement(a["sku"], a["warehouse"], "RELEASE",
                                            {"backordered": -a["backordered"]}, order_id=order_id))
                items.append({"Delete": {"TableName": self.backorders_table, "Key": {
                    "queue": {"S": queue_key(a["sku"], a["warehouse"])}, "created_key": {"S": created_key}}}})
        self._transact(items, order_update)

    def commit(self, order_id: str, units: dict[tuple[str, str], int], order_update: dict[str, Any],
               extra: list[dict[str, Any]] | None = None, by: str = "workflow") -> None:
        """Parcels left: held units leave the building (``units`` by (sku, warehouse))."""
        items: list[dict[str, Any]] = []
        for (sku, warehouse), quantity in sorted(units.items()):
            a = {"sku": sku, "warehouse": warehouse}
            items.append(self._counter(a, "SET reserved = reserved - :q, on_hand = on_hand - :q", None, quantity))
            items.append(self._movement(sku, warehouse, "COMMIT", {"on_hand": -quantity, "reserved": -quantity},
                                        order_id=order_id, by=by))
        self._transact([*items, *(extra or [])], order_update)

    def fill(self, waiting: dict[str, Any], quantity: int, order_update: dict[str, Any]) -> None:
        """Turn ``quantity`` promised units of a waiting order into held ones (its goods arrived)."""
        a = {"sku": waiting["sku"], "warehouse": waiting["warehouse"]}
        key = {"queue": {"S": queue_key(a["sku"], a["warehouse"])}, "created_key": {"S": waiting["created_key"]}}
        condition = {":old": {"N": str(waiting["quantity"])}}
        if quantity == waiting["quantity"]:
            queue_item = {"Delete": {"TableName": self.backorders_table, "Key": key,
                                     "ConditionExpression": "quantity = :old", "ExpressionAttributeValues": condition}}
        else:
            left = {":new": {"N": str(waiting["quantity"] - quantity)}}
            queue_item = {"Update": {"TableName": self.backorders_table, "Key": key,
                                     "UpdateExpression": "SET quantity = :new",
                                     "ConditionExpression": "quantity = :old",
                                     "ExpressionAttributeValues": {**condition, **left}}}
        self._transact([
            self._counter(a, "SET backordered = backordered - :q, promisable = promisable + :q, "
                             "reserved = reserved + :q, available = available - :q", "available >= :q", quantity),
            self._movement(a["sku"], a["warehouse"], "BACKORDER_FILLED",
                           {"backordered": -quantity, "reserved": quantity}, order_id=waiting["order_id"],
                           by="receipt"),
            queue_item,
        ], order_update)

    def set_waiting_eta(self, waiting: dict[str, Any], eta: str) -> None:
        self.ddb.update_item(
            TableName=self.backorders_table,
            Key={"queue": {"S": queue_key(waiting["sku"], waiting["warehouse"])},
                 "created_key": {"S": waiting["created_key"]}},
            UpdateExpression="SET eta = :eta", ConditionExpression="attribute_exists(queue)",
            ExpressionAttributeValues={":eta": {"S": eta}})

    # -- building blocks -------------------------------------------------------------------------------------

    def _moves(self, a: dict[str, Any], *, held: int, promised: int) -> dict[str, Any]:
        """One update of a stock row: ``held`` units more reserved (fewer available) and ``promised`` units more
        backordered (fewer promisable); a positive change is conditional on what it takes being there."""
        values = {":h": {"N": str(held)}, ":b": {"N": str(promised)}, ":zero": {"N": "0"}}
        conditions = []
        if held > 0:
            conditions.append("available >= :h")
        if promised > 0:
            conditions.append("promisable >= :b")
        update: dict[str, Any] = {
            "TableName": self.table, "Key": _key(a["sku"], a["warehouse"]),
            "UpdateExpression": (
                "SET reserved = if_not_exists(reserved, :zero) + :h, available = if_not_exists(available, :zero) - :h, "
                "backordered = if_not_exists(backordered, :zero) + :b, "
                "promisable = if_not_exists(promisable, :zero) - :b"),
            "ExpressionAttributeValues": values,
        }
        if conditions:
            update["ConditionExpression"] = " AND ".join(conditions)
        return {"Update": update}

    def _counter(self, a: dict[str, Any], expression: str, condition: str | None, quantity: int) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table, "Key": _key(a["sku"], a["warehouse"]), "UpdateExpression": expression,
            "ExpressionAttributeValues": {":q": {"N": str(quantity)}},
        }
        if condition:
            update["ConditionExpression"] = condition
        return {"Update": update}

    def _movement(self, sku: str, warehouse: str, kind: MovementKind, deltas: dict[str, int], *,
                  order_id: str | None = None, by: str = "workflow") -> dict[str, Any]:
        assert self.movements_table, "movements table not configured"
        at = iso(datetime.now(UTC))
        movement = {"sku": sku, "movement_id": f"{at}#{uuid.uuid4().hex[:12]}", "at": at, "warehouse": warehouse,
                    "kind": kind, "changes": {k: v for k, v in deltas.items() if v}, "order_id": order_id, "by": by}
        return {"Put": {"TableName": self.movements_table, "Item": to_item(movement)}}

    def _write(self, items: list[dict[str, Any]]) -> None:
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as error:
            if is_conditional_failure(error):
                raise StockContention() from error
            raise

    def _transact(self, stock_items: list[dict[str, Any]], order_update: dict[str, Any]) -> None:
        try:
            self.ddb.transact_write_items(TransactItems=[*stock_items, order_update])
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if reasons and reasons[-1] == "ConditionalCheckFailed":
                raise OrderChangeRejected() from error
            failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
            if failed:
                raise StockContention(failed) from error
            raise
