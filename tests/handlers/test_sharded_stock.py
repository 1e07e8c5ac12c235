"""Sharded stock of one hot SKU (hypothesis stateful, on moto): reservations, retried reservations, releases,
parcels, commits, receipts, counts, shard-count changes and rebalancing in any order. After every step, for every
shard of the warehouse:

- ``available = on_hand - reserved`` and no counter is negative;
- ``reserved`` equals exactly the units the HELD orders hold on that shard (each order's allocation records its
  shards; parcels ship from the front of its layout, releases give back the tail);
- the shard's movements replay to its counters;
- units are conserved: on hand over all shards = counted + received - shipped.

Also: a dry or busy shard sends the order to another shard instead of failing.

``make stock-properties`` runs a long sweep (``OMS_STOCK_EXAMPLES``); ``make test`` a short one.
"""

import contextlib
import os
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict, OutOfStock
from oms.domain.models import InventoryRequest, PlaceOrderRequest, ProductRequest, ReceiptRequest
from oms.domain.order import new_order
from oms.domain.shipping import allocations
from oms.domain.stock import Warehouse, shard_key, shard_units
from oms.logic import catalog, inventory
from oms.logic.low_stock import LowStock
from tests.handlers.helpers import order_body

WAREHOUSE = "wh-east"
LOCATIONS = [Warehouse("wh-east", "US", "NJ")]
EXAMPLES = int(os.environ.get("OMS_STOCK_EXAMPLES", "6"))  # make test: a short sweep (44 s at 12)


def _context(stack: Any) -> tuple[OrdersRepository, InventoryRepository, catalog.StockContext]:
    env = {key: stack.env("admin", key) for key in ("ORDERS_TABLE", "CATALOG_TABLE", "INVENTORY_TABLE",
                                                    "MOVEMENTS_TABLE", "BACKORDERS_TABLE",
                                                    "NOTIFICATIONS_QUEUE_URL")}
    orders = OrdersRepository(env["ORDERS_TABLE"])
    repo = InventoryRepository(env["INVENTORY_TABLE"], env["MOVEMENTS_TABLE"], env["BACKORDERS_TABLE"])
    products = CatalogRepository(env["CATALOG_TABLE"])
    ctx = catalog.StockContext(products, repo, orders, Workflow(), NotificationQueue(env["NOTIFICATIONS_QUEUE_URL"]),
                               LowStock(products, repo, None), (WAREHOUSE, "wh-west"))
    return orders, repo, ctx


def _place(orders: OrdersRepository, sku: str, quantity: int) -> str:
    from oms.domain.pricing import CatalogProduct

    order_id = f"ord_{uuid.uuid4().hex[:24]}"
    request = PlaceOrderRequest.model_validate(order_body(sku, quantity))
    orders.create(new_order(order_id=order_id, customer_id="c", request=request, now=datetime.now(UTC),
                            products={sku: CatalogProduct(sku, "P", 100, "USD")}))
    return order_id


def _count(sku: str, on_hand: int, ctx: catalog.StockContext, shards: int | None = None) -> None:
    body: dict[str, Any] = {"warehouse": WAREHOUSE, "on_hand": on_hand}
    if shards is not None:
        body["shards"] = shards
    catalog.set_stock(sku, InventoryRequest.model_validate(body), "ops", ctx)


