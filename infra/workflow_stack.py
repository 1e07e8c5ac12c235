"""OmsWorkflow: the order workflow state machine (Standard) and its five task functions.

The state machine, in flow order (``docs/architecture.md`` has the same list):

1. ``AuthorizePayment`` (payment/authorize): hold the order total on the card.
2. ``ReserveStock`` (inventory/reserve): hold stock for every line, all or nothing.
3. ``AssessRisk`` (fraud/assess): score the order; ``NeedsReview`` chooses step 4 or step 5.
4. ``HoldForReview`` (fraud/hold, task token): ON_HOLD until ops approve or reject (``ReviewDecision``).
5. ``RequestFulfillment`` (fulfillment/request_fulfillment, task token): PROCESSING until the shipment.
6. ``CommitStock`` (inventory/commit): the reserved units leave the warehouse.
7. ``CapturePayment`` (payment/capture): charge the card; a failure goes to ``FlagCaptureFailure``.
8. ``MarkShipped`` (order_status/mark_shipped): SHIPPED; the workflow ends (``Shipped``).

Any failure of steps 1-5 (a business refusal, a timeout of a wait, a review rejection) runs ``Compensate``:
``ReleaseStock`` -> ``VoidPayment`` -> ``CloseOrder`` (order_status/close: REJECTED or CANCELLED with the reason).
Action and error names come from ``oms.contract``, shared with the functions.
"""

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
from oms.contract import Action, Error

JsonPath = sfn.JsonPath

GATEWAY_ERRORS = [Error.PAYMENT_GATEWAY.value, Error.TRANSIENT.value]
TRANSIENT = [Error.TRANSIENT.value]
ALL = [sfn.Errors.ALL]
TIMEOUT = [sfn.Errors.TIMEOUT]


