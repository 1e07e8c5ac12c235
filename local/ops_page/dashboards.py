"""CloudWatch dashboard bodies, evaluated against the metrics the local stack holds, for the ops page.

``render_dashboard(body, store, start, end)`` takes a dashboard body as CloudWatch stores it (the template's own
``DashboardBody``, put into moto by the deployer) and returns each widget in the dashboard's grid (x, y, width,
height) with what the page draws:

- ``metric``: the ``metrics`` rows (``[namespace, name, dim, value, ..., {options}]``, the ``"."`` and ``"..."``
  shorthands, ``{"expression": ...}`` rows, options ``stat``/``period``/``label``/``id``/``visible``/``color``)
  as series of ``[epoch ms, value]`` per period, plus each series' value over the whole range (the single value of a
  ``singleValue`` widget, the legend's figure of a chart). Statistics: SampleCount, Sum, Average, Minimum, Maximum
  and percentiles (pNN, nearest rank over the raw values: moto's CloudWatch has no percentiles); metric math:
  arithmetic on ids and numbers, ``SUM``/``AVG``/``MIN``/``MAX``, ``FILL``, ``ABS``, ``METRICS()``; anything else
  (``SEARCH``, ``RATE``, ...) is shown as "expression not evaluated locally".
- ``text``: its markdown as simple HTML (everything escaped first).
- anything else (``alarm``, ``log``, ...): its title and "not rendered locally".

A metric is matched as CloudWatch matches it: same namespace, name and exactly the same dimensions.
"""

from __future__ import annotations

import html
import json
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

#: A raw datapoint: (epoch seconds, sum, sample count, minimum, maximum); a single value v is (t, v, 1, v, v).
Sample = tuple[float, float, float, float, float]
Key = tuple[str, str, frozenset[tuple[str, str]]]
Series = dict[float, float]  # bucket start (epoch seconds) -> value


class Line(dict[float, float]):
    """A metric's series, knowing which metric it is (for the labels of SEARCH and METRICS() results)."""

    def __init__(self, values: Series, namespace: str, name: str, dimensions: Iterable[tuple[str, str]]) -> None:
        super().__init__(values)
        self.namespace, self.name, self.dimensions = namespace, name, dict(dimensions)

DEFAULT_STAT = "Average"
DEFAULT_PERIOD = 300
MAX_POINTS = 500
NOT_RENDERED = "not rendered locally"
NOT_EVALUATED = "expression not evaluated locally"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


class MetricStore(Protocol):
    def samples(self, namespace: str, name: str, dimensions: frozenset[tuple[str, str]]) -> list[Sample]: ...

    def keys(self) -> list[Key]: ...


class MemoryStore:
    """Samples kept in a dict (tests, and the index behind ``MotoStore``)."""

    def __init__(self) -> None:
        self.data: dict[Key, list[Sample]] = {}

    def add(self, namespace: str, name: str, dimensions: dict[str, str], t: float, value: float) -> None:
        self.data.setdefault((namespace, name, frozenset(dimensions.items())), []).append(
            (t, value, 1.0, value, value))

    def samples(self, namespace: str, name: str, dimensions: frozenset[tuple[str, str]]) -> list[Sample]:
        return self.data.get((namespace, name, dimensions), [])

    def keys(self) -> list[Key]:
        return list(self.data)


