"""A stateful property test of stock (hypothesis): counts, expected arrivals, receipts, reservations with backorders,
releases and commits in any order, on moto. After every step, for every warehouse:

- ``available = on_hand - reserved`` and no counter is negative;
- no incoming unit is promised twice (``backordered <= incoming``);
- ``reserved`` and ``backordered`` equal what the orders hold and wait for there, and the queue holds the waiting;
- the movement log replays to the counters.

``make test`` runs a short sweep; ``OMS_STOCK_EXAMPLES=500 pytest tests/handlers/test_stock_invariants.py`` a long
one.
"""

import contextlib
import os
import uuid
from collections import Counter
from datetime import UTC, datetime

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.errors import Conflict, OutOfStock
from oms.domain.models import InventoryRequest, PlaceOrderRequest, ProductRequest, ReceiptRequest
from oms.domain.order import new_order
from oms.domain.shipping import allocations
from oms.domain.stock import Warehouse
from oms.logic import catalog, inventory
from oms.logic.low_stock import LowStock
from tests.handlers.helpers import order_body

WAREHOUSES = ["wh-east", "wh-west"]
LOCATIONS = [Warehouse("wh-east", "US", "NJ"), Warehouse("wh-west", "US", "CA")]
EXAMPLES = int(os.environ.get("OMS_STOCK_EXAMPLES", "12"))


def test_stock_counters_movements_and_promises_stay_consistent(stack):
    env = {key: stack.env("admin", key) for key in ("ORDERS_TABLE", "CATALOG_TABLE", "INVENTORY_TABLE",
                                                    "MOVEMENTS_TABLE", "BACKORDERS_TABLE",
                                                    "NOTIFICATIONS_QUEUE_URL")}
    orders = OrdersRepository(env["ORDERS_TABLE"])
    repo = InventoryRepository(env["INVENTORY_TABLE"], env["MOVEMENTS_TABLE"], env["BACKORDERS_TABLE"])
    products = CatalogRepository(env["CATALOG_TABLE"])
    ctx = catalog.StockContext(products, repo, orders, Workflow(), NotificationQueue(env["NOTIFICATIONS_QUEUE_URL"]),
                               LowStock(products, repo, None), tuple(WAREHOUSES))

    class Stock(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.sku = f"P-{uuid.uuid4().hex[:10]}"
            catalog.put_product(self.sku, ProductRequest(name="P", price=100, currency="USD", backorderable=True),
                                products)
            self.orders: list[str] = []

        @rule(warehouse=st.sampled_from(WAREHOUSES), on_hand=st.integers(0, 8),
              incoming=st.none() | st.lists(st.tuples(st.integers(1, 6), st.sampled_from(["2027-01-10",
                                                                                           "2027-02-01"])),
                                            max_size=2))
        def count(self, warehouse, on_hand, incoming):
            batches = None if incoming is None else [{"quantity": q, "eta": eta} for q, eta in incoming]
            body: dict = {"warehouse": warehouse, "on_hand": on_hand}
            if batches is not None:
                body["incoming"] = batches
            with contextlib.suppress(Conflict):  # below what is reserved or promised: refused, nothing written
                catalog.set_stock(self.sku, InventoryRequest.model_validate(body), "ops", ctx)

        @rule(warehouse=st.sampled_from(WAREHOUSES), quantity=st.integers(1, 6))
        def receive(self, warehouse, quantity):
            catalog.receive(self.sku, ReceiptRequest(warehouse=warehouse, quantity=quantity), uuid.uuid4().hex,
                            "ops", ctx)

        @rule(quantity=st.integers(1, 5))
        def order(self, quantity):
            order_id = f"ord_{uuid.uuid4().hex[:24]}"
            request = PlaceOrderRequest.model_validate(order_body(self.sku, quantity))
            placed = new_order(order_id=order_id, customer_id="c", request=request, now=datetime.now(UTC),
                               products={self.sku: _catalog_product(self.sku)})
            placed["backorderable_skus"] = [self.sku]
            orders.create(placed)
            try:
                inventory.reserve(order_id, orders, repo, LOCATIONS, 30)
            except OutOfStock:
                return
            self.orders.append(order_id)

        @precondition(lambda self: self.orders)
        @rule(data=st.data())
        def release(self, data):
            order_id = data.draw(st.sampled_from(self.orders))
            inventory.release(order_id, orders, repo)

        @precondition(lambda self: self.orders)
        @rule(data=st.data())
        def commit(self, data):
            order_id = data.draw(st.sampled_from(self.orders))
            held = orders.require(order_id)
            if held.get("reservation", {}).get("state") == "HELD" and not any(
                    a["backordered"] for a in allocations(held)):
                inventory.commit(order_id, orders, repo)

        @invariant()
        def consistent(self):
            rows = {row["warehouse"]: row for row in repo.levels(self.sku)}
            held: Counter[str] = Counter()
            waiting: Counter[str] = Counter()
            for order_id in self.orders:
                current = orders.require(order_id)
                if current["reservation"]["state"] != "HELD":
                    continue
                for a in allocations(current):
                    held[a["warehouse"]] += a["quantity"] - a["backordered"] - a["shipped"]
                    waiting[a["warehouse"]] += a["backordered"]
            replay: dict[str, Counter[str]] = {}
            for movement in repo.all_movements(self.sku):
                replay.setdefault(movement["warehouse"], Counter()).update(movement["changes"])
            for warehouse, row in rows.items():
                assert row["available"] == row["on_hand"] - row["reserved"], row
                assert min(row["on_hand"], row["reserved"], row["available"], row["backordered"]) >= 0, row
                assert row["backordered"] <= row["incoming_total"], row
                assert row["reserved"] == held[warehouse], (row, held)
                assert row["backordered"] == waiting[warehouse], (row, waiting)
                assert sum(w["quantity"] for w in repo.waiting(self.sku, warehouse)) == row["backordered"]
                moved = replay.get(warehouse, Counter())
                assert (moved["on_hand"], moved["reserved"], moved["backordered"], moved["incoming"]) == (
                    row["on_hand"], row["reserved"], row["backordered"], row["incoming_total"]), (moved, row)

    run_state_machine_as_test(Stock, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))


def _catalog_product(sku):
    from oms.domain.pricing import CatalogProduct

    return CatalogProduct(sku, "P", 100, "USD")