def _payload(action: Action, **extra: Any) -> sfn.TaskInput:
    return sfn.TaskInput.from_object({
        "action": action.value,
        "order_id": JsonPath.string_at("$.order_id"),
        "execution": JsonPath.execution_id,  # the correlation id of the step's log lines
        **extra,
    })


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
        alerts_topic = messaging.ops_alerts.topic_arn
        notifications = messaging.notifications.queue_url

        function = function_factory(self, config, WORKFLOW_TIMEOUT, messaging.ops_alerts)
        self.payment = function("payment", "Payment",
                                {"ORDERS_TABLE": orders, "PAYMENT_GATEWAY": config.payment_gateway})
        self.inventory = function("inventory", "Inventory",
                                  {"ORDERS_TABLE": orders, "INVENTORY_TABLE": data.inventory.table_name})
        self.fraud = function("fraud", "Fraud", {
            "ORDERS_TABLE": orders, "FRAUD_THRESHOLD": config.fraud_threshold,
            "REVIEW_AMOUNT": config.review_amount, "OPS_ALERTS_TOPIC_ARN": alerts_topic,
        })
        self.fulfillment = function("fulfillment", "Fulfillment",
                                    {"ORDERS_TABLE": orders, "NOTIFICATIONS_QUEUE_URL": notifications})
        self.order_status = function("order_status", "OrderStatus", {
            "ORDERS_TABLE": orders, "NOTIFICATIONS_QUEUE_URL": notifications, "OPS_ALERTS_TOPIC_ARN": alerts_topic,
        })
        step_functions = (self.payment, self.inventory, self.fraud, self.fulfillment, self.order_status)
        for pf in step_functions:
            data.orders.grant_read_write_data(pf.function)
            acknowledge_table_indexes(pf.role, data.orders)
        data.inventory.grant_read_write_data(self.inventory.function)
        for pf in (self.fraud, self.order_status):
            messaging.ops_alerts.grant_publish(pf.function)
            acknowledge_kms_data_keys(pf.role)
        for pf in (self.fulfillment, self.order_status):
            messaging.notifications.grant_send_messages(pf.function)

        self.state_machine = self._state_machine(config)
        acknowledge_function_versions(self.state_machine.role, *(pf.function for pf in step_functions))

        alarm_on(self, "ExecutionsFailedAlarm", "Order workflow executions failed (an order may be stuck)",
                 self.state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"), messaging.ops_alerts)

        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)

    # -- task builders -------------------------------------------------------------------------------

    def _invoke(self, state_id: str, fn: lambda_.IFunction, action: Action, *, result_path: str,
                **extra: Any) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(self, state_id, lambda_function=fn, payload=_payload(action, **extra),
                                  payload_response_only=True, result_path=result_path)

    def _wait(self, state_id: str, fn: lambda_.IFunction, action: Action, *, result_path: str, timeout_hours: int,
              **extra: Any) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self, state_id, lambda_function=fn, integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=_payload(action, task_token=JsonPath.task_token, **extra), result_path=result_path,
            task_timeout=sfn.Timeout.duration(Duration.hours(timeout_hours)),
        )

    @staticmethod
    def _retry(task: tasks.LambdaInvoke, errors: list[str], *, attempts: int = 3) -> None:
        task.add_retry(errors=errors, interval=Duration.seconds(2), max_attempts=attempts, backoff_rate=2.0)

    # -- the state machine, in flow order --------------------------------------------------------------

    def _state_machine(self, config: OmsConfig) -> sfn.StateMachine:
        payment = self.payment.function
        inventory = self.inventory.function
        fraud = self.fraud.function
        fulfillment = self.fulfillment.function
        order_status = self.order_status.function

        compensate = self._compensation(payment, inventory, order_status)

        def to_compensate(task: tasks.LambdaInvoke, *errors: list[str]) -> None:
            for error_list in (*errors, ALL):
                task.add_catch(compensate, errors=error_list, result_path="$.error")

        def wait_timeout_compensates(task: tasks.LambdaInvoke, state_id: str, error: Error, cause: str) -> None:
            """A wait that times out compensates with a named error; any other failure compensates as is."""
            timed_out = sfn.Pass(
                self, state_id, result=sfn.Result.from_object({"Error": error.value, "Cause": cause}),
                result_path="$.error",
            ).next(compensate)
            task.add_catch(timed_out, errors=TIMEOUT, result_path="$.error")
            task.add_catch(compensate, errors=ALL, result_path="$.error")

        # 1. Authorize payment.
        authorize = self._invoke("AuthorizePayment", payment, Action.AUTHORIZE, result_path="$.payment")
        self._retry(authorize, GATEWAY_ERRORS)
        to_compensate(authorize, [Error.PAYMENT_DECLINED.value])

        # 2. Reserve stock.
        reserve = self._invoke("ReserveStock", inventory, Action.RESERVE, result_path="$.reservation")
        self._retry(reserve, TRANSIENT)
        to_compensate(reserve)

        # 3. Assess risk.
        assess = self._invoke("AssessRisk", fraud, Action.ASSESS, result_path="$.risk")
        self._retry(assess, TRANSIENT)
        to_compensate(assess)

        # 4. Hold for review (task token), then the decision.
        hold = self._wait("HoldForReview", fraud, Action.HOLD, result_path="$.review",
                          timeout_hours=config.review_timeout_hours, risk=JsonPath.object_at("$.risk"))
        wait_timeout_compensates(hold, "ReviewTimedOut", Error.REVIEW_TIMEOUT, "The order was not reviewed in time")
        review_rejected = sfn.Pass(
            self, "ReviewRejected",
            parameters={"Error": Error.REVIEW_REJECTED.value, "Cause": JsonPath.string_at("$.review.note")},
            result_path="$.error",
        ).next(compensate)

        # 5. Request fulfillment (task token): the warehouse ships.
        request_fulfillment = self._wait("RequestFulfillment", fulfillment, Action.REQUEST_FULFILLMENT,
                                         result_path="$.shipment", timeout_hours=config.fulfillment_timeout_hours)
        wait_timeout_compensates(request_fulfillment, "FulfillmentTimedOut", Error.FULFILLMENT_TIMEOUT,
                                 "The order was not shipped in time")

        # 6-8. After the shipment nothing is compensated: commit stock, capture (or flag), mark shipped.
        commit = self._invoke("CommitStock", inventory, Action.COMMIT, result_path="$.committed")
        self._retry(commit, TRANSIENT)
        commit.add_retry(errors=ALL, interval=Duration.seconds(2), max_attempts=5, backoff_rate=2.0)
        capture = self._invoke("CapturePayment", payment, Action.CAPTURE, result_path="$.capture")
        self._retry(capture, GATEWAY_ERRORS)
        mark_shipped = self._invoke("MarkShipped", order_status, Action.MARK_SHIPPED, result_path="$.shipped")
        self._retry(mark_shipped, TRANSIENT)
        flag = self._invoke("FlagCaptureFailure", order_status, Action.FLAG_CAPTURE_FAILURE,
                            result_path=JsonPath.DISCARD, error=JsonPath.object_at("$.error"))
        self._retry(flag, TRANSIENT)
        capture.add_catch(flag, errors=ALL, result_path="$.error")
        flag.next(mark_shipped)

        hold.next(
            sfn.Choice(self, "ReviewDecision")
            .when(sfn.Condition.string_equals("$.review.decision", "approve"), request_fulfillment)
            .otherwise(review_rejected)
        )
        request_fulfillment.next(commit).next(capture).next(mark_shipped).next(sfn.Succeed(self, "Shipped"))
        definition = (
            authorize.next(reserve)
            .next(assess)
            .next(
                sfn.Choice(self, "NeedsReview")
                .when(sfn.Condition.string_equals("$.risk.decision", "review"), hold)
                .otherwise(request_fulfillment)
            )
        )
        return self._machine(definition, tracing=config.tracing)

    def _compensation(self, payment: lambda_.IFunction, inventory: lambda_.IFunction,
                      order_status: lambda_.IFunction) -> sfn.Pass:
        """Undo the order's side effects, then close it with the reason in ``$.error``."""
        compensation_failed = sfn.Fail(
            self, "CompensationFailed", error="CompensationFailed",
            cause="Compensation did not complete; the order needs manual attention",
        )

        def compensating(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
            task.add_retry(errors=ALL, interval=Duration.seconds(1), max_attempts=5, backoff_rate=2.0)
            task.add_catch(compensation_failed, errors=ALL, result_path="$.compensation_error")
            return task

        release = compensating(self._invoke("ReleaseStock", inventory, Action.RELEASE, result_path=JsonPath.DISCARD))
        void = compensating(self._invoke("VoidPayment", payment, Action.VOID, result_path=JsonPath.DISCARD))
        close = compensating(self._invoke("CloseOrder", order_status, Action.CLOSE, result_path="$.closed",
                                          error=JsonPath.object_at("$.error")))
        compensate = sfn.Pass(self, "Compensate", comment="Undo the order's side effects, then close it")
        compensate.next(release).next(void).next(close).next(sfn.Succeed(self, "Closed"))
        return compensate

    def _machine(self, definition: sfn.IChainable, *, tracing: bool) -> sfn.StateMachine:
        log_group = logs.LogGroup(self, "OrderWorkflowLogs", retention=logs.RetentionDays.ONE_MONTH,
                                  removal_policy=RemovalPolicy.DESTROY)
        machine = sfn.StateMachine(
            self, "OrderWorkflow",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            comment="Order workflow: authorize, reserve, assess, (review), fulfill, commit, capture, ship",
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=tracing,
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