class MotoStore(MemoryStore):
    """The datapoints of moto's CloudWatch backend (the moto server runs in the local stack's process), indexed
    incrementally: moto's own GetMetricData has no percentiles and its dimension filter ignores the namespace."""

    def __init__(self, account: str, region: str) -> None:
        super().__init__()
        self.account, self.region = account, region
        self._seen = 0
        self._lock = threading.Lock()

    def refresh(self) -> None:
        from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum, cloudwatch_backends

        backend = cloudwatch_backends[self.account][self.region]
        with self._lock:
            data = backend.metric_data
            if len(data) < self._seen:
                self.data, self._seen = {}, 0
            for datum in data[self._seen:]:
                stamp = datum.timestamp
                t = (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
                key = (datum.namespace, datum.name,
                       frozenset((str(d.name), str(d.value)) for d in datum.dimensions))
                if isinstance(datum, MetricDatum):
                    sample = (t, datum.value, 1.0, datum.value, datum.value)
                elif isinstance(datum, MetricAggregatedDatum):
                    sample = (t, datum.sum, datum.sample_count, datum.min, datum.max)
                else:
                    continue
                self.data.setdefault(key, []).append(sample)
            self._seen = len(data)


# -- statistics ---------------------------------------------------------------------------------------------------

_PERCENTILE = re.compile(r"^[pP](\d{1,2}(?:\.\d+)?|100)$")
_STAT_NAMES = {"samplecount": "SampleCount", "sum": "Sum", "average": "Average", "avg": "Average",
               "minimum": "Minimum", "min": "Minimum", "maximum": "Maximum", "max": "Maximum"}


def normalize_stat(stat: str) -> str | None:
    """The statistic's canonical name, or None when the page cannot compute it."""
    stat = str(stat).strip()
    if stat.lower() in _STAT_NAMES:
        return _STAT_NAMES[stat.lower()]
    m = _PERCENTILE.match(stat)
    if m and 0 <= float(m.group(1)) <= 100:
        return "p" + m.group(1)
    return None


def statistic(stat: str, samples: list[Sample]) -> float | None:
    if not samples:
        return None
    if stat == "SampleCount":
        return sum(s[2] for s in samples)
    if stat == "Sum":
        return sum(s[1] for s in samples)
    if stat == "Average":
        count = sum(s[2] for s in samples)
        return sum(s[1] for s in samples) / count if count else None
    if stat == "Minimum":
        return min(s[3] for s in samples)
    if stat == "Maximum":
        return max(s[4] for s in samples)
    values = sorted(s[1] for s in samples if s[2] == 1)  # percentiles need the raw values
    if not values:
        return None
    rank = math.ceil(float(stat[1:]) / 100 * len(values))
    return values[min(max(rank, 1), len(values)) - 1]


def bucketed(samples: list[Sample], stat: str, start: float, end: float, period: float, origin: float) -> Series:
    buckets: dict[float, list[Sample]] = {}
    for s in samples:
        if start <= s[0] < end:
            buckets.setdefault(origin + math.floor((s[0] - origin) / period) * period, []).append(s)
    out: Series = {}
    for t in sorted(buckets):
        value = statistic(stat, buckets[t])
        if value is not None:
            out[t] = value
    return out


# -- the metrics rows ---------------------------------------------------------------------------------------------

@dataclass
class Row:
    id: str
    stat: str
    period: int
    label: str | None
    visible: bool
    color: str | None
    axis: str = "left"
    namespace: str = ""
    name: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()
    expression: str | None = None


def parse_rows(metrics: Any, default_stat: str = DEFAULT_STAT, default_period: int = DEFAULT_PERIOD) -> list[Row]:
    """A widget's ``metrics`` array as rows, the shorthands expanded and every row given an id."""
    rows: list[Row] = []
    previous: list[Any] = []
    for index, raw in enumerate(metrics if isinstance(metrics, list) else []):
        entry = raw if isinstance(raw, list) else [raw]
        options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
        items = [str(v) for v in (entry[:-1] if options else entry)]
        stat = str(options.get("stat") or default_stat)
        period = _int(options.get("period"), default_period)
        label = str(options["label"]) if options.get("label") else None
        visible = options.get("visible", True) is not False
        color = str(options["color"]) if options.get("color") else None
        axis = "right" if options.get("yAxis") == "right" else "left"
        if "expression" in options:
            rows.append(Row(id=str(options.get("id") or f"e{index + 1}"), stat=stat, period=period, label=label,
                            visible=visible, color=color, axis=axis, expression=str(options["expression"])))
            continue
        if items and items[0] == "...":
            rest = items[1:]
            items = previous[:max(len(previous) - len(rest), 0)] + rest
        items = [previous[i] if v == "." and i < len(previous) else v for i, v in enumerate(items)]
        previous = items
        if len(items) < 2:
            continue
        dims = tuple((items[i], items[i + 1]) for i in range(2, len(items) - 1, 2))
        rows.append(Row(id=str(options.get("id") or f"m{index + 1}"), stat=stat, period=period, label=label,
                        visible=visible, color=color, axis=axis, namespace=items[0], name=items[1],
                        dimensions=dims))
    return rows


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None and int(value) > 0 else default
    except (TypeError, ValueError):
        return default


# -- metric math --------------------------------------------------------------------------------------------------

class NotEvaluated(Exception):
    pass


_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<str>\"[^\"]*\"|'[^']*')"
                    r"|(?P<op>[-+*/(),\[\]]))")
