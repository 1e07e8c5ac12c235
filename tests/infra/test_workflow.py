"""The order workflow's ASL: a Standard workflow that runs its synchronous stretches as Express sub-workflows.

``OrderWorkflow`` (Standard) keeps the waits (review, backorder, fulfillment, payment renewals), the parks and the
compensation; ``PrepareOrder`` runs the ``PrepareOrderStretch`` (authorize, reserve, assess, plan the first wait) and
``ShipOrder`` the ``ShipOrderStretch`` (commit, capture, mark shipped), both Express and started synchronously
(``startExecution.sync:2``). Each check reads the machine where the state lives; the walks follow a sync task into
its stretch and back (a small interpreter of the Pass, Choice and Fail states below plays the data through).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import cdk_json_context, create_app
from infra.config import DEFAULT_CONTEXT, ConfigError, OmsConfig
from infra.data_stack import DataStack
from infra.messaging_stack import MessagingStack
from infra.nag import add_nag_checks
from infra.returns_stack import ReturnsStack
from infra.workflow_stack import STRETCH_START_ERRORS, WorkflowStack
from local.synth import SYNTH_CONTEXT as LOCAL_CONTEXT
from oms.contract import DEFECT_RETRY, GATEWAY_RETRY, RETRY, TASK_TIMEOUT_SECONDS
from tests.infra.conftest import Synthesized

States = dict[str, dict[str, Any]]

SYNC = "arn:aws:states:::states:startExecution.sync:2"
#: The parent's sync tasks and the stretch each runs (the stretch's logical id prefix).
STRETCHES = {"PrepareOrder": "PrepareOrderStretch", "ShipOrder": "ShipOrderStretch"}


def _placeholder(part: Any) -> str:
    if isinstance(part, str):
        return part
    if "Fn::GetAtt" in part:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{part['Fn::GetAtt'][0]}"
    if "Ref" in part:
        return str({"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}.get(
            part["Ref"], part["Ref"]))
    raise AssertionError(f"unexpected intrinsic in the definition: {part}")


def asl_of(machine: dict[str, Any]) -> dict[str, Any]:
    """A synthesized state machine's definition (its Fn::Join resolved with placeholder ARNs; a Ref to another
    state machine becomes its logical id) as ASL."""
    definition = machine["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        separator, parts = definition["Fn::Join"]
        definition = separator.join(_placeholder(p) for p in parts)
    return dict(json.loads(definition))


def _machines(template_resources: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """The workflow stack's state machines by role: ``parent``, ``PrepareOrder`` and ``ShipOrder`` (the stretch
    each sync task runs), as (logical id, resource)."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical_id, machine in template_resources.items():
        if logical_id.startswith("OrderWorkflow"):
            found["parent"] = (logical_id, machine)
        for sync, prefix in STRETCHES.items():
            if logical_id.startswith(prefix):
                found[sync] = (logical_id, machine)
    assert len(found) == len(template_resources) == 3, sorted(template_resources)
    return found


@pytest.fixture(scope="module")
def machines(synthesized: Synthesized) -> dict[str, tuple[str, dict[str, Any]]]:
    return _machines(synthesized.resources("OmsWorkflow", "AWS::StepFunctions::StateMachine"))


