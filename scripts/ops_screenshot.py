"""Screenshot of the local ops page for the docs: ``python -m scripts.ops_screenshot`` against a running
``make run`` (its URL from <state dir>/local.json).

Places a few orders of the seeded catalog as a customer (one above the review amount, so the held-orders queue
has an order to approve), waits until their workflows moved on and their metrics were shipped, then saves the
whole page, 1400 px wide, in Chromium from the system's packages (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from local.cli import get_token, load_config

CHROMIUM = "/usr/bin/chromium"
ADDRESS = {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
#: (SKU of local/seed.json, quantity); the camera is above the review amount: held for ops to review.
BASKETS = [("TSHIRT-BLUE-M", 2), ("MUG-LOGO", 1), ("HOODIE-GREY-L", 1), ("STICKER-PACK", 3), ("MUG-LOGO", 2),
           ("CAMERA-PRO", 1)]
SETTLED = {"PROCESSING", "ON_HOLD", "BACKORDERED", "REJECTED", "CANCELLED"}


def place(api: str, token: str, sku: str, quantity: int) -> str:
    body = {"currency": "USD", "lines": [{"sku": sku, "quantity": quantity}], "shipping_address": ADDRESS,
            "shipping_method": "standard", "payment": {"token": "tok_visa"},
            "contact": {"email": "ann@example.com"}}
    answer = requests.post(f"{api}/orders", json=body, timeout=60, headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
    answer.raise_for_status()
    return str(answer.json()["order_id"])


def wait_settled(api: str, token: str, order_ids: list[str], timeout: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        for order_id in order_ids:
            answer = requests.get(f"{api}/orders/{order_id}", timeout=30,
                                  headers={"Authorization": f"Bearer {token}"})
            statuses[order_id] = answer.json().get("status", "?")
        if all(status in SETTLED for status in statuses.values()):
            break
        time.sleep(0.5)
    return statuses


def screenshot(url: str, out: Path, width: int = 1400) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(url)
        page.wait_for_function("Number(document.body.dataset.loaded || 0) >= 1", timeout=30_000)
        page.wait_for_function("!document.querySelector('#kpi-30d .body').textContent.includes('loading')",
                               timeout=30_000)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.ops_screenshot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state-dir", default=".oms", help="the running stack's state dir (local.json)")
    ap.add_argument("--out", default="docs/img/ops-page.png")
    ap.add_argument("--no-orders", action="store_true", help="only take the screenshot")
    args = ap.parse_args(argv)
    config: dict[str, Any] = load_config(args.state_dir)
    api = config["api_url"]
    if not args.no_orders:
        token = get_token(config, "screenshot-customer@example.com")
        orders = [place(api, token, sku, quantity) for sku, quantity in BASKETS]
        for order_id, status in wait_settled(api, token, orders).items():
            print(f"{order_id}: {status}")
        time.sleep(1.5)  # the EMF shipper reads the function logs every 0.5 s
    screenshot(f"{api}/_ops", Path(args.out))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
