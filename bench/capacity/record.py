"""Record each scenario's demand per order on the local stack: ``python -m bench.capacity record``.

Every order runs alone, from placement to its last message, inside one recording window: moto's request recorder
(requests by service and operation, attributed to the function by its ``oms-function/<name>`` user agent), the
capacity meter in the stack's process (bench/capacity/meter.py: DynamoDB write and read units by table, index and
partition key; Lambda invocations and durations; API requests) and, after the window, the history of every
Step Functions execution started in it (state transitions, Standard and Express apart). The bench waits by reading
the tables itself (its requests are not the order's), and setup (products, stock) happens before the window opens.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import requests

from bench.aws_requests import Recorder, operation
from bench.capacity.keys import can_be_shared, key_pattern

ORIGIN = re.compile(r"oms-function/(\w+)")
SCOPE = re.compile(r"Credential=[^/]+/\d+/[\w-]+/([\w-]+)/aws4_request")
#: Functions run by a schedule, not by an order: their work is per minute, not per order.
PERIODIC = frozenset({"sweeper", "escalations", "reports"})
#: The stock rebalancer runs every minute inside the inventory function; its read of the sharded-rows registry
#: (``inventory_repo.REGISTRY``) is per minute too.
REBALANCER_READ = '"#sharded"'


def _per_order(entry: dict[str, Any]) -> bool:
    """A request an order made (not the local stack's own, not a schedule's)."""
    origin = _origin(entry)
    return origin not in ("local-stack", *PERIODIC) and not (
        origin == "inventory" and REBALANCER_READ in str(entry.get("body") or ""))
SCENARIOS = ("happy", "held", "declined", "out_of_stock", "backordered", "split", "cancelled", "returned")
HERE = Path(__file__).resolve().parent
ADDRESS = {"name": "Cap Bench", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
SETTLE = 1.5  # seconds without a request from a function: the order's work is done


class Stack:
    """The HTTP calls a storefront, ops and a carrier make; waits read DynamoDB directly (not the order's cost)."""

    def __init__(self, config: dict[str, Any]) -> None:
        from local.cli import get_token

        self.config = config
        self.url = config["api_url"]
        self.aws = config["aws_endpoint_url"]
        self.ops = get_token(config, "capacity-ops@example.com", ops=True)
        self._get_token = get_token
        session = boto3.Session(region_name=config["region"], aws_access_key_id="testing",
                                aws_secret_access_key="testing")
        self.ddb = session.client("dynamodb", endpoint_url=self.aws)
        self.sfn = session.client("stepfunctions", endpoint_url=self.aws)
        tables = self.ddb.list_tables()["TableNames"]
        self.orders_table = next(t for t in tables if "Orders" in t)
        self.created: list[str] = []  # SKUs, in order
        self.placed: list[str] = []  # order ids, in order
        self.returns_table = next(t for t in tables if "Returns" in t)

    def customer(self) -> str:
        return self._get_token(self.config, f"cap-{uuid.uuid4().hex[:10]}@example.com")

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=60, **kwargs)

    def product(self, price: int = 1250, backorderable: bool = False) -> str:
        sku = f"CAP-{uuid.uuid4().hex[:8].upper()}"
        answer = self.call("PUT", f"/admin/products/{sku}", self.ops, json={
            "name": f"Thing {sku}", "price": price, "currency": "USD", "backorderable": backorderable})
        assert answer.status_code == 200, answer.text
        self.created.append(sku)
        return sku

    def stock(self, sku: str, warehouse: str, on_hand: int, incoming: list[dict[str, Any]] | None = None) -> None:
        body: dict[str, Any] = {"warehouse": warehouse, "on_hand": on_hand}
        if incoming is not None:
            body["incoming"] = incoming
        answer = self.call("PUT", f"/admin/inventory/{sku}", self.ops, json=body)
        assert answer.status_code == 200, answer.text

    def place(self, token: str, lines: list[tuple[str, int]], payment: str = "tok_visa") -> str:
        body = {"currency": "USD", "lines": [{"sku": s, "quantity": q} for s, q in lines],
                "shipping_address": ADDRESS, "shipping_method": "standard", "payment": {"token": payment},
                "contact": {"email": f"cap-{uuid.uuid4().hex[:8]}@example.com",
                            "phone": f"+1201555{uuid.uuid4().int % 10000:04d}", "sms_opt_in": True}}
        answer = self.call("POST", "/orders", token, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code in (200, 201, 202), answer.text
        self.placed.append(str(answer.json()["order_id"]))
        return self.placed[-1]

    def status(self, table: str, key: str, value: str) -> str | None:
        item = self.ddb.get_item(TableName=table, Key={key: {"S": value}}).get("Item") or {}
        return (item.get("status") or {}).get("S")

    def wait(self, order_id: str, *statuses: str, timeout: float = 60) -> str:
        return self._wait(self.orders_table, "order_id", order_id, statuses, timeout)

    def wait_return(self, return_id: str, *statuses: str, timeout: float = 60) -> str:
        return self._wait(self.returns_table, "return_id", return_id, statuses, timeout)

    def _wait(self, table: str, key: str, value: str, statuses: tuple[str, ...], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            found = self.status(table, key, value)
            if found in statuses:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{value} is {found}, expected {statuses}")
            time.sleep(0.05)

    def ship(self, order_id: str, **body: Any) -> dict[str, Any]:
        answer = self.call("POST", f"/admin/orders/{order_id}/shipments", self.ops,
                           json={"carrier": "UPS", "tracking_number": f"1Z{uuid.uuid4().hex[:12].upper()}", **body})
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def tracking(self, number: str, status: str) -> None:
        from oms.domain.easypost import sign

        body = json.dumps({"object": "Event", "id": f"evt_{uuid.uuid4().hex}", "description": "tracker.updated",
                           "result": {"object": "Tracker", "tracking_code": number, "status": status,
                                      "carrier": "UPS", "est_delivery_date": None, "tracking_details": [
                                          {"datetime": datetime.now(UTC).isoformat(), "status": status,
                                           "message": status}]}})
        answer = self.call("POST", "/webhooks/tracking/easypost", data=body, headers={
            "X-Hmac-Signature": sign(body.encode(), self.config["webhook_secrets"]["easypost"]),
            "Content-Type": "application/json"})
        assert answer.status_code < 300, answer.text

    def deliver(self, order_id: str, parcels: list[dict[str, Any]] | None = None) -> None:
        """Ship the PROCESSING order in one parcel (or the given ones) and have the carrier deliver it."""
        if parcels is None:
            self.wait(order_id, "PROCESSING")
            shipped = self.ship(order_id)
            numbers = [s["tracking_number"] for s in shipped["shipments"]]
        else:
            numbers = [p["tracking_number"] for p in parcels]
        self.wait(order_id, "SHIPPED")
        for number in numbers:
            self.tracking(number, "delivered")
        self.wait(order_id, "DELIVERED")


# -- the scenarios: (setup before the window) -> (the order's life inside it) ----------------------------------------

Scenario = Callable[[Stack], Callable[[], None]]


def happy(stack: Stack) -> Callable[[], None]:
    sku, token = stack.product(), stack.customer()
    stack.stock(sku, "wh-east", 100)

    def run() -> None:
        order_id = stack.place(token, [(sku, 1)])
        stack.deliver(order_id)
    return run


def held(stack: Stack) -> Callable[[], None]:
    sku, token = stack.product(price=120000), stack.customer()  # >= the review amount
    stack.stock(sku, "wh-east", 100)

    def run() -> None:
        order_id = stack.place(token, [(sku, 1)])
        stack.wait(order_id, "ON_HOLD")
        answer = stack.call("POST", f"/admin/orders/{order_id}/review", stack.ops,
                            json={"decision": "approve", "note": "ok"})
        assert answer.status_code == 200, answer.text
        stack.deliver(order_id)
    return run


def declined(stack: Stack) -> Callable[[], None]:
    sku, token = stack.product(), stack.customer()
    stack.stock(sku, "wh-east", 100)

    def run() -> None:
        stack.wait(stack.place(token, [(sku, 1)], payment="tok_chargeDeclined"), "REJECTED")
    return run


def out_of_stock(stack: Stack) -> Callable[[], None]:
    sku, token = stack.product(), stack.customer()
    stack.stock(sku, "wh-east", 0)

    def run() -> None:  # refused at placement: nothing is stored, no workflow starts
        body = {"currency": "USD", "lines": [{"sku": sku, "quantity": 1}], "shipping_address": ADDRESS,
                "shipping_method": "standard", "payment": {"token": "tok_visa"},
                "contact": {"email": f"cap-{uuid.uuid4().hex[:8]}@example.com"}}
        answer = stack.call("POST", "/orders", token, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code == 409 and answer.json()["code"] == "insufficient_stock", answer.text
    return run


def backordered(stack: Stack) -> Callable[[], None]:
    sku, token = stack.product(backorderable=True), stack.customer()
    eta = (datetime.now(UTC).date() + timedelta(days=14)).isoformat()
    stack.stock(sku, "wh-east", 0, [{"quantity": 5, "eta": eta}])

    def run() -> None:
        order_id = stack.place(token, [(sku, 1)])
        stack.wait(order_id, "BACKORDERED")
        answer = stack.call("POST", f"/admin/inventory/{sku}/receipts", stack.ops,
                            json={"warehouse": "wh-east", "quantity": 1}, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code == 201, answer.text
        stack.deliver(order_id)
    return run


def split(stack: Stack) -> Callable[[], None]:
    east, west, token = stack.product(), stack.product(price=3000), stack.customer()
    stack.stock(east, "wh-east", 100)
    stack.stock(west, "wh-west", 100)

    def run() -> None:
        order_id = stack.place(token, [(east, 1), (west, 1)])
        stack.wait(order_id, "PROCESSING")
        first = stack.ship(order_id, warehouse="wh-east")
        stack.wait(order_id, "PARTIALLY_SHIPPED")
        second = stack.ship(order_id, warehouse="wh-west")
        parcels = {p["tracking_number"]: p for p in first["shipments"] + second["shipments"]}
        stack.deliver(order_id, list(parcels.values()))
    return run


def cancelled(stack: Stack) -> Callable[[], None]:
    sku, token = stack.product(), stack.customer()
    stack.stock(sku, "wh-east", 100)

    def run() -> None:
        order_id = stack.place(token, [(sku, 1)])
        stack.wait(order_id, "PROCESSING")
        answer = stack.call("POST", f"/orders/{order_id}/cancel", token, json={"reason": "CHANGED_MIND"},
                            headers={"Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code == 202, answer.text
        stack.wait(order_id, "CANCELLED")
    return run


def returned(stack: Stack) -> Callable[[], None]:
    sku, token = stack.product(), stack.customer()
    stack.stock(sku, "wh-east", 100)

    def run() -> None:
        order_id = stack.place(token, [(sku, 1)])
        stack.deliver(order_id)
        answer = stack.call("POST", f"/orders/{order_id}/returns", token, headers={"Idempotency-Key": uuid.uuid4().hex},
                            json={"lines": [{"sku": sku, "quantity": 1, "reason": "DAMAGED"}]})
        assert answer.status_code < 300, answer.text
        rma = answer.json()["return_id"]
        stack.wait_return(rma, "APPROVED")
        parcel = f"1ZRET{uuid.uuid4().hex[:10].upper()}"
        answer = stack.call("POST", f"/orders/{order_id}/returns/{rma}/parcel", token,
                            json={"carrier": "UPS", "tracking_number": parcel})
        assert answer.status_code < 300, answer.text
        stack.tracking(parcel, "in_transit")
        stack.wait_return(rma, "IN_TRANSIT")
        answer = stack.call("POST", f"/admin/returns/{rma}/receive", stack.ops,
                            json={"lines": [{"sku": sku, "quantity": 1, "condition": "RESELLABLE"}]})
        assert answer.status_code < 300, answer.text
        stack.wait_return(rma, "CLOSED")
    return run


DRIVERS: dict[str, Scenario] = {"happy": happy, "held": held, "declined": declined, "out_of_stock": out_of_stock,
                                "backordered": backordered, "split": split, "cancelled": cancelled,
                                "returned": returned}


# -- one window -------------------------------------------------------------------------------------------------------

def _lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects in ``path``; moto's recorder writes an entry and its newline apart, so two threads' entries
    can share a line, and the last one may still be being written."""
    if not path.exists():
        return []
    text, at = path.read_text(), 0
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    while True:
        while at < len(text) and text[at] in " \r\n\t":
            at += 1
        if at >= len(text):
            return found
        try:
            entry, at = decoder.raw_decode(text, at)
        except ValueError:
            return found  # a torn write at the end
        found.append(entry)


def _origin(entry: dict[str, Any]) -> str:
    agent = {k.lower(): v for k, v in entry["headers"].items()}.get("user-agent", "")
    found = ORIGIN.search(agent)
    return found.group(1) if found else "local-stack"


def service(entry: dict[str, Any]) -> str:
    auth = {k.lower(): v for k, v in entry["headers"].items()}.get("authorization", "")
    found = SCOPE.search(auth)
    return found.group(1) if found else "unknown"


def label(entry: dict[str, Any]) -> str:
    """``service:Operation``; an SNS publish to a phone number is ``sns:Publish(SMS)``."""
    op = operation(entry)
    if " " in op:  # a REST call: the method and the path without ids
        method, url = op.split(" ", 1)
        path = re.sub(r"https?://[^/]+", "", url).split("?")[0]
        op = f"{method} " + re.sub(r"/[^/]*[0-9][^/]*", "/{id}", path)
    name = service(entry)
    body = str(entry.get("body") or "")
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    if name == "sns" and op == "Publish" and "PhoneNumber" in body:
        op = "Publish(SMS)"
    return f"{name}:{op}"


def settle(recording: Path, quiet: float = SETTLE, timeout: float = 30) -> None:
    """Wait until no function has made a request for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, seen = time.monotonic(), -1
    while time.monotonic() < deadline:
        count = sum(1 for e in _lines(recording) if _per_order(e))
        if count != seen:
            seen, last = count, time.monotonic()
        elif time.monotonic() - last >= quiet:
            return
        time.sleep(0.25)


def _executions(stack: Stack, since: datetime) -> list[tuple[str, int]]:
    """(Standard|Express, StateEntered events) of every execution started since ``since``."""
    found = []
    for machine in stack.sfn.list_state_machines()["stateMachines"]:
        kind = stack.sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"]).get("type", "STANDARD")
        try:
            executions = stack.sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
        except Exception:  # an Express machine may not list its executions
            continue
        for execution in executions:
            if execution["startDate"] < since:
                continue
            deadline = time.monotonic() + 15
            while (stack.sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING"
                   and time.monotonic() < deadline):
                time.sleep(0.1)
            events = stack.sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)
            entered = sum(1 for e in events["events"] if e["type"].endswith("StateEntered"))
            found.append(("express" if kind == "EXPRESS" else "standard", entered))
    return found


def measure(stack: Stack, recording: Path, meter: Path, run: Callable[[], None]) -> dict[str, Any]:
    """One order's life in one recording window: the raw counts."""
    meter.write_text("")
    since = datetime.now(UTC) - timedelta(seconds=1)
    with Recorder(stack.aws, recording):
        run()
        settle(recording)
    calls = [e for e in _lines(recording) if _per_order(e)]
    metered = _lines(meter)
    return {
        "requests": Counter(label(e) for e in calls),
        "by_function": Counter(f"{_origin(e)}: {label(e)}" for e in calls),
        "metered": [m for m in metered if m.get("origin") not in ("local-stack", *PERIODIC)],
        "meter_errors": [m for m in metered if m["kind"] == "meter-error"],
        "executions": _executions(stack, since),
    }


# -- per order --------------------------------------------------------------------------------------------------------

def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per order averages over the runs of one scenario; a key is ``shared`` when it is the same value in
    more than one order (a status, a day), ``per-sku`` when it names the SKU, else ``per-order``."""
    n = len(runs)
    requests_: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    for run in runs:
        requests_.update(run["requests"])
        by_function.update(run["by_function"])
    owners: dict[tuple[str, str | None, str | None], set[int]] = defaultdict(set)
    for i, run in enumerate(runs):
        for m in run["metered"]:
            if m["kind"] in ("write", "read"):
                owners[(m["table"], m.get("index"), m.get("key"))].add(i)
    capacity: dict[tuple[str, str, str, str, str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    lambdas: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    api: Counter[str] = Counter()
    for run in runs:
        skus, order_ids = run["skus"], {run["order_id"]} if run.get("order_id") else set()
        for m in run["metered"]:
            if m["kind"] in ("write", "read"):
                key = m.get("key")
                pattern = key_pattern(key, skus, order_ids)
                if "<sku>" in pattern:
                    scope = "per-sku"
                elif len(owners[(m["table"], m.get("index"), key)]) > 1 and can_be_shared(key):
                    scope = "shared"
                else:
                    scope = "per-order"
                if scope == "shared":
                    pattern = key or "<none>"
                slot = capacity[(m["kind"], m["table"], m.get("index") or "", pattern, scope, m["op"], m["origin"])]
                slot[0] += 1
                slot[1] += m["units"]
            elif m["kind"] == "lambda":
                lambdas[function_name(m["function"])][0] += 1
                lambdas[function_name(m["function"])][1] += m["ms"]
            elif m["kind"] == "api":
                api[f"{m['method']} {m['resource']}"] += 1
    transitions = {"standard": 0.0, "express": 0.0, "express_executions": 0.0, "standard_executions": 0.0}
    for run in runs:
        for kind, entered in run["executions"]:
            transitions[kind] += entered / n
            transitions[f"{kind}_executions"] += 1 / n
    units: list[dict[str, Any]] = []
    for (kind, table, index, pattern, scope, op, origin), (count, total) in sorted(capacity.items()):
        units.append({"kind": kind, "table": _short(table), "index": index or None, "key": pattern, "scope": scope,
                      "op": op, "function": origin, "requests": round(count / n, 3), "units": round(total / n, 3)})
    per_order = {k: round(v / n, 3) for k, v in sorted(requests_.items())}
    return {
        "orders": n,
        "requests": per_order,
        "requests_total": round(sum(requests_.values()) / n, 3),
        "requests_by_function": {k: round(v / n, 3) for k, v in sorted(by_function.items())},
        "write_units": round(sum(u["units"] for u in units if u["kind"] == "write"), 3),
        "read_units": round(sum(u["units"] for u in units if u["kind"] == "read"), 3),
        "capacity": units,
        "transitions": {k: round(v, 3) for k, v in transitions.items()},
        "lambda": {f: {"invocations": round(c / n, 3), "ms_per_invocation": round(ms / c, 1) if c else 0.0}
                   for f, (c, ms) in sorted(lambdas.items())},
        "api": {k: round(v / n, 3) for k, v in sorted(api.items())},
        "messages": {
            "email": round(sum(v for k, v in per_order.items()
                               if k.startswith("ses:Send") or "outbound-emails" in k), 3),
            "sms": per_order.get("sns:Publish(SMS)", 0.0),
            "sns_publish": per_order.get("sns:Publish", 0.0),
            "sqs_send": round(sum(v for k, v in per_order.items() if k.startswith("sqs:SendMessage")), 3),
        },
        "meter_errors": sum(len(run["meter_errors"]) for run in runs),
    }


def _short(table: str) -> str:
    """``OmsData-Orders1A2B3C-XYZ`` -> ``Orders``: the logical name, stable across deployments."""
    return re.sub(r"[0-9A-F]{8}(-\w+)?$", "", table.split("-", 1)[-1])


def function_name(physical: str) -> str:
    """``OmsApi-PlaceOrderFunctionF3BF3D1E`` -> ``PlaceOrder``."""
    return re.sub(r"(Function)?[0-9A-F]{8}(-\w+)?$", "", physical.split("-", 1)[-1])


def run_scenario(stack: Stack, recording: Path, meter: Path, name: str) -> dict[str, Any]:
    """One order of scenario ``name``, measured alone (setup first, outside the window)."""
    skus, placed = len(stack.created), len(stack.placed)
    run = DRIVERS[name](stack)
    found = measure(stack, recording, meter, run)
    found["skus"], found["order_id"] = set(stack.created[skus:]), next(iter(stack.placed[placed:]), None)
    return found


def record_scenario(stack: Stack, recording: Path, meter: Path, name: str, orders: int) -> dict[str, Any]:
    runs = [run_scenario(stack, recording, meter, name) for _ in range(orders)]
    summary = summarize(runs)
    summary["expected_at_most"] = expectations([summarize([run]) for run in runs])
    return summary


def guarded(summary: dict[str, Any]) -> dict[str, Any]:
    """What the guard test compares: AWS requests by operation, write units by table and index, Standard
    transitions (one order's figures)."""
    writes: dict[str, float] = defaultdict(float)
    for row in summary["capacity"]:
        if row["kind"] == "write":
            writes[row["table"] + (f" index {row['index']}" if row["index"] else "")] += row["units"]
    return {"requests": dict(summary["requests"]), "write_units": {k: round(v, 3) for k, v in sorted(writes.items())},
            "standard_transitions": summary["transitions"]["standard"]}


def expectations(one_order_summaries: list[dict[str, Any]], summarized: bool = False) -> dict[str, Any]:
    """The most any one recorded order needed, per figure the guard compares (``summarized``: already in the
    guard's shape)."""
    found: dict[str, Any] = {"requests": {}, "write_units": {}, "standard_transitions": 0.0}
    for one in one_order_summaries if summarized else map(guarded, one_order_summaries):
        for part in ("requests", "write_units"):
            for key, value in one[part].items():
                found[part][key] = max(found[part].get(key, 0.0), value)
        found["standard_transitions"] = max(found["standard_transitions"], one["standard_transitions"])
    found["requests"] = dict(sorted(found["requests"].items()))
    found["write_units"] = dict(sorted(found["write_units"].items()))
    return found


def api_throttles() -> list[dict[str, Any]]:
    """The API's stage and route throttles and usage plans, as synthesized (the model's design limits)."""
    from local.synth import synthesize

    found: list[dict[str, Any]] = []
    for _, template in synthesize():
        for resource in template.get("Resources", {}).values():
            props = resource.get("Properties", {})
            if resource.get("Type") == "AWS::ApiGateway::Stage":
                for setting in props.get("MethodSettings", []):
                    found.append({"kind": "stage", "method": setting.get("HttpMethod", "*"),
                                  "path": str(setting.get("ResourcePath", "/*")).replace("~1", "/").replace("//", "/"),
                                  "rate": setting.get("ThrottlingRateLimit"),
                                  "burst": setting.get("ThrottlingBurstLimit")})
            elif resource.get("Type") == "AWS::ApiGateway::UsagePlan":
                throttle = props.get("Throttle") or {}
                found.append({"kind": "usage-plan", "name": props.get("UsagePlanName"),
                              "per_key_rate": throttle.get("RateLimit"), "per_key_burst": throttle.get("BurstLimit")})
    return found


def record(orders: int = 3, scenarios: tuple[str, ...] = SCENARIOS, out: Path | None = None,
           expectations_out: Path | None = None, tighten: bool = False) -> dict[str, Any]:
    from bench.stack import local_stack

    result: dict[str, Any] = {"recorded": datetime.now(UTC).strftime("%Y-%m-%d"), "orders_per_scenario": orders,
                              "design": {}, "scenarios": {}}
    throttles = ThreadPoolExecutor(1)
    synthesized = throttles.submit(api_throttles)  # while the stack starts
    with tempfile.TemporaryDirectory() as tmp:
        recording, meter = Path(tmp) / "recording.jsonl", Path(tmp) / "meter.jsonl"
        with local_stack(MOTO_RECORDER_FILEPATH=str(recording), OMS_CAPACITY_METER=str(meter)) as (config, _):
            stack = Stack(config)
            result["design"]["api_throttles"] = synthesized.result()
            throttles.shutdown()
            for name in scenarios:
                started = time.monotonic()
                try:
                    result["scenarios"][name] = record_scenario(stack, recording, meter, name, orders)
                except Exception as exc:  # one scenario failing must not lose the others
                    print(f"{name:13s} FAILED: {exc!r}"[:400], flush=True)
                    continue
                if out is not None:
                    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
                s = result["scenarios"][name]
                print(f"{name:13s} {time.monotonic() - started:5.1f} s  {s['requests_total']:6.1f} requests  "
                      f"{s['write_units']:6.1f} WCU  {s['read_units']:6.1f} RCU  "
                      f"{s['transitions']['standard']:4.1f}+{s['transitions']['express']:.1f} transitions", flush=True)
    if out is not None:
        out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    if expectations_out is not None and "happy" in result["scenarios"]:
        at_most = result["scenarios"]["happy"]["expected_at_most"]
        if expectations_out.exists() and not tighten:
            # A figure can vary between recordings (a KPI stream batch, a retried conflict): keep the most seen.
            kept = json.loads(expectations_out.read_text())
            at_most = expectations([at_most, {k: kept.get(k, {}) for k in ("requests", "write_units")}
                                    | {"standard_transitions": kept.get("standard_transitions", 0.0)}],
                                   summarized=True)
        expected = {"recorded": result["recorded"], "scenario": "happy",
                    "note": "the most one happy-path order needed, over the recordings since the last --tighten; "
                            "tests/e2e/test_capacity_demand.py fails when an order needs more. Re-record with: "
                            "python -m bench.capacity record",
                    **at_most}
        expectations_out.write_text(json.dumps(expected, indent=1) + "\n")
    return result
