"""The escalation engine on moto (the synthesized stacks, deployed once for the module): a held order is reminded
once at its SLA and escalated once at twice the SLA; past a hard limit the policy's default decision is recorded and
the workflow resumed; a return waiting for review is reminded; a stuck SHIPPED order alerts once per episode; a
publish that fails for one item neither blocks the others nor loses its alert. The clock is moved forward
(``oms.logic.clock.now``); ops' inboxes are SQS queues subscribed to the two topics."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from moto import mock_aws

from local.deployer import Deployer, deploy_all
from oms.adapters.aws import reset
from oms.adapters.orders_repo import Change, OrdersRepository
from oms.adapters.returns_repo import ReturnsRepository
from oms.adapters.workflow import Workflow
from oms.domain.order import timeline_entry
from oms.logic import clock
from tests.handlers.conftest import Context, Stack, api_event, call
from tests.handlers.helpers import order, order_body, place, step, stock

POLICY = json.loads((Path(__file__).resolve().parents[2] / "policies" / "escalation.json").read_text())


@pytest.fixture(scope="module")
def ops(templates: Any) -> Iterator[Stack]:
    """One deployment for the module (each test uses its own orders and returns and looks only at them)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_TRACE_DISABLED": "true",
                           "POWERTOOLS_METRICS_NAMESPACE": "OMS"}.items():
            patch.setenv(key, value)
        reset()
        with mock_aws():
            stack = Stack(deploy_all(Deployer(boto3.Session()), templates), patch)
            stock(stack, Context(), sku="WATCH", price=120000, on_hand=50)  # above the review amount: reviewed
            stock(stack, Context(), sku="MUG", price=1250, on_hand=50)
            yield stack
        reset()


class Inbox:
    """An SQS queue subscribed to a topic: what its subscribers receive, by item id."""

    def __init__(self, topic_arn: str, name: str) -> None:
        self.sqs = boto3.client("sqs")
        self.url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
        self.kept: list[dict[str, Any]] = []

    def about(self, item_id: str) -> list[dict[str, Any]]:
        """Messages about ``item_id`` received since the last call (others are kept for their own tests)."""
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
            for m in messages:
                self.kept.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        mine = [m for m in self.kept if item_id in m["Subject"]]
        self.kept = [m for m in self.kept if item_id not in m["Subject"]]
        return mine


@pytest.fixture(scope="module")
def inboxes(ops: Stack) -> tuple[Inbox, Inbox]:
    return (Inbox(ops.env("escalations", "OPS_ALERTS_TOPIC_ARN"), "ops-reminders"),
            Inbox(ops.env("escalations", "ESCALATION_TOPIC_ARN"), "ops-escalations"))


def run(stack: Stack, monkeypatch: pytest.MonkeyPatch, at: datetime, policy: dict[str, Any] | None = None,
        deps: Any = None) -> dict[str, Any]:
    """One scheduled run of the function at ``at`` (with another policy, or other dependencies)."""
    module = stack.handler("escalations")
    if policy is not None:
        monkeypatch.setenv("ESCALATION_POLICY", json.dumps(policy))
    if deps is not None:
        real = module._deps
        monkeypatch.setattr(module, "_deps", lambda: deps(real()))
    monkeypatch.setattr(clock, "now", lambda: at)
    return dict(module.handler({"source": "aws.events"}, Context()))


def held(stack: Stack, key: str) -> str:
    """An order over the review amount, ON_HOLD for review (the workflow waits with a task token)."""
    status, body = place(stack, Context(), order_body(sku="WATCH"), key=key)
    assert status == 201, body
    order_id = str(body["order_id"])
    step(stack, Context(), "fraud", "assess", order_id)
    step(stack, Context(), "fraud", "hold", order_id, task_token=f"review-{order_id}")
    return order_id


