"""The fault suite: each fault, transient and persistent, against concurrent orders on the running stack.

For every scenario, ``OMS_FAULT_ORDERS`` orders (default 4; ``make faults`` runs 20 and every scenario) are placed
at once while the fault is active. A transient fault must leave every order reaching PROCESSING (and, where the
scenario ships them, SHIPPED); a persistent one must park every order where ops see it, and ops' retry must then
take them on. After each scenario the suite checks, per order:

- the order's status agrees with its execution (waiting states RUNNING, closed or shipped orders SUCCEEDED);
- stock counters equal the held and committed reservations exactly;
- every authorization is either held by an order still going, or ended voided or captured (none leaked);
- at most one capture, only for shipped goods, for the order's total;
- exactly one message per event and channel the order went through;
- no PENDING order is left (every order has a workflow).

The summary printed at the end is the table: fault -> orders -> final statuses -> leaks -> duplicates.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from local.cli import redrive
from local.faults import FaultBook

pytestmark = pytest.mark.e2e

ORDERS = int(os.environ.get("OMS_FAULT_ORDERS", "4"))
FULL = os.environ.get("OMS_FAULT_SWEEP") == "full"
SETTLED = {"PROCESSING", "SHIPPED", "CANCELLED", "REJECTED"}
#: Customer messages by event: (a subject fragment, the statuses that mean the event happened).
EVENTS = {"is confirmed": {"PROCESSING", "SHIPPED"}, "has shipped": {"SHIPPED"}, "was cancelled": {"CANCELLED"},
          "could not be accepted": {"REJECTED"}}


@dataclass
class Scenario:
    name: str
    faults: list[dict[str, Any]]
    persistent: bool = False  # orders park (or, for notify, messages dead-letter) until the fault is cleared
    ship: bool = False  # ship the orders while the fault is active (post-shipment steps, task callbacks)
    parks_at: str | None = None  # the step a persistent fault parks orders at
    dead_letters: bool = False  # a persistent fault sends notifications to the DLQ (redriven after the fix)
    fast: bool = False  # part of `make test`


def _transient(name: str, fault: dict[str, Any], **kw: Any) -> Scenario:
    """A Lambda fault hits each order's step once; an API fault hits the first calls (about one per order)."""
    limit = {"count": 1, "per_order": True} if fault["action"].startswith(("aws:lambda", "oms:lambda")) else {
        "count": ORDERS}
    return Scenario(f"{name} (transient)", [{**fault, **limit}], **kw)


