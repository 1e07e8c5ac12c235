"""OmsWorkflow: the order workflow state machine (Standard) and its five task functions."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.alarms import alarm_on
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

JsonPath = sfn.JsonPath

GATEWAY_ERRORS = ["PaymentGatewayError", "TransientError"]
TRANSIENT = ["TransientError"]
ALL = [sfn.Errors.ALL]
TIMEOUT = [sfn.Errors.TIMEOUT]


def _payload(action: str, **extra: Any) -> sfn.TaskInput:
    return sfn.TaskInput.from_object({"action": action, "order_id": JsonPath.string_at("$.order_id"), **extra})


class WorkflowStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: OmsConfig,
        data: DataStack,
        messaging: MessagingStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        orders = data.orders.table_name

        function = function_factory(self, config, WORKFLOW_TIMEOUT, messaging.ops_alerts)

        self.payment = function(
            "payment", "Payment", {"ORDERS_TABLE": orders, "PAYMENT_GATEWAY": config.payment_gateway}
        )
        self.inventory = function(
            "inventory",
            "Inventory",
            {
                "ORDERS_TABLE": orders,
                "INVENTORY_TABLE": data.inventory.table_name,
                "WAREHOUSES": config.warehouses_csv,
            },
        )
        self.fraud = function(
            "fraud",
            "Fraud",
            {
                "ORDERS_TABLE": orders,
                "FRAUD_THRESHOLD": config.fraud_threshold,
                "REVIEW_AMOUNT": config.review_amount,
                "OPS_ALERTS_TOPIC_ARN": messaging.ops_alerts.topic_arn,
            },
        )
        self.fulfilment = function(
            "fulfilment",
            "Fulfilment",
            {"ORDERS_TABLE": orders, "NOTIFICATIONS_QUEUE_URL": messaging.notifications.queue_url},
        )
        self.order_status = function(
            "order_status",
            "OrderStatus",
            {
                "ORDERS_TABLE": orders,
                "NOTIFICATIONS_QUEUE_URL": messaging.notifications.queue_url,
                "OPS_ALERTS_TOPIC_ARN": messaging.ops_alerts.topic_arn,
            },
        )
        for pf in (self.payment, self.inventory, self.fraud, self.fulfilment, self.order_status):
            data.orders.grant_read_write_data(pf.function)
            acknowledge_table_indexes(pf.role, data.orders)
        data.inventory.grant_read_write_data(self.inventory.function)
        messaging.ops_alerts.grant_publish(self.fraud.function)
        messaging.ops_alerts.grant_publish(self.order_status.function)
        acknowledge_kms_data_keys(self.fraud.role)
        acknowledge_kms_data_keys(self.order_status.role)
        messaging.notifications.grant_send_messages(self.fulfilment.function)
        messaging.notifications.grant_send_messages(self.order_status.function)

        self.state_machine = self._state_machine(config)
        acknowledge_function_versions(
            self.state_machine.role,
            *(pf.function for pf in (self.payment, self.inventory, self.fraud, self.fulfilment, self.order_status)),
        )

        alarm_on(self, "ExecutionsFailedAlarm", "Order workflow executions failed (an order may be stuck)",
                 self.state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"), messaging.ops_alerts)

        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)

    # -- the state machine -------------------------------------------------------------------------

    def _invoke(
        self,
        state_id: str,
        fn: lambda_.IFunction,
        action: str,
        *,
        result_path: str,
        **extra: Any,
    ) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self,
            state_id,
            lambda_function=fn,
            payload=_payload(action, **extra),
            payload_response_only=True,
            result_path=result_path,
        )

    def _wait(
        self,
        state_id: str,
        fn: lambda_.IFunction,
        action: str,
        *,
        result_path: str,
        timeout_hours: int,
        **extra: Any,
    ) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self,
            state_id,
            lambda_function=fn,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=_payload(action, task_token=JsonPath.task_token, **extra),
            result_path=result_path,
            task_timeout=sfn.Timeout.duration(Duration.hours(timeout_hours)),
        )

    def _state_machine(self, config: OmsConfig) -> sfn.StateMachine:
        payment = self.payment.function
        inventory = self.inventory.function
        fraud = self.fraud.function
        fulfilment = self.fulfilment.function
        order_status = self.order_status.function

        def gateway_retry(task: tasks.LambdaInvoke) -> None:
            task.add_retry(errors=GATEWAY_ERRORS, interval=Duration.seconds(2), max_attempts=3, backoff_rate=2.0)

        def transient_retry(task: tasks.LambdaInvoke) -> None:
            task.add_retry(errors=TRANSIENT, interval=Duration.seconds(2), max_attempts=3, backoff_rate=2.0)

        # Compensation: undo what was done, then close the order with the reason in $.error.
        compensation_failed = sfn.Fail(
            self,
            "CompensationFailed",
            error="CompensationFailed",
            cause="Compensation did not complete; the order needs manual attention",
        )

        def compensating(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
            task.add_retry(errors=ALL, interval=Duration.seconds(1), max_attempts=5, backoff_rate=2.0)
            task.add_catch(compensation_failed, errors=ALL, result_path="$.compensation_error")
            return task

        release = compensating(self._invoke("ReleaseStock", inventory, "release", result_path=JsonPath.DISCARD))
        void = compensating(self._invoke("VoidPayment", payment, "void", result_path=JsonPath.DISCARD))
        close = compensating(
            self._invoke(
                "CloseOrder", order_status, "close", result_path="$.closed", error=JsonPath.object_at("$.error")
            )
        )
        compensate = sfn.Pass(self, "Compensate", comment="Undo the order's side effects, then close it")
        compensate.next(release).next(void).next(close).next(sfn.Succeed(self, "Closed"))

        def to_compensate(task: tasks.LambdaInvoke, *errors: list[str]) -> None:
            for error_list in (*errors, ALL):
                task.add_catch(compensate, errors=error_list, result_path="$.error")

        # 1-3: authorize, reserve, assess.
        authorize = self._invoke("AuthorizePayment", payment, "authorize", result_path="$.payment")
        gateway_retry(authorize)
        to_compensate(authorize, ["PaymentDeclined"])

        reserve = self._invoke("ReserveStock", inventory, "reserve", result_path="$.reservation")
        transient_retry(reserve)
        to_compensate(reserve)

        assess = self._invoke("AssessRisk", fraud, "assess", result_path="$.risk")
        transient_retry(assess)
        to_compensate(assess)

        def catch_wait(task: sfn.TaskStateBase, state_id: str, error: str, cause: str) -> None:
            """A wait that times out compensates with a named error; any other failure compensates as is."""
            timed_out = sfn.Pass(
                self, state_id, result=sfn.Result.from_object({"Error": error, "Cause": cause}), result_path="$.error"
            ).next(compensate)
            task.add_catch(timed_out, errors=TIMEOUT, result_path="$.error")
            task.add_catch(compensate, errors=ALL, result_path="$.error")

        # 7: fulfilment waits for the admin's shipment (task token).
        request_fulfilment = self._wait(
            "RequestFulfilment",
            fulfilment,
            "request",
            result_path="$.shipment",
            timeout_hours=config.fulfilment_timeout_hours,
        )
        catch_wait(request_fulfilment, "FulfilmentTimedOut", "FulfilmentTimeout", "The order was not shipped in time")

        # 5-6: manual review (task token) when the risk assessment says so.
        hold = self._wait(
            "HoldForReview",
            fraud,
            "hold",
            result_path="$.review",
            timeout_hours=config.review_timeout_hours,
            risk=JsonPath.object_at("$.risk"),
        )
        catch_wait(hold, "ReviewTimedOut", "ReviewTimeout", "The order was not reviewed in time")
        review_rejected = sfn.Pass(
            self,
            "ReviewRejected",
            parameters={"Error": "ReviewRejected", "Cause": JsonPath.string_at("$.review.note")},
            result_path="$.error",
        ).next(compensate)
        hold.next(
            sfn.Choice(self, "ReviewDecision")
            .when(sfn.Condition.string_equals("$.review.decision", "approve"), request_fulfilment)
            .otherwise(review_rejected)
        )

        # 8-10: after shipment nothing is compensated: commit stock, capture (or flag), mark shipped.
        commit = self._invoke("CommitStock", inventory, "commit", result_path="$.committed")
        transient_retry(commit)
        commit.add_retry(errors=ALL, interval=Duration.seconds(2), max_attempts=5, backoff_rate=2.0)

        capture = self._invoke("CapturePayment", payment, "capture", result_path="$.capture")
        gateway_retry(capture)
        mark_shipped = self._invoke("MarkShipped", order_status, "mark_shipped", result_path="$.shipped")
        transient_retry(mark_shipped)
        flag = self._invoke(
            "FlagCaptureFailure",
            order_status,
            "flag_capture_failure",
            result_path=JsonPath.DISCARD,
            error=JsonPath.object_at("$.error"),
        )
        transient_retry(flag)
        capture.add_catch(flag, errors=ALL, result_path="$.error")
        flag.next(mark_shipped)
        request_fulfilment.next(commit).next(capture).next(mark_shipped).next(sfn.Succeed(self, "Shipped"))

        definition = (
            authorize.next(reserve)
            .next(assess)
            .next(
                sfn.Choice(self, "NeedsReview")
                .when(sfn.Condition.string_equals("$.risk.decision", "review"), hold)
                .otherwise(request_fulfilment)
            )
        )

        log_group = logs.LogGroup(
            self,
            "OrderWorkflowLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        machine = sfn.StateMachine(
            self,
            "OrderWorkflow",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            comment="Order workflow: authorize, reserve, assess, (review), fulfil, commit, capture, ship",
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        acknowledge(
            machine.role,
            "IAM5",
            "CloudWatch Logs vended log delivery (logs:*LogDelivery, DescribeResourcePolicies) and X-Ray "
            "do not support resource-level permissions; CDK adds them for logging ALL and tracing.",
            "Resource::*",
        )
        role = machine.role
        assert isinstance(role, iam.Role)
        depend_only_on_default_policy(machine, role)
        return machine
