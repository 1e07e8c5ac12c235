"""Where a steady load, or a step on one SKU, meets AWS's quotas: ``python -m bench.capacity model``.

Pure Python over two data files: ``demand.json`` (each scenario's demand per order, recorded on the local stack by
``python -m bench.capacity record``) and ``quotas.json`` (us-east-1 default quotas and list prices, each with its
source and the date read). For a load it lists every component's demand, its limit, the headroom (limit / demand)
and the orders per second at which it saturates; the first three bottlenecks; and the cost per 1,000 orders.

A DynamoDB key is ``per-order`` (spread over many partitions: no hot spot), ``per-sku`` (one partition per SKU: hot
when a sale concentrates on one SKU) or ``shared`` (the same value for every order, as a ``by_status`` value or the
KPI ``day`` item: hot at any load). The recorder derives that from the keys it saw (bench/capacity/record.py).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.capacity.keys import can_be_shared

HERE = Path(__file__).resolve().parent
#: The share of placed orders each scenario stands for (each scenario is an order's whole life: "returned" is
#: delivered and then returned, "held" is held, approved and delivered). Sums to 1.
MIX: dict[str, float] = {"happy": 0.80, "returned": 0.08, "held": 0.03, "cancelled": 0.03, "declined": 0.02,
                         "backordered": 0.02, "out_of_stock": 0.01, "split": 0.01}
#: Tables whose per-SKU rows are split into ``--shards`` shards (stock for a SKU and warehouse).
SHARDED_TABLES = frozenset({"Inventory", "StockMovements"})  # a sharded row's per-order movements are under its shard
#: Tables that stand in locally for a third party's own records (the sandbox payment gateway's ledger).
NOT_PRODUCTION_TABLES = frozenset({"SandboxLedger"})
#: Keys written sharded by design, ``<value>#<shard>`` (table, index) -> shards: the ops listing index
#: (``orders_repo.OPS_SHARDS``), the placement-day index (``DAY_SHARDS``) and the KPI items (``kpis.SHARDS``).
#: A recording sees only a few shards; the load of one shard is the load of all of them over the shard count.
WRITE_SHARDS: dict[tuple[str, str | None], int] = {("Orders", "ops_queue"): 16, ("Orders", "by_day"): 16,
                                                   ("Kpis", None): 32}
PARTITION_WCU = 1000.0
PARTITION_RCU = 3000.0
LAMBDA_GB = 0.25  # every function has 256 MB (infra/functions.py)
EXPRESS_GB_SECONDS = 0.0625 * 0.1  # an Express sub-workflow bills 64 MB for (about) 100 ms
MESSAGE_KEYS = ("ses", "sms")


@dataclass
class Demand:
    """One order's demand (a scenario's, or the mix's weighted average)."""

    requests: dict[str, float] = field(default_factory=dict)
    capacity: list[dict[str, Any]] = field(default_factory=list)
    standard_transitions: float = 0.0
    express_transitions: float = 0.0
    standard_executions: float = 0.0
    express_executions: float = 0.0
    lambdas: dict[str, tuple[float, float]] = field(default_factory=dict)  # function -> (invocations, ms each)
    api: dict[str, float] = field(default_factory=dict)
    messages: dict[str, float] = field(default_factory=dict)

    @property
    def write_units(self) -> float:
        return sum(float(row["units"]) for row in self.capacity if row["kind"] == "write")

    @property
    def read_units(self) -> float:
        return sum(float(row["units"]) for row in self.capacity if row["kind"] == "read")

    @property
    def invocations(self) -> float:
        return sum(count for count, _ in self.lambdas.values())


def scenario(recorded: dict[str, Any]) -> Demand:
    t = recorded["transitions"]
    return Demand(
        requests=dict(recorded["requests"]), capacity=list(recorded["capacity"]),
        standard_transitions=float(t["standard"]), express_transitions=float(t["express"]),
        standard_executions=float(t.get("standard_executions", 0.0)),
        express_executions=float(t.get("express_executions", 0.0)),
        lambdas={f: (float(v["invocations"]), float(v["ms_per_invocation"])) for f, v in recorded["lambda"].items()},
        api=dict(recorded["api"]), messages=dict(recorded["messages"]))