@pytest.fixture(scope="module")
def asl(machines: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return asl_of(machines["parent"][1])


@pytest.fixture(scope="module")
def states(asl: dict[str, Any]) -> States:
    return dict(asl["States"])


@pytest.fixture(scope="module")
def stretch_asl(machines: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each stretch's ASL, by the parent's sync task that runs it."""
    return {sync: asl_of(machines[sync][1]) for sync in STRETCHES}


@pytest.fixture(scope="module")
def prepare(stretch_asl: dict[str, dict[str, Any]]) -> States:
    return dict(stretch_asl["PrepareOrder"]["States"])


@pytest.fixture(scope="module")
def ship(stretch_asl: dict[str, dict[str, Any]]) -> States:
    return dict(stretch_asl["ShipOrder"]["States"])


@pytest.fixture(scope="module")
def by_machine(states: States, prepare: States, ship: States) -> dict[str, States]:
    return {"parent": states, "prepare": prepare, "ship": ship}


def _function_of(state: dict[str, Any]) -> str:
    resource = state["Resource"]
    if resource.startswith("arn:aws:lambda:"):
        return str(resource.rsplit(":", 1)[1])
    return str(state["Parameters"]["FunctionName"].rsplit(":", 1)[1])


def _tasks(states: States) -> list[str]:
    return [name for name, state in states.items() if state["Type"] == "Task"]


# -- a small interpreter of the flow states (Pass, Choice, Fail) -----------------------------------------------

def _get(data: Any, path: str) -> Any:
    """``$`` or ``$.a.b`` of ``data``; a missing field raises KeyError (a runtime error in Step Functions)."""
    node = data
    for key in ([] if path == "$" else path.removeprefix("$.").split(".")):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(path)
        node = node[key]
    return node


def _set(data: Any, path: str | None, value: Any) -> Any:
    """ResultPath: ``None`` (null) keeps the input, ``$`` replaces it, ``$.a.b`` sets a field of a copy."""
    if path is None:
        return data
    if path == "$":
        return value
    out = copy.deepcopy(data)
    node = out
    *parents, last = path.removeprefix("$.").split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


_INTRINSIC = re.compile(r"^(States\.\w+)\((\$[^)]*)\)$")


def _value(expression: str, data: Any) -> Any:
    """A path or an intrinsic (``States.StringToJson``/``States.JsonToString`` of a path)."""
    intrinsic = _INTRINSIC.match(expression)
    if intrinsic is None:
        return _get(data, expression)
    function, argument = intrinsic.groups()
    value = _get(data, argument)
    if function == "States.StringToJson":
        return json.loads(value)
    if function == "States.JsonToString":
        return json.dumps(value, separators=(",", ":"))
    raise AssertionError(f"intrinsic not modelled: {expression}")


def _parameters(template: dict[str, Any], data: Any) -> dict[str, Any]:
    return {key.removesuffix(".$"): _value(value, data) if key.endswith(".$")
            else _parameters(value, data) if isinstance(value, dict) else value
            for key, value in template.items()}


def _pass(state: dict[str, Any], data: Any) -> Any:
    effective = _get(data, state.get("InputPath", "$"))
    result = _parameters(state["Parameters"], effective) if "Parameters" in state else state.get("Result", effective)
    return _set(data, state.get("ResultPath", "$"), result)


def _holds(rule: dict[str, Any], data: Any) -> bool:
    if "And" in rule:
        return all(_holds(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(_holds(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not _holds(rule["Not"], data)
    try:
        value, present = _get(data, rule["Variable"]), True
    except KeyError:
        value, present = None, False
    if "IsPresent" in rule:
        return present is rule["IsPresent"]
    if not present:
        raise KeyError(rule["Variable"])
    if "StringEquals" in rule:
        return bool(value == rule["StringEquals"])
    if "BooleanEquals" in rule:
        return bool(value is rule["BooleanEquals"])
    raise AssertionError(f"comparison not modelled: {rule}")


def _choose(state: dict[str, Any], data: Any) -> str:
    assert state["Type"] == "Choice"
    return str(next((c["Next"] for c in state["Choices"] if _holds(c, data)), state.get("Default")))


def _walk(states: States, start: str, data: Any, *, stop: Iterable[str] = ()) -> tuple[list[str], Any]:
    """The states entered from ``start`` with ``data`` until an end, a Fail/Succeed or a state in ``stop``; a Task
    succeeds with the data as it is (its result is not modelled)."""
    path, name, stop = [], start, set(stop)
    while True:
        path.append(name)
        state = states[name]
        if name in stop or state["Type"] in ("Succeed", "Fail"):
            return path, data
        if state["Type"] == "Choice":
            name = _choose(state, data)
            continue
        if state["Type"] == "Pass":
            data = _pass(state, data)
        if state.get("End"):
            return path, data
        name = state["Next"]


def _caught(state: dict[str, Any], error: str, cause: str, data: Any) -> tuple[str, Any]:
    """Where ``state``'s Catch sends ``error``, with the error at the catcher's ResultPath."""
    for catch in state["Catch"]:
        if error in catch["ErrorEquals"] or catch["ErrorEquals"] == ["States.ALL"]:
            return catch["Next"], _set(data, catch.get("ResultPath", "$"), {"Error": error, "Cause": cause})
    raise AssertionError(f"{error} is not caught")


# -- the machines -------------------------------------------------------------------------------------------

def test_the_parent_is_standard_and_the_stretches_express(machines: dict[str, tuple[str, dict[str, Any]]],
                                                         synthesized: Synthesized) -> None:
    groups = synthesized.resources("OmsWorkflow", "AWS::Logs::LogGroup")
    destinations = set()
    for role, (_, machine) in machines.items():
        props = machine["Properties"]
        assert props["StateMachineType"] == ("STANDARD" if role == "parent" else "EXPRESS"), role
        assert "StateMachineName" not in props
        assert props["TracingConfiguration"] == {"Enabled": True}
        # Production: errors only, never a state's input or output (addresses, emails).
        logging = props["LoggingConfiguration"]
        assert logging["Level"] == "ERROR" and logging["IncludeExecutionData"] is False, role
        (destination,) = logging["Destinations"]
        group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        assert group in groups
        destinations.add(group)
    assert len(destinations) == 3  # each machine its own log group


def test_the_parent_runs_each_stretch_synchronously_and_goes_on_with_its_output(
    states: States, machines: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    for sync in STRETCHES:
        task = states[sync]
        assert task["Type"] == "Task" and task["Resource"] == SYNC  # sync:2: the output is JSON, not a string
        assert task["Parameters"] == {"Input.$": "$", "StateMachineArn": machines[sync][0]}
        assert "TimeoutSeconds" not in task  # an Express execution ends within 5 minutes on its own
        # The stretch's output becomes the order's state.
        described = {"Status": "SUCCEEDED", "Output": {"order_id": "o-1", "next": "RequestFulfillment"}}
        result = _parameters(task["ResultSelector"], described)
        assert _get(_set({"order_id": "o-1"}, task["ResultPath"], result), task["OutputPath"]) == described["Output"]
    assert states["PrepareOrder"]["Next"] == "Route"
    assert states["ShipOrder"]["End"] is True


def test_the_happy_path_enters_four_standard_states(asl: dict[str, Any], states: States, prepare: States,
                                                    ship: States) -> None:
    """Placed to shipped, the Standard execution enters PrepareOrder, Route, RequestFulfillment and ShipOrder;
    the steps run in the stretches."""
    assert asl["StartAt"] == "PrepareOrder"
    order = {"order_id": "o-1", "risk": {"decision": "accept"}, "reservation": {"backordered": False}}
    stretch_path, prepared = _walk(prepare, "AuthorizePayment", order)
    assert stretch_path == ["AuthorizePayment", "ReserveStock", "AssessRisk", "NeedsReview", "StockReady",
                            "PlanFirstRequestFulfillment", "ThenRequestFulfillment"]
    path, _ = _walk(states, asl["StartAt"], prepared)
    assert path == ["PrepareOrder", "Route", "RequestFulfillment", "ShipOrder"]
    ship_path, _ = _walk(ship, "CommitStock", prepared)
    assert ship_path == ["CommitStock", "CapturePayment", "MarkShipped"]


@pytest.mark.parametrize(("risk", "backordered", "plan", "wait"), [
    ("accept", False, "PlanFirstRequestFulfillment", "RequestFulfillment"),
    ("accept", None, "PlanFirstRequestFulfillment", "RequestFulfillment"),  # an older reservation: no flag
    ("accept", True, "PlanFirstAwaitStock", "AwaitStock"),
    ("review", False, "PlanFirstHoldForReview", "HoldForReview"),
    ("review", True, "PlanFirstHoldForReview", "HoldForReview"),  # reviewed first; StockReady after approval
])
def test_the_prepare_stretch_plans_the_first_wait_and_the_parent_enters_it(
    states: States, prepare: States, risk: str, backordered: bool | None, plan: str, wait: str
) -> None:
    order: dict[str, Any] = {"order_id": "o-1", "risk": {"decision": risk}, "reservation": {}}
    if backordered is not None:
        order["reservation"]["backordered"] = backordered
    path, prepared = _walk(prepare, "NeedsReview", order)
    assert path[-2:] == [plan, f"Then{wait}"]
    assert prepare[plan]["Parameters"]["wait"] == wait and prepare[plan]["ResultPath"] == "$.wait"
    assert prepared["next"] == wait
    assert _choose(states["Route"], prepared) == wait
    assert states[wait]["TimeoutSecondsPath"] == "$.wait.seconds"  # the timeout the stretch planned


SYNC_TASKS: dict[str, list[str]] = {
    "prepare": ["AuthorizePayment", "ReserveStock", "AssessRisk", "PlanFirstHoldForReview", "PlanFirstAwaitStock",
                "PlanFirstRequestFulfillment"],
    "ship": ["CommitStock", "CapturePayment", "MarkShipped", "FlagCaptureFailure"],
    "parent": ["ReleaseStock", "VoidPayment", "CloseOrder", "PlanHoldForReview", "PlanRequestFulfillment",
               "PlanAwaitStock", "RenewPaymentForHoldForReview", "RenewPaymentForRequestFulfillment",
               "RenewPaymentForAwaitStock"],
}
WAITS = ["HoldForReview", "RequestFulfillment", "ParkOrder", "ParkShipment", "ParkCompensation",
         "AwaitPaymentForHoldForReview", "AwaitPaymentForRequestFulfillment", "AwaitStock",
         "AwaitPaymentForAwaitStock"]
LAMBDA_TASKS = [(m, s) for m, names in SYNC_TASKS.items() for s in names] + [("parent", w) for w in WAITS]


def test_the_lists_name_every_lambda_task(by_machine: dict[str, States]) -> None:
    for machine, machine_states in by_machine.items():
        lambda_tasks = {n for n in _tasks(machine_states) if machine_states[n]["Resource"] != SYNC}
        assert lambda_tasks == {s for m, s in LAMBDA_TASKS if m == machine}, machine


@pytest.mark.parametrize(
    ("machine", "state", "function", "action", "result_path"),
    [
        ("prepare", "AuthorizePayment", "Payment", "authorize", "$.payment"),
        ("prepare", "ReserveStock", "Inventory", "reserve", "$.reservation"),
        ("prepare", "AssessRisk", "Fraud", "assess", "$.risk"),
        ("prepare", "PlanFirstHoldForReview", "Payment", "plan_wait", "$.wait"),
        ("prepare", "PlanFirstAwaitStock", "Payment", "plan_wait", "$.wait"),
        ("prepare", "PlanFirstRequestFulfillment", "Payment", "plan_wait", "$.wait"),
        ("ship", "CommitStock", "Inventory", "commit", "$.committed"),
        ("ship", "CapturePayment", "Payment", "capture", "$.capture"),
        ("ship", "MarkShipped", "OrderStatus", "mark_shipped", "$.shipped"),
        ("ship", "FlagCaptureFailure", "OrderStatus", "flag_capture_failure", None),
        ("parent", "ReleaseStock", "Inventory", "release", None),
        ("parent", "VoidPayment", "Payment", "void", None),
        ("parent", "CloseOrder", "OrderStatus", "close", "$.closed"),
    ],
)
def test_plain_tasks(by_machine: dict[str, States], machine: str, state: str, function: str, action: str,
                     result_path: str | None) -> None:
    task = by_machine[machine][state]
    assert task["Type"] == "Task"
    assert task["Resource"].startswith(f"arn:aws:lambda:us-east-1:123456789012:function:{function}Function")
    assert task["Parameters"]["action"] == action
    assert task["Parameters"]["order_id.$"] == "$.order_id"
    assert task["Parameters"]["execution.$"] == "$$.Execution.Id"
    assert task["ResultPath"] == result_path


@pytest.mark.parametrize(("wait", "hours"), [("HoldForReview", 168), ("AwaitStock", None),
                                             ("RequestFulfillment", 336)])
def test_the_first_plan_of_a_wait_is_the_same_as_its_renewed_plan(states: States, prepare: States, wait: str,
                                                                  hours: int | None) -> None:
    first, again = prepare[f"PlanFirst{wait}"]["Parameters"], states[f"Plan{wait}"]["Parameters"]
    assert first == again
    assert first["wait"] == wait and first.get("policy_hours") == hours  # AwaitStock: the order's own deadline


def test_error_payloads(states: States, ship: States) -> None:
    assert states["CloseOrder"]["Parameters"]["error.$"] == "$.error"
    assert ship["FlagCaptureFailure"]["Parameters"]["error.$"] == "$.error"


@pytest.mark.parametrize(
    ("state", "function", "action", "result_path", "hours"),
    [
        ("HoldForReview", "Fraud", "hold", "$.review", 168),
        ("RequestFulfillment", "Fulfillment", "request_fulfillment", "$.shipment", 336),
        ("AwaitStock", "Inventory", "await_stock", "$.stock", None),
        ("ParkOrder", "OrderStatus", "park", "$.park", 72),
        ("ParkShipment", "OrderStatus", "park", "$.park", 72),
        ("ParkCompensation", "OrderStatus", "park", "$.park", 72),
        ("AwaitPaymentForHoldForReview", "OrderStatus", "await_payment", "$.payment_update", 72),
        ("AwaitPaymentForRequestFulfillment", "OrderStatus", "await_payment", "$.payment_update", 72),
        ("AwaitPaymentForAwaitStock", "OrderStatus", "await_payment", "$.payment_update", 72),
    ],
)
def test_task_token_waits(states: States, state: str, function: str, action: str, result_path: str,
                          hours: int | None) -> None:
    task = states[state]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert _function_of(task).startswith(f"{function}Function")
    payload = task["Parameters"]["Payload"]
    assert payload["action"] == action
    assert payload["order_id.$"] == "$.order_id"
    assert payload["task_token.$"] == "$$.Task.Token"
    assert task["ResultPath"] == result_path
    if state in ("HoldForReview", "RequestFulfillment", "AwaitStock"):
        # Planned: until the policy's deadline, or until the payment hold is due for renewal.
        assert task["TimeoutSecondsPath"] == "$.wait.seconds"
        plan = states[f"Plan{state}"]
        assert plan["Next"] == state and plan["ResultPath"] == "$.wait"
        assert plan["Parameters"]["action"] == "plan_wait" and plan["Parameters"].get("policy_hours") == hours
        ended = states[next(c["Next"] for c in task["Catch"] if c["ErrorEquals"] == ["States.Timeout"])]
        assert ended["Choices"] == [{"Variable": "$.wait.renew", "BooleanEquals": True,
                                     "Next": f"RenewPaymentFor{state}"}]
        assert states[f"RenewPaymentFor{state}"]["Next"] == f"Plan{state}"
    else:
        assert task["TimeoutSeconds"] == hours * 3600  # type: ignore[operator]
    if state == "HoldForReview":
        assert payload["risk.$"] == "$.risk"
    if state.startswith("Park"):
        assert payload["failure.$"] == "$.failure"


# -- the error policy (oms.contract), for every task ----------------------------------------------------------

def _retrier(state: dict[str, Any], error: str) -> dict[str, Any] | None:
    """The retrier Step Functions uses for ``error``: the first whose ErrorEquals names it (or States.ALL)."""
    for retrier in state.get("Retry", []):
        if error in retrier["ErrorEquals"] or retrier["ErrorEquals"] == ["States.ALL"]:
            return dict(retrier)
    return None


def _catcher(state: dict[str, Any], error: str) -> str | None:
    for catch in state.get("Catch", []):
        if error in catch["ErrorEquals"] or catch["ErrorEquals"] == ["States.ALL"]:
            return str(catch["Next"])
    return None


@pytest.mark.parametrize(("machine", "state"), LAMBDA_TASKS)
def test_every_task_retries_throttling_crashes_and_timeouts_with_full_jitter_for_minutes(
    by_machine: dict[str, States], machine: str, state: str
) -> None:
    task = by_machine[machine][state]
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
    assert task["Retry"][-1] == defect  # States.ALL last, as Step Functions requires
    assert RETRY.budget_seconds >= 180, "retryable errors are retried for minutes, not seconds"


@pytest.mark.parametrize(("machine", "state"), [(m, s) for m, names in SYNC_TASKS.items() for s in names])
def test_synchronous_tasks_have_a_timeout(by_machine: dict[str, States], machine: str, state: str) -> None:
    assert by_machine[machine][state]["TimeoutSeconds"] == TASK_TIMEOUT_SECONDS


def test_every_task_catches_every_error(by_machine: dict[str, States]) -> None:
    """Nothing falls out of a workflow unhandled: each task of each machine ends in a Catch of States.ALL (to a
    park, the capture-failure flag, a stretch's ``<Step>Failed``, or, for a park itself, a Fail state that
    alarms)."""
    for machine, machine_states in by_machine.items():
        for name in _tasks(machine_states):
            assert machine_states[name]["Catch"][-1]["ErrorEquals"] == ["States.ALL"], (machine, name)


@pytest.mark.parametrize(("state", "refusals"), [
    ("AuthorizePayment", ["PaymentDeclined", "PaymentGatewayError"]),
    ("ReserveStock", ["OutOfStock"]),
    ("AssessRisk", ["OutOfStock"]),
])
def test_refusals_end_the_stretch_to_compensate_without_a_retry(states: States, prepare: States, state: str,
                                                               refusals: list[str]) -> None:
    task = prepare[state]
    for error in refusals:
        retrier = _retrier(task, error)
        if error == "PaymentGatewayError":  # the gateway could not process the card now: a few tries first
            assert retrier is not None and retrier["MaxAttempts"] == GATEWAY_RETRY.max_attempts == 3
        else:
            assert retrier is not None and retrier["MaxAttempts"] == 0
        nxt, data = _caught(task, error, "no", {"order_id": "o-1"})
        assert nxt == "Refused"
        path, refused = _walk(prepare, nxt, data)
        assert path == ["Refused"] and prepare["Refused"]["End"] is True
        assert refused == {"order_id": "o-1", "error": {"Error": error, "Cause": "no"}, "next": "Compensate"}
        # Back in the parent: Route -> Compensate, the reason at $.error for CloseOrder.
        path, _ = _walk(states, "Route", refused, stop={"CloseOrder"})
        assert path == ["Route", "Compensate", "ReleaseStock", "VoidPayment", "CloseOrder"]
    assert _catcher(task, "TransientError") == f"{state}Failed"


# -- a step past its retries: parked at that step ---------------------------------------------------------

@pytest.mark.parametrize(("state", "park"), [
    ("HoldForReview", "ParkOrder"), ("RequestFulfillment", "ParkOrder"), ("AwaitStock", "ParkOrder"),
    ("PlanHoldForReview", "ParkOrder"), ("RenewPaymentForRequestFulfillment", "ParkOrder"),
    ("AwaitPaymentForHoldForReview", "ParkOrder"),
    ("ReleaseStock", "ParkCompensation"), ("VoidPayment", "ParkCompensation"), ("CloseOrder", "ParkCompensation"),
])
def test_a_step_of_the_parent_past_its_retries_parks_the_order_and_ops_resume_at_that_step(
    states: States, state: str, park: str
) -> None:
    failed = states[_catcher(states[state], "KeyError")]  # type: ignore[index]
    assert failed == {"Type": "Pass", "Result": state, "ResultPath": "$.failure.step", "Next": park}
    catch = states[state]["Catch"][-1]
    assert catch["ResultPath"] == "$.failure"
    resume = states[states[park]["Next"]]
    assert resume["Type"] == "Choice"
    # A wait resumes at the step that plans it (its timeout is planned afresh).
    at = f"Plan{state}" if state in ("HoldForReview", "RequestFulfillment", "AwaitStock") else state
    assert {"Variable": "$.failure.step", "StringEquals": state, "Next": at} in resume["Choices"]


STRETCH_STEPS = [("PrepareOrder", s) for s in SYNC_TASKS["prepare"]] + [
    ("ShipOrder", s) for s in ("CommitStock", "MarkShipped", "FlagCaptureFailure")]
PARK_OF = {"PrepareOrder": "ParkOrder", "ShipOrder": "ParkShipment"}


@pytest.mark.parametrize(("sync", "step"), STRETCH_STEPS)
def test_a_step_of_a_stretch_past_its_retries_fails_the_stretch_naming_itself(
    stretch_asl: dict[str, dict[str, Any]], sync: str, step: str
) -> None:
    stretch = stretch_asl[sync]["States"]
    catch = stretch[step]["Catch"][-1]
    assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": f"{step}Failed"}
    assert stretch[f"{step}Failed"] == {"Type": "Pass", "Result": step, "ResultPath": "$.failure.step",
                                        "Next": f"{step}StepFailed"}
    assert stretch[f"{step}StepFailed"] == {"Type": "Fail", "Error": "StepFailed",
                                            "CausePath": "States.JsonToString($.failure)"}


def _failed_execution(stretch: States, step: str, error: str, cause: str) -> str:
    """The cause the parent's sync task fails with (``States.TaskFailed``) when ``step`` fails the stretch: the
    stretch's DescribeExecution response, its Error and Cause those of the Fail state."""
    nxt, data = _caught(stretch[step], error, cause, {"order_id": "o-1"})
    path, data = _walk(stretch, nxt, data)
    assert path == [f"{step}Failed", f"{step}StepFailed"]
    fail = stretch[path[-1]]
    return json.dumps({"ExecutionArn": "arn:aws:states:us-east-1:123456789012:express:stretch:e:1",
                       "Status": "FAILED", "Error": fail["Error"], "Cause": _value(fail["CausePath"], data)})


@pytest.mark.parametrize(("sync", "step"), STRETCH_STEPS)
def test_the_parent_parks_a_failed_stretch_at_the_failed_step_and_ops_retry_the_stretch(
    states: States, stretch_asl: dict[str, dict[str, Any]], sync: str, step: str
) -> None:
    park = PARK_OF[sync]
    described = _failed_execution(stretch_asl[sync]["States"], step, "KeyError", "'sku'")
    nxt, data = _caught(states[sync], "States.TaskFailed", described, {"order_id": "o-1"})
    assert states[sync]["Catch"][-1]["ResultPath"] == "$.stretch"
    path, parked = _walk(states, nxt, data, stop={park})
    assert path == [f"{sync}Ended", f"{sync}Failed", f"{sync}FailedHow", f"{sync}StepFailed", f"{sync}StepFound",
                    park]
    assert parked["failure"] == {"step": step, "Error": "KeyError", "Cause": "'sku'"}  # what ops see
    assert parked["order_id"] == "o-1"
    # Ops' retry runs the stretch again from its start (every step is idempotent).
    assert _choose(states[states[park]["Next"]], parked) == sync


@pytest.mark.parametrize("sync", list(STRETCHES))
@pytest.mark.parametrize(("error", "cause", "how", "failure"), [
    ("States.TaskFailed", json.dumps({"Status": "TIMED_OUT"}), "Stopped",
     {"Error": "TIMED_OUT", "Cause": "The stretch timed out or was stopped"}),
    ("States.TaskFailed", json.dumps({"Status": "ABORTED", "Error": "States.Aborted", "Cause": "by ops"}),
     "Stopped", {"Error": "ABORTED", "Cause": "The stretch timed out or was stopped"}),
    ("StepFunctions.ExecutionLimitExceeded", "too many", "NotStarted",
     {"Error": "StepFunctions.ExecutionLimitExceeded", "Cause": "too many"}),
    ("States.Runtime", "bad input", "NotStarted", {"Error": "States.Runtime", "Cause": "bad input"}),
])
def test_a_stretch_that_timed_out_was_stopped_or_never_started_parks_as_its_sync_task(
    states: States, sync: str, error: str, cause: str, how: str, failure: dict[str, str]
) -> None:
    park = PARK_OF[sync]
    nxt, data = _caught(states[sync], error, cause, {"order_id": "o-1"})
    path, parked = _walk(states, nxt, data, stop={park})
    assert path[-2:] == [f"{sync}{how}", park]
    assert parked["failure"] == {"step": sync, **failure}
    assert _choose(states[states[park]["Next"]], parked) == sync


@pytest.mark.parametrize("sync", list(STRETCHES))
def test_sync_tasks_retry_only_a_stretch_that_could_not_start(states: States, sync: str) -> None:
    """Step Functions' throttling and limits are retried like any transient failure (RETRY, full jitter); a
    failed stretch is not: its steps had their own retries. States.TaskFailed is a wildcard (it matches the start
    errors too), so no retrier may name it, nor States.ALL."""
    task = states[sync]
    (retrier,) = task["Retry"]
    assert retrier == {"ErrorEquals": list(STRETCH_START_ERRORS), "IntervalSeconds": RETRY.interval_seconds,
                       "MaxAttempts": RETRY.max_attempts, "BackoffRate": RETRY.backoff_rate,
                       "MaxDelaySeconds": RETRY.max_delay_seconds, "JitterStrategy": "FULL"}
    assert {"StepFunctions.ThrottlingException", "StepFunctions.ExecutionLimitExceeded"} <= set(STRETCH_START_ERRORS)
    assert not {e for e in STRETCH_START_ERRORS if not e.startswith("StepFunctions.")}
    for r in task["Retry"]:
        assert "States.TaskFailed" not in r["ErrorEquals"] and "States.ALL" not in r["ErrorEquals"]
    assert task["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.stretch", "Next": f"{sync}Ended"}]
    ended = states[f"{sync}Ended"]
    assert ended["Choices"] == [{"Variable": "$.stretch.Error", "StringEquals": "States.TaskFailed",
                                 "Next": f"{sync}Failed"}]
    assert ended["Default"] == f"{sync}NotStarted"


def test_resume_maps(states: States, prepare: States, ship: States) -> None:
    """Ops' retry after a park resumes: a stretch's step -> the stretch from its start; a parent step -> itself; a
    wait -> the step that plans it. Every step that can park there has its way back."""
    resume = {c["StringEquals"]: c["Next"] for c in states["ResumeAfterParkOrder"]["Choices"]}
    expected = {step: "PrepareOrder" for step in [*_tasks(prepare), "PrepareOrder"]}
    for wait in ("HoldForReview", "AwaitStock", "RequestFulfillment"):
        expected |= {f"Plan{wait}": f"Plan{wait}", f"RenewPaymentFor{wait}": f"RenewPaymentFor{wait}",
                     f"AwaitPaymentFor{wait}": f"AwaitPaymentFor{wait}", wait: f"Plan{wait}"}
    assert resume == expected
    assert states["ResumeAfterParkOrder"]["Default"] == "TechnicalHoldTimedOut"
    shipment = {c["StringEquals"]: c["Next"] for c in states["ResumeAfterParkShipment"]["Choices"]}
    assert shipment == {step: "ShipOrder" for step in [*_tasks(ship), "ShipOrder"]}
    assert set(shipment) == {"CommitStock", "CapturePayment", "FlagCaptureFailure", "MarkShipped", "ShipOrder"}
    assert states["ResumeAfterParkShipment"]["Default"] == "ShipmentStuck"
    compensation = {c["StringEquals"]: c["Next"] for c in states["ResumeAfterParkCompensation"]["Choices"]}
    assert compensation == {s: s for s in ("ReleaseStock", "VoidPayment", "CloseOrder")}
    for park in ("ParkOrder", "ParkShipment", "ParkCompensation"):
        assert states[park]["Next"] == f"ResumeAfter{park}"
        # Every parent step whose <Step>Failed leads to this park resumes somewhere.
        steps = {s["Result"] for s in states.values()
                 if s["Type"] == "Pass" and s.get("ResultPath") == "$.failure.step" and s.get("Next") == park}
        assert steps <= {c["StringEquals"] for c in states[f"ResumeAfter{park}"]["Choices"]}, park


def test_capture_failures_are_flagged_not_parked(ship: States) -> None:
    assert _catcher(ship["CapturePayment"], "KeyError") == "FlagCaptureFailure"
    assert ship["CapturePayment"]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                                "Next": "FlagCaptureFailure"}]
    assert _retrier(ship["CapturePayment"], "PaymentGatewayError")["MaxAttempts"] == 3  # type: ignore[index]
    assert ship["FlagCaptureFailure"]["Next"] == "MarkShipped"


