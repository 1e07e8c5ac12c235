"""Fulfillment: the workflow asks the warehouse to ship and waits; ops record the shipment."""

from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

from oms.adapters.inventory_repo import InventoryRepository, OrderChangeRejected, StockContention
from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.tracking_inbox import TrackingInbox
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict, OrderShipped
from oms.domain.order import Cancellation, Order, Shipment, ShipmentLine, iso, timeline_entry
from oms.domain.shipping import allocations, capture_share, pick
from oms.domain.status import CUSTOMER_DETAIL, FulfillmentStatus, OrderStatus
from oms.domain.tracking import DESCRIPTION
from oms.logic.clock import now
from oms.logic.inventory import cancel_unshipped, shard_split
from oms.logic.waiting import raise_if_cancelled, unless_cancelled


def request_fulfillment(order_id: str, task_token: str, orders: OrdersRepository, queue: NotificationQueue) -> None:
    """The order is accepted: PROCESSING, waiting (task token) for the warehouse's shipment."""
    change = unless_cancelled(Change(
        status=OrderStatus.PROCESSING,
        fulfillment_status=FulfillmentStatus.AWAITING_SHIPMENT,
        status_detail=CUSTOMER_DETAIL[OrderStatus.PROCESSING],
        sets={"fulfillment_task_token": task_token},
        removes=["stock_task_token"],
        events=[timeline_entry(now(), "order_confirmed", "Order confirmed; it is being picked and packed.")],
    ))
    try:
        orders.apply(order_id, change)
    except TransitionRejected as rejected:
        raise_if_cancelled(rejected.order)
        current = rejected.order
        if current["fulfillment_status"] == FulfillmentStatus.SHIPPED and \
                current["status"] in (OrderStatus.PROCESSING, OrderStatus.PARTIALLY_SHIPPED):
            # The shipment was recorded while this wait was being renewed: nothing to wait for.
            raise OrderShipped(f"order {order_id} was shipped while its wait was renewed") from None
        partly_shipped = (current["status"] == OrderStatus.PARTIALLY_SHIPPED
                          and current["fulfillment_status"] == FulfillmentStatus.PARTIALLY_SHIPPED)
        if not partly_shipped and (current["fulfillment_status"] != FulfillmentStatus.AWAITING_SHIPMENT or
                                   current["status"] not in (OrderStatus.PROCESSING, OrderStatus.ON_HOLD)):
            raise
        # A retried invocation, a retry after a technical hold, a renewed wait after a re-authorization, or the
        # end of a payment hold (ON_HOLD again PROCESSING once the customer's new payment method is authorized).
        resumed = Change(sets={"fulfillment_task_token": task_token}, expect={"status": current["status"]})
        if current["status"] == OrderStatus.ON_HOLD:
            resumed.status = OrderStatus.PROCESSING
            resumed.status_detail = CUSTOMER_DETAIL[OrderStatus.PROCESSING]
        try:
            orders.apply(order_id, unless_cancelled(resumed))
        except TransitionRejected as again:
            raise_if_cancelled(again.order)
            raise
    queue.publish(order_id, "order_confirmed")  # once per order: the consumer drops a repeat


#: Reads of an order that changed meanwhile before recording a parcel gives up (409: try again).
MAX_ATTEMPTS = 5


class PartialCapture(Protocol):
    def capture_parcel(self, order: Order, tracking_number: str) -> Order: ...


@dataclass(frozen=True)
class ShipmentCommand:
    carrier: str
    tracking_number: str
    warehouse: str | None = None
    lines: list[tuple[str, int]] | None = None  # None: everything not shipped yet (from the warehouse, if given)
    by: str = "ops"