def mix(demand: dict[str, Any], weights: dict[str, float] | None = None) -> Demand:
    """The weighted average order over the scenarios recorded (weights renormalized over those present)."""
    weights = {k: w for k, w in (weights or MIX).items() if k in demand["scenarios"]}
    total = sum(weights.values())
    out = Demand()
    rows: dict[tuple[str, str, str | None, str, str, str, str], dict[str, Any]] = {}
    lambdas: dict[str, list[float]] = {}
    for name, weight in weights.items():
        share = weight / total
        one = scenario(demand["scenarios"][name])
        for key, value in one.requests.items():
            out.requests[key] = out.requests.get(key, 0.0) + share * value
        for key, value in one.api.items():
            out.api[key] = out.api.get(key, 0.0) + share * value
        for key, value in one.messages.items():
            out.messages[key] = out.messages.get(key, 0.0) + share * value
        for row in one.capacity:
            slot = (row["kind"], row["table"], row["index"], row["key"], row["scope"], row["op"],
                    row.get("function", "?"))
            found = rows.setdefault(slot, {**row, "units": 0.0, "requests": 0.0})
            found["units"] += share * float(row["units"])
            found["requests"] += share * float(row["requests"])
        for function, (count, ms) in one.lambdas.items():
            acc = lambdas.setdefault(function, [0.0, 0.0])
            acc[0] += share * count
            acc[1] += share * count * ms
        out.standard_transitions += share * one.standard_transitions
        out.express_transitions += share * one.express_transitions
        out.standard_executions += share * one.standard_executions
        out.express_executions += share * one.express_executions
    out.capacity = list(rows.values())
    out.lambdas = {f: (c, ms / c if c else 0.0) for f, (c, ms) in lambdas.items()}
    return out


@dataclass(frozen=True)
class Component:
    name: str
    demand: float
    limit: float | None
    unit: str
    rate: float  # the orders/s the demand is for
    adjustable: bool
    quota: str = ""  # the Service Quotas name (and code) to ask for, when adjustable

    @property
    def headroom(self) -> float:
        if self.limit is None:
            return math.inf
        return math.inf if self.demand <= 0 else self.limit / self.demand

    @property
    def saturates_at(self) -> float:
        """Orders/s at which this component reaches its limit."""
        return self.rate * self.headroom


@dataclass(frozen=True)
class Load:
    """A load to model: ``rate`` orders/s; ``one_sku`` puts every order on one SKU split into ``shards``."""

    rate: float
    one_sku: bool = False
    shards: int = 1
    hot_sku_share: float = 0.01  # over many SKUs: the hottest SKU's share of orders
    lambda_ms: float | None = 100.0  # an AWS warm invocation; None = the durations measured locally
    hours: float = 1.0  # how long the load lasts (open executions accumulate)
    hours_to_ship: float = 24.0  # an order's Standard execution stays open until it ships


