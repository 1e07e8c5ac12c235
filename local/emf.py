"""EMF -> CloudWatch metrics, locally: what CloudWatch Logs does with the Embedded Metric Format on AWS.

The functions' stdout goes to ``<state dir>/logs/<function>.log`` (``local/lambda_runner.py``). ``EmfShipper``
follows those files (only the bytes appended since its last look, every ``interval`` seconds; a partial last line
waits for its end), turns every EMF line (a JSON object with ``_aws.CloudWatchMetrics``) into ``PutMetricData``
on moto: its namespace, each of its dimension sets, every value (a list of values too), its unit and its
timestamp. It also ships the service metrics the local stack records itself (``record``: ``AWS/Lambda`` from the
Lambda runner, ``AWS/ApiGateway`` from the gateway), buffered so that recording costs a request nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("local.emf")

#: PutMetricData takes at most 1000 metrics per request and 150 values per metric.
MAX_DATA_PER_CALL = 1000
MAX_VALUES = 150
#: EMF allows at most 30 dimensions in a dimension set.
MAX_DIMENSIONS = 30


@dataclass(frozen=True)
class Datum:
    """One metric with its values, as ``PutMetricData`` takes it."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    values: tuple[float, ...]
    unit: str = "None"
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_metric_data(self) -> dict[str, Any]:
        return {"MetricName": self.name, "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
                "Values": list(self.values), "Unit": self.unit, "Timestamp": self.timestamp}


