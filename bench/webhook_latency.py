"""How fast a carrier webhook answers (verify, store, queue) and how soon its event is applied, on the local stack
(starts its own on free ports). One shipped order; generic events for its parcel, sequential.

    python -m bench.webhook_latency --events 50
"""

import argparse
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import requests

from bench.stack import local_stack, order_body, percentile
from local.cli import get_token
from oms.domain.webhook_signatures import generic_signature

STATUSES = ["IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERY_ATTEMPTED"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()
    with local_stack() as (config, ready):
        api = config["api_url"]
        customer = {"Authorization": f"Bearer {get_token(config, 'bench@example.com')}"}
        ops = {"Authorization": f"Bearer {get_token(config, 'ops@example.com', ops=True)}"}
        order_id = requests.post(f"{api}/orders", json=order_body("STICKER-PACK"), timeout=30,
                                 headers={**customer, "Idempotency-Key": uuid.uuid4().hex}).json()["order_id"]
        while requests.get(f"{api}/orders/{order_id}", headers=customer, timeout=30).json()["status"] != "PROCESSING":
            time.sleep(0.05)
        tracking = f"1Z{uuid.uuid4().hex[:12].upper()}"
        requests.post(f"{api}/admin/orders/{order_id}/shipments", headers=ops, timeout=30,
                      json={"carrier": "UPS", "tracking_number": tracking}).raise_for_status()
        secret = config["webhook_secrets"]["generic"]
        answers, applied = [], []
        start = datetime.now(UTC) - timedelta(hours=args.events)
        for n in range(args.events):
            at = (start + timedelta(hours=n)).isoformat()
            body = json.dumps({"event_id": f"bench-{n}-{uuid.uuid4().hex[:6]}", "tracking_number": tracking,
                               "carrier": "UPS", "status": STATUSES[n % len(STATUSES)], "occurred_at": at,
                               "message": f"scan {n}"}).encode()
            t0 = time.perf_counter()
            answer = requests.post(f"{api}/webhooks/tracking/generic", data=body, timeout=30, headers={
                "X-Signature": generic_signature(body, secret, int(time.time())),
                "Content-Type": "application/json"})
            answers.append(time.perf_counter() - t0)
            assert answer.json()["result"] == "accepted", answer.text
            while True:
                view = requests.get(f"{api}/orders/{order_id}/tracking", headers=customer, timeout=30).json()
                if any(e["message"] == f"scan {n}" for e in view["shipments"][0]["events"]):
                    break
                time.sleep(0.01)
            applied.append(time.perf_counter() - t0)
    ms = lambda values, pct: f"{percentile(values, pct) * 1000:7.0f} ms"  # noqa: E731
    print(f"local stack ready in {ready:.1f} s; {args.events} webhook events, sequential (first includes cold starts)")
    for label, values in (("webhook answered", answers), ("event applied", applied)):
        print(f"{label:<24}median {ms(values, 50)}   p95 {ms(values, 95)}   max {max(values) * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
