"""The order workflow's ASL: states, retries, catches, the two task-token waits, compensation, reachability."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.infra.conftest import Synthesized

LAMBDA_SERVICE_ERRORS = ["Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException"]


def _placeholder(part: Any) -> str:
    if isinstance(part, str):
        return part
    if "Fn::GetAtt" in part:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{part['Fn::GetAtt'][0]}"
    if "Ref" in part:
        return {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}.get(
            part["Ref"], part["Ref"]
        )
    raise AssertionError(f"unexpected intrinsic in the definition: {part}")


@pytest.fixture(scope="module")
def asl(synthesized: Synthesized) -> dict[str, Any]:
    (machine,) = synthesized.resources("OmsWorkflow", "AWS::StepFunctions::StateMachine").values()
    definition = machine["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        separator, parts = definition["Fn::Join"]
        definition = separator.join(_placeholder(p) for p in parts)
    return json.loads(definition)


@pytest.fixture(scope="module")
def states(asl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return asl["States"]


def _function_of(state: dict[str, Any]) -> str:
    resource = state["Resource"]
    if resource.startswith("arn:aws:lambda:"):
        return resource.rsplit(":", 1)[1]
    return state["Parameters"]["FunctionName"].rsplit(":", 1)[1]


def _catches(state: dict[str, Any]) -> list[tuple[list[str], str, str | None]]:
    return [(c["ErrorEquals"], c["Next"], c.get("ResultPath")) for c in state.get("Catch", [])]


def _custom_retries(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in state.get("Retry", []) if not r["ErrorEquals"][0].startswith("Lambda.")]


def test_machine_settings(synthesized: Synthesized) -> None:
    (machine,) = synthesized.resources("OmsWorkflow", "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert "StateMachineName" not in props
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"] == {"Enabled": True}


def test_start_and_main_path(asl: dict[str, Any], states: dict[str, dict[str, Any]]) -> None:
    assert asl["StartAt"] == "AuthorizePayment"
    path = ["AuthorizePayment", "ReserveStock", "AssessRisk", "NeedsReview"]
    for current, following in itertools.pairwise(path):
        assert states[current]["Next"] == following
    assert states["RequestFulfillment"]["Next"] == "CommitStock"
    assert states["CommitStock"]["Next"] == "CapturePayment"
    assert states["CapturePayment"]["Next"] == "MarkShipped"
    assert states["MarkShipped"]["Next"] == "Shipped"
    assert states["Shipped"]["Type"] == "Succeed"


@pytest.mark.parametrize(
    ("state", "function", "action", "result_path"),
    [
        ("AuthorizePayment", "Payment", "authorize", "$.payment"),
        ("ReserveStock", "Inventory", "reserve", "$.reservation"),
        ("AssessRisk", "Fraud", "assess", "$.risk"),
        ("CommitStock", "Inventory", "commit", "$.committed"),
        ("CapturePayment", "Payment", "capture", "$.capture"),
        ("MarkShipped", "OrderStatus", "mark_shipped", "$.shipped"),
        ("FlagCaptureFailure", "OrderStatus", "flag_capture_failure", None),
        ("ReleaseStock", "Inventory", "release", None),
        ("VoidPayment", "Payment", "void", None),
        ("CloseOrder", "OrderStatus", "close", "$.closed"),
    ],
)
def test_plain_tasks(
    states: dict[str, dict[str, Any]], state: str, function: str, action: str, result_path: str | None
) -> None:
    task = states[state]
    assert task["Type"] == "Task"
    assert task["Resource"].startswith(f"arn:aws:lambda:us-east-1:123456789012:function:{function}Function")
    assert task["Parameters"]["action"] == action
    assert task["Parameters"]["order_id.$"] == "$.order_id"
    assert task["ResultPath"] == result_path
    assert any(r["ErrorEquals"][0].startswith("Lambda.") for r in task["Retry"])


def test_error_payloads(states: dict[str, dict[str, Any]]) -> None:
    assert states["CloseOrder"]["Parameters"]["error.$"] == "$.error"
    assert states["FlagCaptureFailure"]["Parameters"]["error.$"] == "$.error"


@pytest.mark.parametrize(
    ("state", "function", "action", "result_path", "hours"),
    [
        ("HoldForReview", "Fraud", "hold", "$.review", 168),
        ("RequestFulfillment", "Fulfillment", "request_fulfillment", "$.shipment", 336),
    ],
)
def test_task_token_waits(
    states: dict[str, dict[str, Any]], state: str, function: str, action: str, result_path: str, hours: int
) -> None:
    task = states[state]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert _function_of(task).startswith(f"{function}Function")
    payload = task["Parameters"]["Payload"]
    assert payload["action"] == action
    assert payload["order_id.$"] == "$.order_id"
    assert payload["task_token.$"] == "$$.Task.Token"
    assert task["ResultPath"] == result_path
    assert task["TimeoutSeconds"] == hours * 3600
    if state == "HoldForReview":
        assert payload["risk.$"] == "$.risk"


def test_authorize_retry_and_catch(states: dict[str, dict[str, Any]]) -> None:
    authorize = states["AuthorizePayment"]
    assert _custom_retries(authorize) == [
        {
            "ErrorEquals": ["PaymentGatewayError", "TransientError"],
            "IntervalSeconds": 2,
            "MaxAttempts": 3,
            "BackoffRate": 2,
        }
    ]
    assert _catches(authorize) == [
        (["PaymentDeclined"], "Compensate", "$.error"),
        (["States.ALL"], "Compensate", "$.error"),
    ]
    assert _custom_retries(states["CapturePayment"]) == _custom_retries(authorize)


@pytest.mark.parametrize("state", ["ReserveStock", "AssessRisk"])
def test_transient_retry_and_catch_all(states: dict[str, dict[str, Any]], state: str) -> None:
    assert [r["ErrorEquals"] for r in _custom_retries(states[state])] == [["TransientError"]]
    assert _catches(states[state]) == [(["States.ALL"], "Compensate", "$.error")]


def test_choices(states: dict[str, dict[str, Any]]) -> None:
    needs_review = states["NeedsReview"]
    assert needs_review["Choices"] == [
        {"Variable": "$.risk.decision", "StringEquals": "review", "Next": "HoldForReview"}
    ]
    assert needs_review["Default"] == "RequestFulfillment"
    assert states["HoldForReview"]["Next"] == "ReviewDecision"
    decision = states["ReviewDecision"]
    assert decision["Choices"] == [
        {"Variable": "$.review.decision", "StringEquals": "approve", "Next": "RequestFulfillment"}
    ]
    assert decision["Default"] == "ReviewRejected"
    rejected = states["ReviewRejected"]
    assert rejected["Type"] == "Pass"
    assert rejected["Parameters"] == {"Error": "ReviewRejected", "Cause.$": "$.review.note"}
    assert rejected["ResultPath"] == "$.error"
    assert rejected["Next"] == "Compensate"


@pytest.mark.parametrize(
    ("state", "pass_state", "error", "cause"),
    [
        ("HoldForReview", "ReviewTimedOut", "ReviewTimeout", "The order was not reviewed in time"),
        ("RequestFulfillment", "FulfillmentTimedOut", "FulfillmentTimeout", "The order was not shipped in time"),
    ],
)
def test_wait_timeouts(states: dict[str, dict[str, Any]], state: str, pass_state: str, error: str, cause: str) -> None:
    assert _catches(states[state]) == [
        (["States.Timeout"], pass_state, "$.error"),
        (["States.ALL"], "Compensate", "$.error"),
    ]
    timed_out = states[pass_state]
    assert timed_out["Type"] == "Pass"
    assert timed_out["Result"] == {"Error": error, "Cause": cause}
    assert timed_out["ResultPath"] == "$.error"
    assert timed_out["Next"] == "Compensate"


def test_after_shipment(states: dict[str, dict[str, Any]]) -> None:
    commit = states["CommitStock"]
    custom = _custom_retries(commit)
    assert custom[0]["ErrorEquals"] == ["TransientError"]
    assert custom[-1]["ErrorEquals"] == ["States.ALL"] and custom[-1]["MaxAttempts"] == 5
    assert _catches(states["CapturePayment"]) == [(["States.ALL"], "FlagCaptureFailure", "$.error")]
    assert states["FlagCaptureFailure"]["Next"] == "MarkShipped"


def test_compensation_chain(states: dict[str, dict[str, Any]]) -> None:
    assert states["Compensate"]["Type"] == "Pass"
    assert states["Compensate"]["Next"] == "ReleaseStock"
    assert states["ReleaseStock"]["Next"] == "VoidPayment"
    assert states["VoidPayment"]["Next"] == "CloseOrder"
    assert states["CloseOrder"]["Next"] == "Closed"
    assert states["Closed"]["Type"] == "Succeed"
    assert states["CompensationFailed"]["Type"] == "Fail"
    for name in ("ReleaseStock", "VoidPayment", "CloseOrder"):
        retries = _custom_retries(states[name])
        assert retries == [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2}], (
            name
        )
        assert [(errors, target) for errors, target, _ in _catches(states[name])] == [
            (["States.ALL"], "CompensationFailed")
        ]


def _successors(state: dict[str, Any]) -> set[str]:
    nxt = {state["Next"]} if "Next" in state else set()
    nxt |= {c["Next"] for c in state.get("Catch", [])}
    nxt |= {c["Next"] for c in state.get("Choices", [])}
    if "Default" in state:
        nxt.add(state["Default"])
    return nxt


def test_no_dead_states_and_every_failure_reaches_close_order(
    asl: dict[str, Any], states: dict[str, dict[str, Any]]
) -> None:
    seen, todo = set(), [asl["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_successors(states[name]))
    assert seen == set(states)

    def reaches(start: str, goal: str) -> bool:
        visited, stack = set(), [start]
        while stack:
            name = stack.pop()
            if name == goal:
                return True
            if name not in visited:
                visited.add(name)
                stack.extend(_successors(states[name]))
        return False

    before_shipment = ["AuthorizePayment", "ReserveStock", "AssessRisk", "HoldForReview", "RequestFulfillment"]
    for name in before_shipment:
        for _, target, result_path in _catches(states[name]):
            assert result_path == "$.error"
            assert target == "Compensate" or states[target]["Next"] == "Compensate"
            assert reaches(target, "CloseOrder")
    # Every terminal state is one of the three ends.
    ends = {n for n, s in states.items() if s["Type"] in ("Succeed", "Fail")}
    assert ends == {"Shipped", "Closed", "CompensationFailed"}


def test_state_machine_may_invoke_exactly_the_workflow_functions(synthesized: Synthesized) -> None:
    policies = synthesized.resources("OmsWorkflow", "AWS::IAM::Policy")
    (policy,) = [p for k, p in policies.items() if k.startswith("OrderWorkflowRole")]
    invoked = set()
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if statement["Action"] == "lambda:InvokeFunction":
            for resource in statement["Resource"]:
                ref = resource.get("Fn::GetAtt") or resource["Fn::Join"][1][0]["Fn::GetAtt"]
                invoked.add(ref[0])
    assert {i.split("Function")[0] for i in invoked} == {
        "Payment",
        "Inventory",
        "Fraud",
        "Fulfillment",
        "OrderStatus",
    }
