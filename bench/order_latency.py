"""Time from POST /orders to PROCESSING on the local stack (starts its own on free ports).

    make bench            # 20 orders, sequential
    python -m bench.order_latency --orders 50
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from local.cli import get_token

ROOT = Path(__file__).resolve().parents[1]
ADDRESS = {"name": "Bench", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


def start_stack(state_dir: str) -> tuple[subprocess.Popen[bytes], dict, float]:
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "local", "--api-port", "0", "--aws-port", "0",
                             "--state-dir", state_dir], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
    state = Path(state_dir) / "local.json"
    while not state.exists():
        if proc.poll() is not None or time.monotonic() - started > 180:
            raise SystemExit("local stack did not start")
        time.sleep(0.1)
    return proc, json.loads(state.read_text()), time.monotonic() - started


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        proc, config, ready = start_stack(state_dir)
        try:
            api = config["api_url"]
            token = get_token(config, "bench@example.com")
            headers = {"Authorization": f"Bearer {token}"}
            posts, to_processing = [], []
            for _ in range(args.orders):
                body = {"currency": "USD", "lines": [{"sku": "STICKER-PACK", "quantity": 1}],
                        "shipping_address": ADDRESS, "shipping_method": "standard", "payment": {"token": "tok_visa"},
                        "contact": {"email": "bench@example.com"}}
                t0 = time.perf_counter()
                answer = requests.post(f"{api}/orders", json=body, timeout=30,
                                       headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
                posts.append(time.perf_counter() - t0)
                order_id = answer.json()["order_id"]
                while requests.get(f"{api}/orders/{order_id}", headers=headers, timeout=30).json()["status"] != \
                        "PROCESSING":
                    time.sleep(0.01)
                to_processing.append(time.perf_counter() - t0)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    ms = lambda values, pct: f"{percentile(values, pct) * 1000:7.0f} ms"  # noqa: E731
    print(f"local stack ready in {ready:.1f} s; {args.orders} orders, sequential (first includes cold starts)")
    print(f"POST /orders            median {ms(posts, 50)}   p95 {ms(posts, 95)}   max {max(posts) * 1000:7.0f} ms")
    print(f"POST -> PROCESSING      median {ms(to_processing, 50)}   p95 {ms(to_processing, 95)}"
          f"   max {max(to_processing) * 1000:7.0f} ms   mean {statistics.mean(to_processing) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
