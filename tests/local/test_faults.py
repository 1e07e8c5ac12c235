"""FIS-like faults of the local stack, and its parity with AWS where a fault shows the difference."""

import json
from pathlib import Path

import boto3
import pytest
from botocore import handlers
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from local import faults, lambda_runner, moto_patches
from tests.local.test_lambda_runner import _spec, write_demo_function


def _side_effect_handler(code_dir: Path) -> None:
    """A handler that appends a line to a file (its side effect) and answers."""
    write_demo_function(
        code_dir,
        "import os\n"
        "def handler(event, context):\n"
        "    with open(os.environ['SIDE_EFFECTS'], 'a') as f:\n"
        "        f.write(event.get('action', '-') + '\\n')\n"
        "    return {'done': event.get('action')}\n"
    )


@pytest.fixture
def runner(tmp_path):
    code = tmp_path / "code"
    _side_effect_handler(code)
    book = faults.FaultBook(tmp_path / "faults.json")
    spec = _spec(code, timeout=1)
    spec.environment["SIDE_EFFECTS"] = str(tmp_path / "effects.txt")
    run = lambda_runner.LambdaRunner({"demo": spec}, "http://127.0.0.1:9", tmp_path / "logs", fault_book=book)
    run.book, run.effects = book, tmp_path / "effects.txt"
    yield run
    run.close()


def _call(runner, action="reserve"):
    payload, errored = runner.invoke("demo", json.dumps({"action": action}))
    return json.loads(payload), errored


def _effects(runner):
    return runner.effects.read_text().split() if runner.effects.exists() else []


def test_invocation_error_before_and_after_the_side_effects(runner):
    runner.book.add({"action": faults.LAMBDA_ERROR, "function": "demo", "step": "reserve", "when": "before",
                     "count": 1})
    body, errored = _call(runner)
    assert errored and body["errorType"] == "InjectedFault" and _effects(runner) == []
    assert _call(runner) == ({"done": "reserve"}, False)  # count 1: transient
    runner.book.clear()
    runner.book.add({"action": faults.LAMBDA_ERROR, "when": "after"})
    body, errored = _call(runner, "commit")
    assert errored and body["errorType"] == "InjectedFault" and _effects(runner) == ["reserve", "commit"]


def test_a_killed_process_is_runtime_exit_error_and_a_slow_one_times_out(runner):
    runner.book.add({"action": faults.LAMBDA_KILL, "when": "after", "count": 1})
    body, errored = _call(runner)
    assert errored and body["errorType"] == "Runtime.ExitError" and _effects(runner) == ["reserve"]
    runner.book.add({"action": faults.LAMBDA_DELAY, "milliseconds": 1500, "count": 1})
    body, errored = _call(runner)
    assert errored and body["errorType"] == "Sandbox.Timedout"
    assert _call(runner) == ({"done": "reserve"}, False)  # a fresh process afterwards


def test_faults_match_on_function_step_and_count(tmp_path):
    book = faults.FaultBook(tmp_path / "f.json")
    assert not book.active() and book.take(lambda f: True) is None
    (fault,) = book.add({"action": faults.LAMBDA_ERROR, "function": "inventory", "step": "reserve", "count": 2})
    match = lambda fn, step: book.take(lambda f: faults.for_function(f, fn, step))  # noqa: E731
    assert match("payment", "reserve") is None and match("inventory", "commit") is None
    assert match("inventory", "reserve")["id"] == fault["id"]
    assert match("inventory", "reserve") is not None and match("inventory", "reserve") is None
    assert book.list()[0]["fired"] == 2
    with pytest.raises(faults.FaultError):
        book.add({"action": "aws:lambda:nonsense"})


def test_a_per_order_fault_fires_its_count_for_each_order(tmp_path):
    book = faults.FaultBook(tmp_path / "f.json")
    book.add({"action": faults.LAMBDA_ERROR, "step": "reserve", "count": 1, "per_order": True})

    def hit(order_id):
        return book.take(lambda f: faults.for_function(f, "inventory", "reserve", order_id), order_id=order_id)

    assert hit("ord_a") is not None and hit("ord_a") is None  # once for this order
    assert hit("ord_b") is not None and hit("ord_b") is None  # and once for the next
    assert book.list()[0]["fired"] == 2


@pytest.fixture(scope="module")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_api_faults_go_through_the_sdks_own_retries(tmp_path, moto_endpoint):
    book = faults.FaultBook(tmp_path / "f.json")
    before = list(handlers.BUILTIN_HANDLERS)
    faults.install_api_faults(book, "inventory")
    try:
        # A session created after the hook, as in a function's process (the hook is installed before any import).
        ddb = boto3.Session().client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1",
                           aws_access_key_id="a", aws_secret_access_key="b",
                           config=Config(retries={"mode": "standard", "max_attempts": 3}))
        book.add({"action": "aws:fis:inject-api-throttle-error", "service": "dynamodb",
                  "operations": ["ListTables"], "attempts": 2})
        ddb.list_tables()  # attempts 1 and 2 throttled, the SDK's third attempt succeeds
        assert book.list()[0]["fired"] == 2
        book.clear()
        book.add({"action": "aws:fis:inject-api-internal-error", "service": "dynamodb", "function": "inventory"})
        with pytest.raises(ClientError) as failed:
            ddb.list_tables()
        assert failed.value.response["Error"]["Code"] == "InternalServerError"
        assert failed.value.response["ResponseMetadata"]["RetryAttempts"] == 3  # max_attempts 3: 4 attempts in all
        book.clear()
        assert ddb.list_tables()["TableNames"] == []
    finally:
        handlers.BUILTIN_HANDLERS[:] = before


def test_a_used_task_token_is_refused_as_step_functions_refuses_it():
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackNotifyConsumerError,
        CallbackOutcomeSuccess,
        CallbackPoolManager,
    )

    moto_patches.refuse_used_task_tokens()
    pool = CallbackPoolManager(activity_store={})
    endpoint = pool.generate()
    outcome = CallbackOutcomeSuccess(callback_id=endpoint.callback_id, output="{}")
    assert pool.notify(endpoint.callback_id, outcome) is True
    with pytest.raises(CallbackNotifyConsumerError):  # the backend answers TaskTimedOut
        pool.notify(endpoint.callback_id, outcome)