SCENARIOS = [
    _transient("reserve fails after its side effects", {"action": "aws:lambda:invocation-error", "function":
               "inventory", "step": "reserve", "when": "after"}, fast=True),
    _transient("authorize: process killed after the gateway call", {"action": "oms:lambda:kill", "function":
               "payment", "step": "authorize", "when": "after"}, fast=True),
    _transient("TransactWriteItems throttled past the SDK's retries", {
        "action": "aws:fis:inject-api-throttle-error", "service": "dynamodb", "operations": ["TransactWriteItems"],
        "function": "inventory", "attempts": 4}, fast=True),
    Scenario("assess fails (persistent): parked, then retried by ops", [{
        "action": "aws:lambda:invocation-error", "function": "fraud", "step": "assess"}], persistent=True,
        parks_at="AssessRisk", fast=True),
    Scenario("SMS failing (persistent): dead-lettered alone, then redriven", [{
        "action": "aws:fis:inject-api-unavailable-error", "service": "sns", "operations": ["Publish"],
        "function": "notify"}], persistent=True, dead_letters=True),
    Scenario("duplicate task callbacks and SQS deliveries while shipping", [
        {"action": "oms:states:duplicate-callback"}, {"action": "oms:sqs:duplicate-delivery"}], ship=True, fast=True),
    _transient("authorize fails before its side effects", {"action": "aws:lambda:invocation-error", "function":
               "payment", "step": "authorize"}),
    _transient("assess: process killed", {"action": "oms:lambda:kill", "function": "fraud", "step": "assess"}),
    _transient("request_fulfillment fails after its side effects", {"action": "aws:lambda:invocation-error",
               "function": "fulfillment", "step": "request_fulfillment", "when": "after"}),
    _transient("DynamoDB throttled within the SDK's retries", {"action": "aws:fis:inject-api-throttle-error",
               "service": "dynamodb", "attempts": 2}),
    _transient("DynamoDB 5xx past the SDK's retries", {"action": "aws:fis:inject-api-internal-error",
               "service": "dynamodb", "function": "payment", "attempts": 4}),
    _transient("StartExecution throttled (the client retries)", {"action": "aws:fis:inject-api-throttle-error",
               "service": "states", "operations": ["StartExecution"], "function": "place_order"}),
    _transient("SES failing", {"action": "aws:fis:inject-api-unavailable-error", "service": "ses",
               "function": "notify", "attempts": 4}),
    _transient("commit fails after shipment", {"action": "aws:lambda:invocation-error", "function": "inventory",
               "step": "commit"}, ship=True),
    _transient("capture: process killed after the gateway call", {"action": "oms:lambda:kill", "function":
               "payment", "step": "capture", "when": "after"}, ship=True),
    Scenario("reserve fails (persistent): parked, then retried by ops", [{
        "action": "aws:lambda:invocation-error", "function": "inventory", "step": "reserve"}], persistent=True,
        parks_at="ReserveStock"),
    Scenario("request_fulfillment fails (persistent): parked, then retried by ops", [{
        "action": "aws:lambda:invocation-error", "function": "fulfillment", "step": "request_fulfillment"}],
        persistent=True, parks_at="RequestFulfillment"),
    Scenario("mark_shipped fails (persistent): parked after shipment, then retried", [{
        "action": "aws:lambda:invocation-error", "function": "order_status", "step": "mark_shipped"}],
        persistent=True, parks_at="MarkShipped", ship=True),
]


@dataclass
class Row:
    scenario: str
    orders: int = 0
    during: Counter[str] = field(default_factory=Counter)  # while the fault was on
    statuses: Counter[str] = field(default_factory=Counter)  # at the end (after ops' retry for a persistent one)
    leaks: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def report(request):
    rows: list[Row] = []
    yield rows
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not rows:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(f"{'fault':66s} {'orders':>6s}  {'during the fault':28s} {'final statuses':18s} "
                            f"{'leaks':>5s} {'dups':>4s}")
        for row in rows:
            during = ", ".join(f"{s} {n}" for s, n in sorted(row.during.items()))
            statuses = ", ".join(f"{s} {n}" for s, n in sorted(row.statuses.items()))
            reporter.write_line(f"{row.scenario[:66]:66s} {row.orders:6d}  {during:28s} {statuses:18s} "
                                f"{row.leaks:5d} {row.duplicates:4d}")


