"""``oms report``: the order KPIs of a date range (``GET /admin/reports/kpis``) as a terminal table, and as a
self-contained HTML report with charts (inline CSS and SVG drawn here and in ``templates/report.html.j2``; no
JavaScript, nothing loaded from elsewhere, so the file can be mailed or archived as it is).

The KPIs cover the orders *placed* on the range's UTC dates, as they stand now. Money comes in minor units of its
currency and is formatted with Babel (en-US, ops tooling); rates are 0..1 or null, durations whole minutes or null.
Every section of the answer is optional here: a figure the API does not send shows as "—".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from oms.domain.money import to_major

TEMPLATES = Path(__file__).parent / "templates"
LOCALE = "en_US"
NULL = "—"
#: The route's path on the API.
KPI_PATH = "/admin/reports/kpis"


class ApiError(Exception):
    """The API did not answer 200 (or did not answer at all); ``message`` is for people."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def fetch_kpis(api_url: str, token: str, from_: str | date, to: str | date) -> dict[str, Any]:
    """``GET /admin/reports/kpis?from=&to=`` with an ops ID token; raise :class:`ApiError` unless it answers 200."""
    import requests

    url = api_url.rstrip("/") + KPI_PATH
    try:
        resp = requests.get(url, params={"from": str(from_), "to": str(to)},
                            headers={"Authorization": f"Bearer {token}"}, timeout=60)
    except requests.RequestException as exc:
        raise ApiError(None, f"the API at {api_url} does not answer: {exc}") from exc
    if resp.status_code != 200:
        raise ApiError(resp.status_code, _error_message(resp))
    try:
        data = resp.json()
    except ValueError as exc:
        raise ApiError(resp.status_code, f"the API answered 200 without JSON: {resp.text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise ApiError(resp.status_code, f"the API answered 200 with unexpected JSON: {str(data)[:200]}")
    return data


def _error_message(resp: Any) -> str:
    """The project's error body (``message`` and each field's error), or whatever the answer says."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        message = str(body["message"])
        fields = [f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or [] if isinstance(e, dict)]
        return message + (f" ({'; '.join(fields)})" if fields else "")
    text = (getattr(resp, "text", "") or "").strip()
    return text[:500] or str(getattr(resp, "reason", "") or "no message")


# -- formatting -------------------------------------------------------------------------------------------------


def format_money(amount: int | None, currency: str) -> str:
    """Minor units as the currency's amount, e.g. 1234000 USD -> ``$12,340.00``, 1234 JPY -> ``¥1,234``."""
    if amount is None:
        return NULL
    from babel.numbers import format_currency

    return str(format_currency(to_major(int(amount), currency), currency, locale=LOCALE))


def _compact_money(major: float, currency: str) -> str:
    from babel.numbers import format_compact_currency

    return str(format_compact_currency(major, currency, locale=LOCALE, fraction_digits=1))


def format_minutes(minutes: int | None) -> str:
    """``42 min``, ``4 h 0 min``; from a day on to the nearest hour: ``2 d 3 h``."""
    if minutes is None:
        return NULL
    minutes = int(minutes)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    days, hours = divmod((minutes + 30) // 60, 24)
    return f"{days} d {hours} h"


def format_rate(rate: float | None) -> str:
    """0.0833 -> ``8.3%`` (half up, one decimal)."""
    if rate is None:
        return NULL
    value = (Decimal(str(rate)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{value}%"


def format_count(value: int | None) -> str:
    return NULL if value is None else f"{int(value):,}"


def _section(kpis: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = kpis.get(name)
    return dict(value) if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [dict(v) for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _plural(n: int | None, word: str) -> str:
    return f"{format_count(n)} {word}{'' if n == 1 else 's'}"


# -- the KPIs as rows (the table, and the HTML report's table) --------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    figure: str
    basis: str = ""
    indent: bool = False  # a breakdown of the row above (a reason)


def _of(part: Any, whole: Any, what: str) -> str:
    return f"{format_count(part)} of {format_count(whole)} {what}"


def kpi_rows(kpis: Mapping[str, Any]) -> list[Row]:
    """Every KPI of the answer with its figure and what it is counted over."""
    placed = kpis.get("orders")
    rows = [Row("Orders placed", format_count(placed))]
    revenue = _list(kpis.get("revenue"))
    if not revenue:
        rows.append(Row("Revenue", NULL, "no order neither cancelled nor rejected"))
    for r in revenue:
        currency = str(r.get("currency"))
        rows.append(Row(f"Revenue {currency}", format_money(r.get("amount"), currency),
                        f"{_plural(r.get('orders'), 'order')} neither cancelled nor rejected"))
        rows.append(Row(f"Average order value {currency}", format_money(r.get("average_order_value"), currency)))
    for name, label, basis in (("fulfillment_time", "Fulfilment time", "shipped (placed → shipped)"),
                               ("delivery_time", "Delivery time", "delivered (shipped → delivered)")):
        section = _section(kpis, name)
        rows.append(Row(f"{label} p50", format_minutes(section.get("p50_minutes")),
                        f"{format_count(section.get('orders'))} {basis}"))
        rows.append(Row(f"{label} p90", format_minutes(section.get("p90_minutes"))))
    on_time = _section(kpis, "on_time_delivery")
    rows.append(Row("On-time delivery", format_rate(on_time.get("rate")),
                    _of(on_time.get("on_time"), on_time.get("delivered"), "delivered by the promised day")))
    accuracy = _section(kpis, "order_accuracy")
    shipped = accuracy.get("shipped", _section(kpis, "fulfillment_time").get("orders"))
    for name, label, whole, basis in (("cancellations", "Cancellations", placed, "placed"),
                                      ("rejections", "Rejections", placed, "placed"),
                                      ("returns", "Returns", shipped, "shipped")):
        if name not in kpis:  # rejections: not every version of the API sends them
            continue
        section = _section(kpis, name)
        rows.append(Row(label, format_rate(section.get("rate")), _of(section.get("orders"), whole, basis)))
        rows.extend(Row(str(r.get("reason")), format_rate(r.get("rate")), _plural(r.get("orders"), "order"), True)
                    for r in _list(section.get("by_reason")))
    backorders = _section(kpis, "backorders")
    rows.append(Row("Backorders", format_rate(backorders.get("rate")),
                    _of(backorders.get("orders"), placed, "placed waited for stock")))
    holds = _section(kpis, "holds")
    rows.append(Row("Held for review", format_rate(holds.get("rate")),
                    _of(holds.get("orders"), placed, f"placed, {format_count(holds.get('reviewed'))} reviewed")))
    rows.append(Row("Median review time", format_minutes(holds.get("median_review_minutes")), "held → decided"))
    rows.append(Row("Order accuracy", format_rate(accuracy.get("rate")),
                    _of(accuracy.get("accurate"), shipped, "shipped without a wrong-item return")))
    return rows


def _day_revenue(day: Mapping[str, Any]) -> str:
    parts = [format_money(r.get("amount"), str(r.get("currency"))) for r in _list(day.get("revenue"))]
    return ", ".join(parts) or NULL


def _title(kpis: Mapping[str, Any]) -> str:
    return f"Order KPIs, {kpis.get('from', '?')} to {kpis.get('to', '?')}"


def _subtitle(kpis: Mapping[str, Any]) -> list[str]:
    return [f"The orders placed on these UTC dates, as they stand now (generated {kpis.get('generated_at') or NULL}).",
            "Money counts orders neither cancelled nor rejected; returns and accuracy are over shipped orders."]


def _columns(head: Sequence[str], lines: Sequence[Sequence[str]], right: Iterable[int] = ()) -> list[str]:
    """A header, a rule and aligned columns: left-aligned but those in ``right``, two spaces apart."""
    right = set(right)
    widths = [max(len(line[i]) for line in [head, *lines]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [line(head), "  ".join("-" * w for w in widths), *(line(cells) for cells in lines)]


def render_table(kpis: Mapping[str, Any]) -> str:
    """Plain text for a terminal: every KPI with its figure and basis, then the daily figures."""
    rows = [(("  " if r.indent else "") + r.label, r.figure, r.basis) for r in kpi_rows(kpis)]
    out = [_title(kpis), *_subtitle(kpis), "", *_columns(("KPI", "Figure", "Basis"), rows, right=[1])]
    daily = _list(kpis.get("daily"))
    if daily:
        head = ("Day", "Orders", "Cancelled", "Shipped", "Delivered", "Revenue")
        days: list[tuple[str, ...]] = [
            (str(d.get("date")), format_count(d.get("orders")), format_count(d.get("cancelled")),
             format_count(d.get("shipped")), format_count(d.get("delivered")), _day_revenue(d)) for d in daily]
        out += ["", *_columns(head, days, right=[1, 2, 3, 4, 5])]
    return "\n".join(out) + "\n"


# -- charts (geometry for the template's inline SVG) ------------------------------------------------------------


def nice_ticks(top: float, count: int = 4, integer: bool = False) -> list[float]:
    """Round axis ticks from 0 to at least ``top`` (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = float(max(1, math.ceil(step)))
    steps = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str


@dataclass
class DailyChart:
    """A chart over the days of the range: vertical bars or a line, on a shared frame."""

    width: int
    height: int
    left: int
    top: int
    plot_width: float
    plot_height: float
    ticks: list[Tick] = field(default_factory=list)
    x_labels: list[XLabel] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    overlay: list[Bar] = field(default_factory=list)  # the cancelled part of each day's bar
    points: list[tuple[float, float, str]] = field(default_factory=list)
    title: str = ""

    @property
    def bottom(self) -> float:
        return self.top + self.plot_height

    @property
    def polyline(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.points)


def _frame(days: Sequence[Mapping[str, Any]], top_value: float, integer: bool,
           tick_label: Any, title: str = "") -> tuple[DailyChart, float, float]:
    chart = DailyChart(width=760, height=220, left=56, top=12, plot_width=760 - 56 - 12, plot_height=220 - 12 - 34,
                       title=title)
    ticks = nice_ticks(top_value, integer=integer)
    scale_top = ticks[-1]
    chart.ticks = [Tick(chart.top + chart.plot_height * (1 - t / scale_top), tick_label(t)) for t in ticks]
    slot = chart.plot_width / max(1, len(days))
    every = max(1, math.ceil(len(days) / 8))
    chart.x_labels = [XLabel(chart.left + slot * (i + 0.5), str(d.get("date", ""))[5:])
                      for i, d in enumerate(days) if i % every == 0]
    return chart, slot, scale_top


def orders_chart(daily: Sequence[Mapping[str, Any]]) -> DailyChart:
    """One bar per day (orders placed), its cancelled part drawn over it."""
    top = max((int(d.get("orders") or 0) for d in daily), default=0)
    chart, slot, scale_top = _frame(daily, top, True, lambda t: f"{int(t):,}")
    width = min(40.0, max(0.5, slot * 0.8))
    for i, d in enumerate(daily):
        x = chart.left + slot * i + (slot - width) / 2
        orders, cancelled = int(d.get("orders") or 0), int(d.get("cancelled") or 0)
        h = chart.plot_height * orders / scale_top
        title = (f"{d.get('date')}: {_plural(orders, 'order')}, {format_count(cancelled)} cancelled, "
                 f"{format_count(d.get('shipped'))} shipped, {format_count(d.get('delivered'))} delivered")
        chart.bars.append(Bar(x, chart.bottom - h, width, h, title))
        if cancelled and orders:
            hc = chart.plot_height * min(cancelled, orders) / scale_top
            chart.overlay.append(Bar(x, chart.bottom - hc, width, hc, f"{d.get('date')}: {cancelled:,} cancelled"))
    return chart


def _currencies(kpis: Mapping[str, Any]) -> list[str]:
    seen = [str(r.get("currency")) for r in _list(kpis.get("revenue"))]
    for day in _list(kpis.get("daily")):
        seen += [str(r.get("currency")) for r in _list(day.get("revenue"))]
    return sorted(set(seen))


def revenue_charts(kpis: Mapping[str, Any]) -> list[DailyChart]:
    """Per currency (their scales differ), the daily revenue as a line."""
    daily = _list(kpis.get("daily"))
    charts = []
    for currency in _currencies(kpis):
        values = []
        for d in daily:
            minor = sum(int(r.get("amount") or 0) for r in _list(d.get("revenue")) if r.get("currency") == currency)
            values.append((str(d.get("date")), minor, float(to_major(minor, currency))))
        top = max((v for _, _, v in values), default=0.0)
        chart, slot, scale_top = _frame(daily, top, False, lambda t, c=currency: _compact_money(t, c),
                                        title=currency)
        chart.points = [(chart.left + slot * (i + 0.5), chart.bottom - chart.plot_height * major / scale_top,
                         f"{day}: {format_money(minor, currency)}") for i, (day, minor, major) in enumerate(values)]
        charts.append(chart)
    return charts


@dataclass(frozen=True)
class HBar:
    label: str
    value: str
    width: float
    y: float


@dataclass
class HBarChart:
    title: str
    bars: list[HBar]
    label_width: int = 200
    bar_width: int = 380
    row: int = 26

    @property
    def width(self) -> int:
        return self.label_width + self.bar_width + 170

    @property
    def height(self) -> int:
        return self.row * len(self.bars) + 8


def hbar_chart(title: str, items: Sequence[tuple[str, float | None, str]]) -> HBarChart:
    """Horizontal bars: (label, value or None, the value as text), scaled to the largest."""
    top = max((v for _, v, _ in items if v), default=0.0)
    chart = HBarChart(title, [])
    chart.bars = [HBar(label, text, chart.bar_width * (value or 0) / top if top else 0.0, 4 + i * chart.row)
                  for i, (label, value, text) in enumerate(items)]
    return chart


def reason_charts(kpis: Mapping[str, Any]) -> list[HBarChart]:
    charts = []
    for name, title in (("cancellations", "Cancellations by reason"), ("rejections", "Rejections by reason"),
                        ("returns", "Returns by reason")):
        if name not in kpis:
            continue
        reasons = _list(_section(kpis, name).get("by_reason"))
        charts.append(hbar_chart(title, [
            (str(r.get("reason")), float(r.get("orders") or 0),
             f"{_plural(r.get('orders'), 'order')} ({format_rate(r.get('rate'))})") for r in reasons]))
    return charts


def durations_chart(kpis: Mapping[str, Any]) -> HBarChart:
    items: list[tuple[str, float | None, str]] = []
    for name, label in (("fulfillment_time", "Fulfilment"), ("delivery_time", "Delivery")):
        section = _section(kpis, name)
        for p in ("p50", "p90"):
            minutes = section.get(f"{p}_minutes")
            items.append((f"{label} {p}", None if minutes is None else float(minutes), format_minutes(minutes)))
    return hbar_chart("Fulfilment (placed → shipped) and delivery (shipped → delivered) times", items)


@dataclass(frozen=True)
class Gauge:
    """A half-circle gauge: ``arc`` is the SVG path of the filled part (None: nothing to fill)."""

    label: str
    figure: str
    detail: str
    arc: str | None
    good_when_high: bool


_GAUGE_CX, _GAUGE_CY, _GAUGE_R = 70.0, 66.0, 54.0
GAUGE_TRACK = f"M {_GAUGE_CX - _GAUGE_R:.1f} {_GAUGE_CY:.1f} A {_GAUGE_R:.0f} {_GAUGE_R:.0f} 0 0 1 " \
              f"{_GAUGE_CX + _GAUGE_R:.1f} {_GAUGE_CY:.1f}"


def gauge_arc(rate: float | None) -> str | None:
    if not rate or rate <= 0:
        return None
    angle = math.pi * (1 - min(1.0, float(rate)))
    x, y = _GAUGE_CX + _GAUGE_R * math.cos(angle), _GAUGE_CY - _GAUGE_R * math.sin(angle)
    return f"M {_GAUGE_CX - _GAUGE_R:.1f} {_GAUGE_CY:.1f} A {_GAUGE_R:.0f} {_GAUGE_R:.0f} 0 0 1 {x:.2f} {y:.2f}"


def gauges(kpis: Mapping[str, Any]) -> list[Gauge]:
    out = []
    accuracy = _section(kpis, "order_accuracy")
    on_time = _section(kpis, "on_time_delivery")
    specs: list[tuple[str, dict[str, Any], str, bool]] = [
        ("On-time delivery", on_time, f"{format_count(on_time.get('on_time'))} of "
                                      f"{format_count(on_time.get('delivered'))} delivered", True),
        ("Order accuracy", accuracy, f"{format_count(accuracy.get('accurate'))} of "
                                     f"{format_count(accuracy.get('shipped'))} shipped", True),
    ]
    for name, label in (("cancellations", "Cancellations"), ("rejections", "Rejections"), ("returns", "Returns"),
                        ("backorders", "Backorders"), ("holds", "Held for review")):
        if name == "rejections" and name not in kpis:
            continue
        section = _section(kpis, name)
        specs.append((label, section, _plural(section.get("orders"), "order"), False))
    for label, section, detail, high in specs:
        rate = section.get("rate")
        out.append(Gauge(label, format_rate(rate), detail, gauge_arc(rate), high))
    return out


# -- the HTML report ---------------------------------------------------------------------------------------------


def render_html(kpis: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (every value escaped)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    daily = _list(kpis.get("daily"))
    holds = _section(kpis, "holds")
    cards = [("Orders placed", format_count(kpis.get("orders")), "")]
    cards += [(f"Revenue {r.get('currency')}", format_money(r.get("amount"), str(r.get("currency"))),
               f"{_plural(r.get('orders'), 'order')}, average "
               f"{format_money(r.get('average_order_value'), str(r.get('currency')))}")
              for r in _list(kpis.get("revenue"))]
    for name, label in (("fulfillment_time", "Fulfilment time p50"), ("delivery_time", "Delivery time p50")):
        section = _section(kpis, name)
        cards.append((label, format_minutes(section.get("p50_minutes")),
                      f"p90 {format_minutes(section.get('p90_minutes'))}, {_plural(section.get('orders'), 'order')}"))
    cards.append(("Median review time", format_minutes(holds.get("median_review_minutes")),
                  f"{format_count(holds.get('reviewed'))} reviewed"))
    return env.get_template("report.html.j2").render(
        title=_title(kpis), subtitle=_subtitle(kpis), cards=cards, rows=kpi_rows(kpis), gauges=gauges(kpis),
        gauge_track=GAUGE_TRACK, orders=orders_chart(daily) if daily else None, revenue=revenue_charts(kpis),
        reasons=reason_charts(kpis), durations=durations_chart(kpis),
        daily=[(str(d.get("date")), format_count(d.get("orders")), format_count(d.get("cancelled")),
                format_count(d.get("shipped")), format_count(d.get("delivered")), _day_revenue(d)) for d in daily],
    )


def default_html_path(from_: str | date, to: str | date) -> Path:
    return Path(f"oms-report-{from_}-{to}.html")