def test_a_held_order_is_reminded_at_its_sla_and_escalated_at_twice_that_once_each(ops, inboxes, monkeypatch) -> None:
    reminders, escalations = inboxes
    emitted: list[dict[str, Any]] = []  # the EMF documents the function prints
    serialize = AmazonCloudWatchEMFProvider.serialize_metric_set

    def keep(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        emitted.append(serialize(self, *args, **kwargs))
        return emitted[-1]

    monkeypatch.setattr(AmazonCloudWatchEMFProvider, "serialize_metric_set", keep)
    start = clock.now()
    order_id = held(ops, "held-1")
    (held_alert,) = reminders.about(order_id)  # the fraud step's own alert, when it held the order
    assert held_alert["Subject"] == f"Order {order_id} is waiting for review"
    before = order(ops, order_id)
    assert run(ops, monkeypatch, start + timedelta(hours=3))["reminders"] == []
    assert reminders.about(order_id) == []

    outcome = run(ops, monkeypatch, start + timedelta(hours=5))
    assert order_id in outcome["reminders"] and outcome["queues"]["order_review"]["oldest_minutes"] >= 299
    (reminder,) = reminders.about(order_id)
    assert reminder["Subject"].startswith(f"SLA reminder: Order {order_id} waits for review")
    assert f"POST /admin/orders/{order_id}/review" in reminder["Message"]
    metrics = emitted[-1]
    assert metrics["service"] == "escalations" and metrics["HeldOrders"][0] >= 1 and metrics["SlaReminders"] == [1.0]
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OMS"

    assert order_id not in run(ops, monkeypatch, start + timedelta(hours=5, minutes=5))["reminders"]
    assert reminders.about(order_id) == [] and escalations.about(order_id) == []

    outcome = run(ops, monkeypatch, start + timedelta(hours=8, minutes=1))
    assert order_id in outcome["escalations"]
    (escalated,) = escalations.about(order_id)
    assert escalated["Subject"].startswith(f"ESCALATED: Order {order_id} waits for review for 8 h")
    assert reminders.about(order_id) == []
    run(ops, monkeypatch, start + timedelta(hours=30))  # no hard limit in the shipped policy: nothing more
    assert reminders.about(order_id) == [] and escalations.about(order_id) == []

    after = order(ops, order_id)
    assert after["status"] == "ON_HOLD" and "review" not in after
    assert after["updated_at"] == before["updated_at"] and after["timeline"] == before["timeline"]  # not a step
    assert after["escalation"]["stage"] == "escalation"


def test_past_the_hard_limit_the_policy_rejects_the_order_and_resumes_the_workflow(ops, inboxes, monkeypatch) -> None:
    _, escalations = inboxes
    resumed: list[tuple[str, dict[str, Any]]] = []
    real_resume = Workflow.resume

    def spy(self: Workflow, token: str, output: dict[str, Any]) -> None:
        resumed.append((token, output))
        real_resume(self, token, output)

    monkeypatch.setattr(Workflow, "resume", spy)
    policy = json.loads(json.dumps(POLICY))
    policy["version"] = "test.7"
    policy["queues"]["order_review"].update(hard_limit_minutes=720, default_action="reject")
    start = clock.now()
    order_id = held(ops, "held-2")
    outcome = run(ops, monkeypatch, start + timedelta(hours=12, minutes=1), policy=policy)
    assert order_id in outcome["default_actions"]
    decided = order(ops, order_id)
    assert decided["review"]["decision"] == "reject" and decided["review"]["reviewer"] == "policy:test.7"
    assert "Not reviewed within 12 h" in decided["review"]["note"]
    assert (f"review-{order_id}", {"decision": "reject", "note": decided["review"]["note"],
                                   "reviewer": "policy:test.7"}) in resumed
    (announced,) = escalations.about(order_id)
    assert announced["Subject"].startswith(f"Order {order_id}: rejected by the escalation policy after 12 h")
    run(ops, monkeypatch, start + timedelta(hours=13), policy=policy)
    assert escalations.about(order_id) == [] and [t for t, _ in resumed].count(f"review-{order_id}") == 1


def test_a_return_waiting_for_review_is_reminded_at_its_sla_and_decided_at_a_hard_limit(ops, inboxes,
                                                                                        monkeypatch) -> None:
    reminders, escalations = inboxes
    start = clock.now()
    status, body = place(ops, Context(), order_body(sku="MUG", quantity=2), key="delivered-1")
    assert status == 201, body
    order_id = body["order_id"]
    for action in ("authorize", "capture"):
        step(ops, Context(), "payment", action, order_id)
    OrdersRepository(ops.env("payment", "ORDERS_TABLE")).apply(order_id, Change(sets={
        "status": "DELIVERED", "fulfillment_status": "DELIVERED", "delivered_at": start.isoformat(),
        "shipments": {"1ZESC0001": {"carrier": "UPS", "tracking_number": "1ZESC0001", "status": "delivered",
                                    "status_detail": "", "events": [], "created_at": start.isoformat()}}}))
    status, created = call(ops.handler("returns"), api_event(
        "POST", f"/orders/{order_id}/returns", "/orders/{order_id}/returns", headers={"Idempotency-Key": "ret-1"},
        body={"lines": [{"sku": "MUG", "quantity": 1, "reason": "DEFECTIVE"}]}, path_params={"order_id": order_id}),
        Context())
    assert status == 201, created
    rma = created["return_id"]
    outcome = run(ops, monkeypatch, start + timedelta(hours=4, minutes=2))
    assert rma in outcome["reminders"] and outcome["queues"]["return_review"]["count"] >= 1
    (reminder,) = reminders.about(rma)
    assert reminder["Subject"].startswith(f"SLA reminder: Return {rma} waits for review")
    assert f"POST /admin/returns/{rma}/review" in reminder["Message"]

    # A policy with a hard limit approves it through the return review (ship-by date, the customer's email).
    policy = json.loads(json.dumps(POLICY))
    policy["queues"]["return_review"].update(hard_limit_minutes=600, default_action="approve")
    outcome = run(ops, monkeypatch, start + timedelta(hours=10, minutes=2), policy=policy)
    assert rma in outcome["default_actions"]
    approved = ReturnsRepository(ops.env("escalations", "RETURNS_TABLE")).require(rma)
    assert approved["status"] == "APPROVED" and "ship_by" in approved
    assert approved["approval"]["by"] == f"policy:{POLICY['version']}"
    (announced,) = escalations.about(rma)
    assert announced["Subject"].startswith(f"Return {rma}: approved by the escalation policy after 10 h")


def test_a_stuck_shipped_order_alerts_once_per_episode(ops, inboxes, monkeypatch) -> None:
    _, escalations = inboxes
    start = clock.now()
    status, body = place(ops, Context(), order_body(sku="MUG"), key="shipped-1")
    assert status == 201, body
    order_id = body["order_id"]
    orders = OrdersRepository(ops.env("payment", "ORDERS_TABLE"))
    orders.apply(order_id, Change(sets={"status": "SHIPPED"}))  # as mark_shipped leaves it, for what is read here
    assert order_id not in run(ops, monkeypatch, start + timedelta(days=6))["stuck"]

    outcome = run(ops, monkeypatch, start + timedelta(days=7, hours=2))
    assert order_id in outcome["stuck"]
    (alert,) = escalations.about(order_id)
    assert alert["Subject"] == f"Stuck order {order_id}: SHIPPED without a step for 7 d 1 h"
    assert "the escalation policy allows 7 d" in alert["Message"] and "carrier" in alert["Message"]
    assert order_id not in run(ops, monkeypatch, start + timedelta(days=8))["stuck"]
    assert escalations.about(order_id) == []

    # A carrier update is a step: stuck again later, that is a new episode, alerted again.
    orders.apply(order_id, Change(events=[timeline_entry(clock.now(), "in_transit", "On its way.")]))
    assert order_id in run(ops, monkeypatch, start + timedelta(days=14, hours=2))["stuck"]
    assert len(escalations.about(order_id)) == 1


def test_a_failed_publish_for_one_order_neither_blocks_the_others_nor_loses_its_reminder(ops, inboxes,
                                                                                           monkeypatch) -> None:
    reminders, _ = inboxes
    start = clock.now()
    failing, fine = held(ops, "held-3"), held(ops, "held-4")
    assert len(reminders.about(failing)) == len(reminders.about(fine)) == 1  # the fraud step's alerts

    class Unreachable:
        """The order-alerts topic refusing the publish about one order (OpsAlerts reports False, as on a
        ClientError)."""

        def __init__(self, real: Any) -> None:
            self.real = real

        def alert(self, subject: str, message: str) -> bool:
            return False if failing in subject else bool(self.real.alert(subject, message))

    outcome = run(ops, monkeypatch, start + timedelta(hours=5), deps=lambda ctx: dataclasses.replace(
        ctx, reminders=Unreachable(ctx.reminders)))
    assert fine in outcome["reminders"] and failing in outcome["alerts_failed"] and outcome["failures"] == []
    assert len(reminders.about(fine)) == 1 and reminders.about(failing) == []
    assert "escalation" not in order(ops, failing)  # put back: the next run tries again

    outcome = run(ops, monkeypatch, start + timedelta(hours=5, minutes=5))
    assert failing in outcome["reminders"] and fine not in outcome["reminders"]
    assert len(reminders.about(failing)) == 1 and reminders.about(fine) == []
