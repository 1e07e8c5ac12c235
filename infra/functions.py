"""One Lambda function of the OMS: Powertools layer, explicit log group, least-privilege role, errors alarm."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    ArnFormat,
    AssetHashType,
    Aws,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.alarms import AlarmRouting, Severity, alarm_on
from infra.config import PYTHON_RUNTIME, OmsConfig
from infra.nag import acknowledge, acknowledge_xray, depend_only_on_default_policy

#: The repository root: the single code asset of every function (filtered to ``oms/`` and ``functions/``).
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Glob excludes (CDK GlobIgnoreStrategy: later patterns win, patterns without "/" match the basename).
#: Everything is excluded, then ``oms/`` and ``functions/`` are re-included, then caches dropped again.
ASSET_EXCLUDES = [
    "*",
    "!oms",
    "!oms/**",
    "!functions",
    "!functions/**",
    "__pycache__",
    "*.pyc",
    ".*",
]

RUNTIME = lambda_.Runtime.PYTHON_3_14
assert RUNTIME.name == PYTHON_RUNTIME

# Below API Gateway's 29 s: the SDK's retries (oms.adapters.aws) end well before, so a client gets a 503, not a 504.
API_TIMEOUT = Duration.seconds(28)
WORKFLOW_TIMEOUT = Duration.seconds(30)
NOTIFY_TIMEOUT = Duration.seconds(60)


def powertools_layer_arn(version: int) -> str:
    """The public Powertools for AWS Lambda (Python) V3 layer for our runtime and architecture."""
    runtime = PYTHON_RUNTIME.replace(".", "")
    return f"arn:aws:lambda:{Aws.REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-{runtime}-x86_64:{version}"


def oms_code() -> lambda_.Code:
    """A fresh asset code object (an AssetCode binds to one stack, so each stack asks for its own)."""
    return lambda_.Code.from_asset(str(REPO_ROOT), exclude=list(ASSET_EXCLUDES))


#: Provided by Lambda's Python runtime (boto3) or the public Powertools layer (Powertools, pydantic).
PROVIDED = {"aws-lambda-powertools", "boto3", "pydantic"}


def layer_requirements() -> list[str]:
    """The project's runtime dependencies (``pyproject.toml``) that Lambda does not already provide."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    names = [req.split("==")[0].split("[")[0].strip().lower() for req in project["dependencies"]]
    return [req for req, name in zip(project["dependencies"], names, strict=True) if name not in PROVIDED]


@jsii.implements(ILocalBundling)
class PipInstall:
    """Builds the dependencies layer without Docker: pip downloads the wheels for Lambda's platform and Python
    (manylinux x86_64, binary only) into ``python/``. Runs once per set of requirements: the asset hash is the
    requirements', so an unchanged list reuses the staged layer."""

    def __init__(self, requirements: list[str], python_version: str) -> None:
        self.requirements = requirements
        self.python_version = python_version

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
             "--target", str(Path(output_dir) / "python"), "--platform", "manylinux2014_x86_64",
             "--implementation", "cp", "--python-version", self.python_version, "--only-binary=:all:",
             *self.requirements],
            check=True,
        )
        return True


def dependencies_layer(scope: Construct) -> lambda_.ILayerVersion:
    """The stack's layer of third-party runtime dependencies (Jinja2, Babel, phonenumbers, Stripe, ...)."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("DependenciesLayer")
    if existing is not None:
        return existing  # type: ignore[return-value]
    requirements = layer_requirements()
    python_version = RUNTIME.name.removeprefix("python")
    digest = hashlib.sha256("\n".join([python_version, *requirements]).encode()).hexdigest()
    return lambda_.LayerVersion(
        stack, "DependenciesLayer",
        description="OMS third-party dependencies: " + ", ".join(requirements),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[lambda_.Architecture.X86_64],
        code=lambda_.Code.from_asset(
            str(REPO_ROOT / "infra"), asset_hash_type=AssetHashType.CUSTOM, asset_hash=digest,
            bundling=BundlingOptions(image=DockerImage.from_registry("public.ecr.aws/sam/build-" + RUNTIME.name),
                                     local=PipInstall(requirements, python_version)),
        ),
    )


def function_factory(
    scope: Construct, config: OmsConfig, timeout: Duration, alarm_topic: sns.ITopic
) -> Callable[[str, str, dict[str, str]], PowertoolsFunction]:
    """``make(name, construct_id, environment)`` for the functions of one stack, which share the
    stack's code asset, timeout and alarm topic."""
    code = oms_code()

    def make(name: str, construct_id: str, environment: dict[str, str]) -> PowertoolsFunction:
        return PowertoolsFunction(scope, construct_id, name=name, config=config, code=code, timeout=timeout,
                                  environment=environment, alarm_topic=alarm_topic)

    return make


class PowertoolsFunction(Construct):
    """``functions.<name>.handler.handler`` with Powertools env, X-Ray, its own log group and role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        config: OmsConfig,
        code: lambda_.Code,
        timeout: Duration,
        environment: dict[str, str],
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # An explicit role instead of the AWSLambdaBasicExecutionRole managed policy: the function may
        # write only to its own log group.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"OMS {name} function",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=f"functions.{name}.handler.handler",
            code=code,
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self, "PowertoolsLayer", powertools_layer_arn(config.powertools_layer_version)
                ),
                dependencies_layer(self),
            ],
            memory_size=256,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE if config.tracing else lambda_.Tracing.DISABLED,
            log_group=self.log_group,
            role=self.role,
            description=f"OMS {name}",
            environment={
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": "OMS",
                "POWERTOOLS_TRACE_DISABLED": "false" if config.tracing else "true",
                # No pydantic plugins are used: skip their discovery (an entry-point scan) in every cold start.
                "PYDANTIC_DISABLE_PLUGINS": "__all__",
                "LOG_LEVEL": config.log_level,
                **environment,
            },
        )
        if config.tracing:
            acknowledge_xray(self.role)
        depend_only_on_default_policy(self.function, self.role)
        if alarm_topic is not None:  # the ticket topic (a function's errors are retried or answered: no page)
            alarm_on(self, "ErrorsAlarm", f"OMS {name} function errors",
                     self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                     AlarmRouting(tickets=alarm_topic, runbook_base_url=config.runbook_base_url),
                     severity=Severity.TICKET, runbook="function-errors")

    @property
    def stack(self) -> Stack:
        return Stack.of(self)

    def allow_resuming(self, machine_prefix: str, why: str) -> None:
        """``states:SendTaskSuccess`` on the executions of the state machine whose generated name starts with
        ``machine_prefix``: the machine's own ARN would be a dependency cycle (it invokes this function, or its stack
        depends on this one); ``why`` says which, for the cdk-nag acknowledgement."""
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["states:SendTaskSuccess"],
            resources=[self.stack.format_arn(service="states", resource="stateMachine",
                                             resource_name=f"{machine_prefix}*",
                                             arn_format=ArnFormat.COLON_RESOURCE_NAME)]))
        acknowledge(self.role, "IAM5", f"Resuming waiting executions of {machine_prefix}, named by its generated "
                    f"name's prefix: {why}",
                    f"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:"
                    f"{machine_prefix}*")
