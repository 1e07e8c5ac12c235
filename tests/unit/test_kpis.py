"""KPIs from orders: each order's contribution, the report over days, percentiles by nearest rank, duration buckets,
and how the totals are split into family items and write shards."""

from collections import Counter
from datetime import date, timedelta
from typing import Any

from oms.domain import kpis

DAY1, DAY2 = "2026-11-02", "2026-11-03"


def order(n: int, day: str = DAY1, *, status: str = "PROCESSING", total: int = 1000, currency: str = "USD",
          shipped_after: int | None = None, delivered_after: int | None = None, latest: str = "2026-11-10",
          held_for: int | None = None, backordered: bool = False, cancel_reason: str | None = None,
          close_reason: str | None = None) -> dict[str, Any]:
    """An order placed at 10:00 on ``day``; times in minutes after placement."""
    placed = f"{day}T10:00:00.000Z"
    timeline = [{"at": placed, "event": "order_placed", "detail": ""}]
    out: dict[str, Any] = {"order_id": f"ord_{n}", "created_at": placed, "created_key": f"{placed}#ord_{n}",
                           "status": status, "total": total,
                           "currency": currency, "timeline": timeline, "shipments": {},
                           "expected_delivery": {"earliest": "2026-11-05", "latest": latest}}

    def at(minutes: int) -> str:
        return (kpis.parse_time(placed) + timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z")

    if held_for is not None:
        timeline.append({"at": at(1), "event": "held_for_review", "detail": ""})
        out["review"] = {"decision": "approve", "note": "", "reviewer": "ops", "at": at(1 + held_for)}
    if backordered:
        timeline.append({"at": at(2), "event": "backordered", "detail": ""})
    if shipped_after is not None:
        timeline.append({"at": at(shipped_after), "event": "shipped", "detail": ""})
        out["shipments"] = {"1Z": {"created_at": at(shipped_after - 5)}}
    if delivered_after is not None:
        out["delivered_at"] = at(delivered_after)
    if cancel_reason:
        out["cancellation"] = {"reason": cancel_reason, "note": "", "by": "customer", "at": at(3), "fee": 0}
    if close_reason:
        out["close_reason"] = close_reason
    return out


def ret(order_id: str, *reasons: str, status: str = "APPROVED") -> dict[str, Any]:
    return {"return_id": f"ret_{order_id}_{status}", "order_id": order_id, "status": status,
            "lines": [{"sku": "S", "quantity": 1, "reason": r} for r in reasons]}


def seeded_rows() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Ten orders over two days with their returns; each KPI's figures are counted by hand in the test below."""
    return [
        (order(1, shipped_after=120, delivered_after=120 + 2880), [ret("ord_1", "WRONG_ITEM", "DAMAGED")]),
        (order(2, shipped_after=240, delivered_after=240 + 1440), []),
        (order(3, shipped_after=60, delivered_after=60 + 20000, latest="2026-11-05"), []),  # late
        (order(4, status="CANCELLED", cancel_reason="CHANGED_MIND", total=500), []),
        (order(5, status="REJECTED", close_reason="payment_declined:card_declined", total=700), []),
        (order(6, held_for=30, shipped_after=600), [ret("ord_6", "SIZE_OR_FIT", status="CANCELLED")]),
        (order(7, DAY2, currency="EUR", total=2000, held_for=90, backordered=True), []),
        (order(8, DAY2, currency="EUR", total=3000, shipped_after=30), [ret("ord_8", "SIZE_OR_FIT")]),
        (order(9, DAY2, status="CANCELLED", cancel_reason="CHANGED_MIND", held_for=10), []),
        (order(10, DAY2, status="CANCELLED", close_reason="out_of_stock"), []),
    ]


def seeded() -> dict[str, dict[str, int]]:
    days: dict[str, dict[str, int]] = {}
    for o, returns in seeded_rows():
        day = days.setdefault(kpis.placement_day(o), {})
        for key, value in kpis.contributions(o, returns).items():
            day[key] = day.get(key, 0) + value
    return days


def test_the_report_agrees_with_figures_counted_by_hand():
    check_seeded_report(kpis.report(seeded(), date(2026, 11, 1), date(2026, 11, 3), "now"))


def check_seeded_report(report: Any) -> None:
    """The figures of ``seeded_rows`` placed from 2026-11-01 to 2026-11-03, counted by hand."""
    assert report["orders"] == 10
    # Kept (not cancelled, not rejected): USD 1, 2, 3, 6 = 4000; EUR 7, 8 = 5000.
    assert report["revenue"] == [{"currency": "EUR", "orders": 2, "amount": 5000, "average_order_value": 2500},
                                 {"currency": "USD", "orders": 4, "amount": 4000, "average_order_value": 1000}]
    # Shipped: 1 (120), 2 (240), 3 (60), 6 (600), 8 (30) -> sorted 30 60 120 240 600: p50 rank 3, p90 rank 5.
    assert report["fulfillment_time"] == {"orders": 5, "p50_minutes": 120, "p90_minutes": 600}
    # Delivered: 1 (2880), 2 (1440), 3 (20000; promised by 11-05, came 11-16) -> p50 2880, p90 20000, which counts
    # in the 1-day bucket from 13 days (18720 minutes).
    assert report["delivery_time"] == {"orders": 3, "p50_minutes": 2880, "p90_minutes": 18720}
    assert report["on_time_delivery"] == {"delivered": 3, "on_time": 2, "rate": 0.6667}
    assert report["cancellations"] == {"orders": 3, "rate": 0.3, "by_reason": [
        {"reason": "CHANGED_MIND", "orders": 2, "rate": 0.2}, {"reason": "out_of_stock", "orders": 1, "rate": 0.1}]}
    assert report["rejections"] == {"orders": 1, "rate": 0.1,
                                    "by_reason": [{"reason": "payment_declined", "orders": 1, "rate": 0.1}]}
    # Returns over shipped orders: 1 (WRONG_ITEM + DAMAGED) and 8 (SIZE_OR_FIT); 6's return was cancelled.
    assert report["returns"] == {"orders": 2, "rate": 0.4, "by_reason": [
        {"reason": "DAMAGED", "orders": 1, "rate": 0.2}, {"reason": "SIZE_OR_FIT", "orders": 1, "rate": 0.2},
        {"reason": "WRONG_ITEM", "orders": 1, "rate": 0.2}]}
    assert report["order_accuracy"] == {"shipped": 5, "accurate": 4, "rate": 0.8}
    assert report["backorders"] == {"orders": 1, "rate": 0.1}
    # Held: 6 (30 min), 7 (90), 9 (10) -> median (rank 2 of 10 30 90) 30.
    assert report["holds"] == {"orders": 3, "rate": 0.3, "reviewed": 3, "median_review_minutes": 30}
    assert [d["date"] for d in report["daily"]] == ["2026-11-01", DAY1, DAY2]
    assert report["daily"][0] == {"date": "2026-11-01", "orders": 0, "cancelled": 0, "shipped": 0, "delivered": 0,
                                  "revenue": []}
    assert report["daily"][2] == {"date": DAY2, "orders": 4, "cancelled": 2, "shipped": 1, "delivered": 0,
                                  "revenue": [{"currency": "EUR", "amount": 5000}]}


def test_a_range_without_orders_has_no_rates():
    report = kpis.report({}, date(2026, 11, 1), date(2026, 11, 1), "now")
    assert report["orders"] == 0 and report["revenue"] == []
    assert report["on_time_delivery"]["rate"] is None and report["order_accuracy"]["rate"] is None
    assert report["fulfillment_time"] == {"orders": 0, "p50_minutes": None, "p90_minutes": None}


def test_a_change_moves_only_what_changed():
    placed = order(1)
    shipped = order(1, shipped_after=45)
    delta = kpis.difference(kpis.contributions(placed), kpis.contributions(shipped))
    assert delta == {"shipped": 1, "ship_min#45": 1}
    cancelled = order(1, status="CANCELLED", cancel_reason="OTHER")
    assert kpis.difference(kpis.contributions(placed), kpis.contributions(cancelled)) == {
        "kept#USD": -1, "revenue#USD": -1000, "cancelled": 1, "cancel#OTHER": 1}
    assert kpis.difference(kpis.contributions(placed), kpis.contributions(placed)) == {}


def test_percentiles_are_nearest_rank():
    assert kpis.percentile({5: 1}, 0.9) == 5
    assert kpis.percentile({1: 1, 2: 1, 3: 1, 4: 1}, 0.5) == 2
    assert kpis.percentile({1: 9, 100: 1}, 0.9) == 1
    assert kpis.percentile({1: 8, 100: 2}, 0.9) == 100
    assert kpis.percentile({}, 0.5) is None


def test_business_metrics_of_a_change():
    def major(amount: int, currency: str) -> float:
        return amount / 100

    placed = order(1, total=1999)
    names = [(m["name"], m["dimensions"], m["value"]) for m in kpis.order_metrics(None, placed, major)]
    assert names == [("Revenue", {"currency": "USD"}, 19.99), ("OrderStatusEntered", {"status": "PROCESSING"}, 1)]
    delivered = order(1, shipped_after=60, delivered_after=60 + 1440, latest="2026-11-01")
    names = [(m["name"], m["value"]) for m in kpis.order_metrics(placed, delivered, major)]
    assert names == [("PlaceToShipMinutes", 60), ("ShipToDeliverMinutes", 1440), ("DeliveriesLate", 1)]
    assert kpis.order_metrics(delivered, delivered, major) == []
    assert [m["dimensions"] for m in kpis.return_metrics(None, ret("ord_1", "DAMAGED", "DAMAGED", "OTHER"))] == [
        {"reason": "DAMAGED"}, {"reason": "OTHER"}]


def test_durations_are_exact_below_two_hours_then_bucketed_to_a_bounded_number():
    assert [kpis.bucket(m) for m in (0, 1, 59, 119)] == [0, 1, 59, 119]
    assert [kpis.bucket(m) for m in (120, 129, 130, 245, 1439)] == [120, 120, 130, 240, 1430]  # 10 minutes
    assert [kpis.bucket(m) for m in (1440, 1499, 1500, 10079)] == [1440, 1440, 1500, 10020]  # 1 hour
    assert [kpis.bucket(m) for m in (10080, 20000, 86399)] == [10080, 18720, 84960]  # 1 day
    assert kpis.bucket(86400) == kpis.bucket(10**8) == 86400  # 60 days or more: one bucket
    assert len(kpis.BUCKETS) == 450 and list(kpis.BUCKETS) == sorted(set(kpis.BUCKETS))
    assert all(kpis.bucket(b) == b for b in kpis.BUCKETS)
    late = order(1, shipped_after=125, delivered_after=125 + 20000, held_for=7)
    assert {k for k in kpis.contributions(late) if "_min#" in k} == {"ship_min#120", "deliver_min#18720",
                                                                     "review_min#7"}


def test_a_delta_splits_into_the_family_items_it_moves_and_back():
    shipped = kpis.difference(kpis.contributions(order(1)), kpis.contributions(order(1, shipped_after=45)))
    assert kpis.families(shipped) == {"core": {"shipped": 1}, "ship_min#0": {"45": 1}}
    cancelled = kpis.difference(kpis.contributions(order(1)), kpis.contributions(
        order(1, status="CANCELLED", cancel_reason="OTHER")))
    assert kpis.families(cancelled) == {"core": {"kept#USD": -1, "revenue#USD": -1000, "cancelled": 1},
                                        "cancel": {"OTHER": 1}}
    # Each histogram is 8 items of at most 64 buckets; the bucket's lower bound names the attribute.
    bands = Counter(kpis.family(f"deliver_min#{b}")[0] for b in kpis.BUCKETS)
    assert len(bands) == 8 and max(bands.values()) == kpis.BAND
    assert kpis.family("deliver_min#18720") == ("deliver_min#6", "18720")
    assert kpis.family("return#WRONG_ITEM") == ("return", "WRONG_ITEM")
    assert kpis.family("cancel#pk") == ("core", "cancel#pk")  # never a key attribute's name
    # Summing each order's families per shard and turning the items back into counters gives the day's totals.
    items: dict[tuple[int, str, str], Counter[str]] = {}
    for o, returns in seeded_rows():
        for family, increments in kpis.families(kpis.contributions(o, returns)).items():
            items.setdefault((kpis.shard(o["order_id"]), kpis.placement_day(o), family), Counter()).update(increments)
    days: dict[str, Counter[str]] = {}
    for (_, day, family), attributes in items.items():
        days.setdefault(day, Counter()).update(kpis.counters(family, attributes))
    assert days == seeded()


def test_the_shard_is_a_stable_hash_of_the_order_id_and_spreads_orders_evenly():
    assert kpis.SHARDS == 32
    assert kpis.shard("ord_1") == kpis.shard("ord_1") == 11  # CRC-32: the same in every process and release
    spread = Counter(kpis.shard(f"ord_{n:012x}") for n in range(32_000))
    assert len(spread) == 32 and max(spread.values()) < 1.15 * 1000 and min(spread.values()) > 0.85 * 1000