class Stack:
    def __init__(self, api: Any, local_stack: Any) -> None:
        self.api, self.local = api, local_stack
        config = local_stack.config
        kwargs = {"endpoint_url": config["aws_endpoint_url"], "region_name": config["region"],
                  "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        self.sfn = boto3.client("stepfunctions", **kwargs)
        self.ddb = boto3.client("dynamodb", **kwargs)
        self.lam = boto3.client("lambda", **kwargs)
        self.machine = config["state_machine_arn"]
        self.ledger_table = next(t for t in self.ddb.list_tables()["TableNames"] if "SandboxLedger" in t)
        self.faults = FaultBook(config["faults_file"])

    def ops(self, order_id: str) -> dict[str, Any]:
        return self.api.call("GET", f"/orders/{order_id}", self.api.ops).json()

    def execution(self, order_id: str) -> str:
        arn = self.machine.replace(":stateMachine:", ":execution:") + f":{order_id}"
        try:
            return self.sfn.describe_execution(executionArn=arn)["status"]
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return "NONE"

    def ledger(self) -> dict[str, dict[str, Any]]:
        """Sandbox authorizations by order id (from their idempotency key, ``<order id>:authorize``)."""
        items = self.ddb.scan(TableName=self.ledger_table, ConsistentRead=True)["Items"]
        return {i["idempotency_key"]["S"].split(":")[0]: {k: next(iter(v.values())) for k, v in i.items()}
                for i in items if i["authorization_id"]["S"].startswith("pi_")}  # not its charges and refunds

    def wait(self, order_ids: list[str], done: Any, timeout: float = 120) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            orders = {o: self.ops(o) for o in order_ids}
            if all(done(order) for order in orders.values()) or time.monotonic() > deadline:
                return orders
            time.sleep(0.5)

    def sweep(self) -> None:
        self.lam.invoke(FunctionName=self.local.config["functions"]["sweeper"], Payload=b'{"older_than_seconds": 0}')


def _place(stack: Stack, token: str, sku: str) -> str:
    """Place as a storefront would: on a 503, retry with the same Idempotency-Key."""
    key = uuid.uuid4().hex
    for _ in range(20):
        answer = stack.api.place(token, sku, key=key)
        if answer.status_code == 201:
            return str(answer.json()["order_id"])
        assert answer.status_code == 503, answer.text
        time.sleep(float(answer.headers.get("Retry-After", "1")) / 4)
    raise AssertionError("placement kept answering 503")


def _settled(order: dict[str, Any]) -> bool:
    return order["status"] in SETTLED or "technical_hold" in order


@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.name) for s in SCENARIOS if FULL or s.fast])
def test_fault(scenario: Scenario, api, local_stack, report):
    stack = Stack(api, local_stack)
    row = Row(scenario.name)
    report.append(row)
    stack.faults.clear()
    sku = api.product(on_hand=ORDERS + 2, warehouses=(local_stack.config["warehouses"][0],))
    token = local_stack.token(f"faults-{uuid.uuid4().hex[:6]}@example.com")
    parked_signals = local_stack.log("order_status").count('"OrdersParked"')
    stack.faults.add(*scenario.faults)
    try:
        with ThreadPoolExecutor(ORDERS) as pool:
            order_ids = list(pool.map(lambda _: _place(stack, token, sku), range(ORDERS)))
        row.orders = len(order_ids)
        stack.sweep()  # as the scheduled sweeper would, for any order whose start was lost
        orders = stack.wait(order_ids, _settled)
        if scenario.parks_at and not scenario.ship:
            _expect_parked(orders, scenario.parks_at)
        elif not scenario.persistent:
            assert {o["status"] for o in orders.values()} == {"PROCESSING"}, _statuses(orders)
        if scenario.ship:
            orders = _ship(stack, orders)
            if scenario.parks_at:
                _expect_parked(orders, scenario.parks_at)
        row.during = Counter(_state(o) for o in orders.values())
        if scenario.parks_at:  # each parked order raised the OrdersParked signal (its alarm)
            assert local_stack.log("order_status").count('"OrdersParked"') >= parked_signals + ORDERS
    finally:
        stack.faults.clear()
    if scenario.persistent:
        orders = _recover(stack, orders, scenario.dead_letters)
    orders = stack.wait(order_ids, lambda o: o["status"] in SETTLED and "technical_hold" not in o)
    row.statuses = Counter(o["status"] for o in orders.values())
    _check_invariants(stack, sku, orders, row)
    assert not row.problems, "\n".join(row.problems)


def _state(order: dict[str, Any]) -> str:
    return f"{order['status']} (parked)" if "technical_hold" in order else str(order["status"])