def record_shipment(
    order_id: str, command: ShipmentCommand, orders: OrdersRepository, inventory: InventoryRepository,
    workflow: Workflow, inbox: TrackingInbox | None = None, payments: PartialCapture | None = None,
    queue: NotificationQueue | None = None,
) -> Order:
    """The warehouse handed a parcel to the carrier: its units leave the warehouse (committed with the shipment, in
    one transaction). A parcel that leaves part of the order behind makes it ``PARTIALLY_SHIPPED``, captures its share
    of the payment (``payments``) and tells the customer; the last parcel resumes the waiting workflow (which
    captures the rest and marks the order ``SHIPPED``). The same shipment again, at once or later, answers the same;
    a different one for an order that is not waiting is a Conflict. Carrier events that arrived before the shipment
    (parked, at most 24 hours) are queued again to be applied."""
    order = orders.require(order_id)
    existing = order["shipments"].get(command.tracking_number)
    if existing is None:
        try:
            order = _record_as_read(order, command, orders, inventory)
        except Conflict:
            # A concurrent identical request may have won the race: then this one is a repeat, not a conflict.
            order = orders.require(order_id)
            existing = order["shipments"].get(command.tracking_number)
            if existing is None or existing["carrier"] != command.carrier:
                if "cancellation" in order:
                    raise Conflict(f"order {order_id} is being cancelled; do not ship it") from None
                raise
    elif existing["carrier"] != command.carrier:
        raise Conflict(f"tracking_number {command.tracking_number} is already recorded with {existing['carrier']}")
    shipment = order["shipments"][command.tracking_number]
    if shipment.get("final", True):
        token = order.get("fulfillment_task_token")
        if token:
            # If the wait ended meanwhile (its payment hold being renewed, or a timeout), the shipment is recorded
            # all the same, and the step that runs next finds it (``OrderShipped``) and goes on to ship.
            with suppress(Conflict):
                workflow.resume(token, {"carrier": command.carrier, "tracking_number": command.tracking_number})
    else:
        if payments is not None:
            order = payments.capture_parcel(order, command.tracking_number)
        if queue is not None:
            queue.publish(order_id, "order_shipped", ref=command.tracking_number)  # this parcel's own email
    if inbox is not None:
        inbox.release_parked(command.tracking_number)
    return orders.require(order_id)


def _record_as_read(order: Order, command: ShipmentCommand, orders: OrdersRepository,
                    inventory: InventoryRepository) -> Order:
    """Record the parcel against the order as read; an unrelated write in between (a hold renewal, a carrier
    event) only means reading it again."""
    for _ in range(MAX_ATTEMPTS):
        try:
            return _record(order, command, orders, inventory)
        except TransitionRejected as rejected:
            current = rejected.order
            if current["updated_at"] == order["updated_at"] or command.tracking_number in current["shipments"]:
                raise
            order = current
    raise Conflict(f"order {order['order_id']} kept changing while the parcel was recorded; try again")


def _record(order: Order, command: ShipmentCommand, orders: OrdersRepository,
            inventory: InventoryRepository) -> Order:
    order_id = order["order_id"]
    status = order["status"]
    if status not in (OrderStatus.PROCESSING, OrderStatus.PARTIALLY_SHIPPED) or "fulfillment_task_token" not in order:
        raise Conflict(f"order {order_id} is {status}; only PROCESSING or PARTIALLY_SHIPPED orders can be shipped")
    if "cancellation" in order:
        raise Conflict(f"order {order_id} is being cancelled ({order['cancellation']['by']}); do not ship it")
    picked = pick(order, command.warehouse, command.lines)
    records = allocations(order)
    for record in records:
        record["shipped"] += picked.get((record["sku"], record["warehouse"]), 0)
    final = all(r["shipped"] == r["quantity"] for r in records)
    prices = {line["sku"]: line["unit_price"] for line in order["lines"]}
    goods = sum(prices[sku] * quantity for (sku, _), quantity in picked.items())
    owed = sum(s.get("amount", 0) for s in order["shipments"].values())
    amount = capture_share(order["total"], order["subtotal"], goods, owed, final)
    moment = now()
    warehouses = sorted({wh for _, wh in picked})
    shipment: Shipment = {
        "carrier": command.carrier, "tracking_number": command.tracking_number, "status": "pre_transit",
        "status_detail": DESCRIPTION["LABEL_CREATED"], "events": [], "created_at": iso(moment),
        "tracking_status": "LABEL_CREATED", "lines": _lines(picked), "amount": amount, "final": final,
    }
    if len(warehouses) == 1:
        shipment["warehouse"] = warehouses[0]
    what = ", ".join(f"{q} x {sku}" for sku, q in ((line["sku"], line["quantity"]) for line in shipment["lines"]))
    change = Change(
        fulfillment_status=FulfillmentStatus.SHIPPED if final else (
            FulfillmentStatus.PARTIALLY_SHIPPED
            if order["fulfillment_status"] != FulfillmentStatus.PARTIALLY_SHIPPED else None),
        status=OrderStatus.PARTIALLY_SHIPPED if not final and status == OrderStatus.PROCESSING else None,
        status_detail=CUSTOMER_DETAIL[OrderStatus.PARTIALLY_SHIPPED] if not final else None,
        sets={f"shipments.{command.tracking_number}": shipment, "reservation.allocations": records},
        expect={"status": status, "updated_at": order["updated_at"]},
        absent=["cancellation"],  # of a shipment and a cancellation racing, exactly one is recorded
        events=[timeline_entry(moment, "shipment_created",
                               f"Handed to {command.carrier}, tracking number {command.tracking_number}"
                               + ("." if final and not order["shipments"] else f" ({what})."))],
    )
    lookup = orders.shipment_lookup_item(command.tracking_number, order_id, command.carrier)
    try:
        inventory.commit(order_id, picked, orders.transaction_item(order_id, change), extra=[lookup],
                         by=command.by, shards=shard_split(order, picked) or None)
    except StockContention as failed:
        raise Conflict(f"tracking_number {command.tracking_number} is already used by another shipment") from failed
    except OrderChangeRejected:
        raise TransitionRejected(orders.require(order_id)) from None
    return orders.require(order_id)


