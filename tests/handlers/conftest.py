"""Handler tests on moto: the resources come from the synthesized CDK templates (deployed into an
in-process moto by the local stack's deployer), each handler runs with its function's environment."""

import importlib
import json
import uuid
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.deployer import Deployer, deploy_all
from local.moto_patches import copy_streams_cheaply
from local.synth import synthesize
from oms.adapters.aws import reset

copy_streams_cheaply()  # Orders and Returns have streams: keep moto's transaction rollback copies cheap


@pytest.fixture(scope="session")
def templates():
    return synthesize()


class Stack:
    def __init__(self, deployment: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.deployment = deployment
        self.monkeypatch = monkeypatch

    def spec(self, name: str) -> Any:
        return next(f for f in self.deployment.functions.values() if f.handler == f"functions.{name}.handler.handler")

    def handler(self, name: str) -> Any:
        """Import ``functions.<name>.handler`` with that function's environment (fresh module state)."""
        for key, value in self.spec(name).environment.items():
            self.monkeypatch.setenv(key, value)
        module = importlib.import_module(f"functions.{name}.handler")
        return importlib.reload(module)

    def env(self, name: str, key: str) -> str:
        return self.spec(name).environment[key]

    def table(self, name: str, key: str) -> Any:
        return boto3.resource("dynamodb").Table(self.env(name, key))


@pytest.fixture
def stack(templates, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OMS")
    reset()
    with mock_aws():
        deployment = deploy_all(Deployer(boto3.Session()), templates)
        yield Stack(deployment, monkeypatch)
    reset()


class Context:
    function_name = "test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req"

    def get_remaining_time_in_millis(self) -> int:
        return 30000


@pytest.fixture
def context():
    ctx = Context()
    ctx.aws_request_id = str(uuid.uuid4())
    return ctx


def api_event(method: str, path: str, resource: str, *, body: Any = None, sub: str | None = "cust-1",
              groups: str | None = None, headers: dict[str, str] | None = None,
              path_params: dict[str, str] | None = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    claims = {"sub": sub, "email": f"{sub}@example.com"} if sub else {}
    if groups:
        claims["cognito:groups"] = groups
    raw = body if isinstance(body, str) or body is None else json.dumps(body)
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {}, "queryStringParameters": query, "multiValueQueryStringParameters": None,
        "pathParameters": path_params, "stageVariables": None, "body": raw, "isBase64Encoded": False,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "v1", "requestId": "r1",
                           "path": f"/v1{path}", "identity": {"sourceIp": "127.0.0.1"},
                           "authorizer": {"claims": claims} if claims else None},
    }


def call(module: Any, event: dict[str, Any], ctx: Any) -> tuple[int, Any]:
    response = module.handler(event, ctx)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None
