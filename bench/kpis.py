"""The KPI projection for a month of 100,000 orders: what one order change writes (WCU from item sizes), how big
the items get, how many there are per day, and what a report reads and how long it takes.

    python -m bench.kpis [--orders 100000] [--days 31]

Synthetic orders (a realistic mix: 8 % cancelled, 2 % rejected, 80 % shipped within minutes to days, 70 %
delivered, 5 % returned, 3 % held, two currencies) go through their life (placed, held and reviewed, shipped,
delivered, returned, cancelled or rejected) and each step's difference is split into the family items of the
order's shard by the real ``oms.domain.kpis``. WCU come from the items' sizes (DynamoDB's size rules; 1 WCU per
started KB, x2 in a transaction) at the end of the month, the largest they get: an upper bound. The same is
computed for the layout before (one item per day holding every counter, exact minutes) for comparison. The items are
then written to the Kpis table of the synthesized templates on moto (in process), the route's use case
(``oms.logic.kpis.report``) is timed with its requests counted, and one order is projected by ``oms.logic.kpis``
with its AWS requests counted. moto in process stands in for DynamoDB: its timings are an upper bound on the Python
work, not DynamoDB's latency.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from moto import mock_aws

from local.deployer import Deployer, deploy_all
from local.synth import synthesize
from oms.adapters.aws import reset
from oms.adapters.ddb import to_item
from oms.domain import kpis

REASONS = ["CHANGED_MIND", "ORDERED_BY_MISTAKE", "FOUND_BETTER_PRICE", "DELIVERY_TOO_SLOW", "OTHER"]
RETURNS = ["DAMAGED", "DEFECTIVE", "WRONG_ITEM", "NOT_AS_DESCRIBED", "NO_LONGER_NEEDED", "SIZE_OR_FIT"]
KB = 1024
TRANSACTION = 2  # a transactional write costs twice a plain one


def synthetic(n: int, first: date, days: int, rng: random.Random) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    placed = datetime.combine(first + timedelta(days=rng.randrange(days)), datetime.min.time()) + timedelta(
        seconds=rng.randrange(86400))

    def at(minutes: float) -> str:
        return (placed + timedelta(minutes=minutes)).isoformat(timespec="milliseconds") + "Z"

    order: dict[str, Any] = {"order_id": f"ord_{n:024x}", "created_at": at(0), "currency": rng.choice(["USD", "EUR"]),
                             "total": rng.randrange(500, 50000), "status": "PROCESSING", "timeline": [],
                             "expected_delivery": {"latest": (placed + timedelta(days=5)).date().isoformat()}}
    roll = rng.random()
    returns: list[dict[str, Any]] = []
    if roll < 0.08:
        order["status"] = "CANCELLED"
        order["cancellation"] = {"reason": rng.choice(REASONS)}
    elif roll < 0.10:
        order["status"] = "REJECTED"
        order["close_reason"] = rng.choice(["payment_declined", "fraud", "out_of_stock"])
    elif roll < 0.90:
        ship = rng.lognormvariate(6, 1.2)  # minutes: a median of ~7 hours, a long tail of days
        order["timeline"].append({"at": at(ship), "event": "shipped"})
        if rng.random() < 0.875:
            order["delivered_at"] = at(ship + rng.lognormvariate(7.8, 0.5))  # ~2 days
            if rng.random() < 0.07:
                returns.append({"return_id": f"ret_{n}", "status": "APPROVED",
                                "lines": [{"reason": rng.choice(RETURNS)}]})
    if rng.random() < 0.03:
        order["timeline"].insert(0, {"at": at(1), "event": "held_for_review"})
        order["review"] = {"at": at(1 + rng.lognormvariate(4, 1))}
    return order, returns


def life(order: dict[str, Any], returns: list[dict[str, Any]]) -> Iterator[dict[str, int]]:
    """The order's contribution after each step that can move a counter: placed, held, reviewed, shipped,
    delivered, returned, then cancelled or rejected."""
    state: dict[str, Any] = {**order, "status": "PROCESSING", "timeline": [], "review": None}
    for key in ("delivered_at", "cancellation", "close_reason"):
        state.pop(key, None)
    yield kpis.contributions(state)
    for event in order["timeline"]:
        state["timeline"] = [*state["timeline"], event]
        yield kpis.contributions(state)
        if event["event"] == "held_for_review" and order.get("review"):
            state["review"] = order["review"]
            yield kpis.contributions(state)
    if order.get("delivered_at"):
        state["delivered_at"] = order["delivered_at"]
        yield kpis.contributions(state)
    if returns:
        yield kpis.contributions(state, returns)
    if order["status"] != "PROCESSING":
        yield kpis.contributions(order, returns)


# DynamoDB's item size: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html

def value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        digits = str(abs(Decimal(value)).normalize()).replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + value_size(v) + 1 for k, v in value.items())
    return 3 + sum(value_size(v) + 1 for v in value)


def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(str(k).encode()) + value_size(v) for k, v in item.items())


def fact_size(order_id: str, day: str, contribution: Mapping[str, int]) -> int:
    return item_size({"pk": f"order#{order_id}", "sk": "fact", "day": day, "revision": 5, "layout": 2,
                      "contribution": contribution})


def units(size: int) -> int:
    return math.ceil(size / KB)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=31)
    args = ap.parse_args()
    for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench", "POWERTOOLS_TRACE_DISABLED": "true"}.items():
        os.environ.setdefault(key, value)
    rng, first = random.Random(13), date(2026, 11, 1)
    last = first + timedelta(days=args.days - 1)
    started = time.perf_counter()
    orders = [synthetic(n, first, args.days, rng) for n in range(args.orders)]
    # Every step's difference, as the projection writes it: (order, day, families moved, the fact after it).
    items: dict[tuple[int, str, str], Counter[str]] = {}
    changes: list[tuple[str, str, list[str], dict[str, int]]] = []
    for order, returns in orders:
        day, old = kpis.placement_day(order), dict[str, int]()
        for new in life(order, returns):
            moved = kpis.families(kpis.difference(old, new))
            if moved:
                changes.append((order["order_id"], day, sorted(moved), new))
                for family, increments in moved.items():
                    items.setdefault((kpis.shard(order["order_id"]), day, family), Counter()).update(increments)
            old = new
    built = time.perf_counter() - started
    print(f"{args.orders:,} orders over {args.days} days, {kpis.SHARDS} shards: {len(changes):,} projected changes "
          f"({len(changes) / args.orders:.2f} per order), built in {built:.1f} s")

    sizes = {key: item_size({"pk": f"day#{key[0]}", "sk": f"{key[1]}#{key[2]}", **counters})
             for key, counters in items.items()}
    wcu = [TRANSACTION * (units(fact_size(oid, day, fact)) + sum(units(sizes[(kpis.shard(oid), day, f)])
                                                                 for f in moved))
           for oid, day, moved, fact in changes]
    largest = max(sizes, key=lambda k: sizes[k])
    full: dict[str, dict[str, int]] = {}
    for prefix in kpis.HISTOGRAMS:
        for lower in kpis.BUCKETS:
            name, attribute = kpis.family(f"{prefix}#{lower}")
            full.setdefault(name, {})[attribute] = 99_999_999  # every bucket, 100 M orders in one shard and day
    worst = max(item_size({"pk": f"day#{kpis.SHARDS - 1}", "sk": f"2026-11-30#{name}", **attributes})
                for name, attributes in full.items())
    print(f"a histogram item at any volume (all {kpis.BAND} buckets, 8-digit counts): at most {worst} bytes")
    per_day = Counter(day for _, day, _ in items)
    by_family = Counter(f.split("#")[0] for _, _, f in items)
    print(f"WCU per projected change (end-of-month item sizes, x{TRANSACTION} in the transaction): mean "
          f"{statistics.mean(wcu):.2f}, median {statistics.median(wcu):.0f}, max {max(wcu)}; "
          f"{sum(wcu) / args.orders:.1f} per order")
    print(f"largest item: {sizes[largest]:,} bytes (day#{largest[0]} {largest[1]}#{largest[2]}); "
          f"items over 1 KB: {sum(s > KB for s in sizes.values())} of {len(sizes):,}")
    print(f"items per day: median {statistics.median(per_day.values()):.0f}, max {max(per_day.values())} "
          f"(at most {kpis.SHARDS} shards x {1 + len(kpis.REASONS) + 3 * 8} families = "
          f"{kpis.SHARDS * (1 + len(kpis.REASONS) + 3 * 8)} whatever the volume); by family "
          f"{dict(sorted(by_family.items()))}")
    shard_wcu = [0] * kpis.SHARDS
    for oid, day, written, _ in changes:
        n = kpis.shard(oid)
        shard_wcu[n] += TRANSACTION * sum(units(sizes[(n, day, f)]) for f in written)
    hottest = max(shard_wcu) / args.orders  # the busiest shard key's WCU per order placed (all shards' orders)
    share = max(Counter(kpis.shard(order["order_id"]) for order, _ in orders).values()) / args.orders
    print(f"the busiest shard key (pk day#<n>, {share:.1%} of the orders) takes {hottest:.3f} WCU per order placed "
          f"over the orders' lives: at 1,000 orders/s {hottest * 1000:.0f} WCU/s, sustained 5,000 orders/s "
          f"{hottest * 5000:.0f} WCU/s (a partition: 1,000 WCU/s); a burst of placements alone (the core item) "
          f"at 5,000 orders/s: {5000 * TRANSACTION * share:.0f} WCU/s")
    before(orders)

    templates = synthesize()
    reset()
    with mock_aws():
        deployment = deploy_all(Deployer(boto3.Session()), templates)
        env = next(f.environment for f in deployment.functions.values() if f.name.startswith("OmsOps")
                   and "KPIS_TABLE" in f.environment)
        os.environ.update({k: v for k, v in env.items() if k.endswith("_TABLE")})
        from oms.adapters.kpis_repo import KpiRepository
        from oms.adapters.orders_repo import OrdersRepository
        from oms.adapters.returns_repo import ReturnsRepository
        from oms.logic import kpis as use_case

        ddb = boto3.client("dynamodb")
        puts = [{"PutRequest": {"Item": {"pk": {"S": f"day#{n}"}, "sk": {"S": f"{day}#{family}"},
                                         **{k: {"N": str(v)} for k, v in counters.items()}}}}
                for (n, day, family), counters in items.items()]
        for start in range(0, len(puts), 25):
            ddb.batch_write_item(RequestItems={env["KPIS_TABLE"]: puts[start:start + 25]})
        calls: Counter[str] = Counter()
        from oms.adapters import aws

        aws.client("dynamodb").meta.events.register("before-call.dynamodb",
                                                    lambda model, **kw: calls.update([model.name]))
        store = KpiRepository(env["KPIS_TABLE"])
        t = time.perf_counter()
        report = use_case.report(first, last, store)
        took = time.perf_counter() - t
        print(f"GET /admin/reports/kpis for the month, use case on in-process moto: {took:.2f} s (moto's Query "
              f"walks the whole table each time: not DynamoDB's time), "
              f"{dict(calls)} requests ({kpis.SHARDS} shards, {len(items):,} items of "
              f"{sum(sizes.values()) / 2**20:.1f} MiB); orders {report['orders']:,}, fulfilment p50/p90 "
              f"{report['fulfillment_time']['p50_minutes']}/{report['fulfillment_time']['p90_minutes']} min, "
              f"on time {report['on_time_delivery']['rate']}")
        # Our own work once DynamoDB has answered: the pages' JSON parsed, the items added up
        # (``kpis_repo.add_items``, what the repository does with each page), the report computed.
        from oms.adapters.kpis_repo import add_items

        raw = json.dumps({"Items": [p["PutRequest"]["Item"] for p in puts]})
        timings = []
        for _ in range(7):
            t = time.perf_counter()
            days: dict[str, dict[str, int]] = {}
            add_items(days, json.loads(raw)["Items"])
            kpis.report(days, first, last, "now")
            timings.append(time.perf_counter() - t)
        print(f"the same report's own work after DynamoDB answers ({len(raw) / 2**20:.1f} MiB of JSON, "
              f"{len(puts):,} items): median {statistics.median(timings) * 1000:.0f} ms of 7")

        order, returns = synthetic(args.orders, first, 1, rng)
        order["created_key"] = f"{order['created_at']}#{order['order_id']}"
        ddb.put_item(TableName=env["ORDERS_TABLE"], Item=to_item(order))
        calls.clear()
        use_case.project(order["order_id"], OrdersRepository(env["ORDERS_TABLE"]),
                         ReturnsRepository(env["RETURNS_TABLE"]), store)
        print(f"one order change projected: {sum(calls.values())} DynamoDB requests ({dict(sorted(calls.items()))})")
    reset()


def before(orders: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    """The layout before: one item per day with every counter, durations to the exact minute."""
    bucket, kpis.bucket = kpis.bucket, lambda minutes: minutes
    try:
        days: dict[str, Counter[str]] = {}
        changes: list[tuple[str, str, dict[str, int]]] = []
        for order, returns in orders:
            day, old = kpis.placement_day(order), dict[str, int]()
            for new in life(order, returns):
                if kpis.difference(old, new):
                    changes.append((order["order_id"], day, new))
                old = new
            days.setdefault(day, Counter()).update(kpis.contributions(order, returns))
    finally:
        kpis.bucket = bucket
    sizes = {day: item_size({"pk": "day", "sk": day, **counters}) for day, counters in days.items()}
    wcu = [TRANSACTION * (units(fact_size(oid, day, fact)) + units(sizes[day])) for oid, day, fact in changes]
    print(f"before (one day item, exact minutes): WCU per change mean {statistics.mean(wcu):.0f}, largest item "
          f"{max(sizes.values()) / KB:.1f} KiB, every change on one key per day: at 1,000 orders/s "
          f"{statistics.mean(wcu) * len(changes) / len(orders) * 1000:,.0f} WCU/s on it")


if __name__ == "__main__":
    main()