@pytest.mark.parametrize(("park", "on_timeout", "cancellable"), [
    ("ParkOrder", "TechnicalHoldTimedOut", True),
    ("ParkShipment", "ShipmentStuck", False),
    ("ParkCompensation", "CompensationFailed", False),
])
def test_parks_time_out_by_policy_and_only_orders_before_shipment_can_be_cancelled(
    states: States, park: str, on_timeout: str, cancellable: bool
) -> None:
    task = states[park]
    assert _catcher(task, "States.Timeout") == on_timeout
    assert _retrier(task, "States.Timeout")["MaxAttempts"] == 0  # type: ignore[index]
    assert (_catcher(task, "OrderCancelled") == "Compensate") is cancellable
    assert _retrier(task, "OrderCancelled")["MaxAttempts"] == 0  # type: ignore[index]
    assert task["Parameters"]["Payload"]["cancellable"] is cancellable
    if park == "ParkOrder":
        timed_out = states[on_timeout]
        assert timed_out["Result"]["Error"] == "TechnicalFailure" and timed_out["Next"] == "Compensate"
    else:
        assert states[on_timeout]["Type"] == "Fail"


BACKORDERED = [{"And": [
    {"Variable": "$.reservation.backordered", "IsPresent": True},
    {"Variable": "$.reservation.backordered", "BooleanEquals": True}]}]