def test_sharded_counters_agree_exactly_with_the_reservations(stack):
    orders, repo, ctx = _context(stack)

    class ShardedStock(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.sku = f"H-{uuid.uuid4().hex[:10]}"
            catalog.put_product(self.sku, ProductRequest(name="Hot", price=100, currency="USD"), ctx.catalog)
            _count(self.sku, 12, ctx, shards=4)
            self.orders: list[str] = []
            self.expected_on_hand = 12

        @rule(quantity=st.integers(1, 5))
        def reserve(self, quantity):
            order_id = _place(orders, self.sku, quantity)
            try:
                inventory.reserve(order_id, orders, repo, LOCATIONS, 30)
            except OutOfStock:
                return
            self.orders.append(order_id)

        @precondition(lambda self: self.orders)
        @rule(data=st.data())
        def retry_reserve(self, data):
            """The step retried after a crash or a timeout: nothing more is taken."""
            inventory.reserve(data.draw(st.sampled_from(self.orders)), orders, repo, LOCATIONS, 30)

        @precondition(lambda self: self.orders)
        @rule(data=st.data(), again=st.booleans())
        def release(self, data, again):
            order_id = data.draw(st.sampled_from(self.orders))
            inventory.release(order_id, orders, repo)
            if again:
                inventory.release(order_id, orders, repo)

        @precondition(lambda self: self.orders)
        @rule(data=st.data())
        def ship_part(self, data):
            """A parcel of some of an order's units (ops record a shipment): they leave the shards they were on."""
            order_id = data.draw(st.sampled_from(self.orders))
            order = orders.require(order_id)
            if order["reservation"]["state"] != "HELD":
                return
            [a] = allocations(order)
            left = a["quantity"] - a["backordered"] - a["shipped"]
            if left <= 0:
                return
            units = data.draw(st.integers(1, left))
            picked = {(self.sku, WAREHOUSE): units}
            records = [{**a, "shipped": a["shipped"] + units}]
            change = Change(sets={"reservation.allocations": records},
                            expect={"updated_at": order["updated_at"], "reservation.state": "HELD"})
            repo.commit(order_id, picked, orders.transaction_item(order_id, change),
                        shards=inventory.shard_split(order, picked) or None)
            self.expected_on_hand -= units

        @precondition(lambda self: self.orders)
        @rule(data=st.data())
        def commit(self, data):
            order_id = data.draw(st.sampled_from(self.orders))
            order = orders.require(order_id)
            if order["reservation"]["state"] == "HELD":
                [a] = allocations(order)
                left = a["quantity"] - a["backordered"] - a["shipped"]
                inventory.commit(order_id, orders, repo)
                self.expected_on_hand -= left
            inventory.commit(order_id, orders, repo)  # a retried step: nothing more leaves

        @rule(quantity=st.integers(1, 6))
        def receive(self, quantity):
            catalog.receive(self.sku, ReceiptRequest(warehouse=WAREHOUSE, quantity=quantity), uuid.uuid4().hex,
                            "ops", ctx)
            self.expected_on_hand += quantity

        @rule(on_hand=st.integers(0, 30), shards=st.none() | st.integers(1, 6))
        def count(self, on_hand, shards):
            try:
                _count(self.sku, on_hand, ctx, shards)
            except Conflict:
                return  # below what is reserved: refused, nothing written
            self.expected_on_hand = on_hand

        @rule()
        def rebalance(self):
            inventory.rebalance(repo, sku=self.sku)

        @invariant()
        def consistent(self):
            row = repo.sharded(self.sku, WAREHOUSE)
            held: Counter[int] = Counter()
            for order_id in self.orders:
                order = orders.require(order_id)
                if order["reservation"]["state"] != "HELD":
                    continue
                for a in allocations(order):
                    taken = {int(k): int(v) for k, v in (a.get("shards") or {}).items()}
                    units = a["quantity"] - a["backordered"]
                    held.update(shard_units(taken, units, a["shipped"], units))
            for shard in row.shards:
                n = shard["shard"]
                assert shard["available"] == shard["on_hand"] - shard["reserved"], shard
                assert min(shard["on_hand"], shard["reserved"], shard["available"]) >= 0, shard
                assert shard["reserved"] == held[n], (n, shard, held)
                replay: Counter[str] = Counter()
                for movement in repo.all_movements(shard_key(self.sku, n)):
                    if movement["warehouse"] == WAREHOUSE:
                        replay.update(movement["changes"])
                assert (replay["on_hand"], replay["reserved"]) == (shard["on_hand"], shard["reserved"]), (
                    n, replay, shard)
            assert set(held) <= {s["shard"] for s in row.shards}, held
            assert row.total["on_hand"] == self.expected_on_hand, (row.total, self.expected_on_hand)
            levels = catalog.stock_levels(self.sku, ctx.catalog, repo)
            assert levels["reserved"] == sum(held.values()) and levels["on_hand"] == self.expected_on_hand

    run_state_machine_as_test(ShardedStock, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=10, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))


class _Contended:
    """DynamoDB as a flash sale makes it: the first transaction that touches ``shard``'s item is cancelled with
    ``reason`` (another buyer's transaction on it, or its units gone)."""

    def __init__(self, ddb: Any, key: str, reason: str) -> None:
        self.ddb, self.key, self.reason, self.hit = ddb, key, reason, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ddb, name)

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **kwargs: Any) -> Any:
        keys = [next(iter(item.values())).get("Key", {}).get("sku", {}).get("S") for item in TransactItems]
        if self.key in keys and not self.hit:
            self.hit += 1
            reasons = [{"Code": self.reason if k == self.key else "None"} for k in keys]
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                               "CancellationReasons": reasons}, "TransactWriteItems")
        return self.ddb.transact_write_items(TransactItems=TransactItems, **kwargs)


@pytest.mark.parametrize("reason", ["TransactionConflict", "ConditionalCheckFailed"])
def test_a_busy_or_dry_shard_sends_the_order_to_another_shard(stack, reason):
    orders, repo, ctx = _context(stack)
    sku = f"H-{uuid.uuid4().hex[:10]}"
    catalog.put_product(sku, ProductRequest(name="Hot", price=100, currency="USD"), ctx.catalog)
    _count(sku, 9, ctx, shards=4)
    order_id = _place(orders, sku, 2)
    from oms.domain.stock import probe_order

    start = probe_order(order_id, 4)[0]
    repo.ddb = _Contended(repo.ddb, shard_key(sku, start), reason)
    assert inventory.reserve(order_id, orders, repo, LOCATIONS, 30) == {"reservation": "HELD", "backordered": False}
    assert repo.ddb.hit == 1
    [a] = allocations(orders.require(order_id))
    assert str(start) not in a["shards"] and sum(a["shards"].values()) == 2
    row = repo.sharded(sku, WAREHOUSE)
    assert row.total == {"on_hand": 9, "reserved": 2, "available": 7}
    with contextlib.suppress(KeyError):
        assert row.shards[start]["reserved"] == 0