def _lines(picked: dict[tuple[str, str], int]) -> list[ShipmentLine]:
    by_sku: dict[str, int] = {}
    for (sku, _), quantity in sorted(picked.items()):
        by_sku[sku] = by_sku.get(sku, 0) + quantity
    return [{"sku": sku, "quantity": quantity} for sku, quantity in by_sku.items()]


def start_picking(order_id: str, who: str, orders: OrdersRepository) -> Order:
    """The warehouse started picking: from now on the customer can no longer cancel (ops still can, until it
    ships). Repeating it answers the same; a PROCESSING order being cancelled is not picked (Conflict)."""
    change = Change(
        sets={"picking": {"started_at": iso(now()), "by": who}},
        expect={"status": OrderStatus.PROCESSING.value,
                "fulfillment_status": FulfillmentStatus.AWAITING_SHIPMENT.value},
        absent=["picking", "cancellation"],
        events=[timeline_entry(now(), "picking_started", "The warehouse is picking your order.")],
    )
    try:
        return orders.apply(order_id, change)
    except TransitionRejected as rejected:
        order = rejected.order
        if "picking" in order:
            return order
        if "cancellation" in order:
            raise Conflict(f"order {order_id} is being cancelled; do not pick it") from None
        raise Conflict(f"order {order_id} is {order['status']} (fulfillment {order['fulfillment_status']}); "
                       "only a PROCESSING order awaiting shipment can be picked") from None


def cancel_rest(order_id: str, reason: str, note: str, who: str, orders: OrdersRepository,
                inventory: InventoryRepository, workflow: Workflow, queue: NotificationQueue | None = None) -> Order:
    """Ops cancel what has not shipped of a ``PARTIALLY_SHIPPED`` order (``oms.logic.inventory.cancel_unshipped``),
    and the waiting workflow goes on to capture the parcels' shares, release the rest of the hold and end
    ``SHIPPED`` for what left. Repeating it answers the same."""
    order = orders.require(order_id)
    if "rest_cancelled" in order:
        return order
    if order["status"] != OrderStatus.PARTIALLY_SHIPPED:
        raise Conflict(f"order {order_id} is {order['status']}; only a PARTIALLY_SHIPPED order has a rest to cancel")
    cancelled: Cancellation = {"reason": reason, "note": note, "by": "ops", "at": iso(now()), "fee": 0}
    if not cancel_unshipped(order_id, cancelled, orders, inventory):
        return orders.require(order_id)  # a concurrent request cancelled it
    token = orders.require(order_id).get("fulfillment_task_token")
    if token:
        with suppress(Conflict):  # a renewal re-plans the wait: it finds the fulfilment SHIPPED and goes on
            workflow.resume(token, {"rest_cancelled": True})
    if queue is not None:
        queue.publish(order_id, "items_cancelled")
    return orders.require(order_id)