def test_choices(states: States, prepare: States) -> None:
    # In the stretch: review first, else wait for backordered goods (a missing flag, from an older reservation,
    # is "no"), else fulfil.
    needs_review = prepare["NeedsReview"]
    assert needs_review["Choices"] == [
        {"Variable": "$.risk.decision", "StringEquals": "review", "Next": "PlanFirstHoldForReview"}
    ]
    assert needs_review["Default"] == "StockReady"
    assert prepare["StockReady"]["Choices"] == [{**BACKORDERED[0], "Next": "PlanFirstAwaitStock"}]
    assert prepare["StockReady"]["Default"] == "PlanFirstRequestFulfillment"
    # In the parent: after an approved review, the same question.
    route = states["Route"]
    assert route["Choices"] == [{"Variable": "$.next", "StringEquals": wait, "Next": wait}
                                for wait in ("Compensate", "HoldForReview", "AwaitStock")]
    assert route["Default"] == "RequestFulfillment"
    assert states["HoldForReview"]["Next"] == "ReviewDecision"
    decision = states["ReviewDecision"]
    assert decision["Choices"] == [
        {"Variable": "$.review.decision", "StringEquals": "approve", "Next": "StockReady"}
    ]
    stock_ready = states["StockReady"]
    assert stock_ready["Choices"] == [{**BACKORDERED[0], "Next": "PlanAwaitStock"}]
    assert stock_ready["Default"] == "PlanRequestFulfillment"
    assert states["PlanAwaitStock"]["Next"] == "AwaitStock"
    assert states["AwaitStock"]["Next"] == "PlanRequestFulfillment"
    assert _catcher(states["AwaitStock"], "StockArrived") == "PlanRequestFulfillment"
    assert _retrier(states["AwaitStock"], "StockArrived")["MaxAttempts"] == 0  # type: ignore[index]
    # The wait's deadline is the order's own (no policy_hours: plan_wait reads the order's backorder deadline).
    assert "policy_hours" not in states["PlanAwaitStock"]["Parameters"]
    assert decision["Default"] == "ReviewRejected"
    rejected = states["ReviewRejected"]
    assert rejected["Type"] == "Pass"
    assert rejected["Parameters"] == {"Error": "ReviewRejected", "Cause.$": "$.review.note"}
    assert rejected["ResultPath"] == "$.error"
    assert rejected["Next"] == "Compensate"


