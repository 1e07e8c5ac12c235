"""Workflow steps of the inventory function: reserve (hold shelf units, promise incoming ones), wait for backordered
goods, release, commit. Each is idempotent: the order's ``reservation`` is written in the same transaction as the
stock rows, the movements and the waiting queue.

Sharded stock (a hot SKU, ``oms.adapters.inventory_repo``): a line's held units are taken from the shard the order's
id chooses, probing the next shards when one is dry or busy (never an error that cancels the order: after
``MAX_ATTEMPTS`` fresh reads it is a ``TransientError`` the workflow retries). The order's allocation records the
units it took per shard (``shards``), so its release and its parcels give back or ship exactly those units. The
``rebalance`` action (every minute) keeps the shards from running dry."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from oms.adapters.inventory_repo import InventoryRepository, OrderChangeRejected, ShardContention, StockContention
from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.workflow import Workflow
from oms.domain.delivery import expected_delivery
from oms.domain.errors import Conflict, OrderShipped, OutOfStock, StockArrived, TransientError
from oms.domain.order import Cancellation, Order, Reservation, ReservationState, iso, timeline_entry
from oms.domain.shipping import allocations, backordered_units, expected_ship_date, to_ship
from oms.domain.status import CUSTOMER_DETAIL, FulfillmentStatus, OrderStatus
from oms.domain.stock import (
    MAX_SHARDS,
    Allocation,
    Position,
    Warehouse,
    allocate,
    probe_order,
    rebalance_moves,
    shard_units,
    take_from_shards,
)
from oms.logic import backorders
from oms.logic.clock import now
from oms.logic.low_stock import LowStock
from oms.logic.waiting import raise_if_cancelled, unless_cancelled

HELD: ReservationState = "HELD"
RELEASED: ReservationState = "RELEASED"
COMMITTED: ReservationState = "COMMITTED"
MAX_ATTEMPTS = 5

StockResult = dict[str, Any]


def reserve(order_id: str, orders: OrdersRepository, inventory: InventoryRepository, warehouses: list[Warehouse],
            backorder_limit_days: int, low_stock: LowStock | None = None) -> StockResult:
    """Hold shelf units for every line and promise incoming goods for what the shelves lack (backorderable SKUs
    only), all or nothing. Raises OutOfStock when it cannot. A sharded line takes its units from the shards in the
    order's probe order (``oms.domain.stock.probe_order``); a dry or busy shard moves it to the next one."""
    order = orders.require(order_id)
    lines = [(line["sku"], line["quantity"]) for line in order["lines"]]
    skus = [sku for sku, _ in lines]
    for _ in range(MAX_ATTEMPTS):
        if "reservation" in order:
            return _result(order)
        positions = inventory.positions(skus)
        try:
            chosen = _allocate(order, lines, positions, warehouses)
        except OutOfStock:
            if not any(p.shards for by_wh in positions.values() for p in by_wh.values()):
                raise
            positions = inventory.positions(skus, consistent_shards=True)  # a stale shard must not refuse it
            chosen = _allocate(order, lines, positions, warehouses)
        first_eta = min((a.eta for a in chosen if a.backordered and a.eta), default=None)
        views = {(a.sku, a.warehouse): dict(enumerate(positions[a.sku][a.warehouse].shards)) for a in chosen
                 if _sharded(positions, a)}
        for _probe in range(MAX_SHARDS + 1):
            parts: list[dict[str, Any]] = [
                {"sku": a.sku, "warehouse": a.warehouse, "held": a.quantity - a.backordered,
                 "backordered": a.backordered, "eta": a.eta, "first_eta": first_eta} for a in chosen]
            if not _plan_shards(order_id, parts, views, positions):
                break  # the shards we know of cannot cover it any more: read them again
            reservation: Reservation = {"state": HELD, "allocations": [
                {"sku": a.sku, "warehouse": a.warehouse, "quantity": a.quantity, "backordered": a.backordered,
                 "eta": a.eta, "shipped": 0} for a in chosen]}
            for record, part in zip(reservation["allocations"], parts, strict=True):
                taken = {str(n): units for n, units in part.get("shards", {}).items() if n and units}
                if taken:
                    record["shards"] = taken
            change = _reserve_change(order, reservation, first_eta, backorder_limit_days)
            try:
                inventory.reserve(order_id, order["created_key"], parts, orders.transaction_item(order_id, change))
                if low_stock is not None:
                    low_stock.check({(a.sku, a.warehouse) for a in chosen
                                     if a.quantity > a.backordered and not _sharded(positions, a)},
                                    order.get("low_stock_thresholds", {}))
                return {"reservation": HELD, "backordered": first_eta is not None}
            except ShardContention as contention:
                for sku, warehouse, shard in contention.shards:
                    views.setdefault((sku, warehouse), {})[shard] = 0  # dry or busy: probe the next shard
            except StockContention:
                break  # another order took units between our read and write: re-read and re-allocate
            except OrderChangeRejected:
                order = orders.require(order_id)
                if "reservation" not in order:
                    raise Conflict(f"order {order_id} is {order['status']}; stock is not reserved") from None
                break
        order = orders.require(order_id)
    raise TransientError("stock changed repeatedly while reserving; retry")


