"""The escalation policy (data: ``policies/escalation.json``, validated at synth): the stages of a wait and their
boundaries, each stage once, stuck orders, validation naming the field, and the config refusing a bad file or a hard
limit the workflows' own timeouts would beat."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from infra.config import DEFAULT_CONTEXT, REPO_ROOT, ConfigError, OmsConfig
from oms.domain.escalation import (
    QUEUES,
    STUCK_STATUSES,
    QueueRule,
    describe_minutes,
    due_stage,
    is_stuck,
    load_policy,
    next_stage,
)
from oms.domain.status import TERMINAL_ORDER_STATUSES, OrderStatus

POLICY_FILE = REPO_ROOT / str(DEFAULT_CONTEXT["escalationPolicy"])
POLICY = load_policy(POLICY_FILE.read_text())
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(POLICY_FILE.read_text())
    for path, value in changes.items():  # "queues__order_review__sla_minutes" -> document["queues"][...]
        *parents, last = path.split("__")
        node = document
        for part in parents:
            node = node[part]
        if value is _DROP:
            del node[last]
        else:
            node[last] = value
    return document


_DROP = object()


def _rule(**fields: Any) -> QueueRule:
    return QueueRule.model_validate({"description": "test", **fields})


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- the shipped policy ----------------------------------------------------------------------------------------------

def test_the_shipped_policy_has_the_documented_defaults_and_describes_every_rule() -> None:
    assert POLICY.version
    for queue in ("order_review", "technical_hold", "return_review"):
        rule = POLICY.rule(queue)
        assert (rule.sla_minutes, rule.escalation_after) == (240, 480), queue
        assert (rule.hard_limit_minutes, rule.default_action) == (None, None), queue  # the workflows' own limits
    assert POLICY.rule("payment_update").sla_minutes is None  # counted, not alerted: the customer acts
    assert {s: POLICY.stuck_minutes(s) for s in STUCK_STATUSES} == {
        "PENDING": 30, "PROCESSING": 3 * 1440, "BACKORDERED": 30 * 1440, "PARTIALLY_SHIPPED": 7 * 1440,
        "SHIPPED": 7 * 1440}
    document = json.loads(POLICY_FILE.read_text())
    assert document["description"]
    assert all(document["queues"][q]["description"] for q in QUEUES)
    assert all(document["stuck"][s]["description"] for s in STUCK_STATUSES)


def test_the_stuck_rules_cover_the_statuses_an_order_leaves_by_itself() -> None:
    ruled = {OrderStatus(s) for s in STUCK_STATUSES}
    assert ruled == set(OrderStatus) - TERMINAL_ORDER_STATUSES - {OrderStatus.ON_HOLD, OrderStatus.DELIVERED,
                                                                  OrderStatus.PARTIALLY_RETURNED}
    assert POLICY.stuck_minutes("ON_HOLD") is None and POLICY.stuck_minutes("DELIVERED") is None


def test_the_functions_copy_is_compact_and_reads_back_the_same_rules() -> None:
    compact = POLICY.to_json()
    assert "description" not in compact and len(compact) < 1024  # a function's whole environment holds 4 KB
    again = load_policy(compact)
    assert again.version == POLICY.version
    assert [again.rule(q).model_dump(exclude={"description"}) for q in QUEUES] == \
        [POLICY.rule(q).model_dump(exclude={"description"}) for q in QUEUES]
    assert [again.stuck_minutes(s) for s in STUCK_STATUSES] == [POLICY.stuck_minutes(s) for s in STUCK_STATUSES]


# -- stages ----------------------------------------------------------------------------------------------------------

def test_each_stage_is_due_at_its_boundary_and_not_a_minute_before() -> None:
    rule = _rule(sla_minutes=240, hard_limit_minutes=720, default_action="reject")
    assert [due_stage(rule, m) for m in (0, 239, 240, 479, 480, 719, 720, 10_000)] == [
        "none", "none", "reminder", "reminder", "escalation", "escalation", "default_action", "default_action"]
    assert next_stage(rule, T0, "none", at(239.99)) == "none"  # whole minutes: 239 min 59 s is not 240
    assert next_stage(rule, T0, "none", at(240)) == "reminder"


def test_each_stage_fires_once_and_a_passed_over_stage_is_not_sent_late() -> None:
    rule = _rule(sla_minutes=240, hard_limit_minutes=720, default_action="approve")
    assert next_stage(rule, T0, "reminder", at(300)) == "none"  # reminded already
    assert next_stage(rule, T0, "reminder", at(480)) == "escalation"
    assert next_stage(rule, T0, "escalation", at(600)) == "none"
    assert next_stage(rule, T0, "none", at(500)) == "escalation"  # nobody ran at the SLA: escalate, no reminder
    assert next_stage(rule, T0, "reminder", at(800)) == "default_action"
    assert next_stage(rule, T0, "default_action", at(100_000)) == "none"
    assert next_stage(rule, T0, "none", T0 - timedelta(hours=1)) == "none"  # a wait that began "later" (skew)


def test_without_a_hard_limit_the_escalation_is_the_last_stage() -> None:
    rule = POLICY.rule("order_review")
    assert next_stage(rule, T0, "escalation", at(60 * 24 * 30)) == "none"


def test_the_escalation_follows_the_multiplier_or_its_own_minutes() -> None:
    assert _rule(sla_minutes=240).escalation_after == 480
    assert _rule(sla_minutes=100, escalation_multiplier=1.5).escalation_after == 150
    assert _rule(sla_minutes=101, escalation_multiplier=1.5).escalation_after == 152  # rounded up
    assert _rule(sla_minutes=240, escalation_minutes=300).escalation_after == 300
    assert _rule().sla_minutes == 240  # the default SLA: 4 hours


def test_a_queue_without_an_sla_is_never_alerted() -> None:
    rule = POLICY.rule("payment_update")
    assert rule.escalation_after is None
    assert [due_stage(rule, m) for m in (0, 240, 100_000)] == ["none", "none", "none"]


# -- stuck orders -----------------------------------------------------------------------------------------------------

def test_an_order_is_stuck_only_after_its_status_allows() -> None:
    now = at(10_000)
    assert not is_stuck(POLICY, "SHIPPED", now - timedelta(days=7), now)  # exactly the limit: not yet
    assert is_stuck(POLICY, "SHIPPED", now - timedelta(days=7, seconds=1), now)
    assert not is_stuck(POLICY, "PENDING", now - timedelta(minutes=29), now)
    assert is_stuck(POLICY, "PENDING", now - timedelta(minutes=31), now)
    for status in ("ON_HOLD", "DELIVERED", "CANCELLED", "RETURNED"):  # the queues, or terminal
        assert not is_stuck(POLICY, status, now - timedelta(days=365), now)
    unruled = load_policy(json.dumps(_document(stuck__SHIPPED__max_minutes=None)))
    assert not is_stuck(unruled, "SHIPPED", now - timedelta(days=365), now)


def test_waits_read_as_ops_read_them() -> None:
    assert [describe_minutes(m) for m in (0, 45, 60, 90, 299, 1440, 1500, 10141)] == [
        "0 min", "45 min", "1 h", "1 h 30 min", "4 h 59 min", "1 d", "1 d 1 h", "7 d 1 h"]


# -- validation -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "message"), [
    ({"queues__order_review__sla_minutes": 0}, r"queues\.order_review\.sla_minutes\n.*greater than or equal to 1"),
    ({"queues__order_review__sla_minutes": "240"}, r"queues\.order_review\.sla_minutes\n.*valid integer"),
    ({"queues__return_review__sla_minutes": 200_000}, r"queues\.return_review\.sla_minutes\n.*less than or equal"),
    ({"queues__order_review__escalation_multiplier": 1}, r"queues\.order_review\.escalation_multiplier\n.*greater"),
    ({"queues__order_review__escalation_minutes": 200}, r"queues\.order_review\n.*give one of them, not both"),
    ({"queues__order_review__escalation_multiplier": _DROP, "queues__order_review__escalation_minutes": 200},
     r"queues\.order_review\n.*escalation_minutes \(200\) must be later than sla_minutes \(240\)"),
    ({"queues__order_review__hard_limit_minutes": 720},
     r"queues\.order_review\n.*hard_limit_minutes and default_action go together"),
    ({"queues__order_review__hard_limit_minutes": 400, "queues__order_review__default_action": "reject"},
     r"queues\.order_review\n.*hard_limit_minutes \(400\) must be later than the escalation \(480 minutes\)"),
    ({"queues__order_review__hard_limit_minutes": 720, "queues__order_review__default_action": "cancel"},
     r"queues\.order_review\.default_action\n.*'approve' or 'reject'"),
    ({"queues__technical_hold__hard_limit_minutes": 720, "queues__technical_hold__default_action": "approve"},
     r"queues\n.*technical_hold\.default_action must be null: a parked order is retried or cancelled by a person"),
    ({"queues__payment_update__sla_minutes": 60, "queues__payment_update__hard_limit_minutes": 720,
      "queues__payment_update__default_action": "reject"}, r"queues\n.*payment_update\.default_action must be null"),
    ({"queues__payment_update__hard_limit_minutes": 720, "queues__payment_update__default_action": "reject"},
     r"queues\.payment_update\n.*sla_minutes is null"),
    ({"queues__return_review": _DROP}, r"queues\.return_review\n.*Field required"),
    ({"queues__return_review__surprise": 1}, r"queues\.return_review\.surprise\n.*Extra inputs are not permitted"),
    ({"stuck__SHIPPED": _DROP}, r"stuck\.SHIPPED\n.*Field required"),
    ({"stuck__ON_HOLD": {"max_minutes": 60}}, r"stuck\.ON_HOLD\n.*Extra inputs are not permitted"),
    ({"stuck__PENDING__max_minutes": 0}, r"stuck\.PENDING\.max_minutes\n.*greater than or equal to 1"),
    ({"stuck__PENDING__max_minutes": _DROP}, r"stuck\.PENDING\.max_minutes\n.*Field required"),
    ({"version": ""}, r"version\n.*at least 1 character"),
])
def test_a_bad_rule_is_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_policy(json.dumps(_document(**changes)))


def test_a_hard_limit_with_its_default_action_is_accepted() -> None:
    policy = load_policy(json.dumps(_document(queues__order_review__hard_limit_minutes=2880,
                                              queues__order_review__default_action="reject")))
    assert (policy.rule("order_review").hard_limit_minutes, policy.rule("order_review").default_action) == (
        2880, "reject")


# -- the config (synth) -----------------------------------------------------------------------------------------------

def test_the_config_keeps_the_validated_policy_and_cdk_json_names_the_same_file() -> None:
    config = OmsConfig.from_mapping({})
    assert config.escalation_policy == POLICY.to_json()
    assert json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["escalationPolicy"] == \
        DEFAULT_CONTEXT["escalationPolicy"]
    # The shipped policy has no hard limits, so a short review timeout (a test stack's) is fine.
    assert OmsConfig.from_mapping({"reviewTimeoutHours": "2"}).escalation_policy == POLICY.to_json()


def test_a_bad_escalation_policy_fails_the_synth_naming_the_key_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "escalation.json"
    bad.write_text(json.dumps(_document(queues__return_review__sla_minutes=0)))
    with pytest.raises(ConfigError) as refused:
        OmsConfig.from_mapping({"escalationPolicy": str(bad)})
    message = str(refused.value)
    assert "'escalationPolicy'" in message and str(bad) in message and "not a valid escalation policy" in message
    assert "queues.return_review.sla_minutes" in message
    with pytest.raises(ConfigError, match="'escalationPolicy': cannot read"):
        OmsConfig.from_mapping({"escalationPolicy": str(tmp_path / "nowhere.json")})


def test_a_hard_limit_the_workflow_would_beat_fails_the_synth(tmp_path: Path) -> None:
    custom = tmp_path / "escalation.json"
    custom.write_text(json.dumps(_document(queues__order_review__hard_limit_minutes=4320,
                                           queues__order_review__default_action="reject")))
    assert "4320" in OmsConfig.from_mapping({"escalationPolicy": str(custom)}).escalation_policy  # 72 h < 168 h
    with pytest.raises(ConfigError, match=r"'escalationPolicy': queues\.order_review\.hard_limit_minutes \(4320\) "
                                          r"must not exceed the order workflow's review timeout \(reviewTimeoutHours"
                                          r"\): 2880 minutes"):
        OmsConfig.from_mapping({"escalationPolicy": str(custom), "reviewTimeoutHours": "48"})
    returns = tmp_path / "returns-escalation.json"
    returns.write_text(json.dumps(_document(queues__return_review__hard_limit_minutes=169 * 60,
                                            queues__return_review__default_action="approve")))
    with pytest.raises(ConfigError, match=r"queues\.return_review\.hard_limit_minutes \(10140\) must not exceed the "
                                          r"return policy's review_limit_hours: 10080 minutes"):
        OmsConfig.from_mapping({"escalationPolicy": str(returns)})
