"""Session fixture ``local_stack``: ``python -m local`` as a subprocess on free ports, for e2e tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _pytest.nodeid import NodeId

from tests.e2e.client import Api

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 120.0


@dataclass
class LocalStackHandle:
    api_url: str
    config: dict[str, Any]
    state_dir: Path
    _tokens: dict[tuple[str, bool], str] = field(default_factory=dict)

    def token(self, email: str, ops: bool = False) -> str:
        """An ID token for ``email`` (created on first use; ``ops`` adds it to the ops group)."""
        from local.cli import get_token

        key = (email, ops)
        if key not in self._tokens:
            self._tokens[key] = get_token(self.config, email, ops=ops)
        return self._tokens[key]

    def outbox(self, order_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        from local.cli import get_outbox

        return get_outbox(self.config, order_id)

    def log(self, function: str) -> str:
        path = self.state_dir / "logs" / f"{function}.log"
        return path.read_text() if path.exists() else ""


@contextlib.contextmanager
def start_local_stack(state_dir: Path, **env_extra: str) -> Iterator[LocalStackHandle]:
    """``python -m local`` on free ports with its state in ``state_dir``; stopped on exit."""
    log_path = state_dir / "stack.log"
    env = {**os.environ, "OMS_LOCAL_RETRY_SCALE": os.environ.get("OMS_LOCAL_RETRY_SCALE", "0.01"),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "PYTHONUNBUFFERED": "1",
           # what an order asks of AWS, while a test records it (tests/e2e/test_capacity_demand.py)
           "MOTO_RECORDER_FILEPATH": str(state_dir / "moto-recording.jsonl"),
           "OMS_CAPACITY_METER": str(state_dir / "capacity-meter.jsonl"), **env_extra}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local", "--api-port", "0", "--aws-port", "0", "--state-dir", str(state_dir)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    state_file = state_dir / "local.json"
    started = time.monotonic()
    try:
        while not state_file.exists():
            if proc.poll() is not None or time.monotonic() - started > READY_TIMEOUT:
                reason = f"exited with {proc.returncode}" if proc.poll() is not None else "timed out"
                pytest.fail(f"local stack {reason}; its log:\n{log_path.read_text()}", pytrace=False)
            time.sleep(0.2)
        config = json.loads(state_file.read_text())
        print(f"\nlocal stack ready in {time.monotonic() - started:.1f} s at {config['api_url']}")
        yield LocalStackHandle(api_url=config["api_url"], config=config, state_dir=state_dir)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    with start_local_stack(tmp_path_factory.mktemp("oms-local")) as stack:
        yield stack


#: The end-to-end modules that use only the timer-scaled stack (``timed_stack``): a group of their own.
TIMED_MODULES = frozenset({"test_payment_hold_timers.py", "test_return_timers.py"})
#: End-to-end modules that run in the second worker's group (with the timer-scaled ones), on that worker's own local
#: stack: one stack running every end-to-end test one after another was the suite's long pole (14 minutes).
SECOND_STACK_MODULES = frozenset({"test_returns.py", "test_accounts.py", "test_stock_and_backorders.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs two workers, ``--dist loadgroup``) the end-to-end tests are two
    groups, one per worker, so each worker starts one local stack (and the second one the timer-scaled stack for
    its timer modules); the in-process tests fill both workers around them."""
    e2e = Path(__file__).resolve().parent
    for item in items:
        path = Path(item.path).resolve()
        if e2e in path.parents:
            group = "e2e-2" if path.name in TIMED_MODULES | SECOND_STACK_MODULES else "e2e"
            item.add_marker(pytest.mark.xdist_group(group))
            if item.config.getvalue("loadgroup"):
                # pytest-xdist 3.8 appends "@<group>" to ``item._nodeid``, which pytest 9 no longer reads (a node's
                # id is ``item._id``): without this, loadgroup spreads the group over every worker, each starting
                # its own local stack.
                item._id = NodeId.parse(f"{item.nodeid}@{group}")  # type: ignore[attr-defined]


#: Wait timers scaled (as retry waits are): 3e-5 makes an hour about 0.1 s, a day 2.6 s and two weeks 36 s.
TIMER_SCALE = "0.00003"


@pytest.fixture(scope="session")
def timed_stack(tmp_path_factory):
    """A second local stack whose workflows' wait timers run on the scaled clock (``OMS_LOCAL_TIMER_SCALE``)."""
    with start_local_stack(tmp_path_factory.mktemp("oms-timers"), OMS_LOCAL_TIMER_SCALE=TIMER_SCALE) as stack:
        yield stack


@pytest.fixture
def faults(local_stack):
    """The running stack's fault book, cleared before and after the test."""
    from local.faults import FaultBook

    book = FaultBook(local_stack.config["faults_file"])
    book.clear()
    yield book
    book.clear()


@pytest.fixture(scope="module")
def api(local_stack):
    return Api(local_stack)


@pytest.fixture(scope="module")
def ann(local_stack):
    return local_stack.token(f"ann-{uuid.uuid4().hex[:6]}@example.com")