def _allocate(order: Order, lines: list[tuple[str, int]], positions: dict[str, dict[str, Position]],
              warehouses: list[Warehouse]) -> list[Allocation]:
    return allocate(lines, positions, warehouses, country=order["shipping_address"]["country"],
                    region=order["shipping_address"].get("region"),
                    backorderable=frozenset(order.get("backorderable_skus", [])),
                    express=order["shipping_method"] == "express")


def _sharded(positions: dict[str, dict[str, Position]], a: Allocation) -> bool:
    position = positions.get(a.sku, {}).get(a.warehouse)
    return position is not None and bool(position.shards)


def _plan_shards(order_id: str, parts: list[dict[str, Any]], views: dict[tuple[str, str], dict[int, int]],
                 positions: dict[str, dict[str, Position]]) -> bool:
    """Set ``shards`` (shard -> units) on each sharded part from what we believe each shard has; False when they
    no longer cover a part."""
    for part in parts:
        view = views.get((part["sku"], part["warehouse"]))
        if view is None or not part["held"]:
            continue
        position = positions[part["sku"]][part["warehouse"]]
        probe = probe_order(order_id, position.shard_count)
        retired = list(range(max(position.shard_count, 1), len(position.shards)))  # units released back there
        order = [*probe[:-1], *retired, 0] if position.shard_count > 1 else [0, *retired]
        taken = take_from_shards(part["held"], view, order)
        if taken is None:
            return False
        part["shards"] = taken
    return True


def _reserve_change(order: Order, reservation: Reservation, first_eta: str | None, limit_days: int) -> Change:
    sets: dict[str, Any] = {"reservation": reservation}
    events = [timeline_entry(now(), "stock_reserved", "Your items are reserved.")]
    if first_eta is not None:
        sets.update(_backorder_plan(order, reservation, first_eta, limit_days))
        events = [timeline_entry(now(), "stock_backordered",
                                 "Some items are on backorder; expected to ship "
                                 f"{sets['expected_ship_date']}.")]
        del sets["expected_ship_date"]
    return Change(
        fulfillment_status=FulfillmentStatus.RESERVED,
        sets=sets,
        absent=["reservation"],
        # ON_HOLD: the step is retried after a technical hold (see oms.contract).
        expect_in={"status": [OrderStatus.PENDING.value, OrderStatus.ON_HOLD.value,
                              OrderStatus.BACKORDERED.value]},
        events=events,
    )


