"""The local ops page, ``GET /_ops`` on the local gateway (local only: not part of the template's API).

- ``/_ops``: one self-contained HTML page (``index.html`` with ``ops.css`` and ``ops.js`` inlined: no internet
  needed). It draws the dashboards, and calls the real admin API (same origin) with an ops ID token for the KPIs
  (``GET /admin/reports/kpis``) and the held-orders queue (``GET /admin/orders?status=ON_HOLD``, approve or reject
  with ``POST /admin/orders/{id}/review``).
- ``/_ops/api/dashboards?range=3h``: every CloudWatch dashboard in moto (the template's own bodies, deployed by
  ``local/deployer.py``) evaluated over the range against the metrics the stack shipped (``local/emf.py``).
- ``/_ops/api/token``: an ID token of the local user ``ops-page@example.com`` in group ``ops``, minted as
  ``oms token ops-page@example.com --ops`` mints it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from local.ops_page.dashboards import MetricStore, render_dashboard

HERE = Path(__file__).parent
OPS_PAGE_USER = "ops-page@example.com"
RANGES = {"1h": timedelta(hours=1), "3h": timedelta(hours=3), "12h": timedelta(hours=12),
          "1d": timedelta(days=1), "3d": timedelta(days=3), "1w": timedelta(weeks=1)}
DEFAULT_RANGE = "3h"
TOKEN_TTL = 30 * 60  # moto's ID tokens live an hour


class OpsPage:
    def __init__(self, cloudwatch: Any, store: MetricStore, mint_token: Callable[[], str],
                 refresh: Callable[[], None] | None = None) -> None:
        self.cloudwatch = cloudwatch
        self.store = store
        self.mint_token = mint_token
        self.refresh = refresh
        self._token: tuple[float, str] | None = None
        self._lock = threading.Lock()
        self._env = Environment(loader=FileSystemLoader(HERE), autoescape=select_autoescape(["html"]))

    def routes(self) -> dict[tuple[str, str], Callable[[dict[str, list[str]]], Any]]:
        return {
            ("GET", "/_ops"): self.page,
            ("GET", "/_ops/"): self.page,
            ("GET", "/_ops/api/dashboards"): self.dashboards,
            ("GET", "/_ops/api/token"): self.token,
        }

    def page(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        html = self._env.get_template("index.html").render(
            style=(HERE / "ops.css").read_text(), script=(HERE / "ops.js").read_text().replace("</", "<\\/"),
            ranges=list(RANGES), default_range=DEFAULT_RANGE)
        return 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, html.encode()

    def token(self, query: dict[str, list[str]]) -> dict[str, Any]:
        with self._lock:
            if self._token is None or time.monotonic() - self._token[0] > TOKEN_TTL or query.get("fresh"):
                self._token = (time.monotonic(), self.mint_token())
            return {"token": self._token[1], "user": OPS_PAGE_USER, "group": "ops"}

    def dashboards(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        name = (query.get("range") or [DEFAULT_RANGE])[0]
        if name not in RANGES:
            return _json(400, {"message": f"range must be one of {', '.join(RANGES)}"})
        end = datetime.now(UTC)
        start = end - RANGES[name]
        if self.refresh is not None:
            self.refresh()
        boards = []
        for entry in self._list_dashboards():
            body = self.cloudwatch.get_dashboard(DashboardName=entry["DashboardName"])["DashboardBody"]
            boards.append(render_dashboard(body, self.store, start, end, name=entry["DashboardName"]))
        return _json(200, {"range": name, "start": _iso(start), "end": _iso(end), "dashboards": boards})

    def _list_dashboards(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self.cloudwatch.list_dashboards(**kwargs)
            entries.extend(page.get("DashboardEntries", []))
            if not page.get("NextToken"):
                return sorted(entries, key=lambda e: e["DashboardName"])
            kwargs["NextToken"] = page["NextToken"]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body).encode()