def components(order: Demand, quotas: dict[str, Any], load: Load,
               design: dict[str, Any] | None = None) -> list[Component]:
    q = quotas["quotas"]
    rate = load.rate
    out: list[Component] = []

    def quota(key: str, demand: float, unit: str, name: str | None = None) -> None:
        entry = q[key]
        label = entry["name"] + (f" ({entry['quota_code']})" if entry.get("quota_code") else "")
        out.append(Component(name or f"{entry['service']}: {entry['name']}", demand,
                             float(entry["value"]) if entry["value"] is not None else None, unit, rate,
                             bool(entry["adjustable"]), label if entry["adjustable"] else ""))

    api_per_order = sum(order.api.values())
    quota("apigw_account_rps", rate * api_per_order, "requests/s")
    for name, limit, routes in _api_throttles(design or {}, quotas):
        demand = rate * sum(v for k, v in order.api.items() if _on_route(k, routes))
        out.append(Component(f"API stage/route throttle: {name}", demand, limit, "requests/s", rate, False))
    ms = {f: (load.lambda_ms if load.lambda_ms is not None else each) for f, (_, each) in order.lambdas.items()}
    concurrency = sum(count * ms[f] / 1000 for f, (count, _) in order.lambdas.items())
    quota("lambda_concurrency", rate * concurrency, "concurrent executions")
    if order.lambdas:
        busiest = max(order.lambdas, key=lambda f: order.lambdas[f][0] * ms[f])
        quota("lambda_scaling_rate", rate * order.lambdas[busiest][0] * ms[busiest] / 1000,
              "environments in the first 10 s", name=f"Lambda: scale-up of {busiest} (per function, per 10 s)")
    quota("sfn_standard_transitions", rate * order.standard_transitions, "transitions/s")
    quota("sfn_standard_start_execution", rate * order.standard_executions, "executions/s")
    if order.express_executions:
        quota("sfn_express_start_execution", rate * order.express_executions, "executions/s")
    quota("sfn_send_task_success", rate * order.requests.get("states:SendTaskSuccess", 0.0), "requests/s")
    open_seconds = 3600 * min(load.hours, load.hours_to_ship)
    quota("sfn_open_executions", rate * order.standard_executions * open_seconds, "open executions",
          name=f"Step Functions: open Standard executions after {load.hours:g} h")
    quota("ses_send_rate", rate * order.messages.get("email", 0.0), "emails/s")
    quota("sns_publish_tps", rate * (order.requests.get("sns:Publish", 0.0)
                                     + order.requests.get("sns:Publish(SMS)", 0.0)), "requests/s")
    quota("sns_opt_out_check_tps", rate * order.requests.get("sns:CheckIfPhoneNumberIsOptedOut", 0.0), "requests/s")
    quota("sms_origination_mps", rate * order.messages.get("sms", 0.0), "SMS/s",
          name="SMS: one toll-free origination number")
    out.extend(_dynamodb(order, quotas, load))
    return out


def _api_throttles(design: dict[str, Any], quotas: dict[str, Any]) -> list[tuple[str, float, set[str] | None]]:
    """(name, limit, routes) of the API's own throttles: from the synthesized template when the demand file has
    them (a route's own setting; the stage default for the routes without one, counted together), else the stage
    throttle in quotas.json's design section (every route together)."""
    found = design.get("api_throttles")
    if found is None:
        stage = quotas.get("design", {}).get("api_stage_throttle")
        return [("stage (all routes)", float(stage["value"]), None)] if stage else []
    out: list[tuple[str, float, set[str] | None]] = []
    routes: set[str] = set()
    default: float | None = None
    for setting in found:
        if setting.get("kind") != "stage" or setting.get("rate") is None:
            continue
        method, path = setting.get("method", "*"), setting.get("path", "/*")
        if method == "*" and path in ("/*", "*"):
            default = float(setting["rate"])
        else:
            routes.add(f"{method} {path}")
            out.append((f"{method} {path}", float(setting["rate"]), {f"{method} {path}"}))
    if default is not None:
        out.append(("stage default (the other routes)" if routes else "stage (all routes)", default,
                    {"!" + r for r in routes} if routes else None))
    return out


def _on_route(route: str, routes: set[str] | None) -> bool:
    """``routes`` None: every route; a set of ``!route``: every route but those; else those routes."""
    if routes is None:
        return True
    if all(r.startswith("!") for r in routes):
        return route not in {r[1:] for r in routes}
    return route in routes


