"""OmsReturns: the return workflow state machine (Standard, one execution per return, named after its RMA) and its
step function.

In flow order (``docs/architecture.md`` has the diagram):

1. ``Decide`` (return_steps/decide): approve under the return policy (email with instructions), or alert ops.
2. ``AwaitReview`` (task token, the policy's review SLA): ops approve or reject (``POST /admin/returns/{id}/
   review``). Each time the SLA passes, ``RemindReview`` alerts ops again; past the policy's limit it takes the
   policy's default decision.
3. ``AdvanceExchange``: an exchange whose reasons allow it creates its replacement order now
   (``CreateAdvanceExchange``).
4. ``AwaitShipBack`` (task token, ``ship_back_days``): the parcel moving (a carrier event, ``IN_TRANSIT``) or
   received resumes it; nothing sent in time -> ``ExpireReturn`` (EXPIRED, unless a parcel was registered).
5. ``AwaitReceipt`` (task token, ``receipt_reminder_days``, repeated with an ops reminder): the parcel is received
   (``POST /admin/returns/{id}/receive``).
6. ``Settle``: refund through the payment ledger, or complete the exchange; ``CloseReturn``.

A customer's cancellation fails a wait with ``ReturnCancelled``: the execution ends. Errors follow
``oms.contract`` as in the order workflow: retried with backoff and full jitter, then **parked** (``ParkReturn``,
task token) until ops retry the step (``POST /admin/returns/{id}/retry``); a park unattended past
``technicalHoldTimeoutHours`` fails the execution, which alarms.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.alarms import Severity, alarm_on
from infra.config import OmsConfig
from infra.data_stack import DataStack
from infra.functions import WORKFLOW_TIMEOUT, function_factory
from infra.messaging_stack import MessagingStack
from infra.nag import (
    acknowledge,
    acknowledge_function_versions,
    acknowledge_kms_data_keys,
    acknowledge_table_indexes,
    depend_only_on_default_policy,
)
from infra.workflow_logs import acknowledge_log_level, log_options
from infra.workflow_stack import ALL, RETRYABLE, RETRYABLE_IN_WAITS, TIMEOUT, WorkflowStack
from oms.contract import DEFECT_RETRY, RETRY, TASK_TIMEOUT_SECONDS, Error, RetryPolicy, ReturnAction
from oms.domain.return_policy import load_policy

JsonPath = sfn.JsonPath
CANCELLED = [Error.RETURN_CANCELLED.value]


class ReturnsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: OmsConfig, data: DataStack,
                 messaging: MessagingStack, workflow: WorkflowStack, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.policy = load_policy(config.return_policy)
        function = function_factory(self, config, WORKFLOW_TIMEOUT, messaging.alarms)
        self.steps = function("return_steps", "ReturnSteps", {
            "ORDERS_TABLE": data.orders.table_name, "RETURNS_TABLE": data.returns.table_name,
            "RETURN_POLICY": config.return_policy, "NOTIFICATIONS_QUEUE_URL": messaging.notifications.queue_url,
            "OPS_ALERTS_TOPIC_ARN": messaging.ops_alerts.topic_arn,
            "STATE_MACHINE_ARN": workflow.state_machine.state_machine_arn, **workflow.gateway_environment,
        })
        fn = self.steps.function
        for table in (data.orders, data.returns):
            table.grant_read_write_data(fn)
        acknowledge_table_indexes(self.steps.role, data.orders, data.returns)
        messaging.notifications.grant_send_messages(fn)
        messaging.ops_alerts.grant_publish(fn)
        acknowledge_kms_data_keys(self.steps.role)
        workflow.grant_gateway(fn)  # refunds
        workflow.state_machine.grant_start_execution(fn)  # replacement orders
        # A wait that finds its return already moved on resumes itself. The machine's ARN would be a cycle (it
        # invokes this function): named by its generated name's prefix.
        self.steps.allow_resuming("ReturnWorkflow", "the machine's ARN would be a cycle (it invokes this function).")

        self.state_machine = self._machine(self._definition(config), config)
        acknowledge_function_versions(self.state_machine.role, fn)
        alarm_on(self, "ReturnExecutionsFailedAlarm", "Return workflow executions failed (a return may be stuck)",
                 self.state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
                 messaging.alarm_routing, severity=Severity.PAGE, runbook="return-workflow-executions-failed")
        CfnOutput(self, "ReturnStateMachineArn", value=self.state_machine.state_machine_arn)

    # -- tasks -------------------------------------------------------------------------------------------------

    def _payload(self, action: ReturnAction, **extra: Any) -> sfn.TaskInput:
        return sfn.TaskInput.from_object({"action": action.value, "return_id": JsonPath.string_at("$.return_id"),
                                          "execution": JsonPath.execution_id, **extra})

    def _invoke(self, state_id: str, action: ReturnAction, result_path: str, **extra: Any) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self, state_id, lambda_function=self.steps.function, payload=self._payload(action, **extra),
            payload_response_only=True, result_path=result_path, retry_on_service_exceptions=False,
            task_timeout=sfn.Timeout.duration(Duration.seconds(TASK_TIMEOUT_SECONDS)))
        task.add_retry(errors=CANCELLED, max_attempts=0)
        self._retry(task, RETRYABLE, RETRY)
        self._retry(task, ALL, DEFECT_RETRY)
        return task

    def _wait(self, state_id: str, action: ReturnAction, result_path: str, hours: int,
              **extra: Any) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self, state_id, lambda_function=self.steps.function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=self._payload(action, task_token=JsonPath.task_token, **extra), result_path=result_path,
            task_timeout=sfn.Timeout.duration(Duration.hours(hours)), retry_on_service_exceptions=False)
        task.add_retry(errors=[*TIMEOUT, *CANCELLED], max_attempts=0)
        self._retry(task, RETRYABLE_IN_WAITS, RETRY)
        self._retry(task, ALL, DEFECT_RETRY)
        return task

    @staticmethod
    def _retry(task: tasks.LambdaInvoke, errors: list[str], policy: RetryPolicy) -> None:
        task.add_retry(errors=errors, interval=Duration.seconds(policy.interval_seconds),
                       max_attempts=policy.max_attempts, backoff_rate=policy.backoff_rate,
                       max_delay=Duration.seconds(policy.max_delay_seconds), jitter_strategy=sfn.JitterType.FULL)

    # -- the state machine, in flow order -----------------------------------------------------------------------

    def _definition(self, config: OmsConfig) -> sfn.IChainable:
        policy = self.policy
        ended = sfn.Succeed(self, "ReturnEnded", comment="Rejected, cancelled or expired")
        decide = self._invoke("Decide", ReturnAction.DECIDE, "$.approval")
        await_review = self._wait("AwaitReview", ReturnAction.AWAIT_REVIEW, "$.approval", policy.review_reminder_hours)
        remind_review = self._invoke("RemindReview", ReturnAction.REMIND_REVIEW, "$.approval")
        advance = self._invoke("CreateAdvanceExchange", ReturnAction.CREATE_EXCHANGE, "$.exchange")
        ship_back = self._wait("AwaitShipBack", ReturnAction.AWAIT_PARCEL, "$.parcel", policy.ship_back_days * 24,
                               stage="ship_back")
        expire = self._invoke("ExpireReturn", ReturnAction.EXPIRE, "$.parcel")
        receipt = self._wait("AwaitReceipt", ReturnAction.AWAIT_PARCEL, "$.parcel",
                             policy.receipt_reminder_days * 24, stage="receipt")
        remind_receipt = self._invoke("RemindReceipt", ReturnAction.REMIND_RECEIPT, JsonPath.DISCARD)
        settle = self._invoke("Settle", ReturnAction.SETTLE, "$.settled")
        close = self._invoke("CloseReturn", ReturnAction.CLOSE, "$.closed")

        approve = sfn.Condition.string_equals("$.approval.decision", "approve")
        reject = sfn.Condition.string_equals("$.approval.decision", "reject")
        received = sfn.Condition.string_equals("$.parcel.event", "received")
        in_transit = sfn.Condition.string_equals("$.parcel.event", "in_transit")
        advance_choice = (sfn.Choice(self, "AdvanceExchange", comment="Ship the replacement before the return?")
                          .when(sfn.Condition.and_(sfn.Condition.is_present("$.approval.advance"),
                                                   sfn.Condition.boolean_equals("$.approval.advance", True)), advance)
                          .otherwise(ship_back))
        advance.next(ship_back)
        decide.next(sfn.Choice(self, "AutoApproved").when(approve, advance_choice).when(reject, ended)
                    .otherwise(await_review))
        await_review.next(sfn.Choice(self, "ReviewDecision").when(approve, advance_choice).otherwise(ended))
        await_review.add_catch(remind_review, errors=TIMEOUT, result_path="$.error")
        remind_review.next(sfn.Choice(self, "ReviewReminded").when(approve, advance_choice).when(reject, ended)
                           .otherwise(await_review))
        parcel_event = (sfn.Choice(self, "ParcelEvent").when(received, settle).when(in_transit, receipt)
                        .otherwise(ended))
        ship_back.next(parcel_event)
        ship_back.add_catch(expire, errors=TIMEOUT, result_path="$.error")
        expire.next(sfn.Choice(self, "ExpiryOutcome").when(received, settle).when(in_transit, receipt)
                    .otherwise(ended))
        receipt.next(sfn.Choice(self, "ReceiptEvent").when(received, settle).otherwise(receipt))
        receipt.add_catch(remind_receipt, errors=TIMEOUT, result_path="$.error")
        remind_receipt.next(receipt)
        settle.next(close).next(sfn.Succeed(self, "ReturnClosed"))

        steps = [decide, await_review, remind_review, advance, ship_back, expire, receipt, remind_receipt, settle,
                 close]
        park = self._wait("ParkReturn", ReturnAction.PARK, "$.park", config.technical_hold_timeout_hours,
                          failure=JsonPath.object_at("$.failure"))
        park.add_catch(sfn.Fail(self, "ReturnStuck", error="ReturnStuck",
                                cause="A return step kept failing and ops did not retry it in time"),
                       errors=TIMEOUT, result_path="$.error")
        park.add_catch(ended, errors=CANCELLED, result_path="$.error")  # the customer cancelled meanwhile
        park.add_catch(sfn.Fail(self, "ParkReturnUnavailable", error="ParkFailed",
                                cause="The return could not be parked for ops; see the execution's history"),
                       errors=ALL, result_path="$.park_error")
        resume = sfn.Choice(self, "ResumeAfterParkReturn")
        for step in steps:
            resume.when(sfn.Condition.string_equals("$.failure.step", step.id), step)
        park.next(resume.otherwise(ended))
        for step in steps:
            if step in (decide, await_review, remind_review, advance, ship_back, expire, receipt):
                step.add_catch(ended, errors=CANCELLED, result_path="$.error")
            failed = sfn.Pass(self, f"{step.id}Failed", result=sfn.Result.from_string(step.id),
                              result_path="$.failure.step")
            failed.next(park)
            step.add_catch(failed, errors=ALL, result_path="$.failure")
        return decide

    def _machine(self, definition: sfn.IChainable, config: OmsConfig) -> sfn.StateMachine:
        machine = sfn.StateMachine(
            self, "ReturnWorkflow", definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            comment="Return workflow: approve (policy or review), await the parcel, receive, refund or exchange",
            logs=log_options(self, "ReturnWorkflowLogs", config), tracing_enabled=config.tracing)
        acknowledge_log_level(machine, config)
        acknowledge(machine.role, "IAM5", "CloudWatch Logs vended log delivery (logs:*LogDelivery, "
                    "DescribeResourcePolicies) and X-Ray do not support resource-level permissions; CDK adds them "
                    "for logging and tracing.", "Resource::*")
        role = machine.role
        assert isinstance(role, iam.Role)
        depend_only_on_default_policy(machine, role)
        return machine
