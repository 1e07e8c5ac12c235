"""A warm Lambda-like child process: imports one handler, then serves invocations from its parent.

Started by local/lambda_runner.py as ``python -m local._worker <code dir> <handler>``. Requests and
responses travel as length-prefixed JSON on two inherited pipes; stdout and stderr are the function's
log file, as on Lambda they would be CloudWatch Logs.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import struct
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def read_msg(fd: int) -> dict[str, Any] | None:
    header = _read_exact(fd, 4)
    if header is None:
        return None
    (size,) = struct.unpack(">I", header)
    data = _read_exact(fd, size)
    return None if data is None else json.loads(data)


def write_msg(fd: int, msg: dict[str, Any]) -> None:
    data = json.dumps(msg).encode()
    os.write(fd, struct.pack(">I", len(data)))
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class LambdaContext:
    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request["invoked_function_arn"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self._deadline = request["deadline"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        # drop this file's frame: Lambda shows the handler's frames only
        "stackTrace": traceback.format_tb(exc.__traceback__.tb_next if exc.__traceback__ else None),
    }


def install_faults() -> None:
    """When the stack has a faults file, this process's AWS calls go through it (``local/faults.py``, loaded from
    beside this file: the function's own code folder need not contain the ``local`` package)."""
    if not os.environ.get("OMS_FAULTS_FILE"):
        return
    import importlib.util

    spec = importlib.util.spec_from_file_location("_oms_local_faults", Path(__file__).with_name("faults.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function = os.environ.get("POWERTOOLS_SERVICE_NAME") or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    module.install_api_faults(module.FaultBook(os.environ["OMS_FAULTS_FILE"]), function)


def main() -> None:
    code_dir, handler_path = sys.argv[1], sys.argv[2]
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)  # the local/ folder must not shadow the function's modules
    install_faults()
    rfd, wfd = (int(x) for x in os.environ.pop("OMS_LOCAL_WORKER_FDS").split(","))
    os.chdir(code_dir)
    sys.path.insert(0, code_dir)
    module_name, _, func_name = handler_path.rpartition(".")
    handler = None
    init_error: dict[str, Any] | None = None
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
    except Exception as exc:
        init_error = error(exc, "Runtime.ImportModuleError")
        traceback.print_exc()
    write_msg(wfd, {"ready": True})
    while True:
        request = read_msg(rfd)
        if request is None:
            return
        if init_error is not None:
            write_msg(wfd, init_error)
            continue
        print(f"START RequestId: {request['request_id']} Version: $LATEST", flush=True)
        started = time.time()
        if request.get("delay_ms"):  # an injected delay counts against the invocation's time, as on AWS
            time.sleep(request["delay_ms"] / 1000)
        if request.get("kill") == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            event = json.loads(request["payload"]) if request["payload"] else {}
            result = handler(event, LambdaContext(request))  # type: ignore[misc]
            if request.get("kill") == "after":  # the handler's side effects are done; its answer is lost
                os.kill(os.getpid(), signal.SIGKILL)
            try:
                response = {"ok": True, "payload": json.dumps(result)}
            except (TypeError, ValueError) as exc:
                response = error(exc, "Runtime.MarshalError")
        except Exception as exc:
            traceback.print_exc()
            response = error(exc)
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"END RequestId: {request['request_id']} Duration: {(time.time() - started) * 1000:.2f} ms",
              flush=True)
        write_msg(wfd, response)


if __name__ == "__main__":
    main()