@pytest.mark.parametrize(("backordered", "to"), [(True, "PlanAwaitStock"), (False, "PlanRequestFulfillment"),
                                                 (None, "PlanRequestFulfillment")])
def test_an_approved_review_goes_on_in_the_parent(states: States, backordered: bool | None, to: str) -> None:
    order: dict[str, Any] = {"order_id": "o-1", "review": {"decision": "approve"}, "reservation": {}}
    if backordered is not None:
        order["reservation"]["backordered"] = backordered
    path, _ = _walk(states, "ReviewDecision", order, stop={to})
    assert path == ["ReviewDecision", "StockReady", to]


@pytest.mark.parametrize(
    ("state", "pass_state", "error", "cause"),
    [
        ("HoldForReview", "ReviewTimedOut", "ReviewTimeout", "The order was not reviewed in time"),
        ("RequestFulfillment", "FulfillmentTimedOut", "FulfillmentTimeout", "The order was not shipped in time"),
        ("AwaitStock", "BackorderTimedOut", "BackorderTimeout", "The backordered goods did not arrive in time"),
    ],
)
def test_wait_timeouts_and_cancellations(states: States, state: str, pass_state: str, error: str,
                                         cause: str) -> None:
    ended = states[_catcher(states[state], "States.Timeout")]  # type: ignore[index]
    assert ended["Type"] == "Choice" and ended["Default"] == pass_state  # not a renewal: the policy's timeout
    assert _catcher(states[state], "OrderCancelled") == "Compensate"
    assert _retrier(states[state], "OrderCancelled")["MaxAttempts"] == 0  # type: ignore[index]
    timed_out = states[pass_state]
    assert timed_out["Type"] == "Pass"
    assert timed_out["Result"] == {"Error": error, "Cause": cause}
    assert timed_out["ResultPath"] == "$.error"
    assert timed_out["Next"] == "Compensate"


