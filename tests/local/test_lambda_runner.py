import json
import os
import time
from pathlib import Path

import boto3
from moto import mock_aws

from local import lambda_runner, moto_patches
from local.deployer import Deployer, FunctionSpec

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def test_error_type_propagates_to_lambda_api_and_step_functions(fixture_templates, tmp_path):
    with mock_aws(config=MOTO_CONFIG):
        moto_patches.scale_retry_waits(0.01)
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
        deployer = Deployer(session)
        for name, template in fixture_templates:
            deployer.deploy_stack(name, template)
        dep = deployer.deployment
        runner = lambda_runner.LambdaRunner(dep.functions, "http://127.0.0.1:9", tmp_path)
        lambda_runner.install(runner)
        try:
            lam = session.client("lambda")
            fail = next(f for f in dep.functions.values() if f.logical_id.startswith("Fail"))
            echo = next(f for f in dep.functions.values() if f.logical_id.startswith("Echo"))

            ok = lam.invoke(FunctionName=echo.name, Payload=b'{"a": 1}')
            body = json.loads(ok["Payload"].read())
            assert "FunctionError" not in ok
            assert body["event"] == {"a": 1} and body["table"] == echo.environment["TABLE_NAME"]
            assert 0 < body["remaining"] <= 3000

            bad = lam.invoke(FunctionName=fail.name, Payload=b'{"kind": "declined"}')
            assert bad["FunctionError"] == "Unhandled"
            error = json.loads(bad["Payload"].read())
            assert error["errorType"] == "PaymentDeclined" and error["errorMessage"] == "card declined"
            assert any("handlers.py" in frame for frame in error["stackTrace"])
            assert (tmp_path / "Fail.log").read_text().count("PaymentDeclined") >= 1

            sfn = session.client("stepfunctions")
            machine = dep.resources("AWS::StepFunctions::StateMachine")[0].ref
            results = {}
            for kind in ("declined", "other"):
                arn = sfn.start_execution(stateMachineArn=machine, name=f"o-{kind}",
                                          input=json.dumps({"kind": kind}))["executionArn"]
                for _ in range(200):
                    desc = sfn.describe_execution(executionArn=arn)
                    if desc["status"] != "RUNNING":
                        break
                    time.sleep(0.05)
                results[kind] = desc
            # Catch on the custom error name -> Close (SUCCEEDED with $.error); anything else fails.
            assert results["declined"]["status"] == "SUCCEEDED"
            assert json.loads(results["declined"]["output"])["event"]["error"]["Error"] == "PaymentDeclined"
            assert results["other"]["status"] == "FAILED" and results["other"]["error"] == "ValueError"
        finally:
            lambda_runner.uninstall()
            runner.close()


def _spec(code_dir: Path, handler: str = "functions.demo.handler.handler", timeout: int = 3) -> FunctionSpec:
    return FunctionSpec(name="demo", arn="arn:aws:lambda:us-east-1:123456789012:function:demo", handler=handler,
                        code_dir=str(code_dir), environment={"POWERTOOLS_SERVICE_NAME": "demo", "GREETING": "hi"},
                        timeout=timeout, memory=128, stack="S", logical_id="Demo")


def write_demo_function(code_dir: Path, source: str) -> None:
    """``functions/demo/handler.py`` with ``source`` under ``code_dir``, as a function's asset holds it."""
    pkg = code_dir / "functions" / "demo"
    pkg.mkdir(parents=True, exist_ok=True)
    (code_dir / "functions" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "handler.py").write_text(source)


def _write_handler(code_dir: Path, version: str) -> None:
    write_demo_function(
        code_dir,
        "import os, time\n"
        f"VERSION = {version!r}\n"
        "def handler(event, context):\n"
        "    if event.get('sleep'):\n"
        "        time.sleep(event['sleep'])\n"
        "    print('log line from', context.function_name)\n"
        "    return {'version': VERSION, 'pid': os.getpid(), 'greeting': os.environ['GREETING'],\n"
        "            'endpoint': os.environ['AWS_ENDPOINT_URL'], 'request_id': context.aws_request_id,\n"
        "            'arn': context.invoked_function_arn, 'memory': context.memory_limit_in_mb}\n"
    )


def test_warm_child_is_reused_and_restarted_when_code_changes(tmp_path):
    code = tmp_path / "code"
    _write_handler(code, "v1")
    runner = lambda_runner.LambdaRunner({"demo": _spec(code)}, "http://127.0.0.1:5010", tmp_path / "logs")
    try:
        first = json.loads(runner.invoke("demo", b"{}", request_id="r1")[0])
        second = json.loads(runner.invoke("demo", b"{}")[0])
        assert first["version"] == "v1" and first["pid"] == second["pid"]  # warm
        assert first["greeting"] == "hi" and first["endpoint"] == "http://127.0.0.1:5010"
        assert first["request_id"] == "r1" and first["arn"].endswith(":function:demo") and first["memory"] == 128

        _write_handler(code, "v2")
        handler_file = code / "functions" / "demo" / "handler.py"
        later = time.time() + 2
        os.utime(handler_file, (later, later))
        time.sleep(0.3)  # the code watcher caches for 0.25 s
        third = json.loads(runner.invoke("demo", b"{}")[0])
        assert third["version"] == "v2" and third["pid"] != first["pid"]
        assert "log line from demo" in (tmp_path / "logs" / "demo.log").read_text()
    finally:
        runner.close()


def test_timeout_and_import_errors(tmp_path):
    code = tmp_path / "code"
    _write_handler(code, "v1")
    runner = lambda_runner.LambdaRunner(
        {"demo": _spec(code, timeout=1), "broken": _spec(code, handler="functions.nope.handler")},
        "http://127.0.0.1:5010", tmp_path / "logs")
    runner.functions["broken"].name = "broken"
    try:
        payload, errored = runner.invoke("demo", json.dumps({"sleep": 3}))
        assert errored and json.loads(payload)["errorType"] == "Sandbox.Timedout"
        payload, errored = runner.invoke("demo", b"{}")  # a fresh child after the timeout
        assert not errored
        payload, errored = runner.invoke("broken", b"{}")
        assert errored and json.loads(payload)["errorType"] == "Runtime.ImportModuleError"
    finally:
        runner.close()