def shard_split(order: Order | dict[str, Any], units: dict[tuple[str, str], int]
                ) -> dict[tuple[str, str], dict[int, int]]:
    """The shards the next ``units`` of each (sku, warehouse) ship from: parcels ship from the front of each
    allocation's layout (``oms.domain.stock.shard_layout``). Empty for unsharded allocations."""
    split: dict[tuple[str, str], dict[int, int]] = {}
    for a in allocations(order):
        key = (a["sku"], a["warehouse"])
        if not a.get("shards") or not units.get(key):
            continue
        held = a["quantity"] - a["backordered"]
        split[key] = shard_units(_taken(a), held, a["shipped"], a["shipped"] + units[key])
    return split


def _taken(a: dict[str, Any]) -> dict[int, int]:
    return {int(shard): int(units) for shard, units in (a.get("shards") or {}).items()}


def _result(order: Order) -> StockResult:
    return {"reservation": order["reservation"]["state"], "backordered": backordered_units(order) > 0}


def _backorder_plan(order: Order, reservation: Reservation, first_eta: str, limit_days: int) -> dict[str, Any]:
    """The promise: the delivery window counted from the last expected ship date, and the deadline after which the
    order is cancelled if the goods have not come (``limit_days`` past the first ETA)."""
    ship = expected_ship_date({"lines": order["lines"], "reservation": reservation}) or first_eta
    window = expected_delivery(datetime.combine(date.fromisoformat(ship), time(9)), order["shipping_method"])
    deadline = datetime.combine(date.fromisoformat(first_eta), time(0)) + timedelta(days=limit_days)
    return {"expected_delivery": {"earliest": window.earliest.isoformat(), "latest": window.latest.isoformat()},
            "backorder": {"first_eta": first_eta, "deadline": deadline.isoformat() + "Z"},
            "expected_ship_date": ship}


def await_stock(order_id: str, task_token: str, orders: OrdersRepository, queue: NotificationQueue) -> StockResult:
    """Wait (task token) until the backordered goods have arrived: ``BACKORDERED`` with the token stored, and the
    customer told the date. When nothing is missing any more the step ends with ``StockArrived`` (the workflow goes
    on to fulfilment). The token is
    written only if the order did not change since it was read, so a receipt that fills the order meanwhile is
    never missed (it either finds the token, or this step finds the order filled)."""
    for _ in range(MAX_ATTEMPTS):
        order = orders.require(order_id)
        raise_if_cancelled(order)
        if backordered_units(order) == 0:
            raise StockArrived(f"order {order_id} has every item on the shelf; nothing to wait for")
        first_wait = order["status"] != OrderStatus.BACKORDERED and "stock_task_token" not in order
        change = unless_cancelled(Change(
            status=OrderStatus.BACKORDERED if order["status"] != OrderStatus.BACKORDERED else None,
            status_detail=CUSTOMER_DETAIL[OrderStatus.BACKORDERED],
            sets={"stock_task_token": task_token},
            expect={"updated_at": order["updated_at"]},
            events=[timeline_entry(now(), "backordered",
                                   f"Waiting for backordered items, expected to ship {expected_ship_date(order)}.")]
            if first_wait else [],
        ))
        try:
            orders.apply(order_id, change)
        except TransitionRejected as rejected:
            raise_if_cancelled(rejected.order)
            continue
        if first_wait:
            queue.publish(order_id, "order_backordered")
        return {"backordered": True}
    raise TransientError("the order changed repeatedly while it was put to wait for stock; retry")


