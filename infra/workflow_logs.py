"""What the workflows log to CloudWatch Logs (the ``workflowLogLevel`` setting).

Production logs ERROR without execution data: a failed step's error and cause, never the state's input or output,
which carries addresses and emails. ALL (with execution data) is for a short investigation.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import OmsConfig
from infra.nag import acknowledge


def log_options(scope: Construct, construct_id: str, config: OmsConfig) -> sfn.LogOptions:
    group = logs.LogGroup(scope, construct_id, retention=logs.RetentionDays.ONE_MONTH,
                          removal_policy=RemovalPolicy.DESTROY)
    level = sfn.LogLevel(config.workflow_log_level)
    return sfn.LogOptions(destination=group, level=level, include_execution_data=level == sfn.LogLevel.ALL)


def acknowledge_log_level(machine: sfn.StateMachine, config: OmsConfig) -> None:
    """cdk-nag's SF1 wants ALL; below ALL is the production choice (no personal data in the logs)."""
    if config.workflow_log_level != "ALL":
        acknowledge(machine, "SF1", f"workflowLogLevel is {config.workflow_log_level}: failed steps are logged "
                    "with their error and cause, without execution data (addresses, emails); set ALL to investigate.")