def test_compensation_chain(states: States) -> None:
    assert states["Compensate"]["Type"] == "Pass"
    assert states["Compensate"]["Next"] == "ReleaseStock"
    assert states["ReleaseStock"]["Next"] == "VoidPayment"
    assert states["VoidPayment"]["Next"] == "CloseOrder"
    assert states["CloseOrder"]["Next"] == "Closed"
    assert states["Closed"]["Type"] == "Succeed"


# -- reachability, across the sync tasks into the stretches and back ---------------------------------------------

def _successors(state: dict[str, Any]) -> set[str]:
    """The states ``state`` may go to within its own machine (tests/infra/test_return_workflow.py uses it too)."""
    nxt = {state["Next"]} if "Next" in state else set()
    nxt |= {c["Next"] for c in state.get("Catch", [])}
    nxt |= {c["Next"] for c in state.get("Choices", [])}
    if "Default" in state:
        nxt.add(state["Default"])
    return nxt


Node = tuple[str, str, str | None]  # (machine: "parent" or a sync task's id, state, the stretch's $.next or None)


class Flow:
    """The three machines as one graph: a sync task goes into its stretch (or, failed, to its Catch); a stretch's
    end goes on at the sync task's Next (Route, resolved with the ``$.next`` the end state set); a stretch's Fail
    state is the sync task's failure."""

    def __init__(self, parent: States, stretches: dict[str, dict[str, Any]]) -> None:
        self.machines = {"parent": parent, **{sync: dict(s["States"]) for sync, s in stretches.items()}}
        self.starts = {sync: str(s["StartAt"]) for sync, s in stretches.items()}

    def successors(self, node: Node) -> set[Node]:
        machine, name, value = node
        state = self.machines[machine][name]
        parent = self.machines["parent"]
        if value is not None:  # the state after a stretch: a Choice on $.next
            return {(machine, _choose(state, {"next": value}), None)}
        if machine == "parent" and state.get("Resource") == SYNC:  # into the stretch, or failed: its Catch
            return {(machine, c["Next"], None) for c in state["Catch"]} | {(name, self.starts[name], None)}
        out: set[Node] = {(machine, n, None) for n in _successors(state)}
        if machine != "parent":
            sync = parent[machine]
            if state["Type"] == "Fail":
                out.add(("parent", _catcher(sync, "States.TaskFailed"), None))  # type: ignore[arg-type]
            elif state.get("End") and "Next" in sync:
                sets_next = state["Type"] == "Pass" and state.get("ResultPath") == "$.next"
                out.add(("parent", sync["Next"], state["Result"] if sets_next else None))
        return out

    def reachable(self, start: Node) -> set[Node]:
        seen: set[Node] = set()
        todo = [start]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(self.successors(node))
        return seen

    def reaches(self, start: Node, machine: str, goal: str) -> bool:
        return any(m == machine and n == goal for m, n, _ in self.reachable(start))


