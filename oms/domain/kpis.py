"""Order KPIs from the orders themselves: each order's contribution to its placement day, and the report.

An order (with its returns) contributes a handful of integer counters to the day it was placed, e.g.
``{"orders": 1, "kept#USD": 1, "revenue#USD": 1750, "shipped": 1, "ship_min#240": 1}``. The projection
(``oms.logic.kpis``) keeps each order's last contribution and adds the difference to the day's totals whenever the
order or one of its returns changes, so a day's totals are always the sum over the orders placed that day, as they
stand now. A report is the sum of the days in the range.

Durations are histograms of bounded buckets (:data:`BUCKETS`): exact to the minute below 2 hours, then 10 minutes
below 24 hours, 1 hour below 7 days, 1 day below 60 days, and one bucket for 60 days or more: 450 buckets whatever
the volume. A duration counts in the bucket's lower bound (``ship_min#245`` is 4 h 05 to 4 h 14), so percentiles
(nearest rank) are that lower bound: exact to the minute below 2 hours, at most 10 minutes, 1 hour or 1 day low
beyond.

Counters:

- ``orders``; ``kept#<CCY>`` and ``revenue#<CCY>`` (orders neither cancelled nor rejected, and their totals);
- ``cancelled`` and ``cancel#<reason>``; ``rejected`` and ``reject#<reason>`` (payment declined, fraud, out of stock);
- ``shipped`` and ``ship_min#<bucket>`` (placed -> the whole order shipped);
- ``delivered``, ``deliver_min#<bucket>`` (shipped -> delivered) and ``on_time`` (delivered by the promised
  window's last day);
- ``returned`` (orders with a return that was not rejected, cancelled or expired) and ``return#<reason>``
  (one per order and reason); ``wrong_item`` (shipped orders with such a return for ``WRONG_ITEM``);
- ``backordered``; ``held`` (held for a fraud review), ``reviewed`` and ``review_min#<bucket>``.

Storage (``oms.adapters.kpis_repo``): a day's totals are split into small FAMILY items (:func:`families`) and
write-sharded by a stable hash of the order id (:func:`shard`, :data:`SHARDS`), so one change writes a few items of
under 1 KB and no item takes more than 1/:data:`SHARDS` of the writes.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from typing_extensions import TypedDict  # pydantic (the route's response model) needs it on 3.11

CANCELLED, REJECTED = "CANCELLED", "REJECTED"
#: Returns that do not count: the customer cancelled them, ops rejected them, or they were never sent.
NOT_COUNTED_RETURNS = frozenset({"CANCELLED", "REJECTED", "EXPIRED"})
WRONG_ITEM = "WRONG_ITEM"
#: The longest range one report covers.
MAX_DAYS = 366


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def minutes_between(start: str, end: str) -> int:
    """Whole minutes from ``start`` to ``end`` (never negative)."""
    return max(0, int((parse_time(end) - parse_time(start)).total_seconds() // 60))


#: Duration buckets: (below this many minutes, buckets this many minutes wide), from 0; beyond the last, one bucket.
TIERS: tuple[tuple[int, int], ...] = ((120, 1), (24 * 60, 10), (7 * 24 * 60, 60), (60 * 24 * 60, 24 * 60))


def _buckets() -> tuple[int, ...]:
    out: list[int] = []
    start = 0
    for below, width in TIERS:
        out += range(start, below, width)
        start = below
    return (*out, start)


#: Every bucket's lower bound in minutes, ascending (450).
BUCKETS = _buckets()
#: The histograms (counter prefixes) whose keys are buckets.
HISTOGRAMS = ("ship_min", "deliver_min", "review_min")


def bucket(minutes: int) -> int:
    """The lower bound of the bucket ``minutes`` falls in."""
    start = 0
    for below, width in TIERS:
        if minutes < below:
            return start + (max(0, minutes) - start) // width * width
        start = below
    return start


def placement_day(order: Mapping[str, Any]) -> str:
    return str(order["created_at"])[:10]


def _first_event(order: Mapping[str, Any], event: str) -> str | None:
    return next((str(e["at"]) for e in order.get("timeline") or [] if e.get("event") == event), None)


def shipped_at(order: Mapping[str, Any]) -> str | None:
    """When the whole order had left: the ``shipped`` step, or (an order delivered before that step was recorded)
    its last parcel's hand-over."""
    at = _first_event(order, "shipped")
    if at is None and order.get("delivered_at") and order.get("shipments"):
        at = max(str(s["created_at"]) for s in dict(order["shipments"]).values())
    return at


