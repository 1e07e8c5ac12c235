"""Workflow steps of the inventory function: reserve (hold shelf units, promise incoming ones), wait for backordered
goods, release, commit. Each is idempotent: the order's ``reservation`` is written in the same transaction as the
stock rows, the movements and the waiting queue."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from oms.adapters.inventory_repo import InventoryRepository, OrderChangeRejected, StockContention
from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.workflow import Workflow
from oms.domain.delivery import expected_delivery
from oms.domain.errors import Conflict, OrderShipped, StockArrived, TransientError
from oms.domain.order import Cancellation, Order, Reservation, ReservationState, iso, timeline_entry
from oms.domain.shipping import allocations, backordered_units, expected_ship_date, to_ship
from oms.domain.status import CUSTOMER_DETAIL, FulfillmentStatus, OrderStatus
from oms.domain.stock import Warehouse, allocate
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
    only), all or nothing. Raises OutOfStock when it cannot."""
    order = orders.require(order_id)
    lines = [(line["sku"], line["quantity"]) for line in order["lines"]]
    for _ in range(MAX_ATTEMPTS):
        if "reservation" in order:
            return _result(order)
        chosen = allocate(lines, inventory.positions([sku for sku, _ in lines]), warehouses,
                          country=order["shipping_address"]["country"],
                          region=order["shipping_address"].get("region"),
                          backorderable=frozenset(order.get("backorderable_skus", [])),
                          express=order["shipping_method"] == "express")
        first_eta = min((a.eta for a in chosen if a.backordered and a.eta), default=None)
        reservation: Reservation = {"state": HELD, "allocations": [
            {"sku": a.sku, "warehouse": a.warehouse, "quantity": a.quantity, "backordered": a.backordered,
             "eta": a.eta, "shipped": 0} for a in chosen]}
        sets: dict[str, Any] = {"reservation": reservation}
        events = [timeline_entry(now(), "stock_reserved", "Your items are reserved.")]
        if first_eta is not None:
            sets.update(_backorder_plan(order, reservation, first_eta, backorder_limit_days))
            events = [timeline_entry(now(), "stock_backordered",
                                     "Some items are on backorder; expected to ship "
                                     f"{sets['expected_ship_date']}.")]
            del sets["expected_ship_date"]
        change = Change(
            fulfillment_status=FulfillmentStatus.RESERVED,
            sets=sets,
            absent=["reservation"],
            # ON_HOLD: the step is retried after a technical hold (see oms.contract).
            expect_in={"status": [OrderStatus.PENDING.value, OrderStatus.ON_HOLD.value,
                                  OrderStatus.BACKORDERED.value]},
            events=events,
        )
        parts = [{"sku": a.sku, "warehouse": a.warehouse, "held": a.quantity - a.backordered,
                  "backordered": a.backordered, "eta": a.eta, "first_eta": first_eta} for a in chosen]
        try:
            inventory.reserve(order_id, order["created_key"], parts, orders.transaction_item(order_id, change))
            if low_stock is not None:
                low_stock.check({(a.sku, a.warehouse) for a in chosen if a.quantity > a.backordered},
                                order.get("low_stock_thresholds", {}))
            return {"reservation": HELD, "backordered": first_eta is not None}
        except StockContention:
            pass  # another order took units between our read and write: re-read and re-allocate
        except OrderChangeRejected:
            order = orders.require(order_id)
            if "reservation" not in order:
                raise Conflict(f"order {order_id} is {order['status']}; stock is not reserved") from None
            continue
        order = orders.require(order_id)
    raise TransientError("stock changed repeatedly while reserving; retry")


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
        inventory.commit(order_id, left, orders.transaction_item(order_id, change))
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
    return [{"sku": a["sku"], "warehouse": a["warehouse"], "held": a["quantity"] - a["backordered"] - a["shipped"],
             "backordered": a["backordered"]} for a in allocations(order)]
