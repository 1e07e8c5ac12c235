"""FIS-like faults for the local stack, from one JSON file that every part of the stack consults.

The file (``<state dir>/faults.json``, set with ``oms faults``) holds the active faults and how often each has
fired. The Lambda runner applies the Lambda faults to invocations, each function's process applies the API faults
to its own AWS requests (a botocore ``before-send`` hook, inside the SDK's retry loop, so the SDK's own retries
apply as on AWS), and the SQS pollers apply duplicate deliveries.

- ``aws:lambda:invocation-error`` (``when``: ``before`` / ``after``): the invocation fails with ``InjectedFault``,
  before the handler runs or after it ran (its side effects done).
- ``aws:lambda:invocation-add-delay`` (``milliseconds``): the handler starts late (past the timeout:
  ``Sandbox.Timedout``).
- ``oms:lambda:kill`` (``when``): the function's process is killed (``Runtime.ExitError``).
- ``aws:fis:inject-api-throttle-error`` / ``-internal-error`` / ``-unavailable-error`` (``service``,
  ``operations``): the AWS call answers ``ThrottlingException`` (400) / ``InternalServerError`` (500) /
  ``ServiceUnavailable`` (503).
- ``oms:sqs:duplicate-delivery`` (``function``: the consumer): every batch is delivered twice.
- ``oms:states:duplicate-callback``: every ``SendTaskSuccess`` / ``SendTaskFailure`` is sent twice.

Every fault may also name ``function`` (short name, e.g. ``inventory``; default: any), ``step`` (a workflow task's
``action``, e.g. ``reserve``), ``order_id`` (Lambda faults: only that order's tasks), ``percentage`` (default 100)
and ``count`` (fire this many times in all, then stop: a transient fault; without it the fault is persistent;
with ``per_order: true``, a Lambda fault fires ``count`` times for each order). API
faults may set ``attempts``: fail only the first N attempts of one SDK call (``attempts: 2`` is absorbed by the
SDK's own retries: our clients make 3 attempts, ``oms.adapters.aws``). ``service`` is the SigV4 signing name
(``dynamodb``, ``states``, ``sqs``, ``sns``, ``ses``, ``secretsmanager``); ``operations`` a list of operation names
(default: all).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LAMBDA_ERROR = "aws:lambda:invocation-error"
LAMBDA_DELAY = "aws:lambda:invocation-add-delay"
LAMBDA_KILL = "oms:lambda:kill"
API_ERRORS = {
    "aws:fis:inject-api-throttle-error": (400, "ThrottlingException", "Rate exceeded"),
    "aws:fis:inject-api-internal-error": (500, "InternalServerError", "Internal server error"),
    "aws:fis:inject-api-unavailable-error": (503, "ServiceUnavailable", "Service unavailable"),
}
SQS_DUPLICATE = "oms:sqs:duplicate-delivery"
CALLBACK_DUPLICATE = "oms:states:duplicate-callback"
ACTIONS = frozenset({LAMBDA_ERROR, LAMBDA_DELAY, LAMBDA_KILL, SQS_DUPLICATE, CALLBACK_DUPLICATE, *API_ERRORS})
FAULTS_FILE_ENV = "OMS_FAULTS_FILE"


class FaultError(ValueError):
    pass


def validate(fault: dict[str, Any]) -> dict[str, Any]:
    action = fault.get("action")
    if action not in ACTIONS:
        raise FaultError(f"unknown action {action!r}; one of {sorted(ACTIONS)}")
    if action in (LAMBDA_ERROR, LAMBDA_KILL) and fault.get("when", "before") not in ("before", "after"):
        raise FaultError("when: before or after")
    if action == LAMBDA_DELAY and not isinstance(fault.get("milliseconds"), int):
        raise FaultError("milliseconds: an integer is required")
    if action in API_ERRORS and not fault.get("service"):
        raise FaultError("service: the signing name of the AWS service is required (e.g. dynamodb)")
    percentage = fault.get("percentage", 100)
    if not isinstance(percentage, int | float) or not 0 < percentage <= 100:
        raise FaultError("percentage: 0 < p <= 100")
    return {"id": fault.get("id") or uuid.uuid4().hex[:8], "fired": 0, **fault}


class FaultBook:
    """The faults file, read and updated under an exclusive lock (the runner and every function process share it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    data = json.loads(self.path.read_text())
                except (FileNotFoundError, ValueError):
                    data = {"faults": []}
                yield data
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data, indent=2) + "\n")
                tmp.replace(self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def active(self) -> bool:
        """Cheap: is there anything to consult at all? (one stat, no lock)."""
        try:
            return self.path.stat().st_size > len('{"faults": []}\n')
        except FileNotFoundError:
            return False

    def add(self, *faults: dict[str, Any]) -> list[dict[str, Any]]:
        checked = [validate(f) for f in faults]
        with self._locked() as data:
            data["faults"].extend(checked)
        return checked

    def clear(self) -> None:
        with self._locked() as data:
            data["faults"] = []

    def list(self) -> list[dict[str, Any]]:
        with self._locked() as data:
            return list(data["faults"])

    def take(self, matches: Callable[[dict[str, Any]], bool], order_id: str | None = None) -> dict[str, Any] | None:
        """The first fault that matches and fires now (its percentage, its remaining count); counted as fired.
        A fault with ``per_order`` counts its ``count`` for each order (``order_id``) separately."""
        if not self.active():
            return None
        with self._locked() as data:
            for fault in data["faults"]:
                per_order = fault.get("per_order") and order_id is not None
                fired = fault.setdefault("fired_by_order", {}).get(order_id, 0) if per_order else fault["fired"]
                if fault.get("count") is not None and fired >= fault["count"]:
                    continue
                if not matches(fault) or random.uniform(0, 100) >= fault.get("percentage", 100):
                    continue
                fault["fired"] += 1
                if per_order:
                    fault["fired_by_order"][order_id] = fired + 1
                return dict(fault)
        return None


def for_function(fault: dict[str, Any], function: str, step: str | None = None, order_id: str | None = None) -> bool:
    return (fault.get("function") in (None, function) and fault.get("step") in (None, step)
            and fault.get("order_id") in (None, order_id))


# -- AWS API faults, applied inside a function's process ------------------------------------------------------

_CREDENTIAL = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
_ATTEMPT = re.compile(r"attempt=(\d+)")


def install_api_faults(book: FaultBook, function: str) -> None:
    """Register a botocore hook on every session this process creates: AWS calls matching an API fault get the
    fault's error response (inside the SDK's retry loop), and task callbacks are sent twice when asked."""
    from botocore import handlers

    def before_send(request: Any, **_: Any) -> Any:
        if not book.active():
            return None
        service, operation = _service(request), _operation(request)
        attempt = int((_ATTEMPT.search(_header(request, "amz-sdk-request")) or [0, 1])[1])

        def api_fault(fault: dict[str, Any]) -> bool:
            return (fault["action"] in API_ERRORS and fault.get("function") in (None, function)
                    and fault["service"] == service and operation in fault.get("operations", [operation])
                    and attempt <= fault.get("attempts", attempt))

        fault = book.take(api_fault)
        if fault is not None:
            return _error_response(request, *API_ERRORS[fault["action"]])
        if service == "states" and operation in ("SendTaskSuccess", "SendTaskFailure") and book.take(
                lambda f: f["action"] == CALLBACK_DUPLICATE):
            from botocore.httpsession import URLLib3Session

            http = URLLib3Session()
            first = http.send(request)
            http.send(request)  # the duplicate: refused by Step Functions as on AWS, and ignored
            return first
        return None

    # First: botocore uses the first response a before-send handler returns (an in-process moto still sees the
    # request; in a function's process nothing else answers, so a faulted request never leaves).
    handlers.BUILTIN_HANDLERS.insert(0, ("before-send", before_send))


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name, b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def _service(request: Any) -> str:
    found = _CREDENTIAL.search(_header(request, "Authorization"))
    return found.group(1) if found else ""


def _operation(request: Any) -> str:
    target = _header(request, "X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
    found = re.search(r"(?:^|&)Action=([A-Za-z]+)", body)
    return found.group(1) if found else ""


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def _error_response(request: Any, status: int, code: str, message: str) -> Any:
    from botocore.awsrequest import AWSResponse

    if _header(request, "X-Amz-Target"):  # the JSON protocol
        body = json.dumps({"__type": code, "message": f"{message} (injected fault)"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    else:  # the query protocol (SES, SNS)
        body = (f"<ErrorResponse><Error><Type>{'Sender' if status < 500 else 'Receiver'}</Type><Code>{code}</Code>"
                f"<Message>{message} (injected fault)</Message></Error><RequestId>fault</RequestId>"
                f"</ErrorResponse>").encode()
        headers = {"Content-Type": "text/xml"}
    return AWSResponse(request.url, status, headers, _Raw(body))


def book_from_env() -> FaultBook | None:
    path = os.environ.get(FAULTS_FILE_ENV)
    return FaultBook(path) if path else None