def _dynamodb(order: Demand, quotas: dict[str, Any], load: Load) -> list[Component]:
    q = quotas["quotas"]
    rate = load.rate
    out: list[Component] = []
    tables: dict[tuple[str, str | None, str], float] = {}
    partitions: dict[tuple[str, str | None, str], list[float]] = {}
    for row in order.capacity:
        table, index, kind = row["table"], row["index"], row["kind"]
        units = rate * float(row["units"])
        tables[(table, index, kind)] = tables.get((table, index, kind), 0.0) + units
        scope = row["scope"]
        if scope == "shared" and not can_be_shared(row["key"]):
            scope = "per-order"  # an entity's own key seen in two windows (its work ran late): not a hot spot
        if (table, index) in WRITE_SHARDS and re.search(r"#\d+$", str(row["key"])) and can_be_shared(row["key"]):
            scope = "shared"  # one shard of every order's key, however few orders the recording saw on it
        if scope == "per-order":
            continue
        share = 1.0
        if scope == "per-sku":
            share = 1.0 if load.one_sku else load.hot_sku_share
            if table in SHARDED_TABLES and index is None:
                share /= max(1, load.shards)
        key = row["key"] if scope == "shared" else "<sku>"
        shards = WRITE_SHARDS.get((table, index))
        if scope == "shared" and shards and "#" in key and key.rsplit("#", 1)[1].isdigit():
            key = f"{key.rsplit('#', 1)[0]}#<shard> (one of {shards})"
            share /= shards
        slot = partitions.setdefault((table, index, key), [0.0, 0.0])
        slot[0 if kind == "write" else 1] += units * share
    for (table, index, kind), units in sorted(tables.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]), kv[0][2])):
        key = "ddb_table_wcu" if kind == "write" else "ddb_table_rcu"
        where = f"{table}" + (f" index {index}" if index else "")
        out.append(Component(f"DynamoDB {kind} units: {where}", units, float(q[key]["value"]),
                             f"{kind} units/s", rate, True, q[key]["name"]))
    for (table, index, key), (writes, reads) in sorted(partitions.items(),
                                                        key=lambda kv: (str(kv[0][0]), str(kv[0][1]), kv[0][2])):
        where = f"{table}" + (f" index {index}" if index else "") + f" key {key}"
        if table in SHARDED_TABLES and index is None and key == "<sku>" and load.shards > 1:
            where += f" (one of {load.shards} shards)"
        # one partition: 1,000 write units or 3,000 read units a second, or a linear combination
        out.append(Component(f"DynamoDB partition: {where}", writes + reads * PARTITION_WCU / PARTITION_RCU,
                             PARTITION_WCU, "write-unit equivalents/s", rate, False))
    return out


MESSAGING = ("SES:", "SMS:", "SNS:")


def bottlenecks(found: list[Component], count: int = 3, messaging: bool = True) -> list[Component]:
    """The ``count`` components with the least headroom (``messaging`` False: leaving out email and SMS, whose
    quotas a shop raises before anything else)."""
    limited = [c for c in found if c.limit is not None and c.demand > 0
               and (messaging or not c.name.startswith(MESSAGING))]
    return sorted(limited, key=lambda c: c.headroom)[:count]


def cost_per_thousand(order: Demand, quotas: dict[str, Any], lambda_ms: float | None = 100.0) -> dict[str, float]:
    """USD per 1,000 orders, by service, at list prices. Two recorded costs are not an order's in production: the
    sandbox gateway's ledger table (``NOT_PRODUCTION_TABLES``; Stripe keeps its own records) and Secrets Manager
    reads, which each warm function makes once per ``oms.adapters.secrets`` max age (5 minutes), whatever the
    number of orders (a few thousand containers at 1,000 orders/s: about 0.00001 reads per order)."""
    p = {k: float(v["usd"]) for k, v in quotas["prices"].items()}
    r = order.requests
    stand_in = {kind: sum(float(row["units"]) for row in order.capacity
                          if row["table"] in NOT_PRODUCTION_TABLES and row["kind"] == kind)
                for kind in ("write", "read")}
    ms = sum(count * (lambda_ms if lambda_ms is not None else each) for count, each in order.lambdas.values())
    sqs = sum(v for k, v in r.items() if k.startswith("sqs:SendMessage"))
    out = {
        "Step Functions": order.standard_transitions * p["sfn_standard_transition"]
        + order.express_executions * (p["sfn_express_request"] + EXPRESS_GB_SECONDS * p["sfn_express_gb_second"]),
        "Lambda": order.invocations * p["lambda_request"] + ms / 1000 * LAMBDA_GB * p["lambda_gb_second"],
        "DynamoDB": (order.write_units - stand_in["write"]) * p["ddb_write_unit"]
        + (order.read_units - stand_in["read"]) * p["ddb_read_unit"],
        "API Gateway": sum(order.api.values()) * p["apigw_rest_request"],
        # a message sent is also received and deleted by its consumer: three requests
        "SQS": 3 * sqs * p["sqs_request"],
        "SNS (topics)": r.get("sns:Publish", 0.0) * p["sns_publish"],
        "ses": order.messages.get("email", 0.0) * p["ses_email"],
        "sms": order.messages.get("sms", 0.0) * p["sns_sms_us"],
    }
    return {k: 1000 * v for k, v in out.items()}


