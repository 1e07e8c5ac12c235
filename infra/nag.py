"""cdk-nag wiring and the app's acknowledged (suppressed) findings, each with its reason.

cdk-nag 3 runs as a CDK validation plugin (``Validations.of(app).add_plugins(AwsSolutionsChecks(app))``)
and reads suppressions from CDK's native ``Validations.of(construct).acknowledge(...)``; a finding id is
``AwsSolutions-<rule>`` or, for rules with several findings per resource, ``AwsSolutions-<rule>[<finding>]``.
"""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, App, CfnResource, Fn, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

XRAY_REASON = (
    "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions; "
    "CDK adds them for active tracing."
)
INDEX_REASON = "CDK's table grant adds <table>/index/* so queries can use the table's GSIs; it is scoped to one table."
FUNCTION_VERSION_REASON = (
    "CDK's invoke grant adds <function-arn>:* so qualified versions/aliases of that one function can be invoked."
)


def depend_only_on_default_policy(resource: IConstruct, role: iam.Role) -> None:
    """Keep ``DependsOn: [<role>DefaultPolicy]`` but drop the role itself.

    CDK makes a function / state machine depend on both its role and the role's default policy; the role
    dependency is already implied by ``Fn::GetAtt Role.Arn`` and cfn-lint reports it (W3005).
    """
    policy = role.node.try_find_child("DefaultPolicy")
    cfn = resource.node.default_child
    if policy is None or not isinstance(cfn, CfnResource):
        return
    cfn_policy = policy.node.default_child
    assert isinstance(cfn_policy, CfnResource)
    cfn.add_override("DependsOn", [Stack.of(resource).get_logical_id(cfn_policy)])


def add_nag_checks(app: App) -> None:
    """Fail synthesis on any unacknowledged AwsSolutions finding."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str, *findings: str) -> None:
    """Acknowledge ``rule`` on ``scope`` (and its children), or only the given findings of it."""
    ids = [f"AwsSolutions-{rule}[{finding}]" for finding in findings] or [f"AwsSolutions-{rule}"]
    Validations.of(scope).acknowledge(*(Acknowledgment(id=i, reason=reason) for i in ids))


def acknowledge_xray(scope: IConstruct) -> None:
    acknowledge(scope, "IAM5", XRAY_REASON, "Resource::*")


def _arn_ref(scope: IConstruct, owner: IConstruct, arn: str) -> str:
    """How cdk-nag prints ``arn`` in an IAM5 finding of a policy in ``scope``'s stack.

    Same stack: ``<LogicalId.Arn>``. Another stack: the name of the export CDK creates for the reference
    (``Stack.export_value`` returns the very import the automatic cross-stack reference uses).
    """
    consumer, producer = Stack.of(scope), Stack.of(owner)
    value = arn if producer is consumer else producer.export_value(arn)
    resolved = consumer.resolve(value)
    if isinstance(resolved, dict) and "Fn::GetAtt" in resolved:
        logical_id, attribute = resolved["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if isinstance(resolved, dict) and "Fn::ImportValue" in resolved:
        return str(resolved["Fn::ImportValue"])
    if isinstance(resolved, dict) and "Ref" in resolved:
        return f"<{resolved['Ref']}>"
    return str(resolved)


def acknowledge_table_indexes(scope: IConstruct, *tables: dynamodb.ITable) -> None:
    """Acknowledge the ``index/*`` resource CDK adds when ``scope``'s grantee is granted on a table with GSIs."""
    findings = [f"Resource::{_arn_ref(scope, t, t.table_arn)}/index/*" for t in tables]
    if findings:
        acknowledge(scope, "IAM5", INDEX_REASON, *findings)


def acknowledge_function_versions(scope: IConstruct, *functions: lambda_.IFunction) -> None:
    findings = [f"Resource::{_arn_ref(scope, f, f.function_arn)}:*" for f in functions]
    if findings:
        acknowledge(scope, "IAM5", FUNCTION_VERSION_REASON, *findings)


def acknowledge_executions(scope: IConstruct, machine: sfn.IStateMachine, *, nested: bool = False) -> None:
    """Acknowledge the ``execution:<name>:*`` resource of an execution grant (e.g. DescribeExecution), or with
    ``nested`` the ``execution:<name>*`` one CDK grants a workflow that runs ``machine`` synchronously."""
    name = json.dumps(Stack.of(scope).resolve(Fn.select(6, Fn.split(":", machine.state_machine_arn))),
                      separators=(",", ":"))
    arn = f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}{'*' if nested else ':*'}"
    reason = ("A workflow that runs a sub-workflow synchronously describes and stops its executions: the grant "
              "covers this one state machine's executions." if nested else
              "Executions are named after orders: the grant covers this one state machine's executions.")
    acknowledge(scope, "IAM5", reason, f"Resource::{arn}")


def acknowledge_kms_data_keys(scope: IConstruct) -> None:
    acknowledge(
        scope,
        "IAM5",
        "CDK's topic publish grant on a KMS-encrypted topic adds kms:GenerateDataKey* (GenerateDataKey and "
        "GenerateDataKeyWithoutPlaintext), scoped to the ops-alerts key only.",
        "Action::kms:GenerateDataKey*",
    )
