"""Time from POST /orders to PROCESSING on the local stack (starts its own on free ports).

    python -m bench.order_latency --orders 50
"""

import argparse
import statistics
import time
import uuid

import requests

from bench.stack import local_stack, order_body, percentile
from local.cli import get_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20)
    args = parser.parse_args()
    with local_stack() as (config, ready):
        api = config["api_url"]
        headers = {"Authorization": f"Bearer {get_token(config, 'bench@example.com')}"}
        posts, to_processing = [], []
        for _ in range(args.orders):
            t0 = time.perf_counter()
            answer = requests.post(f"{api}/orders", json=order_body("STICKER-PACK"), timeout=30,
                                   headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
            posts.append(time.perf_counter() - t0)
            order_id = answer.json()["order_id"]
            while requests.get(f"{api}/orders/{order_id}", headers=headers, timeout=30).json()["status"] != \
                    "PROCESSING":
                time.sleep(0.01)
            to_processing.append(time.perf_counter() - t0)
    ms = lambda values, pct: f"{percentile(values, pct) * 1000:7.0f} ms"  # noqa: E731
    print(f"local stack ready in {ready:.1f} s; {args.orders} orders, sequential (first includes cold starts)")
    print(f"POST /orders            median {ms(posts, 50)}   p95 {ms(posts, 95)}   max {max(posts) * 1000:7.0f} ms")
    print(f"POST -> PROCESSING      median {ms(to_processing, 50)}   p95 {ms(to_processing, 95)}"
          f"   max {max(to_processing) * 1000:7.0f} ms   mean {statistics.mean(to_processing) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