def release(order_id: str, orders: OrdersRepository, inventory: InventoryRepository,
            queue: NotificationQueue | None = None, workflow: Workflow | None = None) -> StockResult:
    """Compensation: give held stock back and withdraw the order's promises. No-op when nothing is held. Units that
    go back on a shelf where orders wait for goods go to them first (``workflow`` resumes those it fills). Of a
    partly shipped order (its wait for the rest timed out) only what has not shipped is cancelled, and the workflow
    goes on with the parcels that left (``OrderShipped``)."""
    order = orders.require(order_id)
    reservation = order.get("reservation")
    if reservation is None or reservation["state"] != HELD:
        return {"reservation": reservation["state"] if reservation else None}
    if order["fulfillment_status"] == FulfillmentStatus.PARTIALLY_SHIPPED:
        cancelled: Cancellation = {"reason": "fulfillment_timeout", "by": "system", "at": iso(now()), "fee": 0,
                                   "note": "The rest of the order was not shipped in time."}
        if cancel_unshipped(order_id, cancelled, orders, inventory) and queue is not None:
            queue.publish(order_id, "items_cancelled")
        raise OrderShipped(f"order {order_id} partly shipped: the rest was cancelled, the parcels go on")
    parts = _outstanding(order)
    change = Change(
        fulfillment_status=FulfillmentStatus.RELEASED,
        sets={"reservation.state": RELEASED},
        expect={"reservation.state": HELD, "updated_at": order["updated_at"]},
        removes=["stock_task_token"],
        events=[timeline_entry(now(), "stock_released", "Reserved items were released.")],
    )
    try:
        inventory.release(order_id, order["created_key"], parts, orders.transaction_item(order_id, change))
    except OrderChangeRejected:
        current = orders.require(order_id)
        if current["fulfillment_status"] in (FulfillmentStatus.SHIPPED, FulfillmentStatus.PARTIALLY_SHIPPED):
            # The parcel was recorded before the compensation began: the shipment wins; nothing is undone.
            raise OrderShipped(f"order {order_id} shipped before it could be compensated") from None
        if current.get("reservation", {}).get("state") == HELD:
            raise TransientError(f"order {order_id} changed while its stock was released; retry") from None
        return {"reservation": RELEASED}
    if workflow is not None:
        for part in parts:
            if part["held"]:
                backorders.serve(part["sku"], part["warehouse"], orders, inventory, workflow)
    return {"reservation": RELEASED}


def commit(order_id: str, orders: OrdersRepository, inventory: InventoryRepository) -> StockResult:
    """Every parcel has left: units still held for the order leave on-hand stock (each shipment commits its own
    units when it is recorded, so this commits only what an older order held), and the reservation ends."""
    order = orders.require(order_id)
    reservation = order.get("reservation")
    if reservation is None or reservation["state"] != HELD:
        return {"reservation": reservation["state"] if reservation else None}
    left = to_ship(order)
    change = Change(sets={"reservation.state": COMMITTED},
                    expect={"reservation.state": HELD, "updated_at": order["updated_at"]})
    if left:
        change.sets["reservation.allocations"] = [{**a, "shipped": a["quantity"] - a["backordered"]}
                                                  for a in allocations(order)]
    try:
        inventory.commit(order_id, left, orders.transaction_item(order_id, change),
                         shards=shard_split(order, left) or None)
    except OrderChangeRejected:
        if orders.require(order_id).get("reservation", {}).get("state") == HELD:
            raise TransientError(f"order {order_id} changed while its stock was committed; retry") from None
    return {"reservation": COMMITTED}


def cancel_unshipped(order_id: str, cancelled: Cancellation, orders: OrdersRepository,
                     inventory: InventoryRepository) -> bool:
    """Cancel what has not shipped of a partly shipped order: held units go back, promises are withdrawn, the
    allocations keep only what shipped, the order owes only its parcels' shares (``capture_due``) and its
    fulfilment is SHIPPED. False when it was already done; an order changing meanwhile is read again."""
    for _ in range(MAX_ATTEMPTS):
        order = orders.require(order_id)
        if "rest_cancelled" in order:
            return False
        if order["status"] != OrderStatus.PARTIALLY_SHIPPED:
            raise Conflict(f"order {order_id} is {order['status']}; only a PARTIALLY_SHIPPED order has a rest to "
                           "cancel")
        kept = [{**a, "quantity": a["shipped"], "backordered": 0, "eta": None} for a in allocations(order)]
        change = Change(
            fulfillment_status=FulfillmentStatus.SHIPPED,
            sets={"rest_cancelled": cancelled, "reservation.allocations": kept,
                  "capture_due": sum(s.get("amount", 0) for s in order["shipments"].values())},
            expect={"status": OrderStatus.PARTIALLY_SHIPPED.value, "updated_at": order["updated_at"]},
            absent=["rest_cancelled"],
            events=[timeline_entry(now(), "rest_cancelled", "The items that had not shipped were cancelled; you "
                                                            "pay only for what was shipped.")],
        )
        try:
            inventory.release(order_id, order["created_key"], _outstanding(order),
                              orders.transaction_item(order_id, change))
            return True
        except OrderChangeRejected:
            continue
    raise TransientError(f"order {order_id} changed repeatedly while its rest was cancelled; retry")