@pytest.fixture(scope="module")
def flow(states: States, stretch_asl: dict[str, dict[str, Any]]) -> Flow:
    return Flow(states, stretch_asl)


def test_no_dead_states_and_every_refusal_reaches_close_order(asl: dict[str, Any], flow: Flow) -> None:
    seen = {(m, n) for m, n, _ in flow.reachable(("parent", asl["StartAt"], None))}
    every = {(m, n) for m, machine_states in flow.machines.items() for n in machine_states}
    assert seen == every, sorted(every - seen)

    prepare = flow.machines["PrepareOrder"]
    refusals = ("PaymentDeclined", "PaymentGatewayError", "OutOfStock")
    for name in ("AuthorizePayment", "ReserveStock", "AssessRisk"):
        for catch in prepare[name]["Catch"]:
            if catch["ErrorEquals"] == ["States.ALL"]:
                assert flow.reaches(("PrepareOrder", catch["Next"], None), "parent", "ParkOrder"), name
                continue
            assert set(catch["ErrorEquals"]) <= set(refusals)
            # A refusal ends the stretch with $.next = "Compensate": Route goes nowhere else.
            assert flow.successors(("PrepareOrder", catch["Next"], None)) == {("parent", "Route", "Compensate")}
            assert flow.successors(("parent", "Route", "Compensate")) == {("parent", "Compensate", None)}
            assert flow.reaches(("PrepareOrder", catch["Next"], None), "parent", "CloseOrder"), (name, catch)

    parent = flow.machines["parent"]
    for name in ["HoldForReview", "RequestFulfillment", "AwaitStock", "RenewPaymentForRequestFulfillment",
                 "AwaitPaymentForRequestFulfillment"]:
        for catch in parent[name]["Catch"]:
            if catch["ErrorEquals"] == ["OrderShipped"]:  # not a refusal: the shipment goes on
                assert flow.reaches(("parent", catch["Next"], None), "ShipOrder", "MarkShipped"), (name, catch)
                continue
            assert flow.reaches(("parent", catch["Next"], None), "parent", "CloseOrder"), (name, catch)

    ends = {(m, n) for m, machine_states in flow.machines.items() for n, s in machine_states.items()
            if s["Type"] in ("Succeed", "Fail") or s.get("End")}
    assert ends == {
        ("parent", "Closed"), ("parent", "CompensationFailed"), ("parent", "ShipmentStuck"),
        ("parent", "ParkOrderUnavailable"), ("parent", "ParkShipmentUnavailable"),
        ("parent", "ParkCompensationUnavailable"), ("parent", "ShipOrder"),  # shipped: the workflow succeeds
        ("PrepareOrder", "Refused"),
        *(("PrepareOrder", f"Then{w}") for w in ("HoldForReview", "AwaitStock", "RequestFulfillment")),
        *(("PrepareOrder", f"{s}StepFailed") for s in SYNC_TASKS["prepare"]),
        ("ShipOrder", "MarkShipped"),
        *(("ShipOrder", f"{s}StepFailed") for s in ("CommitStock", "MarkShipped", "FlagCaptureFailure")),
    }


