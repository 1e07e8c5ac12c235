"""Run Lambda functions' real handlers in warm child processes, behind moto's Lambda API.

``install(runner)`` replaces ``LambdaSimpleBackend.invoke`` (moto without Docker), which every
invocation goes through: ``lambda.invoke``, the Step Functions ``lambda:invoke`` task, ``.waitForTaskToken``
and bare function-ARN tasks. Each function gets a warm child process (a second one only while the first
is busy, as Lambda scales out); a child whose code changed on disk is replaced before its next invocation.
A raised exception comes back as ``x-amz-function-error: Unhandled`` with ``errorType`` = the exception's
class name, so Step Functions Retry/Catch on custom error names behave as on AWS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from local import faults
from local._worker import read_msg, write_msg
from local.deployer import FunctionSpec

log = logging.getLogger("local.lambda")

WORKER = str(Path(__file__).with_name("_worker.py"))
WATCHED_DIRS = ("oms", "functions")
MAX_WORKERS_PER_FUNCTION = 4
_KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV", "TZ")


def code_files(code_dir: str) -> Iterable[Path]:
    root = Path(code_dir)
    dirs = [root / d for d in WATCHED_DIRS if (root / d).is_dir()] or [root]
    for d in dirs:
        yield from d.rglob("*.py")


class CodeWatcher:
    """Newest modification time of the watched .py files of a code folder (cached briefly)."""

    def __init__(self, ttl: float = 0.25) -> None:
        self.ttl = ttl
        self._cache: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def version(self, code_dir: str) -> float:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(code_dir)
            if cached and now - cached[0] < self.ttl:
                return cached[1]
        newest = 0.0
        for path in code_files(code_dir):
            try:
                newest = max(newest, path.stat().st_mtime)
            except FileNotFoundError:
                continue
        with self._lock:
            self._cache[code_dir] = (now, newest)
        return newest


class Worker:
    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_path: Path, code_version: float) -> None:
        self.spec = spec
        self.code_version = code_version
        p_read, c_write = os.pipe()
        c_read, p_write = os.pipe()
        self._log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the child
        child_env = {**env, "OMS_LOCAL_WORKER_FDS": f"{c_read},{c_write}"}
        self.proc = subprocess.Popen(
            [sys.executable, WORKER, spec.code_dir or ".", spec.handler],
            env=child_env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            pass_fds=(c_read, c_write), cwd=spec.code_dir or None,
        )
        os.close(c_read)
        os.close(c_write)
        self.rfd, self.wfd = p_read, p_write
        self.ready = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _wait_readable(self, timeout: float) -> bool:
        r, _, _ = select.select([self.rfd], [], [], max(0.0, timeout))
        return bool(r)

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | str:
        """Send one invocation; its response, or ``"timeout"`` (it ran out of time and was killed) or ``"exit"``
        (the process died)."""
        deadline = time.time() + timeout
        if not self.ready:
            # Init (imports) has its own 10 s budget on Lambda; be generous locally.
            if not self._wait_readable(60) or read_msg(self.rfd) is None:
                self.stop()
                return "exit"
            self.ready = True
            deadline = time.time() + timeout
        request = {**request, "deadline": deadline}
        try:
            write_msg(self.wfd, request)
        except OSError:
            self.stop()
            return "exit"
        if not self._wait_readable(deadline - time.time()):
            self.stop()
            return "timeout"
        response = read_msg(self.rfd)
        if response is None:
            self.stop()
            return "exit"
        return response

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        for fd in (self.rfd, self.wfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.rfd = self.wfd = -1
        self._log.close()


class LambdaRunner:
    """Keeps the function registry and the warm workers; invoked from the patched moto backend."""

    def __init__(self, functions: dict[str, FunctionSpec], endpoint_url: str, log_dir: Path,
                 region: str = "us-east-1", extra_env: dict[str, str] | None = None,
                 fault_book: faults.FaultBook | None = None) -> None:
        self.functions = functions
        self.faults = fault_book
        self.endpoint_url = endpoint_url
        self.region = region
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.extra_env = extra_env or {}
        self.watcher = CodeWatcher()
        self._idle: dict[str, list[Worker]] = {}
        self._count: dict[str, int] = {}
        self._cond = threading.Condition()
        self._closed = False
        # Called after each invocation with (function name, duration ms, function error?): the stack records
        # Lambda's metrics from it (local/emf.py).
        self.on_invoked: Any = None

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
        env.update(spec.environment)
        env.update({
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "LAMBDA_TASK_ROOT": spec.code_dir or "",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMS_LOCAL": "1",
        })
        if self.faults is not None:
            env[faults.FAULTS_FILE_ENV] = str(self.faults.path)
        env.update(self.extra_env)
        return env

    def log_path(self, spec: FunctionSpec) -> Path:
        short = spec.environment.get("POWERTOOLS_SERVICE_NAME") or spec.name
        return self.log_dir / f"{short}.log"

    def _acquire(self, spec: FunctionSpec) -> Worker:
        version = self.watcher.version(spec.code_dir) if spec.code_dir else 0.0
        stale: list[Worker] = []
        with self._cond:
            while True:
                idle = self._idle.setdefault(spec.name, [])
                while idle:
                    worker = idle.pop()
                    if worker.alive() and worker.code_version >= version:
                        return worker
                    stale.append(worker)
                    self._count[spec.name] -= 1
                if self._count.get(spec.name, 0) < MAX_WORKERS_PER_FUNCTION:
                    self._count[spec.name] = self._count.get(spec.name, 0) + 1
                    break
                self._cond.wait(1)
        for worker in stale:
            log.info("%s: code changed, restarting its worker", spec.name)
            worker.stop()
        try:
            return Worker(spec, self.environment(spec), self.log_path(spec), version)
        except Exception:
            with self._cond:
                self._count[spec.name] -= 1
            raise

    def _release(self, worker: Worker, keep: bool) -> None:
        with self._cond:
            if keep and not self._closed and worker.alive():
                self._idle.setdefault(worker.spec.name, []).append(worker)
                worker = None  # type: ignore[assignment]
            else:
                self._count[worker.spec.name] -= 1
            self._cond.notify()
        if worker is not None:
            worker.stop()

    def invoke(self, function_name: str, payload: bytes | str | None,
               request_id: str | None = None) -> tuple[bytes, bool]:
        """Run one invocation; returns (response payload, function error?)."""
        started = time.monotonic()
        answer = self._invoke(function_name, payload, request_id)
        if self.on_invoked is not None:
            self.on_invoked(function_name, (time.monotonic() - started) * 1000, answer[1])
        return answer

    def _invoke(self, function_name: str, payload: bytes | str | None,
                request_id: str | None) -> tuple[bytes, bool]:
        spec = self.functions[function_name]
        request_id = request_id or str(uuid.uuid4())
        if isinstance(payload, bytes):
            payload = payload.decode()
        fault = self._fault(spec, payload or "")
        if fault and fault["action"] == faults.LAMBDA_ERROR and fault.get("when", "before") == "before":
            return _injected(request_id, fault), True
        request: dict[str, Any] = {"payload": payload or "", "request_id": request_id, "invoked_function_arn": spec.arn}
        if fault and fault["action"] == faults.LAMBDA_DELAY:
            request["delay_ms"] = fault["milliseconds"]
        if fault and fault["action"] == faults.LAMBDA_KILL:
            request["kill"] = fault.get("when", "before")
        worker = self._acquire(spec)
        response = worker.call(request, timeout=spec.timeout)
        if response == "timeout":
            self._release(worker, keep=False)
            message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
            return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode(), True
        if response == "exit":
            self._release(worker, keep=False)
            message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
            return json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode(), True
        assert isinstance(response, dict)
        keep = response.get("errorType") != "Runtime.ImportModuleError"
        self._release(worker, keep=keep)
        if fault and fault["action"] == faults.LAMBDA_ERROR:  # "after": the handler ran, its caller sees a failure
            return _injected(request_id, fault), True
        if response.get("ok"):
            return response["payload"].encode(), False
        body = {k: response[k] for k in ("errorType", "errorMessage", "stackTrace") if k in response}
        return json.dumps(body).encode(), True

    def _fault(self, spec: FunctionSpec, payload: str) -> dict[str, Any] | None:
        if self.faults is None or not self.faults.active():
            return None
        short = spec.environment.get("POWERTOOLS_SERVICE_NAME") or spec.name
        try:
            event = json.loads(payload) if payload else {}
        except ValueError:
            event = {}
        event = event if isinstance(event, dict) else {}
        step, order_id = event.get("action"), event.get("order_id")
        lambda_actions = (faults.LAMBDA_ERROR, faults.LAMBDA_DELAY, faults.LAMBDA_KILL)
        return self.faults.take(lambda f: f["action"] in lambda_actions
                                and faults.for_function(f, short, step, order_id), order_id=order_id)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers = [w for ws in self._idle.values() for w in ws]
            self._idle.clear()
        for worker in workers:
            worker.stop()


_original_invoke: Any = None


def install(runner: LambdaRunner) -> None:
    """Route moto's Docker-less Lambda invoke to ``runner`` (functions it does not know keep moto's)."""
    global _original_invoke
    from moto.awslambda_simple.models import LambdaSimpleBackend

    if _original_invoke is None:
        _original_invoke = LambdaSimpleBackend.invoke

    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any,
               response_headers: dict[str, str]) -> bytes | str | None:
        fn = self.get_function(function_name, qualifier)
        if fn.function_name not in runner.functions:
            return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
        invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
        response_headers["x-amz-executed-version"] = "$LATEST"
        if invocation_type == "Event":
            threading.Thread(target=_invoke_async, args=(runner, fn.function_name, body), daemon=True).start()
            return b""
        if invocation_type == "DryRun":
            return b""
        payload, errored = runner.invoke(fn.function_name, body)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


def uninstall() -> None:
    global _original_invoke
    if _original_invoke is not None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        LambdaSimpleBackend.invoke = _original_invoke  # type: ignore[method-assign]
        _original_invoke = None


def _invoke_async(runner: LambdaRunner, name: str, body: Any) -> None:
    try:
        payload, errored = runner.invoke(name, body)
        if errored:
            log.warning("%s: asynchronous invocation failed: %s", name, payload[:500])
    except Exception:
        log.exception("%s: asynchronous invocation failed", name)


def _injected(request_id: str, fault: dict[str, Any]) -> bytes:
    message = f"RequestId: {request_id} Error: injected fault {fault['id']} ({fault['action']})"
    return json.dumps({"errorType": "InjectedFault", "errorMessage": message}).encode()


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    if value is None and hasattr(headers, "items"):
        for k, v in headers.items():
            if k.lower() == name.lower():
                return v
    return value