# -- output ----------------------------------------------------------------------------------------------------------

def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def table(found: list[Component], rows: int | None = None) -> str:
    lines = [f"| {'component':70s} | {'demand':>12s} | {'limit':>10s} | {'headroom':>8s} | {'saturates at':>14s} |",
             f"|{'-' * 72}|{'-' * 14}|{'-' * 12}|{'-' * 10}|{'-' * 16}|"]
    shown = [c for c in sorted(found, key=lambda c: c.headroom) if c.demand > 0 or c.limit is None]
    for c in shown[:rows]:
        lines.append(f"| {c.name[:70]:70s} | {_number(c.demand):>12s} | {_number(c.limit):>10s} | "
                     f"{_number(c.headroom) + 'x':>8s} | {_number(c.saturates_at) + ' /s':>14s} |")
    if rows is not None and len(shown) > rows:
        more = f"... {len(shown) - rows} more, each with more headroom"
        lines.append(f"| {more:70s} | {'':12s} | {'':10s} | {'':8s} | {'':14s} |")
    return "\n".join(lines)


def report(demand: dict[str, Any], quotas: dict[str, Any], load: Load, rows: int | None = None) -> str:
    order = mix(demand)
    found = components(order, quotas, load, demand.get("design"))
    title = (f"One SKU ({load.shards} stock shard{'s' if load.shards != 1 else ''}), a step to {load.rate:,.0f} "
             f"orders/s" if load.one_sku else
             f"Steady {load.rate:,.0f} orders/s over many SKUs (the hottest SKU {load.hot_sku_share:.0%} of orders)")
    out = [f"## {title}", "", table(found, rows)]
    for heading, messaging in (("First three bottlenecks", True),
                               ("First three after email and SMS (their quotas are raised first)", False)):
        out += ["", f"{heading}:"]
        for i, c in enumerate(bottlenecks(found, messaging=messaging), 1):
            kind = f"AWS quota, raise by request: {c.quota}" if c.adjustable else "a limit of the design"
            out.append(f"  {i}. {c.name}: saturates at {_number(c.saturates_at)} orders/s ({kind})")
    return "\n".join(out)