def _statuses(orders: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {o: (v["status"], v.get("technical_hold", {}).get("step")) for o, v in orders.items()}


def _expect_parked(orders: dict[str, dict[str, Any]], step: str) -> None:
    steps = {o.get("technical_hold", {}).get("step") for o in orders.values()}
    assert steps == {step}, _statuses(orders)
    for order in orders.values():  # parked, not cancelled: the authorization (and any reservation) is kept
        assert order["status"] not in ("CANCELLED", "REJECTED")
        assert order["payment_status"] in ("AUTHORIZED", "CAPTURED")


def _ship(stack: Stack, orders: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for order_id, order in orders.items():
        if order["status"] == "PROCESSING":
            shipment = {"carrier": "UPS", "tracking_number": f"1Z{order_id[-12:].upper()}"}
            answer = stack.api.call("POST", f"/admin/orders/{order_id}/shipments", stack.api.ops, json=shipment)
            assert answer.status_code == 201, answer.text
    return stack.wait(list(orders), lambda o: o["status"] != "PROCESSING" or "technical_hold" in o)


def _recover(stack: Stack, orders: dict[str, dict[str, Any]], dead_letters: bool) -> dict[str, dict[str, Any]]:
    """The cause is fixed: ops retry every parked order, and dead-lettered notifications are redriven."""
    for order_id, order in orders.items():
        if "technical_hold" in order:
            answer = stack.api.call("POST", f"/admin/orders/{order_id}/retry", stack.api.ops)
            assert answer.status_code == 200, answer.text
    orders = stack.wait(list(orders), lambda o: o["status"] in SETTLED and "technical_hold" not in o)
    deadline = time.monotonic() + 90
    while dead_letters and time.monotonic() < deadline and not any(redrive(stack.local.config).values()):
        time.sleep(1)  # a failing message reaches the DLQ after its receives; redrive it once it is there
    return orders


def _check_invariants(stack: Stack, sku: str, orders: dict[str, dict[str, Any]], row: Row) -> None:
    problems = row.problems
    for order_id, order in orders.items():
        execution = stack.execution(order_id)
        expected = "RUNNING" if order["status"] == "PROCESSING" else "SUCCEEDED"
        if execution != expected:
            problems.append(f"{order_id}: {order['status']} but its execution is {execution}")
    stock = stack.api.stock(sku)
    held = sum(1 for o in orders.values() if o["fulfillment_status"] in ("RESERVED", "AWAITING_SHIPMENT"))
    shipped = sum(1 for o in orders.values() if o["fulfillment_status"] in ("SHIPPED", "DELIVERED"))
    if (stock["reserved"], stock["on_hand"]) != (held, ORDERS + 2 - shipped):
        problems.append(f"stock {stock} != {held} held, {shipped} shipped")
    ledger = stack.ledger()
    for order_id, order in orders.items():
        hold = ledger.get(order_id)
        status = hold["status"] if hold else None
        want = {"PROCESSING": "requires_capture", "SHIPPED": "succeeded"}.get(order["status"], "canceled")
        if status not in (want, None if want == "canceled" else want):
            row.leaks += 1
            problems.append(f"{order_id}: {order['status']}/{order['payment_status']} with authorization {status}")
        if status == "succeeded" and int(hold["captured_amount"]) != order["total"]:
            problems.append(f"{order_id}: captured {hold['captured_amount']} of {order['total']}")
    # Messages go out after the order's step, through a queue: under a sweep's load (20 orders, the fault) the last
    # one has been seen to take over 30 s; a message that never comes still fails the scenario, later.
    deadline = time.monotonic() + 60
    while True:
        counts = _message_counts(stack, orders)
        expected_counts = {(o, e, c): 1 for o, order in orders.items() for e, statuses in EVENTS.items()
                           if order["status"] in statuses for c in ("email", "sms")}
        if counts == expected_counts or time.monotonic() > deadline:
            break
        time.sleep(1)
    row.duplicates = sum(n - 1 for n in counts.values() if n > 1)
    if counts != expected_counts:
        problems.append(f"messages per (order, event, channel) {dict(counts)} != {expected_counts}")


def _message_counts(stack: Stack, orders: dict[str, dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    outbox = stack.local.outbox()
    counts: Counter[tuple[str, str, str]] = Counter()
    for order_id in orders:
        for event in EVENTS:
            counts.update((order_id, event, "email") for m in outbox["email"]
                          if order_id in str(m.get("subject")) and event in str(m.get("subject")))
            counts.update((order_id, event, "sms") for m in outbox["sms"]
                          if order_id in str(m.get("text")) and event in str(m.get("text")))
    return counts