Value = float | Series | list[Series]


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise NotEvaluated(f"cannot read {text[pos:pos + 10]!r}")
        kind = m.lastgroup or "op"
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class Expression:
    """A recursive-descent evaluator for the simple part of CloudWatch metric math."""

    def __init__(self, text: str, lookup: Callable[[str], Value], metrics: Callable[[str | None], list[Series]],
                 window: Window, store: MetricStore | None = None) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.lookup = lookup
        self.metrics = metrics
        self.window = window
        self.buckets = window.buckets()
        self.store = store

    def evaluate(self) -> Value:
        value = self._sum()
        if self.pos != len(self.tokens):
            raise NotEvaluated("unexpected " + self.tokens[self.pos][1])
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise NotEvaluated("unexpected end")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise NotEvaluated(f"expected {expected}")
        self.pos += 1
        return token

    def _sum(self) -> Value:
        value = self._product()
        while self._peek() in ("+", "-"):
            op = self._take()[1]
            value = _binary(op, value, self._product())
        return value

    def _product(self) -> Value:
        value = self._unary()
        while self._peek() in ("*", "/"):
            op = self._take()[1]
            value = _binary(op, value, self._unary())
        return value

    def _unary(self) -> Value:
        if self._peek() == "-":
            self._take()
            return _binary("*", -1.0, self._unary())
        if self._peek() == "+":
            self._take()
        return self._primary()

    def _primary(self) -> Value:
        kind, text = self._take()
        if kind == "num":
            return float(text)
        if text == "(":
            value = self._sum()
            self._take(")")
            return value
        if text == "[":
            items: list[Series] = []
            while self._peek() != "]":
                item = self._sum()
                items.extend(item if isinstance(item, list) else [_series(item, self.buckets)])
                if self._peek() == ",":
                    self._take()
            self._take("]")
            return items
        if kind == "name" and self._peek() == "(":
            self._take("(")
            args: list[Value | str] = []
            while self._peek() != ")":
                if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "str":
                    args.append(self._take()[1][1:-1])
                else:
                    args.append(self._sum())
                if self._peek() == ",":
                    self._take()
            self._take(")")
            return self._call(text.upper(), args)
        if kind == "name":
            return self.lookup(text)
        raise NotEvaluated("unexpected " + text)

    def _call(self, name: str, args: list[Value | str]) -> Value:
        if name == "METRICS":
            return self.metrics(str(args[0]) if args else None)
        if name in ("SUM", "AVG", "MIN", "MAX") and len(args) == 1 and not isinstance(args[0], str):
            return _aggregate(name, args[0])
        if name == "FILL" and len(args) == 2 and isinstance(args[1], float):
            fill = args[1]
            target = args[0]
            if isinstance(target, list):
                return [_keep(s, {t: s.get(t, fill) for t in self.buckets}) for s in target]
            if isinstance(target, dict):
                return {t: target.get(t, fill) for t in self.buckets}
        if name == "ABS" and len(args) == 1 and not isinstance(args[0], str):
            return _map(args[0], abs)
        if name == "PERIOD" and len(args) == 1:
            return float(self.window.period)
        if name == "SEARCH" and len(args) == 3 and isinstance(args[0], str) and isinstance(args[1], str) \
                and isinstance(args[2], float) and self.store is not None:
            return self._search(args[0], args[1], args[2])
        raise NotEvaluated(name)

    def _search(self, query: str, stat: str, period: float) -> list[Series]:
        """SEARCH with a schema and exact terms only: ``{Namespace,dim,...} MetricName="X" dim="value"``; the
        metrics with exactly the schema's dimensions that match every term, one line each."""
        schema = re.fullmatch(r"\s*\{([^}]*)\}(.*)", query)
        canonical = normalize_stat(stat)
        if schema is None or canonical is None:
            raise NotEvaluated("SEARCH")
        names = [part.strip().strip('"') for part in schema.group(1).split(",")]
        term = re.compile(r'\s*([\w.:-]+)\s*=\s*(?:"([^"]*)"|([^\s"()]+))')
        terms: dict[str, str] = {}
        pos, rest = 0, schema.group(2)
        while rest[pos:].strip():
            m = term.match(rest, pos)
            if m is None:  # partial matches, OR, NOT, ...: not evaluated locally
                raise NotEvaluated("SEARCH")
            terms[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
            pos = m.end()
        namespace, keys = names[0], set(names[1:])
        store = self.store
        assert store is not None
        w = self.window
        if w.origin != w.start:  # each row's own period; the SEARCH names its own
            w = Window(w.start, w.end, max(period, 1), 0)
        lines: list[Series] = []
        for ns, metric, dims in sorted(store.keys(), key=lambda k: (k[0], k[1], sorted(k[2]))):
            found = dict(dims)
            if ns != namespace or set(found) != keys or terms.get("MetricName", metric) != metric:
                continue
            if any(found.get(k) != v for k, v in terms.items() if k not in ("MetricName", "Namespace")):
                continue
            values = bucketed(store.samples(ns, metric, dims), canonical, w.start, w.end, w.period, w.origin)
            if values:
                lines.append(Line(values, ns, metric, dims))
        return lines


def _series(value: Value, buckets: list[float]) -> Series:
    if isinstance(value, dict):
        return value
    if isinstance(value, float):
        return dict.fromkeys(buckets, value)
    raise NotEvaluated("nested list")


def _map(value: Value | str, fn: Callable[[float], float]) -> Value:
    if isinstance(value, float):
        return fn(value)
    if isinstance(value, dict):
        return {t: fn(v) for t, v in value.items()}
    if isinstance(value, list):
        return [{t: fn(v) for t, v in s.items()} for s in value]
    raise NotEvaluated("string")


def _aggregate(name: str, value: Value) -> Value:
    reducers: dict[str, Callable[[list[float]], float]] = {
        "SUM": sum, "AVG": lambda v: sum(v) / len(v), "MIN": min, "MAX": max}
    reduce = reducers[name]
    if isinstance(value, float):
        return value
    if isinstance(value, dict):  # one time series -> a scalar
        return reduce(list(value.values())) if value else math.nan
    stamps = sorted({t for s in value for t in s})
    return {t: reduce([s[t] for s in value if t in s]) for t in stamps}


def _op(op: str, a: float, b: float) -> float | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b != 0 else None


def _binary(op: str, left: Value, right: Value) -> Value:
    if isinstance(left, list) or isinstance(right, list):
        if isinstance(left, list) and isinstance(right, list):
            raise NotEvaluated("list with list")
        if isinstance(left, list):
            return [_keep(s, _binary(op, s, right)) for s in left]
        assert isinstance(right, list)
        return [_keep(s, _binary(op, left, s)) for s in right]
    if isinstance(left, float) and isinstance(right, float):
        result = _op(op, left, right)
        return math.nan if result is None else result
    out: Series = {}
    stamps = sorted(set(left) & set(right)) if isinstance(left, dict) and isinstance(right, dict) else \
        sorted(left if isinstance(left, dict) else right)  # type: ignore[arg-type]
    for t in stamps:
        a = left[t] if isinstance(left, dict) else left
        b = right[t] if isinstance(right, dict) else right
        value = _op(op, a, b)
        if value is not None and not math.isnan(value):
            out[t] = value
    return out


def _keep(source: Series, value: Value) -> Series:
    """``value`` (computed from ``source``), still knowing ``source``'s metric."""
    if not isinstance(value, dict):
        raise NotEvaluated("not a series")
    if isinstance(source, Line):
        return Line(value, source.namespace, source.name, source.dimensions.items())
    return value


# -- a metric widget ----------------------------------------------------------------------------------------------

@dataclass
class Window:
    start: float
    end: float
    period: float
    origin: float

    def buckets(self) -> list[float]:
        first = self.origin + math.floor((self.start - self.origin) / self.period) * self.period
        count = math.ceil((self.end - first) / self.period)
        return [first + i * self.period for i in range(max(count, 0))]


def evaluate_rows(rows: list[Row], store: MetricStore, start: float, end: float,
                  whole_range: bool) -> dict[str, Value | str]:
    """Each row's result by id: a series (or a scalar, or a list of series for METRICS()), or a note (str).
    ``whole_range``: one period spanning [start, end) instead of each row's own period."""
    by_id = {row.id: row for row in rows}
    results: dict[str, Value | str] = {}
    evaluating: set[str] = set()

    def window(row: Row) -> Window:
        if whole_range:
            return Window(start, end, max(end - start, 1), start)
        period = max(row.period, 1)
        while (end - start) / period > MAX_POINTS:
            period *= 2
        return Window(start, end, period, 0)

    def evaluate(row_id: str) -> Value | str:
        if row_id in results:
            return results[row_id]
        row = by_id[row_id]
        if row.id in evaluating:
            return NOT_EVALUATED
        evaluating.add(row.id)
        result: Value | str
        if row.expression is None:
            stat = normalize_stat(row.stat)
            if stat is None:
                result = f"statistic {row.stat} not available locally"
            else:
                w = window(row)
                samples = store.samples(row.namespace, row.name, frozenset(row.dimensions))
                result = Line(bucketed(samples, stat, w.start, w.end, w.period, w.origin), row.namespace,
                              row.name, row.dimensions)
        else:
            w = window(row)
            result = _expression(row, w, by_id, evaluate, rows, store)
        evaluating.discard(row.id)
        results[row.id] = result
        return result

    for row in rows:
        evaluate(row.id)
    return results


def _expression(row: Row, w: Window, by_id: dict[str, Row], evaluate: Callable[[str], Value | str],
                rows: list[Row], store: MetricStore) -> Value | str:
    def lookup(name: str) -> Value:
        if name not in by_id:
            raise NotEvaluated(f"unknown id {name}")
        value = evaluate(name)
        if isinstance(value, str):
            raise NotEvaluated(value)
        return value

    def metrics(text: str | None) -> list[Series]:
        chosen = [r for r in rows if r.expression is None and (text is None or text in (r.label or r.name))]
        out = []
        for r in chosen:
            value = evaluate(r.id)
            if isinstance(value, dict):
                out.append(value)
        return out

    try:
        return Expression(row.expression or "", lookup, metrics, w, store).evaluate()
    except (NotEvaluated, KeyError, ValueError, ZeroDivisionError, RecursionError):
        return NOT_EVALUATED


_PROP = re.compile(r"\$\{PROP\('([^']+)'\)\}")


def _label(row: Row, line: Series | None = None) -> str:
    """The row's label with its dynamic ``${PROP('...')}`` parts filled in (from ``line``'s metric for a line of
    a SEARCH or METRICS() result)."""
    namespace, name, dims = row.namespace, row.name, dict(row.dimensions)
    if isinstance(line, Line):
        namespace, name, dims = line.namespace, line.name, line.dimensions
    label = row.label
    if not label:
        label = (name or row.expression or row.id) if line is None or not dims else \
            " ".join([name, *dims.values()])
        return label

    def prop(m: re.Match[str]) -> str:
        key = m.group(1)
        if key.startswith("Dim."):
            return dims.get(key[4:], "")
        return {"MetricName": name, "Namespace": namespace, "Stat": row.stat,
                "Period": str(row.period)}.get(key, m.group(0))

    text = _PROP.sub(prop, str(label))
    if line is not None and not _PROP.search(str(label)) and dims:
        text = f"{text} {' '.join(dims.values())}"
    return text


_LABEL_STAT = re.compile(r"\$\{(AVG|MAX|MIN|SUM|LAST|FIRST)\}")


def _label_statistics(label: str, value: Value | str) -> str:
    """A label's ``${AVG}``, ``${MAX}``, ... (CloudWatch's dynamic labels) over the series' points."""
    if "${" not in label:
        return label
    points = [v for _, v in sorted(value.items()) if not math.isnan(v)] if isinstance(value, dict) else []

    def stat(m: re.Match[str]) -> str:
        if not points:
            return "-"
        kind = m.group(1)
        result = {"AVG": sum(points) / len(points), "MAX": max(points), "MIN": min(points), "SUM": sum(points),
                  "LAST": points[-1], "FIRST": points[0]}[kind]
        return f"{result:.4g}"

    return _LABEL_STAT.sub(stat, label)


def _points(value: Value | str) -> list[list[float]]:
    if isinstance(value, dict):
        return [[t * 1000, v] for t, v in sorted(value.items()) if not math.isnan(v)]
    return []


def _figure(value: Value | str | None) -> float | None:
    """One number for a series over the whole range (one bucket, or a scalar)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict) and value:
        last = value[max(value)]
        return None if math.isnan(last) else last
    return None


def metric_widget(props: dict[str, Any], store: MetricStore, start: float, end: float) -> dict[str, Any]:
    view = str(props.get("view") or "timeSeries")
    rows = parse_rows(props.get("metrics"), str(props.get("stat") or DEFAULT_STAT),
                      _int(props.get("period"), DEFAULT_PERIOD))
    single = view in ("singleValue", "gauge", "pie", "bar") and bool(props.get("setPeriodToTimeRange"))
    series_results = evaluate_rows(rows, store, start, end, whole_range=False)
    totals = evaluate_rows(rows, store, start, end, whole_range=True)
    series: list[dict[str, Any]] = []
    notes: list[str] = []
    visible = [row for row in rows if row.visible]
    for row in visible:
        value, total = series_results[row.id], totals[row.id]
        entries: list[tuple[str, Value | str, Value | str]] = [(_label(row), value, total)]
        if isinstance(value, list) or isinstance(total, list):  # SEARCH, METRICS(): one line per metric
            sums = {_label(row, s): s for s in (total if isinstance(total, list) else [])}
            entries = [(_label(row, v), v, sums.get(_label(row, v), {}))
                       for v in (value if isinstance(value, list) else [])]
        for label, v, t in entries:
            label = _label_statistics(label, v)
            note = v if isinstance(v, str) else None
            if note and note not in notes:
                notes.append(note)
            # a single value without setPeriodToTimeRange shows the latest datapoint, as CloudWatch does;
            # otherwise the figure is the statistic over the whole range
            figure = _figure(v) if view == "singleValue" and not single else _figure(t)
            series.append({
                "id": row.id, "label": label, "stat": row.stat, "period": row.period, "axis": row.axis,
                "color": row.color or PALETTE[len(series) % len(PALETTE)], "note": note,
                "points": _points(v if not isinstance(v, float) else dict.fromkeys(
                    Window(start, end, row.period, 0).buckets(), v)),
                "value": figure,
            })
    return {"view": view, "stacked": bool(props.get("stacked")), "series": series, "notes": notes,
            "annotations": _annotations(props), "y_axis": props.get("yAxis") or {},
            "legend": str((props.get("legend") or {}).get("position") or "bottom"),
            "whole_range": single, "period": min((row.period for row in rows), default=DEFAULT_PERIOD)}


def _annotations(props: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in (props.get("annotations") or {}).get("horizontal") or []:
        entries = item if isinstance(item, list) else [item]
        for a in entries:
            if isinstance(a, dict) and isinstance(a.get("value"), int | float):
                out.append({"value": a["value"], "label": str(a.get("label") or ""), "color": a.get("color")})
    return out


# -- markdown -----------------------------------------------------------------------------------------------------

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_SAFE_URL = re.compile(r"^(https?://|#|/)", re.IGNORECASE)


def _inline(text: str) -> str:
    text = html.escape(text, quote=True)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![*\w])\*([^*]+)\*(?!\w)", r"<em>\1</em>", text)

    def link(m: re.Match[str]) -> str:
        url = html.unescape(m.group(2))
        if not _SAFE_URL.match(url):
            return m.group(1)
        return f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">{m.group(1)}</a>'

    return _LINK.sub(link, text)


def markdown(text: str) -> str:
    """CloudWatch text-widget markdown, simply: headings, lists, tables, paragraphs, code, bold, italics, links
    (http(s), relative and anchors only). The text is HTML-escaped before any markup is added."""
    out: list[str] = []
    lines = str(text).replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
        elif re.match(r"^[-*+]\s+", stripped):
            items = []
            while i < len(lines) and re.match(r"^\s*[-*+]\s+", lines[i]):
                item = re.sub(r"^\s*[-*+]\s+", "", lines[i])
                items.append(f"<li>{_inline(item)}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        elif stripped.startswith("|"):
            rows: list[str] = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                    tag = "th" if not rows else "td"
                    rows.append("<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in cells) + "</tr>")
                i += 1
            out.append("<table>" + "".join(rows) + "</table>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"^(#{1,6}\s|[-*+]\s|\|)", lines[i].strip()):
                para.append(_inline(lines[i].strip()))
                i += 1
            out.append("<p>" + "<br>".join(para) + "</p>")
    return "".join(out)


# -- a dashboard --------------------------------------------------------------------------------------------------

def render_dashboard(body: str | dict[str, Any], store: MetricStore, start: datetime, end: datetime,
                     name: str = "") -> dict[str, Any]:
    """The dashboard's widgets in its grid order, each with what the page draws (see the module's docstring)."""
    data = json.loads(body) if isinstance(body, str) else body
    widgets: list[dict[str, Any]] = []
    t0, t1 = start.timestamp(), end.timestamp()
    for index, widget in enumerate(_placed(data.get("widgets") or [])):
        props = widget.get("properties") or {}
        type_ = str(widget.get("type") or "")
        out: dict[str, Any] = {"index": index, "type": type_, "x": widget["x"], "y": widget["y"],
                               "width": widget["width"], "height": widget["height"],
                               "title": str(props.get("title") or "")}
        if type_ == "metric":
            try:
                out.update(metric_widget(props, store, t0, t1))
            except Exception as exc:  # one odd widget must not hide the dashboard
                out.update({"view": "error", "series": [], "notes": [f"not rendered locally ({exc})"]})
        elif type_ == "text":
            out["html"] = markdown(str(props.get("markdown") or ""))
        else:
            out["note"] = NOT_RENDERED
        widgets.append(out)
    widgets.sort(key=lambda w: (w["y"], w["x"], w["index"]))
    return {"name": name, "widgets": widgets}


def _placed(widgets: Iterable[Any]) -> list[dict[str, Any]]:
    """Widgets with x, y, width and height; one without a position goes after the last, left to right in the
    dashboard's 24 columns, as CloudWatch places it."""
    placed: list[dict[str, Any]] = []
    cursor_x = cursor_y = row_height = 0
    for raw in widgets:
        if not isinstance(raw, dict):
            continue
        w = dict(raw)
        w["width"] = min(max(_int(w.get("width"), 6), 1), 24)
        w["height"] = max(_int(w.get("height"), 6), 1)
        if isinstance(w.get("x"), int) and isinstance(w.get("y"), int):
            cursor_x, cursor_y, row_height = w["x"] + w["width"], w["y"], w["height"]
        else:
            if cursor_x + w["width"] > 24:
                cursor_x, cursor_y, row_height = 0, cursor_y + row_height, 0
            w["x"], w["y"] = cursor_x, cursor_y
            cursor_x += w["width"]
            row_height = max(row_height, w["height"])
        placed.append(w)
    return placed