def _reason(order: Mapping[str, Any]) -> str:
    """The customer's or ops' reason, else the system's close reason without its detail
    (``payment_declined:insufficient_funds`` counts as ``payment_declined``; the dashboards show decline codes)."""
    cancellation = order.get("cancellation") or {}
    return str(cancellation.get("reason") or order.get("close_reason") or "").split(":")[0] or "UNKNOWN"


def contributions(order: Mapping[str, Any], returns: Iterable[Mapping[str, Any]] = ()) -> dict[str, int]:
    """What one order (and its returns) adds to the totals of the day it was placed."""
    out: dict[str, int] = {"orders": 1}
    status, currency = str(order["status"]), str(order["currency"])
    if status == CANCELLED:
        out["cancelled"] = 1
        out[f"cancel#{_reason(order)}"] = 1
    elif status == REJECTED:
        out["rejected"] = 1
        out[f"reject#{_reason(order)}"] = 1
    else:
        out[f"kept#{currency}"] = 1
        out[f"revenue#{currency}"] = int(order["total"])
    shipped = shipped_at(order)
    if shipped:
        out["shipped"] = 1
        out[f"ship_min#{bucket(minutes_between(str(order['created_at']), shipped))}"] = 1
        delivered = order.get("delivered_at")
        if delivered:
            out["delivered"] = 1
            out[f"deliver_min#{bucket(minutes_between(shipped, str(delivered)))}"] = 1
            latest = str((order.get("expected_delivery") or {}).get("latest") or "")
            if latest and str(delivered)[:10] <= latest[:10]:
                out["on_time"] = 1
    reasons = {str(line["reason"]) for r in returns if str(r.get("status")) not in NOT_COUNTED_RETURNS
               for line in r.get("lines") or []}
    if reasons:
        out["returned"] = 1
        out.update({f"return#{reason}": 1 for reason in reasons})
        if shipped and WRONG_ITEM in reasons:
            out["wrong_item"] = 1
    if order.get("backorder") or _first_event(order, "backordered") or _first_event(order, "stock_backordered"):
        out["backordered"] = 1
    held = _first_event(order, "held_for_review")
    if held:
        out["held"] = 1
        review = order.get("review")
        if review:
            out["reviewed"] = 1
            out[f"review_min#{bucket(minutes_between(held, str(review['at'])))}"] = 1
    return out


def difference(old: Mapping[str, int], new: Mapping[str, int]) -> dict[str, int]:
    """``new - old``, without the counters that did not move."""
    return {k: d for k in {*old, *new} if (d := int(new.get(k, 0)) - int(old.get(k, 0)))}


# Where the totals are kept: families and shards ------------------------------------------------------------------

#: A day's totals are spread over this many write shards, by order id. Each shard's key takes its orders' changes:
#: at 1,000 orders/s about 31 orders/s, ~10 WCU each over an order's life (3 or 4 changes writing the fact and one
#: or two items of under 1 KB, x2 in a transaction), ~300 WCU/s against DynamoDB's 1,000 per partition.
#: A report reads one Query per shard. Changing it re-shards only new changes: rebuild the days since (runbook).
SHARDS = 32
#: Consecutive duration buckets per histogram item: 64 bucket counters stay under 1 KB (1 WCU, 2 in a transaction).
BAND = 64
CORE = "core"
#: Counters ``<family>#<reason>`` kept together, one item per family.
REASONS = ("cancel", "reject", "return")
_INDEX = {lower: n for n, lower in enumerate(BUCKETS)}
_KEY_NAMES = frozenset({"pk", "sk"})


def shard(order_id: str) -> int:
    """The order's write shard: a stable hash (CRC-32) of its id, the same in every process and release."""
    return zlib.crc32(order_id.encode()) % SHARDS


def family(counter: str) -> tuple[str, str]:
    """The family item a counter is kept in, and its attribute name there: ``core`` (``orders``, ``kept#USD``,
    ``revenue#USD``, ``shipped`` ... as they are), ``cancel``/``reject``/``return`` (the reason), or a histogram's
    band of :data:`BAND` buckets, ``ship_min#<band>`` (the bucket's lower bound in minutes)."""
    prefix, sep, rest = counter.partition("#")
    if sep and prefix in HISTOGRAMS and rest.isdigit():
        return f"{prefix}#{_INDEX.get(bucket(int(rest)), 0) // BAND}", rest
    if sep and prefix in REASONS and rest and rest not in _KEY_NAMES:
        return prefix, rest
    return CORE, counter


