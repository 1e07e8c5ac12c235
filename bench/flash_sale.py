"""Flash-sale mode on the local stack: a step load of buyers on ONE SKU, from a trickle until past the sell-out.

    python -m bench.flash_sale                               # 300 units in 4 shards, 1 -> 64 buyers, 10 s a step
    python -m bench.flash_sale --max-clients 32 --step-seconds 8 --units 200 --incoming 40 --json flash.json
    python -m bench.flash_sale --shards 1                    # the same sale on one unsharded stock item

Seeds one product (backorderable when ``--incoming`` is given) with ``--units`` on the shelf of one warehouse, split
into ``--shards`` (sent as ``shards`` to PUT /admin/inventory/{sku} when > 1; when the API refuses it with 422, that is
printed and the sale runs unsharded). Then ``1, 2, 4, ... --max-clients`` concurrent buyers, ``--step-seconds`` each,
place orders of 1-2 units with a fresh Idempotency-Key each; a 429, a 503 or a connection error is retried with the
SAME key after Retry-After (else backoff with jitter), so throttling can neither lose nor duplicate an order. If the
ramp ends before the stock is gone, the top step is held until it is, and one more step runs after the sell-out:
those buyers must be refused (409 insufficient_stock) or backordered, never accepted.

Then every accepted order is followed (GET /orders/{id}, the buyer's token) until it is PROCESSING, BACKORDERED,
CANCELLED or REJECTED, and the bench prints per step the offered rate, accepted, refused (by code), placement latency
p50/p95/p99 and errors; overall the final statuses and close reasons, the stock counters (per shard when the API shows
shards), the highest step the machine sustained, and checks that

- units held by orders (PROCESSING, and the shelf part of BACKORDERED ones) == reserved, available == on_hand -
  reserved (in total, per warehouse and summed over shards), on_hand unchanged, nothing oversold;
- backordered == units of BACKORDERED orders waiting for goods <= incoming;
- no order is CANCELLED or REJECTED for any reason but stock running out (``out_of_stock``), and none was accepted
  after the placement answered that nothing was left;
- no 5xx and no connection error was seen (each is retried, and also reported), every placement got an answer, and
  every buyer's own order list holds exactly the orders the buyer was told were accepted (no duplicate, none lost).

Exits 1 when any check fails. ``--json FILE`` writes the figures. The core (``ramp``, ``place``, ``run_step``,
``settle``, ``verify``) takes small numbers, for a test.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import requests

from bench.stack import local_stack, order_body, percentile
from local.cli import get_token

FINAL = frozenset({"PROCESSING", "BACKORDERED", "CANCELLED", "REJECTED"})
ACCEPTED = frozenset({201, 202})
RETRIED = frozenset({429, 503})
STOCK_REASONS = frozenset({"out_of_stock"})  # the only acceptable reason to cancel an accepted order in a sale
_NOTHING_LEFT = re.compile(r"\bonly 0 of\b")


# ---------------------------------------------------------------------------------------------------------- placing


@dataclass
class Placement:
    """One order a buyer placed: its final answer, how long it took (retries included) and what it met on the way."""

    buyer: int
    key: str
    quantity: int
    started: float  # time.monotonic() of the first attempt
    seconds: float = 0.0  # first attempt to final answer
    status: int | None = None  # final HTTP status; None when the buyer gave up
    code: str | None = None  # the error body's code of a refusal
    message: str = ""
    order_id: str | None = None
    attempts: int = 0
    retried: Counter[str] = field(default_factory=Counter)  # "429", "503", "500", "connection: ConnectionError"

    @property
    def accepted(self) -> bool:
        return self.status in ACCEPTED

    @property
    def nothing_left(self) -> bool:
        """The placement answered that no unit of the SKU is left to sell (the sale is sold out)."""
        return self.code == "insufficient_stock" and bool(_NOTHING_LEFT.search(self.message))


def _retry_after(answer: requests.Response | None, attempt: int, rng: random.Random) -> float:
    if answer is not None:
        try:
            return max(0.0, min(float(answer.headers.get("Retry-After", "")), 30.0)) + rng.uniform(0, 0.2)
        except ValueError:
            pass
    return rng.uniform(0, min(2.0, 0.1 * 2 ** min(attempt, 5)))  # full jitter


def place(http: requests.Session, api: str, token: str, sku: str, quantity: int, *, buyer: int = 0,
          rng: random.Random | None = None, give_up_after: float = 120.0,
          sleep: Callable[[float], None] = time.sleep) -> Placement:
    """POST /orders until it has an answer other than 429/503/connection error, always with the same key (every
    5xx and connection error met on the way is counted in ``retried``)."""
    rng = rng or random.Random()
    placed = Placement(buyer, uuid.uuid4().hex, quantity, time.monotonic())
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": placed.key}
    while True:
        placed.attempts += 1
        answer: requests.Response | None = None
        try:
            answer = http.post(f"{api}/orders", json=order_body(sku, quantity), headers=headers, timeout=60)
        except requests.RequestException as error:
            placed.retried[f"connection: {type(error).__name__}"] += 1
        if answer is not None:
            if answer.status_code >= 500 or answer.status_code in RETRIED:
                placed.retried[str(answer.status_code)] += 1
            if answer.status_code not in RETRIED:  # a 5xx other than 503 is an answer (an error), not retried
                placed.status = answer.status_code
                _read_answer(placed, answer)
                break
        if time.monotonic() - placed.started > give_up_after:
            break
        sleep(_retry_after(answer, placed.attempts, rng))
    placed.seconds = time.monotonic() - placed.started
    return placed


def _read_answer(placed: Placement, answer: requests.Response) -> None:
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if placed.accepted:
        location = answer.headers.get("Location", "")
        placed.order_id = body.get("order_id") or location.rsplit("/", 1)[-1] or None
    else:
        placed.code = str(body.get("code", f"http_{answer.status_code}"))
        errors = body.get("errors") or [{}]
        placed.message = str(errors[0].get("message") or body.get("message", ""))


# ------------------------------------------------------------------------------------------------------------ steps


def ramp(max_clients: int) -> list[int]:
    """1, 2, 4, ... doubling up to ``max_clients`` (which is always the last step)."""
    steps, clients = [], 1
    while clients < max_clients:
        steps.append(clients)
        clients *= 2
    return [*steps, max_clients]


@dataclass
class Step:
    clients: int
    seconds: float  # from the step's start until its last placement had its answer
    placements: list[Placement]
    sold_out_before: bool  # the sale was already sold out when the step began
    started: float = 0.0  # time.monotonic() at the step's start

    def summary(self, views: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """The step's figures; with ``views`` (order id -> last GET /orders/{id}) also where its accepted orders
        ended."""
        placed = self.placements
        accepted = [p for p in placed if p.accepted]
        ended = Counter(str((views or {}).get(p.order_id or "", {}).get("status", "UNKNOWN")) for p in accepted)
        refused = Counter(p.code for p in placed if p.status is not None and not p.accepted)
        seen = sum((p.retried for p in placed), Counter[str]())
        latencies = [p.seconds for p in placed if p.status is not None]
        ms = (lambda pct: round(percentile(latencies, pct) * 1000)) if latencies else (lambda pct: None)
        return {
            "clients": self.clients,
            "seconds": round(self.seconds, 2),
            "sold_out_before": self.sold_out_before,
            "placements": len(placed),
            "offered_per_s": round(len(placed) / self.seconds, 2) if self.seconds else 0.0,
            "accepted": len(accepted),
            "accepted_per_s": round(len(accepted) / self.seconds, 2) if self.seconds else 0.0,
            "accepted_units": sum(p.quantity for p in accepted),
            "refused": dict(sorted((str(code), n) for code, n in refused.items())),
            **({"accepted_ended": dict(sorted(ended.items()))} if views is not None else {}),
            "gave_up": sum(1 for p in placed if p.status is None),
            "p50_ms": ms(50), "p95_ms": ms(95), "p99_ms": ms(99),
            "max_ms": round(max(latencies) * 1000) if latencies else None,
            "retried_429": seen["429"],
            "errors_5xx": {code: n for code, n in sorted(seen.items()) if code.isdigit() and int(code) >= 500},
            "errors_connection": {code.split(": ", 1)[1]: n for code, n in sorted(seen.items())
                                  if code.startswith("connection: ")},
        }


def run_step(api: str, tokens: list[str], sku: str, clients: int, seconds: float, *, seed: int = 0,
             sold_out: threading.Event | None = None, give_up_after: float = 120.0) -> Step:
    """``clients`` buyers (buyer i uses ``tokens[i]``) each place orders of 1-2 units back to back for ``seconds``;
    an order in flight at the end is finished (its answer counts in this step). ``sold_out`` is set as soon as a
    placement answers that nothing is left."""
    sold_out = sold_out if sold_out is not None else threading.Event()
    was_sold_out = sold_out.is_set()
    started = time.monotonic()
    stop_at = started + seconds

    def buyer(i: int) -> list[Placement]:
        rng = random.Random(seed * 1_000_003 + i)
        mine: list[Placement] = []
        with requests.Session() as http:
            while time.monotonic() < stop_at:
                placed = place(http, api, tokens[i], sku, rng.choice((1, 2)), buyer=i, rng=rng,
                               give_up_after=give_up_after)
                if placed.nothing_left:
                    sold_out.set()
                mine.append(placed)
        return mine

    with ThreadPoolExecutor(clients, thread_name_prefix="buyer") as pool:
        placements = [p for mine in pool.map(buyer, range(clients)) for p in mine]
    return Step(clients, time.monotonic() - started, sorted(placements, key=lambda p: p.started), was_sold_out,
                started)


class StockWatch(threading.Thread):
    """Reads GET /admin/inventory/{sku} every ``interval`` s during the sale: ``samples`` of the counters, and
    ``gone_at``, the first moment they showed nothing left to sell (available 0 and, backorderable, nothing more to
    promise from incoming goods), which also sets ``sold_out``. Nothing releases stock in a sale, so from then on
    no placement may be accepted."""

    def __init__(self, api: str, ops: dict[str, str], sku: str, backorderable: bool, sold_out: threading.Event,
                 interval: float = 1.0) -> None:
        super().__init__(name="stock-watch", daemon=True)
        self.url, self.ops = f"{api}/admin/inventory/{sku}", ops
        self.backorderable, self.sold_out = backorderable, sold_out
        self.interval = interval
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.gone_at: float | None = None
        self._done = threading.Event()

    def run(self) -> None:
        with requests.Session() as http:
            while not self._done.is_set():
                try:
                    answer = http.get(self.url, headers=self.ops, timeout=30)
                    levels = answer.json() if answer.status_code == 200 else None
                except (requests.RequestException, ValueError):
                    levels = None
                if levels is not None:
                    at = time.monotonic()
                    counters = {k: int(levels[k]) for k in ("on_hand", "reserved", "available", "backordered",
                                                            "incoming_total")}
                    self.samples.append((at, counters))
                    if self.gone_at is None and sellable(counters, self.backorderable) == 0:
                        self.gone_at = at
                        self.sold_out.set()
                self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=60)


def sellable(counters: dict[str, int], backorderable: bool) -> int:
    promisable = counters["incoming_total"] - counters["backordered"] if backorderable else 0
    return counters["available"] + max(0, promisable)


def run_sale(api: str, tokens: list[str], sku: str, max_clients: int, step_seconds: float, *,
             hold_steps: int = 12, sold_out: threading.Event | None = None,
             log: Callable[[str], None] = print) -> list[Step]:
    """The ramp; then, while not sold out, the top step again (at most ``hold_steps`` times); then one step more
    after the sell-out unless a whole step already ran after it. ``sold_out`` (e.g. a ``StockWatch``'s) is also set
    when a placement answers that nothing is left."""
    sold_out = sold_out if sold_out is not None else threading.Event()
    steps: list[Step] = []

    def step(clients: int) -> None:
        steps.append(run_step(api, tokens, sku, clients, step_seconds, seed=len(steps), sold_out=sold_out))
        s = steps[-1].summary()
        log(f"  step {len(steps):2}: {clients:3} buyers  {s['placements']:5} placements  {s['accepted']:4} accepted  "
            f"refused {s['refused'] or '-'}  p95 {s['p95_ms']} ms  5xx {s['errors_5xx'] or '-'}  connection "
            f"{s['errors_connection'] or '-'}  gave up {s['gave_up']}{'  (sold out)' if sold_out.is_set() else ''}")

    for clients in ramp(max_clients):
        step(clients)
    for _ in range(hold_steps):
        if sold_out.is_set():
            break
        step(max_clients)
    if sold_out.is_set() and not any(s.sold_out_before for s in steps):
        step(max_clients)
    return steps


# ---------------------------------------------------------------------------------------------------------- settling


def settle(api: str, accepted: list[tuple[str, str]], *, timeout: float = 600.0, workers: int = 8,
           log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Poll GET /orders/{id} (with the buyer's token) until every accepted ``(order_id, token)`` is in a final state
    or ``timeout`` passes; returns each order's last view."""
    deadline = time.monotonic() + timeout
    views: dict[str, dict[str, Any]] = {}
    local = threading.local()

    def read(item: tuple[str, str]) -> tuple[str, dict[str, Any] | None]:
        order_id, token = item
        if not hasattr(local, "http"):
            local.http = requests.Session()
        try:
            answer = local.http.get(f"{api}/orders/{order_id}", headers={"Authorization": f"Bearer {token}"},
                                    timeout=30)
        except requests.RequestException:
            return order_id, None
        return order_id, answer.json() if answer.status_code == 200 else None

    with ThreadPoolExecutor(workers, thread_name_prefix="settle") as pool:
        while True:
            waiting = [item for item in accepted if views.get(item[0], {}).get("status") not in FINAL]
            if not waiting:
                break
            if time.monotonic() > deadline:
                log(f"  {len(waiting)} orders still not final after {timeout:.0f} s")
                break
            for order_id, view in pool.map(read, waiting):
                if view is not None:
                    views[order_id] = view
            if any(views.get(order_id, {}).get("status") not in FINAL for order_id, _ in accepted):
                time.sleep(1.0)
    return views


def close_reasons(api: str, ops_token: str, views: dict[str, dict[str, Any]]) -> Counter[str]:
    """``STATUS:close_reason`` of every CANCELLED or REJECTED order, and ``STATUS:hold_reason`` of every order that
    did not reach a final state (the ops view of the order shows both)."""
    reasons: Counter[str] = Counter()
    with requests.Session() as http:
        for order_id, view in views.items():
            if view.get("status") in ("CANCELLED", "REJECTED") or view.get("status") not in FINAL:
                ops = http.get(f"{api}/orders/{order_id}", headers={"Authorization": f"Bearer {ops_token}"},
                               timeout=30).json()
                if view.get("status") in FINAL:
                    reason = ops.get("close_reason") or (ops.get("cancellation") or {}).get("reason") or "unknown"
                else:
                    hold = ops.get("technical_hold")
                    reason = f"{ops.get('hold_reason', 'none')} {json.dumps(hold)[:200] if hold else ''}".strip()
                reasons[f"{view.get('status')}:{reason}"] += 1
    return reasons


def buyers_orders(api: str, tokens: list[str]) -> list[set[str]]:
    """Every order id in each buyer's own list (GET /orders, all pages)."""
    found: list[set[str]] = []
    with requests.Session() as http:
        for token in tokens:
            ids: set[str] = set()
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
                page = http.get(f"{api}/orders", params=params, headers={"Authorization": f"Bearer {token}"},
                                timeout=30)
                page.raise_for_status()
                body = page.json()
                ids.update(o["order_id"] for o in body["orders"])
                cursor = body.get("next_cursor")
                if not cursor:
                    break
            found.append(ids)
    return found


# ------------------------------------------------------------------------------------------------------------ checks


def _units(view: dict[str, Any], sku: str) -> tuple[int, int]:
    """(units of ``sku`` the order holds on a shelf, units of it waiting for incoming goods)."""
    held = waiting = 0
    for line in view.get("lines", []):
        if line["sku"] == sku:
            back = int(line.get("backordered_quantity", 0))
            held += int(line["quantity"]) - back
            waiting += back
    return held, waiting


def _shards_of(row: dict[str, Any]) -> Any:
    """A warehouse row's per-shard counters: ``by_shard`` (``shards`` is then the count), else a ``shards`` list."""
    return row.get("by_shard", row.get("shards"))


def _shard_list(row: dict[str, Any]) -> list[dict[str, Any]]:
    shards = _shards_of(row)
    if isinstance(shards, dict):
        shards = list(shards.values())
    if not isinstance(shards, list) or not all(isinstance(s, dict) for s in shards):
        return []
    return shards


def _shard_sums(row: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per counter present in both the warehouse row and its shards: (the row's value, the shards' sum)."""
    shards = _shard_list(row)
    if not shards:
        return {}
    return {name: (int(row[name]), sum(int(s.get(name, 0)) for s in shards))
            for name in ("on_hand", "reserved", "available") if name in row and all(name in s for s in shards)}


def verify(*, sku: str, units: int, incoming: int, placements: list[Placement], views: dict[str, dict[str, Any]],
           stock: dict[str, Any], reasons: Counter[str] | None = None, listed: list[set[str]] | None = None,
           gone_at: float | None = None) -> dict[str, bool]:
    """The sale's checks, from what the buyers were told, where their orders ended and the stock counters
    (``gone_at``: when the counters first showed nothing left to sell, see ``StockWatch``)."""
    accepted = [p for p in placements if p.accepted]
    finals = [views.get(p.order_id or "", {}) for p in accepted]
    held = sum(_units(v, sku)[0] for v in finals if v.get("status") in ("PROCESSING", "BACKORDERED", "ON_HOLD"))
    waiting = sum(_units(v, sku)[1] for v in finals if v.get("status") == "BACKORDERED")
    processing_units = sum(_units(v, sku)[0] for v in finals if v.get("status") == "PROCESSING")
    rows = stock.get("warehouses", [])
    answered_at = min((p.started + p.seconds for p in placements if p.nothing_left), default=None)
    sold_out_at = min((t for t in (answered_at, gone_at) if t is not None), default=None)
    seen = sum((p.retried for p in placements), Counter[str]())
    checks = {
        "every accepted order reached a final state": all(v.get("status") in FINAL for v in finals),
        "reserved == units held by orders (PROCESSING, ON_HOLD + shelf part of BACKORDERED)":
            stock["reserved"] == held,
        "available == on_hand - reserved (total and per warehouse)":
            stock["available"] == stock["on_hand"] - stock["reserved"]
            and all(r["available"] == r["on_hand"] - r["reserved"] for r in rows),
        "on_hand unchanged (nothing shipped)": stock["on_hand"] == units,
        "nothing oversold (units held <= units on the shelf)": held <= units and processing_units <= units,
        "backordered == units of BACKORDERED orders waiting": stock["backordered"] == waiting,
        "no incoming unit promised twice (backordered <= incoming)":
            stock["backordered"] <= stock["incoming_total"] == incoming,
        "no order cancelled/rejected except for stock running out":
            all(reason.split(":", 1)[1] in STOCK_REASONS for reason in (reasons or {})
                if reason.split(":", 1)[0] in FINAL),
        "no order accepted once the stock was gone (counters at zero, or a placement said so)":
            sold_out_at is None or not any(p.started > sold_out_at for p in accepted),
        "no 5xx answer": not any(code.isdigit() and int(code) >= 500 for code in seen),
        "no connection error": not any(code.startswith("connection: ") for code in seen),
        "every placement got an answer (none given up)": all(p.status is not None for p in placements),
        "one order per accepted placement (no two keys, no lost ids)":
            len({p.order_id for p in accepted}) == len(accepted) and all(p.order_id for p in accepted),
    }
    checks["the sale sold out while buyers kept coming"] = sold_out_at is not None and any(
        p.started > sold_out_at for p in placements)
    if sold_out_at is not None:
        checks["sold out: every unit sold (shelf held + incoming promised == units + incoming)"] = \
            held + waiting == units + incoming
    if any(_shard_sums(r) for r in rows):
        checks["shards add up to their warehouse's counters, each available == on_hand - reserved"] = all(
            row_value == shard_sum for r in rows for row_value, shard_sum in _shard_sums(r).values()) and all(
            s["available"] == s["on_hand"] - s["reserved"] for r in rows for s in _shard_list(r)
            if {"available", "on_hand", "reserved"} <= s.keys())
    if listed is not None:
        told = [set[str]() for _ in listed]
        for p in accepted:
            told[p.buyer].add(p.order_id or "")
        checks["each buyer's order list == the orders the buyer was told were accepted"] = told == listed
    return checks


def _plain(placed: Placement) -> dict[str, Any]:
    return {f.name: dict(value) if isinstance(value := getattr(placed, f.name), Counter) else value
            for f in fields(placed)}


def sustained(summaries: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The step with the most accepted orders/s among steps without an error (none: the step with the most
    answers/s, e.g. when the stock ran out before the load was high)."""
    clean = [s for s in summaries if not s["errors_5xx"] and not s["errors_connection"] and not s["gave_up"]]
    selling = [s for s in clean if s["accepted"] and not s["sold_out_before"]]
    best = max(selling or clean, key=lambda s: s["accepted_per_s"] if selling else s["offered_per_s"], default=None)
    return best


# -------------------------------------------------------------------------------------------------------------- main


def seed(api: str, ops: dict[str, str], config: dict[str, Any], sku: str, units: int, incoming: int,
         shards: int) -> tuple[dict[str, Any], str]:
    """Create the product and count its stock; returns (the stock as the API answered, a note on sharding)."""
    requests.put(f"{api}/admin/products/{sku}", headers=ops, timeout=30,
                 json={"name": "Flash sale", "price": 500, "currency": "USD",
                       "backorderable": incoming > 0}).raise_for_status()
    count: dict[str, Any] = {"warehouse": config["warehouses"][0], "on_hand": units}
    if incoming:
        count["incoming"] = [{"quantity": incoming, "eta": "2027-01-15"}]
    note = "unsharded (--shards 1)"
    if shards > 1:
        answer = requests.put(f"{api}/admin/inventory/{sku}", headers=ops, timeout=30, json={**count, "shards": shards})
        if answer.status_code != 422:
            answer.raise_for_status()
            return answer.json(), f"{shards} shards requested"
        note = (f"UNSHARDED: PUT /admin/inventory answered 422 to \"shards\": {shards} ({answer.text[:200]}); "
                f"sharded stock is not built yet, so this sale ran on one stock item")
    answer = requests.put(f"{api}/admin/inventory/{sku}", headers=ops, timeout=30, json=count)
    answer.raise_for_status()
    return answer.json(), note


def report(args: argparse.Namespace, summaries: list[dict[str, Any]], statuses: Counter[str], reasons: Counter[str],
           stock: dict[str, Any], checks: dict[str, bool], note: str, times: dict[str, float]) -> None:
    print(f"\nflash sale on one SKU: {args.units} units, {args.incoming} incoming (backorderable: "
          f"{'yes' if args.incoming else 'no'}), {note}")
    print(f"buyers 1 -> {args.max_clients}, {args.step_seconds:g} s a step, orders of 1-2 units "
          f"(local stack ready in {times['ready']:.0f} s, sale {times['sale']:.0f} s, settled in "
          f"{times['settle']:.0f} s; 2 shared CPU cores: timings are noisy)\n")
    print(f"{'step':>4} {'buyers':>6} {'secs':>5} {'offered/s':>9} {'accepted':>8} {'acc/s':>6} {'taken/s':>7} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'429':>4} {'5xx':>4} {'conn':>4}  refused at placement")
    for i, s in enumerate(summaries, 1):
        taken_per_s = s.get("units_taken_per_s")
        print(f"{i:>4} {s['clients']:>6} {s['seconds']:>5.1f} {s['offered_per_s']:>9.1f} {s['accepted']:>8} "
              f"{s['accepted_per_s']:>6.1f} {'-' if taken_per_s is None else taken_per_s:>7} "
              f"{s['p50_ms'] or '-':>7} {s['p95_ms'] or '-':>7} {s['p99_ms'] or '-':>7} "
              f"{s['retried_429']:>4} {sum(s['errors_5xx'].values()):>4} {sum(s['errors_connection'].values()):>4}"
              f"  {s['refused'] or '-'}{'  [after sell-out]' if s['sold_out_before'] else ''}")
    print("where each step's accepted orders ended: " + "; ".join(
        f"{i}: {s['accepted_ended']}" for i, s in enumerate(summaries, 1) if s.get("accepted_ended")))
    errors: Counter[str] = Counter()
    for s in summaries:
        errors.update(s["errors_5xx"])
        errors.update(s["errors_connection"])
    if errors:
        print(f"errors seen (each retried with the same key): {dict(errors)}")
    best = sustained(summaries)
    if best:
        print(f"\nhighest step sustained without errors: {best['clients']} buyers, {best['accepted_per_s']} accepted "
              f"orders/s ({best['offered_per_s']} placements/s), p50 {best['p50_ms']} ms, p95 {best['p95_ms']} ms, "
              f"p99 {best['p99_ms']} ms")
    print(f"\naccepted orders ended: {dict(sorted(statuses.items()))}")
    print(f"cancelled/rejected (close reason), not final (hold reason): {dict(sorted(reasons.items())) or 'none'}")
    print(f"stock: on_hand {stock['on_hand']}, reserved {stock['reserved']}, available {stock['available']}, "
          f"incoming {stock['incoming_total']}, backordered {stock['backordered']}")
    for row in stock.get("warehouses", []):
        shards = _shard_list(row)
        print(f"  {row.get('warehouse')}: " + ", ".join(f"{k} {v}" for k, v in row.items()
                                                       if k not in ("warehouse", "by_shard", "incoming", "sku")))
        for i, shard in enumerate(shards):
            counters = ", ".join(f"{k} {v}" for k, v in shard.items() if k != "shard")
            print(f"    shard {shard.get('shard', i)}: {counters}")
    print()
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=300, help="units on the shelf (default 300)")
    parser.add_argument("--incoming", type=int, default=0, help="backorderable, with this many units incoming")
    parser.add_argument("--shards", type=int, default=4, help="split the stock into N shards (1..64; default 4)")
    parser.add_argument("--max-clients", type=int, default=64, help="concurrent buyers at the top step (default 64)")
    parser.add_argument("--step-seconds", type=float, default=10.0, help="seconds per step (default 10)")
    parser.add_argument("--settle-timeout", type=float, default=600.0, help="seconds to wait for final states")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.shards <= 64 or args.max_clients < 1 or args.units < 0 or args.incoming < 0:
        parser.error("--shards 1..64, --max-clients >= 1, --units and --incoming >= 0")
    result = 1
    try:
        with local_stack() as (config, ready):
            result = sale(args, config, ready)  # reported inside: a slow stop must not lose the figures
    except subprocess.TimeoutExpired as slow:
        print(f"\nwarning: the local stack did not stop within {slow.timeout:.0f} s of SIGTERM (bench/stack.py); "
              f"its processes may still be stopping", file=sys.stderr)
    return result


def taken(samples: list[tuple[float, dict[str, int]]], step: Step) -> dict[str, Any]:
    """Units reserved or promised during the step, from the stock watch's samples nearest its start and end."""
    def at(moment: float) -> dict[str, int] | None:
        before = [c for t, c in samples if t <= moment]
        return before[-1] if before else (samples[0][1] if samples else None)

    first, last = at(step.started), at(step.started + step.seconds)
    if first is None or last is None or not step.seconds:
        return {"units_taken": None, "units_taken_per_s": None}
    units = (last["reserved"] + last["backordered"]) - (first["reserved"] + first["backordered"])
    return {"units_taken": units, "units_taken_per_s": round(units / step.seconds, 2)}


def sale(args: argparse.Namespace, config: dict[str, Any], ready: float) -> int:
    """Seed, run the sale, follow the orders, read the counters, print and check; 0 when every check passed."""
    api = config["api_url"]
    run = uuid.uuid4().hex[:6]
    ops_token = get_token(config, f"flash-ops-{run}@example.com", ops=True)
    ops = {"Authorization": f"Bearer {ops_token}"}
    sku = f"FLASH-{run.upper()}"
    _, note = seed(api, ops, config, sku, args.units, args.incoming, args.shards)
    print(f"{sku}: {note}")
    tokens = [get_token(config, f"flash-{run}-{i}@example.com") for i in range(args.max_clients)]
    started = time.monotonic()
    sold_out = threading.Event()
    watch = StockWatch(api, ops, sku, args.incoming > 0, sold_out)
    watch.start()
    try:
        steps = run_sale(api, tokens, sku, args.max_clients, args.step_seconds, sold_out=sold_out)
    finally:
        watch.stop()
    sale_s = time.monotonic() - started
    placements = [p for s in steps for p in s.placements]
    accepted = [(p.order_id, tokens[p.buyer]) for p in placements if p.accepted and p.order_id]
    print(f"following {len(accepted)} accepted orders to a final state ...")
    views = settle(api, accepted, timeout=args.settle_timeout)
    settle_s = time.monotonic() - started - sale_s
    reasons = close_reasons(api, ops_token, views)
    listed = buyers_orders(api, tokens)
    stock = requests.get(f"{api}/admin/inventory/{sku}", headers=ops, timeout=30).json()
    summaries = [{**s.summary(views), **taken(watch.samples, s)} for s in steps]
    statuses = Counter(str(views.get(order_id, {}).get("status", "UNKNOWN")) for order_id, _ in accepted)
    checks = verify(sku=sku, units=args.units, incoming=args.incoming, placements=placements, views=views,
                    stock=stock, reasons=reasons, listed=listed, gone_at=watch.gone_at)
    late = [p for p in placements if p.accepted and watch.gone_at is not None and p.started > watch.gone_at]
    if watch.gone_at is not None:
        note += (f"; the counters showed nothing left {watch.gone_at - started:.0f} s into the sale, "
                 f"{len(late)} orders accepted after that")
    times = {"ready": ready, "sale": sale_s, "settle": settle_s}
    report(args, summaries, statuses, reasons, stock, checks, note, times)
    if args.json:
        args.json.write_text(json.dumps({
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "sku": sku,
            "sharding": note, "steps": summaries, "sustained": sustained(summaries),
            "statuses": dict(statuses), "close_reasons": dict(reasons), "stock": stock, "checks": checks,
            "seconds": {k: round(v, 1) for k, v in times.items()},
            "stock_gone_after_s": None if watch.gone_at is None else round(watch.gone_at - started, 1),
            "accepted_after_stock_gone": len(late),
            "stock_samples": [{"t": round(t - started, 1), **c} for t, c in watch.samples],
            "retried_placements": [_plain(p) for p in placements if p.status is None or p.retried][:50],
        }, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