def _outstanding(order: Order) -> list[dict[str, Any]]:
    """Per allocation, what the order still holds on a shelf (not shipped) and still waits for."""
    parts: list[dict[str, Any]] = []
    for a in allocations(order):
        held = a["quantity"] - a["backordered"]
        part: dict[str, Any] = {"sku": a["sku"], "warehouse": a["warehouse"], "held": held - a["shipped"],
                "backordered": a["backordered"]}
        if a.get("shards"):
            part["shards"] = shard_units(_taken(a), held, a["shipped"], held)  # the tail of its layout
        parts.append(part)
    return parts


# -- the rebalancer ---------------------------------------------------------------------------------------------


def rebalance(inventory: InventoryRepository, orders: OrdersRepository | None = None,
              workflow: Workflow | None = None, low_stock: LowStock | None = None,
              sku: str | None = None) -> dict[str, Any]:
    """Every minute (and on demand for one ``sku``): for each sharded (sku, warehouse), move units from full shards
    to dry ones (``oms.domain.stock.rebalance_moves``: exactly, with a movement on each side; shard 0 keeps what
    orders waiting for goods can take, and those are then served), and alert once when the warehouse's total
    available units drop below the product's low-stock threshold (a sharded row is not checked per order). Returns
    what it moved."""
    rows = inventory.sharded_rows()
    if sku is not None:
        rows = [row for row in rows if row[0] == sku]
    moved: dict[str, dict[str, int]] = {}
    for row_sku, warehouse in sorted(set(rows)):
        for _ in range(MAX_ATTEMPTS):
            row = inventory.sharded(row_sku, warehouse)
            if not row.header.exists:
                break
            moves = rebalance_moves([s["available"] for s in row.shards], row.count,
                                    row.header.stock["backordered"])
            if not moves:
                break
            try:
                inventory.rebalance(row, moves)
            except StockContention:
                continue  # an order took units meanwhile: read again
            if moves:
                moved[f"{row_sku}@{warehouse}"] = {str(n): d for n, d in sorted(moves.items())}
            break
        else:
            continue
        if orders is not None and workflow is not None and row.header.stock["backordered"]:
            backorders.serve(row_sku, warehouse, orders, inventory, workflow)
        if low_stock is not None:
            check_low_sharded(row_sku, warehouse, inventory, low_stock)
    return {"rows": len(set(rows)), "moved": moved}


def check_low_sharded(sku: str, warehouse: str, inventory: InventoryRepository, low_stock: LowStock) -> bool:
    """The low-stock alert of a sharded row, on its total: published once per crossing; True when published."""
    product = low_stock.catalog.get(sku)
    threshold = product.get("low_stock_threshold") if product else None
    if not threshold:
        return False
    total = inventory.sharded(sku, warehouse).total
    if total["available"] >= threshold:
        inventory.flag_low(sku, warehouse, False)
        return False
    if not inventory.flag_low(sku, warehouse, True):
        return False
    if low_stock.alerts is not None:
        low_stock.alerts.alert(f"Low stock: {sku} at {warehouse}",
                               f"{sku} at {warehouse}: {total['available']} available over its shards, below the "
                               f"threshold of {threshold} ({total['on_hand']} on hand, {total['reserved']} "
                               "reserved). Reorder or move stock; this alert repeats only after stock is back above "
                               "the threshold.")
    return True