def families(delta: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """``delta`` split by family: only the families it moves, each with its attributes' increments."""
    out: dict[str, dict[str, int]] = {}
    for counter, value in delta.items():
        name, attribute = family(counter)
        out.setdefault(name, {})[attribute] = value
    return out


def counters(family_name: str, attributes: Mapping[str, int]) -> dict[str, int]:
    """A family item's attributes as counters again (the inverse of :func:`families`)."""
    if family_name == CORE:
        return dict(attributes)
    prefix = family_name.split("#")[0]
    return {f"{prefix}#{attribute}": value for attribute, value in attributes.items()}


# The report ---------------------------------------------------------------------------------------------------


class Revenue(TypedDict):
    currency: str
    orders: int
    amount: int
    average_order_value: int


class Durations(TypedDict):
    orders: int
    p50_minutes: int | None
    p90_minutes: int | None


class OnTime(TypedDict):
    delivered: int
    on_time: int
    rate: float | None


class ByReason(TypedDict):
    reason: str
    orders: int
    rate: float | None


class Share(TypedDict):
    orders: int
    rate: float | None


class ReasonShare(Share):
    by_reason: list[ByReason]


class Holds(Share):
    reviewed: int
    median_review_minutes: int | None


class Accuracy(TypedDict):
    shipped: int
    accurate: int
    rate: float | None


class DayRevenue(TypedDict):
    currency: str
    amount: int


class Day(TypedDict):
    date: str
    orders: int
    cancelled: int
    shipped: int
    delivered: int
    revenue: list[DayRevenue]


#: The report (``from`` is a keyword, hence the functional form).
KpiReport = TypedDict("KpiReport", {
    "from": str, "to": str, "generated_at": str, "orders": int, "revenue": list[Revenue],
    "fulfillment_time": Durations, "delivery_time": Durations, "on_time_delivery": OnTime,
    "cancellations": ReasonShare, "rejections": ReasonShare, "returns": ReasonShare, "backorders": Share,
    "holds": Holds, "order_accuracy": Accuracy, "daily": list[Day],
})


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(histogram: Mapping[int, int], p: float) -> int | None:
    """Nearest rank: the smallest value with at least ``p`` of the observations at or below it."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(p * total)), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)  # pragma: no cover - rank <= total


def _prefixed(totals: Mapping[str, int], prefix: str) -> dict[str, int]:
    return {k.removeprefix(prefix): v for k, v in totals.items() if k.startswith(prefix) and v}


def _histogram(totals: Mapping[str, int], prefix: str) -> dict[int, int]:
    return {int(k): v for k, v in _prefixed(totals, prefix).items()}


def _durations(totals: Mapping[str, int], prefix: str) -> Durations:
    histogram = _histogram(totals, prefix)
    return {"orders": sum(histogram.values()), "p50_minutes": percentile(histogram, 0.5),
            "p90_minutes": percentile(histogram, 0.9)}


def _by_reason(totals: Mapping[str, int], prefix: str, whole: int) -> list[ByReason]:
    counts = _prefixed(totals, prefix)
    return [{"reason": reason, "orders": n, "rate": rate(n, whole)}
            for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def days_between(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def report(days: Mapping[str, Mapping[str, int]], start: date, end: date, generated_at: str) -> KpiReport:
    """The KPIs of the orders placed from ``start`` to ``end`` (inclusive), from each day's totals."""
    totals: dict[str, int] = {}
    for day in days.values():
        for key, value in day.items():
            totals[key] = totals.get(key, 0) + int(value)
    orders, shipped = totals.get("orders", 0), totals.get("shipped", 0)
    delivered, returned = totals.get("delivered", 0), totals.get("returned", 0)
    revenue = _prefixed(totals, "revenue#")
    kept = _prefixed(totals, "kept#")
    reviews = _histogram(totals, "review_min#")
    held = totals.get("held", 0)
    daily: list[Day] = []
    for name in days_between(start, end):
        day = days.get(name, {})
        daily.append({
            "date": name, "orders": int(day.get("orders", 0)), "cancelled": int(day.get("cancelled", 0)),
            "shipped": int(day.get("shipped", 0)), "delivered": int(day.get("delivered", 0)),
            "revenue": [{"currency": c, "amount": a} for c, a in sorted(_prefixed(day, "revenue#").items())],
        })
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "generated_at": generated_at,
        "orders": orders,
        "revenue": [{"currency": c, "orders": kept.get(c, 0), "amount": amount,
                     "average_order_value": round(amount / kept[c]) if kept.get(c) else 0}
                    for c, amount in sorted(revenue.items())],
        "fulfillment_time": _durations(totals, "ship_min#"),
        "delivery_time": _durations(totals, "deliver_min#"),
        "on_time_delivery": {"delivered": delivered, "on_time": totals.get("on_time", 0),
                             "rate": rate(totals.get("on_time", 0), delivered)},
        "cancellations": {"orders": totals.get("cancelled", 0), "rate": rate(totals.get("cancelled", 0), orders),
                          "by_reason": _by_reason(totals, "cancel#", orders)},
        "rejections": {"orders": totals.get("rejected", 0), "rate": rate(totals.get("rejected", 0), orders),
                       "by_reason": _by_reason(totals, "reject#", orders)},
        "returns": {"orders": returned, "rate": rate(returned, shipped),
                    "by_reason": _by_reason(totals, "return#", shipped)},
        "backorders": {"orders": totals.get("backordered", 0), "rate": rate(totals.get("backordered", 0), orders)},
        "holds": {"orders": held, "rate": rate(held, orders), "reviewed": totals.get("reviewed", 0),
                  "median_review_minutes": percentile(reviews, 0.5)},
        "order_accuracy": {"shipped": shipped, "accurate": shipped - totals.get("wrong_item", 0),
                           "rate": rate(shipped - totals.get("wrong_item", 0), shipped)},
        "daily": daily,
    }


