"""AWS requests per order, counted by moto's request recorder on the local stack (not estimated).

    python -m bench.aws_requests --orders 10

Every function's SDK user agent carries ``oms-function/<name>``, so each recorded request is attributed to the
function that made it. Printed: the synchronous path of ``POST /orders`` (new and replayed), every request each
function made for one order from placement to PROCESSING, and (``--returns N``) for one return of a delivered order
from its request to CLOSED (approved by policy, a carrier event, received, refunded, three emails), and
(``--accounts N``) each account route once, for a customer with one cancelled order.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests

from bench.stack import local_stack, order_body
from local.cli import get_token

ORIGIN = re.compile(r"oms-function/(\w+)")


def operation(entry: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    action = parse_qs(body).get("Action")  # the query protocol (SES, SNS)
    return action[0] if action else f"{entry['method']} {entry['url']}"


def recorded(path: Path) -> list[tuple[str, str]]:
    """(origin function, operation) per recorded request."""
    out = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        agent = {k.lower(): v for k, v in entry["headers"].items()}.get("user-agent", "")
        found = ORIGIN.search(agent)
        out.append((found.group(1) if found else "local-stack", operation(entry)))
    return out


class Recorder:
    def __init__(self, aws: str, path: Path) -> None:
        self.aws, self.path = aws, path

    def __enter__(self) -> Recorder:
        requests.post(f"{self.aws}/moto-api/recorder/reset-recording", timeout=10)
        requests.post(f"{self.aws}/moto-api/recorder/start-recording", timeout=10)
        return self

    def __exit__(self, *exc: Any) -> None:
        requests.post(f"{self.aws}/moto-api/recorder/stop-recording", timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10)
    parser.add_argument("--returns", type=int, default=5)
    parser.add_argument("--accounts", type=int, default=3, help="customers taken from profile to deletion")
    args = parser.parse_args()
    returns: Counter[str] = Counter()
    accounts: dict[str, Counter[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recording.jsonl"
        with local_stack(MOTO_RECORDER_FILEPATH=str(path)) as (config, _):
            api, aws = config["api_url"], config["aws_endpoint_url"]
            headers = {"Authorization": f"Bearer {get_token(config, 'bench@example.com')}"}
            new, replay, lifecycle = Counter(), Counter(), Counter()
            per_post, per_replay = [], []
            for _ in range(args.orders):
                key = uuid.uuid4().hex
                with Recorder(aws, path):
                    answer = requests.post(f"{api}/orders", json=order_body("STICKER-PACK"), timeout=30,
                                           headers={**headers, "Idempotency-Key": key})
                    order_id = answer.json()["order_id"]
                    while requests.get(f"{api}/orders/{order_id}", headers=headers, timeout=30).json()[
                            "status"] != "PROCESSING":
                        time.sleep(0.02)
                    time.sleep(1.5)  # let the notification of PROCESSING be sent and recorded
                calls = recorded(path)
                placement = [op for origin, op in calls if origin == "place_order"]
                per_post.append(len(placement))
                new.update(placement)
                lifecycle.update(f"{origin}: {op}" for origin, op in calls
                                 if origin not in ("local-stack", "get_order"))
                with Recorder(aws, path):
                    requests.post(f"{api}/orders", json=order_body("STICKER-PACK"), timeout=30,
                                  headers={**headers, "Idempotency-Key": key})
                replayed = [op for origin, op in recorded(path) if origin == "place_order"]
                per_replay.append(len(replayed))
                replay.update(replayed)
            ops = {"Authorization": f"Bearer {get_token(config, 'bench-ops@example.com', ops=True)}"}
            for _ in range(args.returns):
                returns.update(measure_return(config, path, headers, ops))
            for _ in range(args.accounts):
                for route, found in measure_account(config, path).items():
                    accounts.setdefault(route, Counter()).update(found)
    print(f"{args.orders} orders; requests recorded by moto, attributed by user agent")
    print(f"POST /orders, new order:   {min(per_post)}-{max(per_post)} AWS requests "
          f"({', '.join(f'{op} x{n / args.orders:g}' for op, n in new.items())})")
    print(f"POST /orders, replay:      {min(per_replay)}-{max(per_replay)} AWS requests "
          f"({', '.join(f'{op} x{n / args.orders:g}' for op, n in replay.items())})")
    print("placement -> PROCESSING, per order, by function:")
    for name, count in sorted(lifecycle.items()):
        print(f"  {name:45s} {count / args.orders:g}")
    print(f"  {'total':45s} {sum(lifecycle.values()) / args.orders:g}")
    if args.returns:
        print("one return, request -> CLOSED, by function:")
        for name, count in sorted(returns.items()):
            print(f"  {name:45s} {count / args.returns:g}")
        print(f"  {'total':45s} {sum(returns.values()) / args.returns:g}")
    if args.accounts:
        print("account routes, AWS requests per call (the customer has one cancelled order):")
        for route, found in accounts.items():
            detail = ", ".join(f"{op} x{n / args.accounts:g}" for op, n in sorted(found.items()))
            print(f"  {route:45s} {sum(found.values()) / args.accounts:g}  ({detail})")


def measure_return(config: dict[str, Any], path: Path, customer: dict[str, str], ops: dict[str, str]) -> Counter[str]:
    """Deliver an order, then record everything one return of it does until it is CLOSED."""
    from oms.domain.easypost import sign

    api, aws = config["api_url"], config["aws_endpoint_url"]

    def webhook(number: str, status: str) -> None:
        body = json.dumps({"object": "Event", "id": f"evt_{uuid.uuid4().hex}", "description": "tracker.updated",
                           "result": {"object": "Tracker", "tracking_code": number, "status": status,
                                      "carrier": "UPS", "tracking_details": [
                                          {"datetime": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "status": status,
                                           "message": status}]}})
        requests.post(f"{api}/webhooks/tracking/easypost", data=body, timeout=30, headers={
            "X-Hmac-Signature": sign(body.encode(), config["webhook_secrets"]["easypost"]),
            "Content-Type": "application/json"})

    polls = Counter[str]()

    def until(url: str, headers: dict[str, str], status: str) -> None:
        while requests.get(url, headers=headers, timeout=30).json()["status"] != status:
            time.sleep(0.05)
            polls["returns: GetItem"] += "/returns/" in url  # each poll of a return reads it once
        polls["returns: GetItem"] += "/returns/" in url

    order_id = requests.post(f"{api}/orders", json=order_body("STICKER-PACK"), timeout=30,
                             headers={**customer, "Idempotency-Key": uuid.uuid4().hex}).json()["order_id"]
    until(f"{api}/orders/{order_id}", customer, "PROCESSING")
    number = f"1Z{uuid.uuid4().hex[:12].upper()}"
    requests.post(f"{api}/admin/orders/{order_id}/shipments", json={"carrier": "UPS", "tracking_number": number},
                  headers=ops, timeout=30)
    until(f"{api}/orders/{order_id}", customer, "SHIPPED")
    webhook(number, "delivered")
    until(f"{api}/orders/{order_id}", customer, "DELIVERED")
    time.sleep(1.5)
    with Recorder(aws, path):
        rma = requests.post(f"{api}/orders/{order_id}/returns", timeout=30,
                            json={"lines": [{"sku": "STICKER-PACK", "quantity": 1, "reason": "DAMAGED"}]},
                            headers={**customer, "Idempotency-Key": uuid.uuid4().hex}).json()["return_id"]
        until(f"{api}/orders/{order_id}/returns/{rma}", customer, "APPROVED")
        parcel = f"1ZRET{uuid.uuid4().hex[:10].upper()}"
        requests.post(f"{api}/orders/{order_id}/returns/{rma}/parcel", headers=customer, timeout=30,
                      json={"carrier": "UPS", "tracking_number": parcel})
        webhook(parcel, "in_transit")
        until(f"{api}/orders/{order_id}/returns/{rma}", customer, "IN_TRANSIT")
        requests.post(f"{api}/admin/returns/{rma}/receive", headers=ops, timeout=30,
                      json={"lines": [{"sku": "STICKER-PACK", "quantity": 1, "condition": "RESELLABLE"}]})
        until(f"{api}/orders/{order_id}/returns/{rma}", customer, "CLOSED")
        time.sleep(1.5)  # the emails
    found = Counter(f"{origin}: {op}" for origin, op in recorded(path) if origin not in ("local-stack", "get_order"))
    found.subtract(polls)  # the bench's own polling is not the return's cost
    return +found


def measure_account(config: dict[str, Any], path: Path) -> dict[str, Counter[str]]:
    """Each account route once, recorded alone: what the customers function (and its gateway) asks of AWS."""
    api, aws = config["api_url"], config["aws_endpoint_url"]
    customer = {"Authorization": f"Bearer {get_token(config, f'bench-{uuid.uuid4().hex[:8]}@example.com')}"}
    order_id = requests.post(f"{api}/orders", json=order_body("STICKER-PACK"), timeout=30,
                             headers={**customer, "Idempotency-Key": uuid.uuid4().hex}).json()["order_id"]
    while requests.get(f"{api}/orders/{order_id}", headers=customer, timeout=30).json()["status"] != "PROCESSING":
        time.sleep(0.05)
    requests.post(f"{api}/orders/{order_id}/cancel", json={"reason": "CHANGED_MIND"}, timeout=30,
                  headers={**customer, "Idempotency-Key": uuid.uuid4().hex})
    while requests.get(f"{api}/orders/{order_id}", headers=customer, timeout=30).json()["status"] != "CANCELLED":
        time.sleep(0.05)
    time.sleep(1.5)  # the cancellation's messages
    address = {"name": "Bea Bench", "line1": "1 Bench St", "city": "Springfield", "postal_code": "12345",
               "country": "US"}
    calls = [
        ("PUT /customers/me", "PUT", "/customers/me", {"name": "Bea Bench", "locale": "en-US"}),
        ("GET /customers/me", "GET", "/customers/me", None),
        ("POST /customers/me/addresses", "POST", "/customers/me/addresses", {"address": address}),
        ("POST /customers/me/payment-methods (first)", "POST", "/customers/me/payment-methods",
         {"token": "tok_visa"}),
        ("POST /customers/me/payment-methods (second)", "POST", "/customers/me/payment-methods",
         {"token": "tok_mastercard"}),
        ("GET /customers/me/export", "GET", "/customers/me/export", None),
        ("DELETE /customers/me", "DELETE", "/customers/me", None),
    ]
    found: dict[str, Counter[str]] = {}
    for label, method, route, body in calls:
        with Recorder(aws, path):
            answer = requests.request(method, f"{api}{route}", json=body, headers=customer, timeout=30)
            assert answer.status_code < 300, answer.text
        found[label] = Counter(op for origin, op in recorded(path) if origin == "customers")
    return found


if __name__ == "__main__":
    main()