def _invoked(synthesized: Synthesized, role_prefix: str) -> set[str]:
    policies = synthesized.resources("OmsWorkflow", "AWS::IAM::Policy")
    (policy,) = [p for k, p in policies.items() if k.startswith(role_prefix)]
    invoked = set()
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if statement["Action"] == "lambda:InvokeFunction":
            for resource in statement["Resource"]:
                ref = resource.get("Fn::GetAtt") or resource["Fn::Join"][1][0]["Fn::GetAtt"]
                invoked.add(ref[0].split("Function")[0])
    return invoked


def test_each_machine_may_invoke_exactly_the_workflow_functions_it_runs(
    synthesized: Synthesized, by_machine: dict[str, States], machines: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    roles = {"parent": "OrderWorkflowRole", "prepare": "PrepareOrderStretchMachineRole",
             "ship": "ShipOrderStretchMachineRole"}
    everything = set()
    for machine, prefix in roles.items():
        used = {_function_of(by_machine[machine][n]).split("Function")[0] for n in _tasks(by_machine[machine])
                if by_machine[machine][n]["Resource"] != SYNC}
        assert _invoked(synthesized, prefix) == used, machine
        everything |= used
    assert everything == {"Payment", "Inventory", "Fraud", "Fulfillment", "OrderStatus"}
    assert _invoked(synthesized, "PrepareOrderStretchMachineRole") == {"Payment", "Inventory", "Fraud"}
    assert _invoked(synthesized, "ShipOrderStretchMachineRole") == {"Payment", "Inventory", "OrderStatus"}
    # The parent starts (and follows) exactly the two stretches; a stretch starts nothing.
    policies = synthesized.resources("OmsWorkflow", "AWS::IAM::Policy")
    for key, policy in policies.items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Action"] == "states:StartExecution" and key.startswith("OrderWorkflowRole"):
                assert statement["Resource"] == [{"Ref": machines[s][0]} for s in STRETCHES]
            elif "Stretch" in key:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not any(a.startswith("states:") for a in actions), key


@pytest.mark.parametrize("wait", ["HoldForReview", "RequestFulfillment", "AwaitStock"])
def test_a_declined_renewal_waits_for_the_customers_new_payment(states: States, wait: str) -> None:
    renew, await_payment = states[f"RenewPaymentFor{wait}"], states[f"AwaitPaymentFor{wait}"]
    assert renew["Parameters"]["action"] == "reauthorize"
    assert _retrier(renew, "PaymentDeclined")["MaxAttempts"] == 0  # type: ignore[index]
    assert _catcher(renew, "PaymentDeclined") == f"AwaitPaymentFor{wait}"
    assert await_payment["Next"] == f"RenewPaymentFor{wait}"  # renewed with the new payment method
    assert _catcher(await_payment, "OrderCancelled") == "Compensate"
    timed_out = states[_catcher(await_payment, "States.Timeout")]  # type: ignore[index]
    assert timed_out["Result"]["Error"] == "PaymentNotUpdated" and timed_out["Next"] == "Compensate"


@pytest.mark.parametrize("state", ["RequestFulfillment", "ReleaseStock"])
def test_a_parcel_recorded_while_no_wait_listened_goes_on_to_ship(states: States, ship: States,
                                                                  state: str) -> None:
    """A shipment recorded while the wait was being renewed, or just before a compensation released the stock:
    the shipment wins (the ship stretch: commit, capture, SHIPPED), nothing is undone."""
    assert _retrier(states[state], "OrderShipped")["MaxAttempts"] == 0  # type: ignore[index]
    assert _catcher(states[state], "OrderShipped") == "ShipOrder"
    path, _ = _walk(ship, "CommitStock", {"order_id": "o-1"})
    assert path == ["CommitStock", "CapturePayment", "MarkShipped"]


# -- the workflowLogLevel setting -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def logging_all() -> list[tuple[str, dict[str, Any]]]:
    """The workflows' state machines synthesized with ``workflowLogLevel=ALL`` (cdk-nag on): the one extra synth
    of this file, of only the stacks the workflows need (the whole app takes a minute on a busy machine)."""
    app = cdk.App(context={**DEFAULT_CONTEXT, **cdk_json_context()},
                  post_cli_context={**LOCAL_CONTEXT, "workflowLogLevel": "ALL"})
    config = OmsConfig.from_node(app)
    data = DataStack(app, "OmsData")
    messaging = MessagingStack(app, "OmsMessaging", config=config, data=data)
    workflow = WorkflowStack(app, "OmsWorkflow", config=config, data=data, messaging=messaging)
    returns = ReturnsStack(app, "OmsReturns", config=config, data=data, messaging=messaging, workflow=workflow)
    add_nag_checks(app)
    found = []
    for stack in (workflow, returns):
        resources = Template.from_stack(stack).to_json()["Resources"]
        found += [(k, v) for k, v in resources.items() if v["Type"] == "AWS::StepFunctions::StateMachine"]
    return found


def test_workflow_log_level_all_logs_execution_data_in_every_machine(
    logging_all: list[tuple[str, dict[str, Any]]]
) -> None:
    assert len(logging_all) == 4  # the order workflow, its two stretches, the return workflow
    for logical_id, machine in logging_all:
        logging = machine["Properties"]["LoggingConfiguration"]
        assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is True, logical_id


def test_workflow_log_level_setting() -> None:
    assert DEFAULT_CONTEXT["workflowLogLevel"] == "ERROR"
    assert OmsConfig.from_mapping({}).workflow_log_level == "ERROR"
    assert OmsConfig.from_mapping({"workflowLogLevel": "all"}).workflow_log_level == "ALL"  # as `-c` may pass it
    for bad in ("DEBUG", "", "verbose"):
        with pytest.raises(ConfigError, match="'workflowLogLevel' must be one of"):
            OmsConfig.from_mapping({"workflowLogLevel": bad})
    with pytest.raises(ConfigError, match=r"context 'workflowLogLevel' must be one of .*got 'VERBOSE'"):
        create_app({"workflowLogLevel": "verbose"})  # fails before any stack is built
