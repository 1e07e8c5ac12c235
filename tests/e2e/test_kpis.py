"""KPIs over HTTP on the local stack: orders placed, cancelled and delivered reach GET /admin/reports/kpis through
the Orders stream and the projection, and `oms report` prints and draws them.

The stack is shared with the other end-to-end tests, so the figures are read before and after, in a currency no
other test uses (NZD): what moved is what this test did."""

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from local import cli

CURRENCY = "NZD"


def kpis(api: Any, token: str | None = None, **query: str) -> Any:
    today = datetime.now(UTC).date().isoformat()
    return api.call("GET", "/admin/reports/kpis", token or api.ops, params={"from": today, "to": today, **query})


def revenue(report: dict[str, Any]) -> dict[str, int]:
    entry = next((r for r in report["revenue"] if r["currency"] == CURRENCY), None)
    return {"orders": entry["orders"], "amount": entry["amount"]} if entry else {"orders": 0, "amount": 0}


def reason(report: dict[str, Any], section: str, name: str) -> int:
    return next((r["orders"] for r in report[section]["by_reason"] if r["reason"] == name), 0)


def test_placed_cancelled_and_delivered_orders_reach_the_kpis_and_the_report(api, ann, tmp_path, capsys):
    before = kpis(api).json()
    sku = api.product(price=2500, currency=CURRENCY)
    ids = []
    for _ in range(3):
        answer = api.place(ann, sku, currency=CURRENCY)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["order_id"])
    for order_id in ids:
        api.wait(ann, order_id, "PROCESSING")
    cancelled = api.call("POST", f"/orders/{ids[0]}/cancel", ann, json={"reason": "CHANGED_MIND"},
                         headers={"Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 202, cancelled.text  # accepted: the workflow releases and voids, then CANCELLED
    api.wait(ann, ids[0], "CANCELLED")
    delivered = api.deliver(ann, ids[1])
    kept_total = delivered["total"] + api.order(ann, ids[2])["total"]

    deadline, after = time.monotonic() + 30, before
    while time.monotonic() < deadline:
        after = kpis(api).json()
        if (revenue(after)["orders"] - revenue(before)["orders"] == 2
                and after["on_time_delivery"]["delivered"] > before["on_time_delivery"]["delivered"]
                and reason(after, "cancellations", "CHANGED_MIND") > reason(before, "cancellations", "CHANGED_MIND")):
            break
        time.sleep(0.5)
    assert revenue(after) == {"orders": revenue(before)["orders"] + 2,
                              "amount": revenue(before)["amount"] + kept_total}, after["revenue"]
    assert after["orders"] >= before["orders"] + 3
    assert after["fulfillment_time"]["orders"] >= before["fulfillment_time"]["orders"] + 1
    assert after["fulfillment_time"]["p50_minutes"] is not None
    assert after["daily"][-1]["orders"] == after["orders"]

    html = tmp_path / "report.html"
    assert cli.main(["--state-dir", str(api.stack.state_dir), "report", "--from", after["from"], "--to",
                     after["to"], "--html", str(html)]) == 0
    printed = capsys.readouterr().out
    assert "NZ$" in printed or "NZD" in printed, printed
    assert "<svg" in html.read_text()


def test_only_ops_read_the_kpis_and_a_bad_range_names_its_field(api, ann):
    assert kpis(api, ann).status_code == 403
    assert api.call("GET", "/admin/reports/kpis", None, params={"from": "2026-01-01", "to": "2026-01-02"}
                    ).status_code == 401
    refused = kpis(api, **{"from": "2026-12-31", "to": "2026-01-01"})
    assert refused.status_code == 422 and "from" in refused.text
