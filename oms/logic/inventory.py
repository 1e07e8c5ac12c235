"""Workflow steps of the inventory function: reserve, release, commit. Each is idempotent:
the order's ``reservation`` is written in the same transaction as the stock rows."""

from typing import Any

from oms.adapters.inventory_repo import InventoryRepository, OrderChangeRejected, StockContention
from oms.adapters.orders_repo import Change, OrdersRepository
from oms.domain.allocation import Allocation, allocate
from oms.domain.errors import Conflict, OrderShipped, TransientError
from oms.domain.order import Order, Reservation, ReservationState, timeline_entry
from oms.domain.status import FulfillmentStatus, OrderStatus
from oms.logic.clock import now

HELD: ReservationState = "HELD"
RELEASED: ReservationState = "RELEASED"
COMMITTED: ReservationState = "COMMITTED"
MAX_ATTEMPTS = 5

StockResult = dict[str, Any]


def _allocations(order: Order) -> list[Allocation]:
    return [Allocation(**a) for a in order["reservation"]["allocations"]]


def reserve(order_id: str, orders: OrdersRepository, inventory: InventoryRepository) -> StockResult:
    """Hold stock for every line, all or nothing. Raises OutOfStock when it cannot."""
    order = orders.require(order_id)
    lines = [(line["sku"], line["quantity"]) for line in order["lines"]]
    for _ in range(MAX_ATTEMPTS):
        if "reservation" in order:
            return {"reservation": order["reservation"]["state"]}
        allocations = allocate(lines, inventory.available([sku for sku, _ in lines]))
        reservation: Reservation = {
            "state": HELD,
            "allocations": [{"sku": a.sku, "warehouse": a.warehouse, "quantity": a.quantity} for a in allocations],
        }
        change = Change(
            fulfillment_status=FulfillmentStatus.RESERVED,
            sets={"reservation": reservation},
            absent=["reservation"],
            # ON_HOLD: the step is retried after a technical hold (see oms.contract).
            expect_in={"status": [OrderStatus.PENDING.value, OrderStatus.ON_HOLD.value,
                                  OrderStatus.BACKORDERED.value]},
            events=[timeline_entry(now(), "stock_reserved", "Your items are reserved.")],
        )
        try:
            inventory.reserve(allocations, orders.transaction_item(order_id, change))
            return {"reservation": HELD}
        except StockContention:
            pass  # another order took units between our read and write: re-read and re-allocate
        except OrderChangeRejected:
            order = orders.require(order_id)
            if "reservation" not in order:
                raise Conflict(f"order {order_id} is {order['status']}; stock is not reserved") from None
            continue
        order = orders.require(order_id)
    raise TransientError("stock changed repeatedly while reserving; retry")


def release(order_id: str, orders: OrdersRepository, inventory: InventoryRepository) -> StockResult:
    """Compensation: give held stock back. No-op when nothing is held."""
    return _settle(order_id, orders, inventory, RELEASED)


def commit(order_id: str, orders: OrdersRepository, inventory: InventoryRepository) -> StockResult:
    """The parcel left the warehouse: held units leave on-hand stock."""
    return _settle(order_id, orders, inventory, COMMITTED)


def _settle(order_id: str, orders: OrdersRepository, inventory: InventoryRepository,
            state: ReservationState) -> StockResult:
    order = orders.require(order_id)
    reservation = order.get("reservation")
    if reservation is None or reservation["state"] != HELD:
        return {"reservation": reservation["state"] if reservation else None}
    released = state == RELEASED
    change = Change(
        fulfillment_status=FulfillmentStatus.RELEASED if released else None,
        sets={"reservation.state": state},
        expect={"reservation.state": HELD},
        events=[timeline_entry(now(), "stock_released", "Reserved items were released.")] if released else [],
    )
    operation = inventory.release if released else inventory.commit
    try:
        operation(_allocations(order), orders.transaction_item(order_id, change))
    except OrderChangeRejected:
        current = orders.require(order_id)
        if released and current["fulfillment_status"] == FulfillmentStatus.SHIPPED:
            # The parcel was recorded before the compensation began: the shipment wins; nothing is undone.
            raise OrderShipped(f"order {order_id} shipped before it could be compensated") from None
        # Otherwise a concurrent duplicate settled it first.
    return {"reservation": state}
