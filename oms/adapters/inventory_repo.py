"""Stock per SKU per warehouse, the queue of orders waiting for incoming goods, and the movement log.

A stock row keeps ``available`` (= on_hand - reserved) and ``promisable`` (= incoming_total - backordered) stored, so
conditional writes guard them: stock is never reserved beyond what is on hand, and never promised beyond what is
coming. Every change to a row is written in the same transaction as its movement (``StockMovements``: one item per
row and change), so the movements replay to the counters. Orders waiting for goods are items of ``Backorders``
(``sku#warehouse``, sorted by placement), served first come, first served.

**Shards** (a hot SKU, ``oms.domain.stock``): the stock of a (sku, warehouse) may be split into N shards. Shard 0 is
the row above (the header: it also keeps ``shards`` = N, ``shard_span`` = the most shards it ever had, so retired
shards that still hold reserved units are read); shard n >= 1 is the item ``(<sku>#<n>, warehouse)`` with its own
``on_hand`` / ``reserved`` / ``available``, on a partition of its own. A reservation on sharded stock is ONE
TransactWriteItems, as for an unsharded row: each shard's conditional update (``available >= :h``), its movement
(under the shard's own key in ``StockMovements``), and the order's conditional update that records the
reservation, shards included. The order's update is the reservation record: it is written in the same transaction
and only if the order has none (or, for release and commit, only while it is HELD and unchanged), so a retried step
(after a crash or a timeout at any point) either finds the reservation and does nothing, or finds none and no
shard counter moved; no unit is ever taken twice or lost. Such a transaction conflicts only with writers of the same
shard (another buyer there) or of the order itself; a shard found dry or busy is reported (``ShardContention``) and
the caller probes the next shard. Movements of shard n >= 1 are under ``<sku>#<n>``, so movements replay to the
counters per shard; the SKU's movement listing is shard 0's (counts, receipts, returns, backorders, rebalancing).
Sharded rows are listed in a small registry (``#sharded`` items of the same table) for the rebalancer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import batch_get, from_item, is_conditional_failure, to_item
from oms.adapters.pagination import CursorCodec
from oms.domain.catalog import Movement, WarehouseStock
from oms.domain.errors import Conflict
from oms.domain.order import iso
from oms.domain.stock import (
    SHARDED_READ_SECONDS,
    IncomingBatch,
    MovementKind,
    Position,
    shard_key,
    sorted_incoming,
)

#: How many receipts' Idempotency-Keys a stock row remembers (a repeat comes within minutes, not hundreds later).
RECEIPT_KEYS_KEPT = 100
#: The counters of a stock row; a movement carries a change of each.
COUNTERS = ("on_hand", "reserved", "backordered", "incoming")


_SHARDED_READS: dict[str, tuple[float, list[dict[str, Any]], dict[str, dict[int, dict[str, Any]]]]] = {}


class StockContention(Exception):
    """A condition other than the order's failed inside a transaction (someone else took the units; ``failed``
    holds the positions of the items whose condition failed)."""

    def __init__(self, failed: list[int] | None = None) -> None:
        super().__init__("stock changed concurrently")
        self.failed = failed or []


class ShardContention(StockContention):
    """Shards of a sharded row were dry (their condition failed) or busy (a concurrent transaction on them):
    ``shards`` = {(sku, warehouse, shard)}. The caller tries other shards."""

    def __init__(self, shards: set[tuple[str, str, int]], failed: list[int] | None = None) -> None:
        super().__init__(failed)
        self.shards = shards


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


#: The partition key of the registry of sharded rows (a SKU cannot contain ``#``).
REGISTRY = "#sharded"
#: At most this many shard updates per transaction when stock is redistributed (TransactWriteItems takes 100 items:
#: each shard's update and movement, and the header's).
SHARDS_PER_TRANSACTION = 40


def _shard_stock(item: dict[str, Any], shard: int) -> dict[str, int]:
    return {"shard": shard, "on_hand": int(item.get("on_hand", 0)), "reserved": int(item.get("reserved", 0)),
            "available": int(item.get("available", 0))}


class ShardedRow:
    """A warehouse's stock of a SKU with its shards, as last read: ``shards[n]`` = {shard, on_hand, reserved,
    available} (shard 0 = the header's own counters)."""

    def __init__(self, header: StockRow, item: dict[str, Any], shard_items: dict[int, dict[str, Any]]) -> None:
        self.header = header
        self.count = int(item.get("shards", 1))
        self.span = max(int(item.get("shard_span", 1)), self.count, 1)
        self.shards = [_shard_stock(item, 0)] + [_shard_stock(shard_items.get(n, {}), n)
                                                 for n in range(1, self.span)]

    @property
    def total(self) -> dict[str, int]:
        return {name: sum(s[name] for s in self.shards) for name in ("on_hand", "reserved", "available")}


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
        self.shard_count = int(data.get("shards", 1))  # shards taking new reservations (1: unsharded)
        self.shard_span = max(int(data.get("shard_span", 1)), self.shard_count)  # shards ever used


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

    def levels(self, sku: str, consistent_shards: bool = True) -> list[WarehouseStock]:
        """Each warehouse's stock of ``sku``; a sharded warehouse's counters are its shards' totals, with
        ``shards`` (N) and ``by_shard`` (each shard's counters) added."""
        return [stock for stock, _ in self._levels(sku, consistent_shards)]

    def _levels(self, sku: str, consistent_shards: bool) -> list[tuple[WarehouseStock, ShardedRow | None]]:
        cached = _SHARDED_READS.get(sku)
        if not consistent_shards and cached and time.monotonic() - cached[0] < SHARDED_READ_SECONDS:
            items, shard_items = cached[1], cached[2]
        else:
            response = self.ddb.query(
                TableName=self.table,
                KeyConditionExpression="sku = :sku",
                ExpressionAttributeValues={":sku": {"S": sku}},
                ConsistentRead=True,
            )
            items = [from_item(item) for item in response.get("Items", [])]
            sharded = [item for item in items if int(item.get("shard_span", 1)) > 1]
            shard_items = self._shard_items(sku, sharded, consistent_shards) if sharded else {}
            if sharded:  # a hot SKU: this container reads its shards at most once a second (see SHARDED_READ_SECONDS)
                _SHARDED_READS[sku] = (time.monotonic(), items, shard_items)
        found: list[tuple[WarehouseStock, ShardedRow | None]] = []
        for item in items:
            stock = _stock(item)
            if int(item.get("shard_span", 1)) <= 1:
                found.append((stock, None))
                continue
            row = ShardedRow(StockRow(sku, item["warehouse"], item), item, shard_items.get(item["warehouse"], {}))
            stock.update(row.total)  # type: ignore[typeddict-item]
            stock["shards"] = row.count
            stock["by_shard"] = row.shards  # type: ignore[typeddict-item]
            found.append((stock, row))
        return found

    def _shard_items(self, sku: str, headers: list[dict[str, Any]],
                     consistent: bool) -> dict[str, dict[int, dict[str, Any]]]:
        """The shard items (n >= 1) of sharded headers, by warehouse and shard (BatchGetItem, 100 keys a call)."""
        keys = [_key(shard_key(sku, n), h["warehouse"]) for h in headers
                for n in range(1, max(int(h.get("shard_span", 1)), int(h.get("shards", 1))))]
        found: dict[str, dict[int, dict[str, Any]]] = {}
        eventually = frozenset() if consistent else frozenset({self.table})
        read = batch_get(self.ddb, {self.table: keys}, eventually=eventually)
        for item in read[self.table]:
            found.setdefault(item["warehouse"], {})[int(item["sku"].rsplit("#", 1)[1])] = item
        return found

    def sharded(self, sku: str, warehouse: str) -> ShardedRow:
        """A warehouse's row with its shards (consistent reads)."""
        found = self._header_item(sku, warehouse)
        item = found or {"warehouse": warehouse}
        shard_items = self._shard_items(sku, [item], True).get(warehouse, {}) if found else {}
        return ShardedRow(StockRow(sku, warehouse, found), item, shard_items)

    def _header_item(self, sku: str, warehouse: str) -> dict[str, Any] | None:
        response = self.ddb.get_item(TableName=self.table, Key=_key(sku, warehouse), ConsistentRead=True)
        return from_item(response["Item"]) if "Item" in response else None

    def positions(self, skus: list[str], consistent_shards: bool = False) -> dict[str, dict[str, Position]]:
        """``{sku: {warehouse: Position}}`` for allocation (a sharded row: its totals, and each shard's available
        units; the shards are read eventually consistent unless ``consistent_shards``: their conditional writes
        decide)."""
        positions: dict[str, dict[str, Position]] = {}
        for sku in skus:
            positions[sku] = {}
            for row, sharded in self._levels(sku, consistent_shards):
                batches = sorted_incoming(row["incoming"])
                positions[sku][row["warehouse"]] = Position(
                    available=row["available"], promisable=max(0, row["incoming_total"] - row["backordered"]),
                    backordered=row["backordered"], incoming=tuple((b["quantity"], b["eta"]) for b in batches),
                    shards=tuple(s["available"] for s in sharded.shards) if sharded else (),
                    shard_count=sharded.count if sharded else 1)
        return positions

    def sharded_rows(self) -> list[tuple[str, str]]:
        """Every (sku, warehouse) that has or had shards (the registry; one Query)."""
        params: dict[str, Any] = {"TableName": self.table, "KeyConditionExpression": "sku = :r",
                                  "ExpressionAttributeValues": {":r": {"S": REGISTRY}}}
        rows: list[tuple[str, str]] = []
        while True:
            response = self.ddb.query(**params)
            for item in response.get("Items", []):
                plain = from_item(item)
                rows.append((plain["of_sku"], plain["of_warehouse"]))
            if "LastEvaluatedKey" not in response:
                return rows
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

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

    def set_sharded(self, current: ShardedRow, on_hand: int, incoming: list[IncomingBatch] | None,
                    shard_count: int, changes: list[int], by: str) -> None:
        """Count a sharded (or to be sharded) row: the warehouse's on-hand total becomes ``on_hand``, spread over
        ``shard_count`` shards by ``changes`` (each shard's on-hand change, ``oms.domain.stock.redistribute``).

        Every unit moves between the header and one shard (a ``REBALANCE`` movement on each side) and the count
        itself lands on the header (``COUNT``), so movements replay per shard. Up to ``SHARDS_PER_TRANSACTION``
        shards it is one transaction, guarded by the header's version; beyond, shards giving units go first, then
        the count, then shards receiving units, each transaction exact on its own (a crash in between leaves the
        units on the header, for the rebalancer). A shard whose units went meanwhile is ``StockContention``."""
        header = current.header
        stock = header.stock
        batches = sorted_incoming(incoming) if incoming is not None else stock["incoming"]
        total = sum(b["quantity"] for b in batches)
        if total < stock["backordered"]:
            raise Conflict(f"incoming: {total} units are fewer than the {stock['backordered']} already promised to "
                           f"waiting orders at {header.warehouse}")
        sku, warehouse = header.sku, header.warehouse
        counted = on_hand - current.total["on_hand"]
        span = max(current.span, shard_count, len(changes))
        moves = sorted(((n, d) for n, d in enumerate(changes) if n > 0 and d), key=lambda m: (m[1] > 0, m[0]))
        chunks = [moves[i:i + SHARDS_PER_TRANSACTION] for i in range(0, len(moves), SHARDS_PER_TRANSACTION)] or [[]]
        for index, chunk in enumerate(chunks):
            header_change = -sum(d for _, d in chunk)
            items: list[dict[str, Any]] = []
            if index == 0:
                values = {":c": {"N": str(counted + header_change)}, ":inc": to_item({"v": list(batches)})["v"],
                          ":total": {"N": str(total)}, ":zero": {"N": "0"}, ":one": {"N": "1"},
                          ":version": {"N": str(header.version)}, ":n": {"N": str(shard_count)},
                          ":span": {"N": str(span)}}
                update: dict[str, Any] = {
                    "TableName": self.table, "Key": _key(sku, warehouse),
                    "UpdateExpression": (
                        "SET on_hand = if_not_exists(on_hand, :zero) + :c, reserved = if_not_exists(reserved, :zero), "
                        "available = if_not_exists(available, :zero) + :c, incoming = :inc, incoming_total = :total, "
                        "backordered = if_not_exists(backordered, :zero), "
                        "promisable = :total - if_not_exists(backordered, :zero), "
                        "version = if_not_exists(version, :zero) + :one, shards = :n, shard_span = :span"),
                    "ConditionExpression": ("(attribute_not_exists(version) OR version = :version)"
                                            if header.version == 0 else "version = :version"),
                    "ExpressionAttributeValues": values,
                }
                if counted + header_change < 0:
                    update["ConditionExpression"] += " AND available >= :need"
                    values[":need"] = {"N": str(-(counted + header_change))}
                items.append({"Update": update})
                if counted or incoming is None or total != stock["incoming_total"]:
                    kind: MovementKind = "COUNT" if counted or incoming is None else "INCOMING"
                    deltas = {"on_hand": counted, "incoming": total - stock["incoming_total"]}
                    items.append(self._movement(sku, warehouse, kind, deltas, by=by))
                if span > 1:
                    items.append({"Put": {"TableName": self.table, "Item": to_item({
                        "sku": REGISTRY, "warehouse": f"{warehouse}#{sku}", "of_sku": sku,
                        "of_warehouse": warehouse})}})
            elif header_change:
                items.append(self._shift(sku, warehouse, 0, header_change))
            if header_change:
                items.append(self._movement(sku, warehouse, "REBALANCE", {"on_hand": header_change}, by=by))
            for shard, change in chunk:
                items.append(self._shift(sku, warehouse, shard, change))
                items.append(self._movement(shard_key(sku, shard), warehouse, "REBALANCE", {"on_hand": change},
                                            by=by))
            self._write(items)

    def rebalance(self, current: ShardedRow, moves: dict[int, int], by: str = "rebalancer") -> None:
        """Move available units between shards (``moves``: shard -> change, adding up to 0) in one transaction,
        each side conditional on the units being there, with a ``REBALANCE`` movement per shard.
        ``StockContention`` when a giving shard's units went meanwhile."""
        sku, warehouse = current.header.sku, current.header.warehouse
        assert sum(moves.values()) == 0, moves
        items: list[dict[str, Any]] = []
        for shard, change in sorted(moves.items()):
            items.append(self._shift(sku, warehouse, shard, change))
            items.append(self._movement(shard_key(sku, shard), warehouse, "REBALANCE", {"on_hand": change}, by=by))
        self._write(items)

    def _shift(self, sku: str, warehouse: str, shard: int, change: int) -> dict[str, Any]:
        """Units onto (``change`` > 0) or off (< 0, only if available) a shard's shelf."""
        update: dict[str, Any] = {
            "TableName": self.table, "Key": _key(shard_key(sku, shard), warehouse),
            "UpdateExpression": ("SET on_hand = if_not_exists(on_hand, :zero) + :c, "
                                 "available = if_not_exists(available, :zero) + :c, "
                                 "reserved = if_not_exists(reserved, :zero)"),
            "ExpressionAttributeValues": {":c": {"N": str(change)}, ":zero": {"N": "0"}},
        }
        if shard:
            update["UpdateExpression"] += ", shard_of = :of"
            update["ExpressionAttributeValues"][":of"] = {"S": sku}
        if change < 0:
            update["ConditionExpression"] = "available >= :need"
            update["ExpressionAttributeValues"][":need"] = {"N": str(-change)}
        return {"Update": update}

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

    def flag_low(self, sku: str, warehouse: str, low: bool) -> bool:
        """A sharded row's low-stock flag (its total is compared by the caller, not by a condition): True only for
        the one write that changed it."""
        try:
            self.ddb.update_item(
                TableName=self.table, Key=_key(sku, warehouse), UpdateExpression="SET low_alerted = :new",
                ConditionExpression="attribute_exists(sku) AND " + (
                    "(attribute_not_exists(low_alerted) OR low_alerted = :old)" if low else "low_alerted = :old"),
                ExpressionAttributeValues={":new": {"BOOL": low}, ":old": {"BOOL": not low}})
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    # -- writing: orders -------------------------------------------------------------------------------------

    def reserve(self, order_id: str, created_key: str, lines: list[dict[str, Any]],
                order_update: dict[str, Any]) -> None:
        """Hold the shelf units and promise the backordered ones of every allocation, and mark the order, all or
        nothing. ``lines``: ``{sku, warehouse, held, backordered, eta, first_eta}``, and for sharded stock
        ``shards`` = {shard: units held there} (the header is shard 0). A sharded line's dry or busy shard is
        ``ShardContention``."""
        items: list[dict[str, Any]] = []
        shard_at: dict[int, tuple[str, str, int]] = {}
        for a in lines:
            taken: dict[int, int] | None = a.get("shards")
            on_header = a["held"] if taken is None else taken.get(0, 0)
            if taken is None or on_header or a["backordered"]:
                if taken is not None and on_header:
                    shard_at[len(items)] = (a["sku"], a["warehouse"], 0)
                items.append(self._moves(a, held=on_header, promised=a["backordered"]))
            if on_header:
                items.append(self._movement(a["sku"], a["warehouse"], "RESERVE", {"reserved": on_header},
                                            order_id=order_id))
            for shard, units in sorted((taken or {}).items()):
                if shard and units:
                    shard_at[len(items)] = (a["sku"], a["warehouse"], shard)
                    items.append(self._shard_hold(a["sku"], a["warehouse"], shard, units))
                    items.append(self._movement(shard_key(a["sku"], shard), a["warehouse"], "RESERVE",
                                                {"reserved": units}, order_id=order_id))
            if a["backordered"]:
                items.append(self._movement(a["sku"], a["warehouse"], "BACKORDER",
                                            {"backordered": a["backordered"]}, order_id=order_id))
                items.append({"Put": {"TableName": self.backorders_table, "Item": to_item({
                    "queue": queue_key(a["sku"], a["warehouse"]), "created_key": created_key, "order_id": order_id,
                    "sku": a["sku"], "warehouse": a["warehouse"], "quantity": a["backordered"], "eta": a["eta"],
                    "first_eta": a["first_eta"]})}})
        self._transact(items, order_update, shard_at)

    def release(self, order_id: str, created_key: str, lines: list[dict[str, Any]],
                order_update: dict[str, Any]) -> None:
        """Give held units back and withdraw promises (the order did not go ahead). ``lines``: ``{sku, warehouse,
        held, backordered}`` still outstanding, and ``shards`` = {shard: units} when they are on shards."""
        items: list[dict[str, Any]] = []
        for a in lines:
            if not a["held"] and not a["backordered"]:
                continue
            taken: dict[int, int] | None = a.get("shards")
            on_header = a["held"] if taken is None else taken.get(0, 0)
            if taken is None or on_header or a["backordered"]:
                items.append(self._moves(a, held=-on_header, promised=-a["backordered"]))
            if on_header:
                items.append(self._movement(a["sku"], a["warehouse"], "RELEASE", {"reserved": -on_header},
                                            order_id=order_id))
            for shard, units in sorted((taken or {}).items()):
                if shard and units:
                    items.append(self._shard_hold(a["sku"], a["warehouse"], shard, -units))
                    items.append(self._movement(shard_key(a["sku"], shard), a["warehouse"], "RELEASE",
                                                {"reserved": -units}, order_id=order_id))
            if a["backordered"]:
                items.append(self._movement(a["sku"], a["warehouse"], "RELEASE",
                                            {"backordered": -a["backordered"]}, order_id=order_id))
                items.append({"Delete": {"TableName": self.backorders_table, "Key": {
                    "queue": {"S": queue_key(a["sku"], a["warehouse"])}, "created_key": {"S": created_key}}}})
        self._transact(items, order_update)

    def commit(self, order_id: str, units: dict[tuple[str, str], int], order_update: dict[str, Any],
               extra: list[dict[str, Any]] | None = None, by: str = "workflow",
               shards: dict[tuple[str, str], dict[int, int]] | None = None) -> None:
        """Parcels left: held units leave the building (``units`` by (sku, warehouse); ``shards``, for sharded
        stock, the shards they leave from by (sku, warehouse): ``oms.logic.inventory.shard_split``)."""
        items: list[dict[str, Any]] = []
        for (sku, warehouse), quantity in sorted(units.items()):
            split = (shards or {}).get((sku, warehouse)) or {0: quantity}
            assert sum(split.values()) == quantity, (split, quantity)
            for shard, q in sorted(split.items()):
                if not q:
                    continue
                a = {"sku": shard_key(sku, shard), "warehouse": warehouse}
                items.append(self._counter(a, "SET reserved = reserved - :q, on_hand = on_hand - :q", None, q))
                items.append(self._movement(shard_key(sku, shard), warehouse, "COMMIT",
                                            {"on_hand": -q, "reserved": -q}, order_id=order_id, by=by))
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

    def _shard_hold(self, sku: str, warehouse: str, shard: int, held: int) -> dict[str, Any]:
        """``held`` units more reserved on a shard (n >= 1), conditional on them being available there."""
        update: dict[str, Any] = {
            "TableName": self.table, "Key": _key(shard_key(sku, shard), warehouse),
            "UpdateExpression": "SET reserved = reserved + :h, available = available - :h",
            "ExpressionAttributeValues": {":h": {"N": str(held)}},
        }
        if held > 0:
            update["ConditionExpression"] = "available >= :h"
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

    def _transact(self, stock_items: list[dict[str, Any]], order_update: dict[str, Any],
                  shard_at: dict[int, tuple[str, str, int]] | None = None) -> None:
        """``shard_at``: the items that are shards of sharded stock (index -> (sku, warehouse, shard)); one of them
        dry (condition) or busy (``TransactionConflict``) is ``ShardContention``, to probe other shards."""
        try:
            self.ddb.transact_write_items(TransactItems=[*stock_items, order_update])
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if reasons and reasons[-1] == "ConditionalCheckFailed":
                raise OrderChangeRejected() from error
            failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
            if shard_at:
                hit = {shard_at[i] for i, code in enumerate(reasons)
                       if i in shard_at and code in ("ConditionalCheckFailed", "TransactionConflict")}
                others = [i for i, code in enumerate(reasons) if i not in shard_at and code not in (None, "None")]
                if hit and not others:
                    raise ShardContention(hit, failed) from error
            if failed:
                raise StockContention(failed) from error
            raise
