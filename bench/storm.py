"""A storm on one scarce product: many buyers, few units. Nothing may be oversold.

    python -m bench.storm                      # 200 orders for 10 units, 16 concurrent clients
    python -m bench.storm --orders 400 --units 25 --clients 32
    python -m bench.storm --incoming 15        # backorderable: 15 more units promised from incoming goods
    python -m bench.storm --shards 4           # the SKU's stock split into 4 shards before the storm

Prints what the buyers were told (accepted / refused), where every accepted order ended, and the stock counters,
and checks that the counters agree exactly with the orders that hold stock: reserved = units held by orders in
PROCESSING, available = on_hand - reserved, and no more units held than exist. With ``--incoming`` the product is
backorderable: orders beyond the shelf wait BACKORDERED for incoming goods, and no incoming unit may be promised
twice (backordered = units of BACKORDERED orders <= incoming). With ``--shards`` the counters are checked on every
shard too (each shard's available = on_hand - reserved, the shards add up to the warehouse). Exits 1 when they do
not.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.stack import local_stack, order_body
from local.cli import get_token

FINAL = {"PROCESSING", "BACKORDERED", "CANCELLED", "REJECTED"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--units", type=int, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--incoming", type=int, default=0, help="backorderable, with this many units incoming")
    parser.add_argument("--shards", type=int, default=1, help="split the SKU's stock into this many shards (1-64)")
    args = parser.parse_args()
    with local_stack() as (config, _):
        api = config["api_url"]
        ops = {"Authorization": f"Bearer {get_token(config, 'storm-ops@example.com', ops=True)}"}
        sku = f"STORM-{uuid.uuid4().hex[:6]}"
        requests.put(f"{api}/admin/products/{sku}", headers=ops, timeout=30,
                     json={"name": "Storm", "price": 500, "currency": "USD",
                           "backorderable": args.incoming > 0}).raise_for_status()
        count: dict[str, Any] = {"warehouse": config["warehouses"][0], "on_hand": args.units}
        if args.incoming:
            count["incoming"] = [{"quantity": args.incoming, "eta": "2027-01-15"}]
        if args.shards > 1:
            count["shards"] = args.shards
        requests.put(f"{api}/admin/inventory/{sku}", headers=ops, timeout=30, json=count).raise_for_status()
        buyers = [get_token(config, f"storm-{i}@example.com") for i in range(args.clients)]

        def buy(i: int) -> tuple[int, str | None, str]:
            token = buyers[i % len(buyers)]
            with requests.Session() as http:
                answer = http.post(f"{api}/orders", json=order_body(sku), timeout=60,
                                   headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
            body = answer.json()
            return answer.status_code, body.get("order_id"), token

        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            answers = list(pool.map(buy, range(args.orders)))
        placed_in = time.monotonic() - started
        told = Counter(status for status, _, _ in answers)
        accepted = [(order_id, token) for status, order_id, token in answers if status == 201]
        finals = settle(api, accepted)
        settled_in = time.monotonic() - started
        stock = requests.get(f"{api}/admin/inventory/{sku}", headers=ops, timeout=30).json()
    holding, waiting = finals["PROCESSING"], finals["BACKORDERED"]
    shards = [shard for row in stock["warehouses"] for shard in row.get("by_shard", [])]
    checks = {
        "reserved == units held by PROCESSING orders": stock["reserved"] == holding,
        "available == on_hand - reserved": stock["available"] == stock["on_hand"] - stock["reserved"],
        "on_hand unchanged (nothing shipped)": stock["on_hand"] == args.units,
        "no more units held than exist": holding <= args.units,
        "backordered == units of BACKORDERED orders": stock["backordered"] == waiting,
        "no incoming unit promised twice": stock["backordered"] <= stock["incoming_total"] == args.incoming,
        "every unit sold while buyers were accepted": holding + waiting == min(args.units + args.incoming,
                                                                               len(accepted)),
        "no 5xx": not any(status >= 500 for status in told),
        "every shard: available == on_hand - reserved, none below 0": all(
            s["available"] == s["on_hand"] - s["reserved"] and min(s.values()) >= 0 for s in shards),
        "shards add up to the stock": not shards or all(
            sum(s[name] for s in shards) == stock[name] for name in ("on_hand", "reserved", "available")),
    }
    print(f"{args.orders} orders for {args.units} units of one SKU in {args.shards} shard(s), {args.clients} "
          "concurrent clients")
    print(f"answers: {dict(sorted(told.items()))}  (placed in {placed_in:.1f} s, settled in {settled_in:.1f} s)")
    print(f"accepted orders ended: {dict(sorted(finals.items()))}")
    print(f"stock: on_hand {stock['on_hand']}, reserved {stock['reserved']}, available {stock['available']}, "
          f"incoming {stock['incoming_total']}, backordered {stock['backordered']}")
    for shard in shards:
        print(f"  shard {shard['shard']}: on_hand {shard['on_hand']}, reserved {shard['reserved']}, "
              f"available {shard['available']}")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


def settle(api: str, accepted: list[tuple[Any, str]], timeout: float = 300) -> Counter[str]:
    """Wait until every accepted order has left PENDING; count them by status."""
    deadline = time.monotonic() + timeout
    statuses: dict[str, str] = {}
    with requests.Session() as http:
        while True:
            for order_id, token in accepted:
                if statuses.get(order_id) not in FINAL:
                    statuses[order_id] = http.get(f"{api}/orders/{order_id}", timeout=30,
                                                  headers={"Authorization": f"Bearer {token}"}).json()["status"]
            if all(s in FINAL for s in statuses.values()) or time.monotonic() > deadline:
                return Counter(statuses.values())
            time.sleep(0.5)


if __name__ == "__main__":
    raise SystemExit(main())