def summary(demand: dict[str, Any], quotas: dict[str, Any], lambda_ms: float | None = 100.0) -> str:
    order = mix(demand)
    lines = ["## Demand per order (the mix)", "",
             "| scenario | share | AWS requests | write units | read units | Standard transitions | Express executions"
             " | Lambda invocations | API requests | emails | SMS |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, weight in MIX.items():
        if name not in demand["scenarios"]:
            continue
        s = scenario(demand["scenarios"][name])
        lines.append(f"| {name} | {weight:.0%} | {sum(s.requests.values()):.1f} | {s.write_units:.1f} | "
                     f"{s.read_units:.1f} | {s.standard_transitions:.1f} | {s.express_executions:.1f} | "
                     f"{s.invocations:.1f} | {sum(s.api.values()):.1f} | {s.messages.get('email', 0):.1f} | "
                     f"{s.messages.get('sms', 0):.1f} |")
    lines.append(f"| **mix** | 100% | {sum(order.requests.values()):.1f} | {order.write_units:.1f} | "
                 f"{order.read_units:.1f} | {order.standard_transitions:.1f} | {order.express_executions:.1f} | "
                 f"{order.invocations:.1f} | {sum(order.api.values()):.1f} | {order.messages.get('email', 0):.1f} | "
                 f"{order.messages.get('sms', 0):.1f} |")
    lines += ["", "Write units per order (the mix), largest first:", ""]
    writes: dict[tuple[str, str], float] = {}
    for row in order.capacity:
        if row["kind"] == "write":
            where = (row["table"] + (f" index {row['index']}" if row["index"] else ""), row["op"])
            writes[where] = writes.get(where, 0.0) + float(row["units"])
    for (place, op), units in sorted(writes.items(), key=lambda kv: -kv[1])[:12]:
        lines.append(f"  {units:6.1f}  {place} ({op})")
    by_function: dict[str, float] = {}
    for row in order.capacity:
        if row["kind"] == "write" and row.get("function", "?") != "?":
            by_function[row["function"]] = by_function.get(row["function"], 0.0) + float(row["units"])
    if by_function:
        lines += ["", "Write units per order by the function that wrote them (tables and indexes):", ""]
        for function, units in sorted(by_function.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {units:6.1f}  {function}")
    lines += ["", "## Cost per 1,000 orders at list prices (USD)", ""]
    for label, one in (("the mix", order), ("happy path only", scenario(demand["scenarios"]["happy"]))
                       if "happy" in demand["scenarios"] else ("the mix", order)):
        cost = cost_per_thousand(one, quotas, lambda_ms)
        without = sum(v for k, v in cost.items() if k not in MESSAGE_KEYS)
        detail = ", ".join(f"{k} {v:.3f}" for k, v in cost.items() if v)
        lines.append(f"  {label}: {sum(cost.values()):.3f} in all, {without:.3f} before email and SMS ({detail})")
    return "\n".join(lines)


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def main(demand_path: Path, rate: float, one_sku_rate: float, shards: int, hot_sku_share: float = 0.01,
         lambda_ms: float | None = 100.0, rows: int | None = None) -> int:
    demand = load_json(demand_path)
    quotas = load_json(HERE / "quotas.json")
    print(f"# Capacity model: {demand_path.name} (recorded {demand.get('recorded', '?')}), quotas read "
          f"{quotas['read']} ({quotas['region']})\n")
    print(summary(demand, quotas, lambda_ms) + "\n")
    print(report(demand, quotas, Load(rate, hot_sku_share=hot_sku_share, lambda_ms=lambda_ms), rows) + "\n")
    print(report(demand, quotas, Load(one_sku_rate, one_sku=True, shards=shards, lambda_ms=lambda_ms), rows)
          + "\n")
    print(shard_advice(demand, one_sku_rate))
    return 0


def shard_advice(demand: dict[str, Any], rate: float, utilization: float = 0.8) -> str:
    """How many stock shards a one-SKU sale at ``rate`` orders/s needs: per-partition write units over the write
    units one order puts on the SKU's stock row."""
    order = mix(demand)
    stock = [r for r in order.capacity
             if r["table"] in SHARDED_TABLES and r["index"] is None and r["scope"] == "per-sku"]
    # Each table's shard key is its own partition: the busiest one sizes the shards.
    loads = {}
    for table in {str(r["table"]) for r in stock}:
        writes = sum(float(r["units"]) for r in stock if r["table"] == table and r["kind"] == "write")
        reads_ = sum(float(r["units"]) for r in stock if r["table"] == table and r["kind"] == "read")
        loads[table] = (writes + reads_ * PARTITION_WCU / PARTITION_RCU, writes, reads_)
    if not loads:
        return "Stock shards: no per-SKU stock writes recorded."
    busiest = max(loads, key=lambda t: loads[t][0])
    load, per_order, reads = loads[busiest]
    if load <= 0:
        return "Stock shards: no per-SKU stock writes recorded."
    per_shard = utilization * PARTITION_WCU / load
    needed = math.ceil(rate / per_shard)
    return (f"Stock shards: one order puts {per_order:.2f} write units (and {reads:.2f} read units) on its SKU's "
            f"busiest sharded key ({busiest}), so a shard serves about {per_shard:,.0f} orders/s at "
            f"{utilization:.0%} of a partition's "
            f"1,000 write units; {rate:,.0f} orders/s on one SKU needs {needed} shards per warehouse.")
