"""The order workflow's ASL: states, retries, catches, the two task-token waits, compensation, reachability."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from oms.contract import DEFECT_RETRY, RETRY, TASK_TIMEOUT_SECONDS
from tests.infra.conftest import Synthesized


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


def asl_of(machine: dict[str, Any]) -> dict[str, Any]:
    """A synthesized state machine's definition (its Fn::Join resolved with placeholder ARNs) as ASL."""
    definition = machine["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        separator, parts = definition["Fn::Join"]
        definition = separator.join(_placeholder(p) for p in parts)
    return dict(json.loads(definition))


@pytest.fixture(scope="module")
def asl(synthesized: Synthesized) -> dict[str, Any]:
    (machine,) = synthesized.resources("OmsWorkflow", "AWS::StepFunctions::StateMachine").values()
    return asl_of(machine)


@pytest.fixture(scope="module")
def states(asl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return asl["States"]


def _function_of(state: dict[str, Any]) -> str:
    resource = state["Resource"]
    if resource.startswith("arn:aws:lambda:"):
        return resource.rsplit(":", 1)[1]
    return state["Parameters"]["FunctionName"].rsplit(":", 1)[1]


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
    assert states["NeedsReview"]["Default"] == "StockReady"
    assert states["StockReady"]["Default"] == "PlanRequestFulfillment"
    assert states["PlanRequestFulfillment"]["Next"] == "RequestFulfillment"
    assert states["RequestFulfillment"]["Next"] == "CommitStock"
    assert states["CommitStock"]["Next"] == "CapturePayment"
    assert states["CapturePayment"]["Next"] == "MarkShipped"
    assert states["MarkShipped"]["Next"] == "Shipped"
    assert states["Shipped"]["Type"] == "Succeed"


SYNC_TASKS = ["AuthorizePayment", "ReserveStock", "AssessRisk", "CommitStock", "CapturePayment", "MarkShipped",
              "FlagCaptureFailure", "ReleaseStock", "VoidPayment", "CloseOrder", "PlanHoldForReview",
              "PlanRequestFulfillment", "RenewPaymentForHoldForReview", "RenewPaymentForRequestFulfillment",
              "PlanAwaitStock", "RenewPaymentForAwaitStock"]
WAITS = ["HoldForReview", "RequestFulfillment", "ParkOrder", "ParkShipment", "ParkCompensation",
         "AwaitPaymentForHoldForReview", "AwaitPaymentForRequestFulfillment", "AwaitStock",
         "AwaitPaymentForAwaitStock"]


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
    assert task["Parameters"]["execution.$"] == "$$.Execution.Id"
    assert task["ResultPath"] == result_path


def test_error_payloads(states: dict[str, dict[str, Any]]) -> None:
    assert states["CloseOrder"]["Parameters"]["error.$"] == "$.error"
    assert states["FlagCaptureFailure"]["Parameters"]["error.$"] == "$.error"


@pytest.mark.parametrize(
    ("state", "function", "action", "result_path", "hours"),
    [
        ("HoldForReview", "Fraud", "hold", "$.review", 168),
        ("RequestFulfillment", "Fulfillment", "request_fulfillment", "$.shipment", 336),
        ("ParkOrder", "OrderStatus", "park", "$.park", 72),
        ("ParkShipment", "OrderStatus", "park", "$.park", 72),
        ("ParkCompensation", "OrderStatus", "park", "$.park", 72),
        ("AwaitPaymentForHoldForReview", "OrderStatus", "await_payment", "$.payment_update", 72),
        ("AwaitPaymentForRequestFulfillment", "OrderStatus", "await_payment", "$.payment_update", 72),
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
    if state in ("HoldForReview", "RequestFulfillment"):
        # Planned: until the policy's deadline, or until the payment hold is due for renewal.
        assert task["TimeoutSecondsPath"] == "$.wait.seconds"
        plan = states[f"Plan{state}"]
        assert plan["Next"] == state and plan["ResultPath"] == "$.wait"
        assert plan["Parameters"]["action"] == "plan_wait" and plan["Parameters"]["policy_hours"] == hours
        ended = states[next(c["Next"] for c in task["Catch"] if c["ErrorEquals"] == ["States.Timeout"])]
        assert ended["Choices"] == [{"Variable": "$.wait.renew", "BooleanEquals": True,
                                     "Next": f"RenewPaymentFor{state}"}]
        assert states[f"RenewPaymentFor{state}"]["Next"] == f"Plan{state}"
    else:
        assert task["TimeoutSeconds"] == hours * 3600
    if state == "HoldForReview":
        assert payload["risk.$"] == "$.risk"
    if state.startswith("Park"):
        assert payload["failure.$"] == "$.failure"


# -- the error policy (oms.contract), for every task ----------------------------------------------------------

def _retrier(state: dict[str, Any], error: str) -> dict[str, Any] | None:
    """The retrier Step Functions uses for ``error``: the first whose ErrorEquals names it (or States.ALL)."""
    for retrier in state.get("Retry", []):
        if error in retrier["ErrorEquals"] or retrier["ErrorEquals"] == ["States.ALL"]:
            return retrier
    return None


def _catcher(state: dict[str, Any], error: str) -> str | None:
    for catch in state.get("Catch", []):
        if error in catch["ErrorEquals"] or catch["ErrorEquals"] == ["States.ALL"]:
            return catch["Next"]
    return None


@pytest.mark.parametrize("state", SYNC_TASKS + WAITS)
def test_every_task_retries_throttling_crashes_and_timeouts_with_full_jitter_for_minutes(
    states: dict[str, dict[str, Any]], state: str
) -> None:
    task = states[state]
    retryable = ["TransientError", "Lambda.TooManyRequestsException", "Lambda.ServiceException",
                 "Sandbox.Timedout", "Runtime.ExitError"]
    if state not in WAITS:
        retryable.append("States.Timeout")
    for error in retryable:
        retrier = _retrier(task, error)
        assert retrier is not None and retrier["MaxAttempts"] == RETRY.max_attempts, (state, error)
        assert retrier["JitterStrategy"] == "FULL" and retrier["MaxDelaySeconds"] == RETRY.max_delay_seconds
        assert retrier["BackoffRate"] == 2 and retrier["IntervalSeconds"] == RETRY.interval_seconds
    defect = _retrier(task, "KeyError")
    assert defect is not None and defect["ErrorEquals"] == ["States.ALL"]
    assert defect["MaxAttempts"] == DEFECT_RETRY.max_attempts and defect["JitterStrategy"] == "FULL"
    assert task["Retry"][-1] is defect  # States.ALL last, as Step Functions requires
    assert RETRY.budget_seconds >= 180, "retryable errors are retried for minutes, not seconds"


@pytest.mark.parametrize("state", SYNC_TASKS)
def test_synchronous_tasks_have_a_timeout(states: dict[str, dict[str, Any]], state: str) -> None:
    assert states[state]["TimeoutSeconds"] == TASK_TIMEOUT_SECONDS


@pytest.mark.parametrize("state", SYNC_TASKS + WAITS)
def test_every_task_catches_every_error(states: dict[str, dict[str, Any]], state: str) -> None:
    """Nothing falls out of the workflow unhandled: each task ends in a Catch of States.ALL (to a park, the
    capture-failure flag, or, for a park itself, a Fail state that alarms)."""
    assert states[state]["Catch"][-1]["ErrorEquals"] == ["States.ALL"]


@pytest.mark.parametrize(("state", "refusals"), [
    ("AuthorizePayment", ["PaymentDeclined", "PaymentGatewayError"]),
    ("ReserveStock", ["OutOfStock"]),
    ("AssessRisk", ["OutOfStock"]),
])
def test_refusals_compensate_without_a_retry(states: dict[str, dict[str, Any]], state: str,
                                             refusals: list[str]) -> None:
    task = states[state]
    for error in refusals:
        assert _catcher(task, error) == "Compensate"
        retrier = _retrier(task, error)
        if error == "PaymentGatewayError":  # the gateway could not process the card now: a few tries first
            assert retrier is not None and retrier["MaxAttempts"] == 3
        else:
            assert retrier is not None and retrier["MaxAttempts"] == 0
    assert _catcher(task, "TransientError") == f"{state}Failed"


@pytest.mark.parametrize(("state", "park"), [
    ("AuthorizePayment", "ParkOrder"), ("ReserveStock", "ParkOrder"), ("AssessRisk", "ParkOrder"),
    ("HoldForReview", "ParkOrder"), ("RequestFulfillment", "ParkOrder"),
    ("PlanHoldForReview", "ParkOrder"), ("RenewPaymentForRequestFulfillment", "ParkOrder"),
    ("AwaitPaymentForHoldForReview", "ParkOrder"), ("CommitStock", "ParkShipment"),
    ("FlagCaptureFailure", "ParkShipment"), ("MarkShipped", "ParkShipment"),
    ("ReleaseStock", "ParkCompensation"), ("VoidPayment", "ParkCompensation"), ("CloseOrder", "ParkCompensation"),
])
def test_a_step_past_its_retries_parks_the_order_and_ops_resume_at_that_step(
    states: dict[str, dict[str, Any]], state: str, park: str
) -> None:
    failed = states[_catcher(states[state], "KeyError")]
    assert failed == {"Type": "Pass", "Result": state, "ResultPath": "$.failure.step", "Next": park}
    catch = states[state]["Catch"][-1]
    assert catch["ResultPath"] == "$.failure"
    resume = states[states[park]["Next"]]
    assert resume["Type"] == "Choice"
    # A wait resumes at the step that plans it (its timeout is planned afresh).
    at = f"Plan{state}" if state in ("HoldForReview", "RequestFulfillment") else state
    assert {"Variable": "$.failure.step", "StringEquals": state, "Next": at} in resume["Choices"]


def test_capture_failures_are_flagged_not_parked(states: dict[str, dict[str, Any]]) -> None:
    assert _catcher(states["CapturePayment"], "KeyError") == "FlagCaptureFailure"
    assert states["FlagCaptureFailure"]["Next"] == "MarkShipped"


@pytest.mark.parametrize(("park", "on_timeout", "cancellable"), [
    ("ParkOrder", "TechnicalHoldTimedOut", True),
    ("ParkShipment", "ShipmentStuck", False),
    ("ParkCompensation", "CompensationFailed", False),
])
def test_parks_time_out_by_policy_and_only_orders_before_shipment_can_be_cancelled(
    states: dict[str, dict[str, Any]], park: str, on_timeout: str, cancellable: bool
) -> None:
    task = states[park]
    assert _catcher(task, "States.Timeout") == on_timeout
    assert _retrier(task, "States.Timeout")["MaxAttempts"] == 0
    assert (_catcher(task, "OrderCancelled") == "Compensate") is cancellable
    assert _retrier(task, "OrderCancelled")["MaxAttempts"] == 0
    if park == "ParkOrder":
        timed_out = states[on_timeout]
        assert timed_out["Result"]["Error"] == "TechnicalFailure" and timed_out["Next"] == "Compensate"
    else:
        assert states[on_timeout]["Type"] == "Fail"


def test_choices(states: dict[str, dict[str, Any]]) -> None:
    needs_review = states["NeedsReview"]
    assert needs_review["Choices"] == [
        {"Variable": "$.risk.decision", "StringEquals": "review", "Next": "PlanHoldForReview"}
    ]
    assert needs_review["Default"] == "StockReady"
    assert states["HoldForReview"]["Next"] == "ReviewDecision"
    decision = states["ReviewDecision"]
    assert decision["Choices"] == [
        {"Variable": "$.review.decision", "StringEquals": "approve", "Next": "StockReady"}
    ]
    # Backordered goods: wait for them (a missing flag, from an older reservation, is "no").
    stock_ready = states["StockReady"]
    assert stock_ready["Choices"] == [{"And": [
        {"Variable": "$.reservation.backordered", "IsPresent": True},
        {"Variable": "$.reservation.backordered", "BooleanEquals": True}], "Next": "PlanAwaitStock"}]
    assert stock_ready["Default"] == "PlanRequestFulfillment"
    assert states["PlanAwaitStock"]["Next"] == "AwaitStock"
    assert states["AwaitStock"]["Next"] == "PlanRequestFulfillment"
    assert _catcher(states["AwaitStock"], "StockArrived") == "PlanRequestFulfillment"
    assert _retrier(states["AwaitStock"], "StockArrived")["MaxAttempts"] == 0
    # The wait's deadline is the order's own (no policy_hours: plan_wait reads the order's backorder deadline).
    assert "policy_hours" not in states["PlanAwaitStock"]["Parameters"]
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
        ("AwaitStock", "BackorderTimedOut", "BackorderTimeout", "The backordered goods did not arrive in time"),
    ],
)
def test_wait_timeouts_and_cancellations(states: dict[str, dict[str, Any]], state: str, pass_state: str,
                                         error: str, cause: str) -> None:
    ended = states[_catcher(states[state], "States.Timeout")]
    assert ended["Type"] == "Choice" and ended["Default"] == pass_state  # not a renewal: the policy's timeout
    assert _catcher(states[state], "OrderCancelled") == "Compensate"
    assert _retrier(states[state], "OrderCancelled")["MaxAttempts"] == 0
    timed_out = states[pass_state]
    assert timed_out["Type"] == "Pass"
    assert timed_out["Result"] == {"Error": error, "Cause": cause}
    assert timed_out["ResultPath"] == "$.error"
    assert timed_out["Next"] == "Compensate"


def test_compensation_chain(states: dict[str, dict[str, Any]]) -> None:
    assert states["Compensate"]["Type"] == "Pass"
    assert states["Compensate"]["Next"] == "ReleaseStock"
    assert states["ReleaseStock"]["Next"] == "VoidPayment"
    assert states["VoidPayment"]["Next"] == "CloseOrder"
    assert states["CloseOrder"]["Next"] == "Closed"
    assert states["Closed"]["Type"] == "Succeed"


def _successors(state: dict[str, Any]) -> set[str]:
    nxt = {state["Next"]} if "Next" in state else set()
    nxt |= {c["Next"] for c in state.get("Catch", [])}
    nxt |= {c["Next"] for c in state.get("Choices", [])}
    if "Default" in state:
        nxt.add(state["Default"])
    return nxt


def test_no_dead_states_and_every_refusal_reaches_close_order(
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

    for name in ["AuthorizePayment", "ReserveStock", "AssessRisk", "HoldForReview", "RequestFulfillment",
                 "RenewPaymentForRequestFulfillment", "AwaitPaymentForRequestFulfillment"]:
        for catch in states[name]["Catch"]:
            if catch["ErrorEquals"] == ["OrderShipped"]:  # not a refusal: the shipment goes on
                assert reaches(catch["Next"], "MarkShipped"), (name, catch)
                continue
            assert reaches(catch["Next"], "CloseOrder"), (name, catch)
    ends = {n for n, s in states.items() if s["Type"] in ("Succeed", "Fail")}
    assert ends == {"Shipped", "Closed", "CompensationFailed", "ShipmentStuck", "ParkOrderUnavailable",
                    "ParkShipmentUnavailable", "ParkCompensationUnavailable"}


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


@pytest.mark.parametrize("wait", ["HoldForReview", "RequestFulfillment"])
def test_a_declined_renewal_waits_for_the_customers_new_payment(states: dict[str, dict[str, Any]], wait: str) -> None:
    renew, await_payment = states[f"RenewPaymentFor{wait}"], states[f"AwaitPaymentFor{wait}"]
    assert renew["Parameters"]["action"] == "reauthorize"
    assert _retrier(renew, "PaymentDeclined")["MaxAttempts"] == 0
    assert _catcher(renew, "PaymentDeclined") == f"AwaitPaymentFor{wait}"
    assert await_payment["Next"] == f"RenewPaymentFor{wait}"  # renewed with the new payment method
    assert _catcher(await_payment, "OrderCancelled") == "Compensate"
    timed_out = states[_catcher(await_payment, "States.Timeout")]
    assert timed_out["Result"]["Error"] == "PaymentNotUpdated" and timed_out["Next"] == "Compensate"


@pytest.mark.parametrize("state", ["RequestFulfillment", "ReleaseStock"])
def test_a_parcel_recorded_while_no_wait_listened_goes_on_to_ship(states: dict[str, dict[str, Any]],
                                                                  state: str) -> None:
    """A shipment recorded while the wait was being renewed, or just before a compensation released the stock:
    the shipment wins (commit, capture, SHIPPED), nothing is undone."""
    assert _retrier(states[state], "OrderShipped")["MaxAttempts"] == 0
    assert _catcher(states[state], "OrderShipped") == "CommitStock"