# Business metrics (EMF) from one change -----------------------------------------------------------------------


class Metric(TypedDict):
    """One EMF data point: ``name`` in namespace OMS with the function's ``service`` and these ``dimensions``."""

    name: str
    dimensions: dict[str, str]
    value: float
    unit: str  # a Powertools MetricUnit name: Count, NoUnit


def order_metrics(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
                  major: Callable[[int, str], float]) -> list[Metric]:
    """What the dashboards count when an order changes from ``old`` to ``new`` (None: absent): a placement's
    revenue, a status entered, a cancellation's reason, the place -> ship and ship -> deliver times, and whether a
    delivery was on time. ``major`` turns minor units into the currency's major unit."""
    if new is None:
        return []
    out: list[Metric] = []
    if old is None:
        out.append({"name": "Revenue", "dimensions": {"currency": str(new["currency"])},
                    "value": major(int(new["total"]), str(new["currency"])), "unit": "NoUnit"})
    status = str(new["status"])
    if old is None or str(old.get("status")) != status:
        out.append({"name": "OrderStatusEntered", "dimensions": {"status": status}, "value": 1, "unit": "Count"})
        if status == CANCELLED:
            out.append({"name": "OrdersCancelled", "dimensions": {"reason": _reason(new)}, "value": 1,
                        "unit": "Count"})
    shipped = shipped_at(new)
    if shipped and not (old and shipped_at(old)):
        out.append({"name": "PlaceToShipMinutes", "dimensions": {},
                    "value": minutes_between(str(new["created_at"]), shipped), "unit": "NoUnit"})
    delivered = new.get("delivered_at")
    if shipped and delivered and not (old and old.get("delivered_at")):
        out.append({"name": "ShipToDeliverMinutes", "dimensions": {},
                    "value": minutes_between(shipped, str(delivered)), "unit": "NoUnit"})
        latest = str((new.get("expected_delivery") or {}).get("latest") or "")
        on_time = bool(latest) and str(delivered)[:10] <= latest[:10]
        out.append({"name": "DeliveriesOnTime" if on_time else "DeliveriesLate", "dimensions": {}, "value": 1,
                    "unit": "Count"})
    return out


def return_metrics(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[Metric]:
    """A new return counts once per line reason."""
    if old is not None or new is None or "status" not in new:
        return []
    return [{"name": "ReturnsByReason", "dimensions": {"reason": reason}, "value": 1, "unit": "Count"}
            for reason in sorted({str(line["reason"]) for line in new.get("lines") or []})]