def parse_emf(line: str | bytes) -> list[Datum]:
    """The metrics of one log line: none unless it is an EMF document. A metric whose value is not a number (or a
    list of numbers), or a dimension set naming a key the document lacks, is left out, as CloudWatch does."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.strip()
    if not line.startswith("{") or '"_aws"' not in line:
        return []
    try:
        doc = json.loads(line)
    except ValueError:
        return []
    meta = doc.get("_aws") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("CloudWatchMetrics"), list):
        return []
    directives = meta["CloudWatchMetrics"]
    timestamp = _timestamp(meta.get("Timestamp"))
    out: list[Datum] = []
    for directive in directives:
        if not isinstance(directive, dict) or not isinstance(directive.get("Namespace"), str):
            continue
        dimension_sets = directive.get("Dimensions")
        if not isinstance(dimension_sets, list) or not dimension_sets:
            dimension_sets = [[]]
        resolved = [dims for dims in (_dimensions(doc, keys) for keys in dimension_sets) if dims is not None]
        for metric in directive.get("Metrics") or []:
            name = metric.get("Name") if isinstance(metric, dict) else None
            if not isinstance(name, str):
                continue
            values = _values(doc.get(name))
            if not values:
                continue
            unit = metric.get("Unit") or "None"
            for dims in resolved:
                for start in range(0, len(values), MAX_VALUES):
                    out.append(Datum(directive["Namespace"], name, dims, values[start:start + MAX_VALUES],
                                     str(unit), timestamp))
    return out


def _timestamp(value: Any) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError, OSError, ValueError):
            return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.now(UTC)


def _dimensions(doc: dict[str, Any], keys: Any) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(keys, list) or len(keys) > MAX_DIMENSIONS:
        return None
    dims = []
    for key in keys:
        value = doc.get(key) if isinstance(key, str) else None
        if value is None or isinstance(value, dict | list):
            return None
        dims.append((key, value if isinstance(value, str) else json.dumps(value)))
    return tuple(dims)


def _values(value: Any) -> tuple[float, ...]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
        return ()
    return tuple(float(v) for v in items)


class LogFollower:
    """The complete lines appended to the ``*.log`` files of a folder since the last ``read()``. Files that exist
    when it starts are followed from their end (what they hold was logged before this stack ran)."""

    def __init__(self, folder: Path, from_start: bool = False) -> None:
        self.folder = Path(folder)
        self._offsets: dict[Path, int] = {}
        self._partial: dict[Path, bytes] = {}
        if not from_start:
            for path in self._files():
                with contextlib.suppress(OSError):
                    self._offsets[path] = path.stat().st_size

    def _files(self) -> list[Path]:
        try:
            return sorted(self.folder.glob("*.log"))
        except OSError:
            return []

    def read(self) -> Iterator[bytes]:
        for path in self._files():
            offset = self._offsets.get(path, 0)
            try:
                size = path.stat().st_size
                if size < offset:  # truncated or replaced: start over
                    offset, self._partial[path] = 0, b""
                if size == offset:
                    continue
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read(size - offset)
            except OSError:
                continue
            self._offsets[path] = offset + len(chunk)
            data = self._partial.pop(path, b"") + chunk
            *lines, rest = data.split(b"\n")
            if rest:
                self._partial[path] = rest
            yield from (line for line in lines if line.strip())


def batches(data: Iterable[Datum]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """``(namespace, MetricData)`` for each ``PutMetricData`` call the data needs."""
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for datum in data:
        by_namespace.setdefault(datum.namespace, []).append(datum.as_metric_data())
    for namespace, items in by_namespace.items():
        for start in range(0, len(items), MAX_DATA_PER_CALL):
            yield namespace, items[start:start + MAX_DATA_PER_CALL]


class EmfShipper:
    """Follows the function logs and ships their EMF metrics (and the recorded service metrics) to CloudWatch."""

    def __init__(self, logs_dir: Path, cloudwatch: Any, interval: float = 0.5) -> None:
        self.follower = LogFollower(logs_dir)
        self.cloudwatch = cloudwatch
        self.interval = interval
        self._recorded: deque[Datum] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.shipped = 0

    def record(self, namespace: str, name: str, dimensions: dict[str, str], value: float, unit: str = "None",
               dimension_sets: Iterable[Iterable[str]] | None = None) -> None:
        """Queue a metric the local stack measured itself, under each of ``dimension_sets`` (the keys of
        ``dimensions`` to use; default: all of them). Thread-safe and cheap: shipped by the next ``poll``."""
        now = datetime.now(UTC)
        for keys in dimension_sets if dimension_sets is not None else [list(dimensions)]:
            dims = tuple((k, dimensions[k]) for k in keys)
            self._recorded.append(Datum(namespace, name, dims, (float(value),), unit, now))

    def lambda_invocation(self, function_name: str, duration_ms: float, errored: bool) -> None:
        """``AWS/Lambda`` Invocations, Errors and Duration, per function and for the account, as Lambda counts them."""
        dims = {"FunctionName": function_name}
        sets = (("FunctionName",), ())
        self.record("AWS/Lambda", "Invocations", dims, 1, "Count", sets)
        self.record("AWS/Lambda", "Errors", dims, 1 if errored else 0, "Count", sets)
        self.record("AWS/Lambda", "Duration", dims, duration_ms, "Milliseconds", sets)

    def api_request(self, api_name: str, stage: str, resource: str | None, method: str, status: int,
                    latency_ms: float) -> None:
        """``AWS/ApiGateway`` Count, 4XXError, 5XXError and Latency under the dimension sets API Gateway uses
        (ApiName; ApiName + Stage; with detailed metrics ApiName + Method + Resource + Stage)."""
        dims = {"ApiName": api_name, "Stage": stage}
        sets: list[tuple[str, ...]] = [("ApiName",), ("ApiName", "Stage")]
        if resource is not None:
            dims.update({"Resource": resource, "Method": method})
            sets.append(("ApiName", "Method", "Resource", "Stage"))
        self.record("AWS/ApiGateway", "Count", dims, 1, "Count", sets)
        self.record("AWS/ApiGateway", "4XXError", dims, 1 if 400 <= status < 500 else 0, "Count", sets)
        self.record("AWS/ApiGateway", "5XXError", dims, 1 if status >= 500 else 0, "Count", sets)
        self.record("AWS/ApiGateway", "Latency", dims, latency_ms, "Milliseconds", sets)

    def poll(self) -> int:
        """Ship what was logged and recorded since the last poll; the number of metric values shipped."""
        data: list[Datum] = []
        while self._recorded:
            data.append(self._recorded.popleft())
        for line in self.follower.read():
            data.extend(parse_emf(line))
        count = 0
        for namespace, items in batches(data):
            try:
                self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=items)
            except Exception as exc:  # a metric lost locally must not stop the shipper
                log.warning("PutMetricData %s (%d metrics) failed: %s", namespace, len(items), exc)
                continue
            count += sum(len(item["Values"]) for item in items)
        self.shipped += count
        return count

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:
                log.exception("EMF shipping failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="emf-shipper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
