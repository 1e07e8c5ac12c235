"""The sharded ops index and the keys-only customer and day indexes on moto: listings merged across shards page
through every order once, newest first; a terminal status leaves the index; cursors stay signed."""

from typing import Any

import boto3

from oms.adapters.orders_repo import OPS_SHARDS, Change, OrdersRepository, shard_of
from oms.domain.status import OrderStatus
from tests.handlers.conftest import Context as _Ctx
from tests.handlers.conftest import api_event, call
from tests.handlers.helpers import order_body, place, stock


def _orders(stack: Any, count: int, status: str, customers: tuple[str, ...] = ("cust-1",)) -> list[dict[str, Any]]:
    """One order placed through the API, then ``count`` copies of it stored as placement stores an order (the
    repository's ``create``), each in ``status``, a minute apart, for the customers in turn."""
    stock(stack, _Ctx())
    status_code, placed = place(stack, _Ctx(), order_body())
    assert status_code == 201, placed
    repo = OrdersRepository(stack.env("admin", "ORDERS_TABLE"))
    template = repo.require(placed["order_id"])
    made = []
    for i in range(count):
        at = f"2026-11-{1 + i // 600:02d}T{(i // 60) % 10:02d}:{i % 60:02d}:00.000Z"
        order_id = f"ord_{i:024x}"
        order = {**template, "order_id": order_id, "status": status, "created_at": at, "updated_at": at,
                 "created_key": f"{at}#{order_id}", "customer_id": customers[i % len(customers)]}
        for attribute in ("ops_queue", "placed_day"):
            order.pop(attribute, None)
        assert repo.create(order) is None  # type: ignore[arg-type]
        made.append(order)
    return made


def _page(admin: Any, status: str, limit: int, cursor: str | None = None) -> tuple[int, Any]:
    query = {"status": status, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
    return call(admin, api_event("GET", "/admin/orders", "/admin/orders", groups="ops", query=query), _Ctx())


def test_the_ops_listing_merges_its_shards_newest_first_and_a_terminal_status_leaves_the_index(stack):
    made = _orders(stack, 30, "ON_HOLD")
    admin = stack.handler("admin")
    assert len({shard_of(o["order_id"], OPS_SHARDS) for o in made}) >= 8  # spread over many shards
    repo = OrdersRepository(stack.env("admin", "ORDERS_TABLE"))
    gone = made[17]["order_id"]
    repo.apply(gone, Change(status=OrderStatus.CANCELLED))
    assert "ops_queue" not in repo.require(gone)
    moved = made[3]["order_id"]
    assert repo.apply(moved, Change(status=OrderStatus.PROCESSING))["status"] == "PROCESSING"

    seen: list[str] = []
    cursor = None
    while True:
        status, page = _page(admin, "ON_HOLD", 7, cursor)
        assert status == 200, page
        assert set(page) == {"orders", "next_cursor"} and len(page["orders"]) <= 7
        assert all(o["status"] == "ON_HOLD" and "timeline" in o and "notifications" in o for o in page["orders"])
        seen += [o["order_id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [o["order_id"] for o in sorted(made, key=lambda o: o["created_key"], reverse=True)
                if o["order_id"] not in (gone, moved)]
    assert seen == expected  # in created_key order, no duplicates, no gaps
    # The moved order is in its new queue; the cancelled one in none.
    status, processing = _page(admin, "PROCESSING", 100)
    assert [o["order_id"] for o in processing["orders"]] == [moved]
    index = boto3.client("dynamodb").query(
        TableName=stack.env("admin", "ORDERS_TABLE"), IndexName="ops_queue",
        KeyConditionExpression="ops_queue = :q",
        ExpressionAttributeValues={":q": {"S": f"ON_HOLD#{shard_of(gone, OPS_SHARDS)}"}})
    assert gone not in [item["order_id"]["S"] for item in index["Items"]]
    assert set(index["Items"][0]) == {"order_id", "ops_queue", "created_key"}  # keys only

    # Cursors stay signed, per queue; a status outside the index is a 422 naming it.
    status, first = _page(admin, "ON_HOLD", 1)
    assert status == 200 and first["next_cursor"]
    for forged in (first["next_cursor"][:-2] + "AA", "%%%"):
        status, body = _page(admin, "ON_HOLD", 1, forged)
        assert status == 422 and body["errors"][0]["field"] == "cursor", body
    assert _page(admin, "PROCESSING", 1, first["next_cursor"])[0] == 422  # another queue's cursor
    status, body = _page(admin, "DELIVERED", 5)
    assert status == 422 and body["errors"][0]["field"] == "status", body
    assert "ON_HOLD" in body["errors"][0]["message"]


def test_the_sweeper_the_escalations_and_the_kpi_rebuild_read_their_indexes(stack):
    made = _orders(stack, 20, "PENDING")
    repo = OrdersRepository(stack.env("admin", "ORDERS_TABLE"))
    oldest = sorted(made, key=lambda o: o["created_key"])
    assert [o["order_id"] for o in repo.pending_before("2026-11-01T00:05", 3)] == \
        [o["order_id"] for o in oldest[:3]]
    # The first order placed through the API is PENDING too (today): every PENDING order, oldest first.
    every = [o["order_id"] for o in repo.each_in_status(OrderStatus.PENDING)]
    assert every[:20] == [o["order_id"] for o in oldest] and len(every) == 21
    repo.apply(oldest[10]["order_id"], Change(sets={"technical_hold": {"step": "x"}}))  # a step: updated now
    stale = [o["order_id"] for o in repo.each_in_status(OrderStatus.PENDING, updated_before="2026-11-01T00:02",
                                                        or_parked=True)]
    assert stale == [o["order_id"] for o in (oldest[0], oldest[1], oldest[10])]
    placed = set(repo.placed_between("2026-11-01", "2026-11-01"))
    assert placed == {o["order_id"] for o in made}


def test_a_customers_history_filters_on_the_orders_it_reads(stack):
    made = _orders(stack, 24, "PROCESSING", customers=("cust-1", "cust-2"))
    repo = OrdersRepository(stack.env("admin", "ORDERS_TABLE"))
    for order in made[::4]:  # cust-1's every other order
        repo.apply(order["order_id"], Change(status=OrderStatus.SHIPPED))
    module = stack.handler("get_order")
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2", "status": "SHIPPED", **({"cursor": cursor} if cursor else {})}
        event = api_event("GET", "/orders", "/orders", query=query)
        event["multiValueQueryStringParameters"] = {key: [value] for key, value in query.items()}
        status, page = call(module, event, _Ctx())
        assert status == 200, page
        seen += [o["order_id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [o["order_id"] for o in sorted(made[::4], key=lambda o: o["created_key"], reverse=True)]
    everything = repo.all_for_customer("cust-2")
    assert [o["order_id"] for o in everything] == [
        o["order_id"] for o in sorted(made[1::2], key=lambda o: o["created_key"], reverse=True)]
    assert all("lines" in o and "timeline" in o for o in everything)  # whole orders
