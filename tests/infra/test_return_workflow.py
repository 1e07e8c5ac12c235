"""The return workflow's ASL (OmsReturns): its states, the task-token waits timed by the return policy, the
customer's cancellation, and the error policy of every task; and a bad return policy failing the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import DEFAULT_CONTEXT, REPO_ROOT, ConfigError, OmsConfig
from oms.contract import DEFECT_RETRY, RETRY, TASK_TIMEOUT_SECONDS
from oms.domain.return_policy import load_policy
from tests.infra.conftest import Synthesized
from tests.infra.test_workflow import _catcher, _retrier, _successors, asl_of

POLICY = load_policy((REPO_ROOT / str(DEFAULT_CONTEXT["returnPolicy"])).read_text())

SYNC_TASKS = ["Decide", "RemindReview", "CreateAdvanceExchange", "ExpireReturn", "RemindReceipt", "Settle",
              "CloseReturn"]
WAITS = ["AwaitReview", "AwaitShipBack", "AwaitReceipt"]
STEPS = SYNC_TASKS + WAITS  # what parks when it keeps failing
TASKS = [*STEPS, "ParkReturn"]


@pytest.fixture(scope="module")
def machine(synthesized: Synthesized) -> dict[str, Any]:
    (found,) = synthesized.resources("OmsReturns", "AWS::StepFunctions::StateMachine").values()
    return found


@pytest.fixture(scope="module")
def asl(machine: dict[str, Any]) -> dict[str, Any]:
    return asl_of(machine)


@pytest.fixture(scope="module")
def states(asl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return asl["States"]


def test_the_return_workflow_is_a_standard_machine_starting_at_decide(machine: dict[str, Any],
                                                                      asl: dict[str, Any]) -> None:
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"  # waits of days and weeks: Express runs last 5 minutes
    # workflowLogLevel (default ERROR, no execution data); tests/infra/test_workflow.py checks ALL.
    assert props["LoggingConfiguration"]["Level"] == "ERROR"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert asl["StartAt"] == "Decide"


def test_the_workflow_has_every_step(states: dict[str, dict[str, Any]]) -> None:
    for name in ["Decide", "AwaitReview", "RemindReview", "AdvanceExchange", "CreateAdvanceExchange",
                 "AwaitShipBack", "ExpireReturn", "AwaitReceipt", "RemindReceipt", "Settle", "CloseReturn",
                 "ParkReturn"]:
        assert name in states, name
    assert states["AdvanceExchange"]["Type"] == "Choice"
    for name in TASKS:
        assert states[name]["Type"] == "Task", name


@pytest.mark.parametrize(("state", "action", "seconds"), [
    ("AwaitReview", "await_review", POLICY.review_reminder_hours * 3600),
    ("AwaitShipBack", "await_parcel", POLICY.ship_back_days * 86400),
    ("AwaitReceipt", "await_parcel", POLICY.receipt_reminder_days * 86400),
    ("ParkReturn", "park", int(DEFAULT_CONTEXT["technicalHoldTimeoutHours"]) * 3600),
])
def test_the_waits_use_a_task_token_and_the_policys_timers(states: dict[str, dict[str, Any]], state: str,
                                                          action: str, seconds: int) -> None:
    task = states[state]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert task["Parameters"]["FunctionName"].startswith("arn:aws:lambda:us-east-1:123456789012:function:ReturnSteps")
    payload = task["Parameters"]["Payload"]
    assert payload["action"] == action
    assert payload["return_id.$"] == "$.return_id"
    assert payload["task_token.$"] == "$$.Task.Token"
    assert task["TimeoutSeconds"] == seconds
    assert "HeartbeatSeconds" not in task


def test_the_shipped_policys_timers(states: dict[str, dict[str, Any]]) -> None:
    assert states["AwaitReview"]["TimeoutSeconds"] == 24 * 3600
    assert states["AwaitShipBack"]["TimeoutSeconds"] == 14 * 86400
    assert states["AwaitReceipt"]["TimeoutSeconds"] == 21 * 86400
    assert states["AwaitShipBack"]["Parameters"]["Payload"]["stage"] == "ship_back"
    assert states["AwaitReceipt"]["Parameters"]["Payload"]["stage"] == "receipt"


def test_a_wait_that_times_out_reminds_or_expires(states: dict[str, dict[str, Any]]) -> None:
    assert _catcher(states["AwaitReview"], "States.Timeout") == "RemindReview"
    assert _catcher(states["AwaitShipBack"], "States.Timeout") == "ExpireReturn"
    assert _catcher(states["AwaitReceipt"], "States.Timeout") == "RemindReceipt"
    for wait in WAITS:
        assert _retrier(states[wait], "States.Timeout")["MaxAttempts"] == 0, wait  # a wait's timeout is news
    # The review reminder waits again (or the policy decided); the receipt reminder waits again.
    reminded = states[states["RemindReview"]["Next"]]
    assert reminded["Type"] == "Choice" and reminded["Default"] == "AwaitReview"
    assert {c["Next"] for c in reminded["Choices"]} == {"AdvanceExchange", "ReturnEnded"}
    assert states["RemindReceipt"]["Next"] == "AwaitReceipt"
    expired = states[states["ExpireReturn"]["Next"]]
    assert expired["Default"] == "ReturnEnded"
    assert {c["Next"] for c in expired["Choices"]} == {"Settle", "AwaitReceipt"}  # a parcel given late still counts


@pytest.mark.parametrize("state", TASKS)
def test_a_cancelled_return_is_never_retried(states: dict[str, dict[str, Any]], state: str) -> None:
    retrier = _retrier(states[state], "ReturnCancelled")
    assert retrier is not None and "ReturnCancelled" in retrier["ErrorEquals"] and retrier["MaxAttempts"] == 0


@pytest.mark.parametrize("state", [*WAITS, "Decide", "RemindReview", "ExpireReturn"])
def test_a_cancelled_return_ends_the_execution(states: dict[str, dict[str, Any]], state: str) -> None:
    ended = _catcher(states[state], "ReturnCancelled")
    assert ended == "ReturnEnded", state
    assert states[ended]["Type"] == "Succeed"


@pytest.mark.parametrize("state", TASKS)
def test_every_task_retries_transient_errors_with_backoff_and_full_jitter(states: dict[str, dict[str, Any]],
                                                                          state: str) -> None:
    task = states[state]
    for error in ["TransientError", "Lambda.TooManyRequestsException", "Lambda.ServiceException",
                  "Sandbox.Timedout", "Runtime.ExitError"]:
        retrier = _retrier(task, error)
        assert retrier is not None and "States.ALL" not in retrier["ErrorEquals"], (state, error)
        assert retrier["MaxAttempts"] == RETRY.max_attempts and retrier["IntervalSeconds"] == RETRY.interval_seconds
        assert retrier["BackoffRate"] == 2 and retrier["JitterStrategy"] == "FULL"
        assert retrier["MaxDelaySeconds"] == RETRY.max_delay_seconds
    defect = task["Retry"][-1]
    assert defect["ErrorEquals"] == ["States.ALL"]  # last, as Step Functions requires
    assert defect["MaxAttempts"] == DEFECT_RETRY.max_attempts and defect["JitterStrategy"] == "FULL"
    assert defect["BackoffRate"] == 2


@pytest.mark.parametrize("state", SYNC_TASKS)
def test_synchronous_tasks_time_out_and_retry_the_timeout(states: dict[str, dict[str, Any]], state: str) -> None:
    task = states[state]
    assert task["TimeoutSeconds"] == TASK_TIMEOUT_SECONDS
    assert task["Parameters"]["return_id.$"] == "$.return_id"
    assert _retrier(task, "States.Timeout")["MaxAttempts"] == RETRY.max_attempts


@pytest.mark.parametrize("state", STEPS)
def test_a_step_past_its_retries_parks_the_return_and_ops_resume_at_that_step(states: dict[str, dict[str, Any]],
                                                                              state: str) -> None:
    catch = states[state]["Catch"][-1]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["ResultPath"] == "$.failure"
    assert catch["Next"] == f"{state}Failed"
    assert states[f"{state}Failed"] == {"Type": "Pass", "Result": state, "ResultPath": "$.failure.step",
                                        "Next": "ParkReturn"}
    resume = states[states["ParkReturn"]["Next"]]
    assert resume["Type"] == "Choice"
    assert {"Variable": "$.failure.step", "StringEquals": state, "Next": state} in resume["Choices"]


def test_a_park_left_unattended_fails_the_execution(states: dict[str, dict[str, Any]]) -> None:
    park = states["ParkReturn"]
    assert park["Parameters"]["Payload"]["failure.$"] == "$.failure"
    stuck = states[_catcher(park, "States.Timeout")]
    assert stuck["Type"] == "Fail" and stuck["Error"] == "ReturnStuck"
    unavailable = states[park["Catch"][-1]["Next"]]
    assert park["Catch"][-1]["ErrorEquals"] == ["States.ALL"] and unavailable["Type"] == "Fail"


def test_approval_then_the_parcel_then_settlement(states: dict[str, dict[str, Any]]) -> None:
    auto = states[states["Decide"]["Next"]]
    assert auto["Default"] == "AwaitReview"
    assert {"Variable": "$.approval.decision", "StringEquals": "approve", "Next": "AdvanceExchange"} in auto["Choices"]
    assert states["AdvanceExchange"]["Default"] == "AwaitShipBack"
    assert states["AdvanceExchange"]["Choices"][0]["Next"] == "CreateAdvanceExchange"
    assert states["CreateAdvanceExchange"]["Next"] == "AwaitShipBack"
    parcel = states[states["AwaitShipBack"]["Next"]]
    assert {c["StringEquals"]: c["Next"] for c in parcel["Choices"]} == {"received": "Settle",
                                                                         "in_transit": "AwaitReceipt"}
    assert states["Settle"]["Next"] == "CloseReturn"
    assert states[states["CloseReturn"]["Next"]]["Type"] == "Succeed"


def test_every_state_is_reachable(asl: dict[str, Any], states: dict[str, dict[str, Any]]) -> None:
    seen, todo = set(), [asl["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_successors(states[name]))
    assert seen == set(states)


def test_a_bad_return_policy_fails_the_config_naming_the_file_and_the_field(tmp_path: Path) -> None:
    document = json.loads((REPO_ROOT / str(DEFAULT_CONTEXT["returnPolicy"])).read_text())
    document["reasons"]["DAMAGED"]["restocking_fee_percent"] = "15"
    bad = tmp_path / "returns.json"
    bad.write_text(json.dumps(document))
    with pytest.raises(ConfigError) as refused:
        OmsConfig.from_mapping({"returnPolicy": str(bad)})
    message = str(refused.value)
    assert "returnPolicy" in message and str(bad) in message
    assert "reasons.DAMAGED.restocking_fee_percent" in message


def test_an_unreadable_or_mistyped_return_policy_fails_the_config(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    with pytest.raises(ConfigError, match="cannot read"):
        OmsConfig.from_mapping({"returnPolicy": str(missing)})
    document = json.loads((REPO_ROOT / str(DEFAULT_CONTEXT["returnPolicy"])).read_text())
    document["auto_approve"]["max_refund"]["JPY"] = "5.5"
    bad = tmp_path / "returns.json"
    bad.write_text(json.dumps(document))
    with pytest.raises(ConfigError) as refused:
        OmsConfig.from_mapping({"returnPolicy": str(bad)})
    assert str(bad) in str(refused.value) and "auto_approve.max_refund" in str(refused.value)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not a valid return policy"):
        OmsConfig.from_mapping({"returnPolicy": str(broken)})
