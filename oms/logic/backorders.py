"""Orders waiting for incoming goods: served first come, first served when goods arrive, and told when a supplier's
date slips. The queue per (sku, warehouse) is ``Backorders``; each order keeps its promise per allocation
(``backordered`` units and their ``eta``)."""

from __future__ import annotations

from contextlib import suppress
from datetime import date, datetime, time
from typing import Any

from oms.adapters.inventory_repo import InventoryRepository, OrderChangeRejected, StockContention
from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.delivery import expected_delivery
from oms.domain.errors import Conflict
from oms.domain.order import Order, timeline_entry
from oms.domain.shipping import allocations, backordered_units, expected_ship_date
from oms.domain.stock import IncomingBatch, reschedule
from oms.logic.clock import now

MAX_ATTEMPTS = 8


def serve(sku: str, warehouse: str, orders: OrdersRepository, inventory: InventoryRepository,
          workflow: Workflow) -> list[str]:
    """Give the units available at ``warehouse`` to the orders waiting there, oldest first; an order partly served
    keeps its place, and nobody behind it is served before it. Resumes each order whose last missing units came.
    Returns the orders served (in part or whole)."""
    served: list[str] = []
    for waiting in inventory.waiting(sku, warehouse):
        for _ in range(MAX_ATTEMPTS):
            available = inventory.row(sku, warehouse).stock["available"]
            if available <= 0:
                return served
            take = min(available, waiting["quantity"])
            order = orders.get(waiting["order_id"])
            if order is None:
                break
            change = _filled(order, sku, warehouse, take)
            if change is None:
                break  # the order no longer waits here (released meanwhile)
            try:
                inventory.fill(waiting, take, orders.transaction_item(order["order_id"], change))
            except (StockContention, OrderChangeRejected):
                fresh = [w for w in inventory.waiting(sku, warehouse) if w["created_key"] == waiting["created_key"]]
                if not fresh:
                    break
                waiting = fresh[0]
                continue
            served.append(order["order_id"])
            if take < waiting["quantity"]:
                return served  # first come, first served: what is left of this order waits for the next goods
            _resume_if_filled(order["order_id"], orders, workflow)
            break
    return served


def _filled(order: Order, sku: str, warehouse: str, take: int) -> Change | None:
    if "cancellation" in order:
        return None  # being cancelled: its release is coming, the units go to the next in the queue
    records = allocations(order)
    index = next((i for i, a in enumerate(records) if a["sku"] == sku and a["warehouse"] == warehouse
                  and a["backordered"] >= take), None)
    if index is None or order.get("reservation", {}).get("state") != "HELD":
        return None
    records[index] = {**records[index], "backordered": records[index]["backordered"] - take}
    if records[index]["backordered"] == 0:
        records[index]["eta"] = None
    left = sum(a["backordered"] for a in records)
    name = next((line["name"] for line in order["lines"] if line["sku"] == sku), sku)
    detail = (f"{take} x {name} arrived and are reserved for you." if left
              else "Your backordered items have arrived; your order is being prepared.")
    return Change(sets={"reservation.allocations": records},
                  expect={"updated_at": order["updated_at"], "reservation.state": "HELD"},
                  events=[timeline_entry(now(), "backorder_filled", detail)])


def _resume_if_filled(order_id: str, orders: OrdersRepository, workflow: Workflow) -> None:
    order = orders.require(order_id)
    token = order.get("stock_task_token")
    if backordered_units(order) == 0 and token:
        with suppress(Conflict):  # the wait ended meanwhile (a renewal re-plans it; the next wait finds it filled)
            workflow.resume(token, {"stock": "arrived"})


def reschedule_waiting(sku: str, warehouse: str, incoming: list[IncomingBatch], orders: OrdersRepository,
                       inventory: InventoryRepository, queue: NotificationQueue) -> list[str]:
    """The expected arrivals changed: each waiting order's promise is dated again against them, in queue order. An
    order whose expected ship date moved later is told once (new date; it may cancel); the timeline records every
    change. Returns the orders whose date slipped."""
    waiting = inventory.waiting(sku, warehouse)
    dates = reschedule([(w["created_key"], int(w["quantity"])) for w in waiting], incoming)
    slipped: list[str] = []
    for item in waiting:
        eta = dates.get(item["created_key"])
        if eta is None or eta == item.get("eta"):
            continue
        inventory.set_waiting_eta(item, eta)
        for _ in range(MAX_ATTEMPTS):
            order = orders.get(item["order_id"])
            if order is None or order.get("reservation", {}).get("state") != "HELD":
                break
            before = expected_ship_date(order)
            records = [{**a, "eta": eta} if a["sku"] == sku and a["warehouse"] == warehouse and a["backordered"]
                       else a for a in allocations(order)]
            after = expected_ship_date({"lines": order["lines"], "reservation": {"state": "HELD",
                                                                                 "allocations": records}})
            sets: dict[str, Any] = {"reservation.allocations": records}
            events = []
            if after and after != before:
                window = expected_delivery(datetime.combine(date.fromisoformat(after), time(9)),
                                           order["shipping_method"])
                sets["expected_delivery"] = {"earliest": window.earliest.isoformat(),
                                             "latest": window.latest.isoformat()}
                word = "later" if before and after > before else "earlier"
                events.append(timeline_entry(now(), "backorder_rescheduled",
                                             f"The supplier's delivery moved {word}: expected to ship {after} "
                                             f"(was {before})."))
            try:
                orders.apply(order["order_id"], Change(sets=sets, events=events,
                                                       expect={"updated_at": order["updated_at"]}))
            except Conflict:
                continue
            if before and after and after > before:
                queue.publish(order["order_id"], "backorder_delayed", ref=f"{before}.{after}")
                slipped.append(order["order_id"])
            break
    return slipped
