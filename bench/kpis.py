"""The KPI route for a month of 100,000 orders: how big the projection's day items get, how long a report takes,
and what one order change costs the projection.

    python -m bench.kpis [--orders 100000] [--days 31]

Synthetic orders (a realistic mix: 8 % cancelled, 2 % rejected, 80 % shipped within minutes to days, 70 %
delivered, 5 % returned, 3 % held, two currencies) are turned into their contributions by the real
``oms.domain.kpis``; the day items are written to the Kpis table of the synthesized templates on moto (in process)
and the route's use case (``oms.logic.kpis.report``) is timed. Then one order is projected by ``oms.logic.kpis``
and its AWS requests are counted. moto in process stands in for DynamoDB: its timings are an upper bound on the
Python work, not DynamoDB's latency (one Query of ~31 items of up to tens of KB: single-digit milliseconds per page).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import boto3
from moto import mock_aws

from local.deployer import Deployer, deploy_all
from local.synth import synthesize
from oms.adapters.aws import reset
from oms.adapters.ddb import from_item, to_item
from oms.domain import kpis

REASONS = ["CHANGED_MIND", "ORDERED_BY_MISTAKE", "FOUND_BETTER_PRICE", "DELIVERY_TOO_SLOW", "OTHER"]
RETURNS = ["DAMAGED", "DEFECTIVE", "WRONG_ITEM", "NOT_AS_DESCRIBED", "NO_LONGER_NEEDED", "SIZE_OR_FIT"]


def synthetic(n: int, first: date, days: int, rng: random.Random) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    placed = datetime.combine(first + timedelta(days=rng.randrange(days)), datetime.min.time()) + timedelta(
        seconds=rng.randrange(86400))

    def at(minutes: float) -> str:
        return (placed + timedelta(minutes=minutes)).isoformat(timespec="milliseconds") + "Z"

    order: dict[str, Any] = {"order_id": f"ord_{n}", "created_at": at(0), "currency": rng.choice(["USD", "EUR"]),
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
        order["timeline"].append({"at": at(1), "event": "held_for_review"})
        order["review"] = {"at": at(1 + rng.lognormvariate(4, 1))}
    return order, returns


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
    totals: dict[str, Counter[str]] = {}
    for n in range(args.orders):
        order, returns = synthetic(n, first, args.days, rng)
        totals.setdefault(kpis.placement_day(order), Counter()).update(kpis.contributions(order, returns))
    built = time.perf_counter() - started
    sizes = [len(json.dumps(day)) for day in totals.values()]
    print(f"{args.orders:,} orders over {args.days} days: contributions in {built:.1f} s "
          f"({built / args.orders * 1e6:.0f} µs per order)")
    widths = [len(d) for d in totals.values()]
    print(f"day items: {len(totals)}, attributes per item median {statistics.median(widths):.0f} (max {max(widths)}),"
          f" size median {statistics.median(sizes) / 1024:.1f} KiB "
          f"(max {max(sizes) / 1024:.1f} KiB; DynamoDB's item limit is 400 KiB)")

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
        for day, counters in totals.items():
            ddb.put_item(TableName=env["KPIS_TABLE"], Item=ddb_item(day, counters))
        store = KpiRepository(env["KPIS_TABLE"])
        t = time.perf_counter()
        report = use_case.report(first, last, store)
        print(f"GET /admin/reports/kpis for the month, use case on in-process moto: {time.perf_counter() - t:.1f} s "
              f"(moto's Query of items this wide is the slow part); orders {report['orders']:,}, fulfilment "
              f"p50/p90 {report['fulfillment_time']['p50_minutes']}/{report['fulfillment_time']['p90_minutes']} min, "
              f"on time {report['on_time_delivery']['rate']}")
        # Our own work once DynamoDB has answered: the pages' JSON parsed, the items deserialized, the report summed.
        raw = json.dumps({"Items": [ddb_item(day, c) for day, c in totals.items()]})
        timings = []
        for _ in range(7):
            t = time.perf_counter()
            items = [from_item(item) for item in json.loads(raw)["Items"]]
            days = {str(i.pop("sk")): {k: int(v) for k, v in i.items() if k != "pk"} for i in items}
            kpis.report(days, first, last, "now")
            timings.append(time.perf_counter() - t)
        print(f"the same report's own work after DynamoDB answers ({len(raw) / 2**20:.1f} MiB of JSON, "
              f"{-(-len(raw) // 2**20)} Query pages of 1 MB): median {statistics.median(timings) * 1000:.0f} ms of 7")

        order, returns = synthetic(args.orders, first, 1, rng)
        order["created_key"] = f"{order['created_at']}#{order['order_id']}"
        ddb.put_item(TableName=env["ORDERS_TABLE"], Item=to_item(order))
        calls: Counter[str] = Counter()
        from oms.adapters import aws

        aws.client("dynamodb").meta.events.register("before-call.dynamodb",
                                                    lambda model, **kw: calls.update([model.name]))
        use_case.project(order["order_id"], OrdersRepository(env["ORDERS_TABLE"]),
                         ReturnsRepository(env["RETURNS_TABLE"]), KpiRepository(env["KPIS_TABLE"]))
        print(f"one order change projected: {sum(calls.values())} DynamoDB requests ({dict(sorted(calls.items()))})")
    reset()


def ddb_item(day: str, counters: Counter[str]) -> dict[str, Any]:
    return {"pk": {"S": "day"}, "sk": {"S": day}, **{k: {"N": str(v)} for k, v in counters.items()}}


if __name__ == "__main__":
    main()
