"""OmsWorkflow: the order workflow state machine (Standard), its two stretches (Express) and its task functions.

The state machine, in flow order (``docs/architecture.md`` has the same list). Steps 1-3 with the plan of the first
wait run as the ``PrepareOrder`` stretch and steps 6-8 as the ``ShipOrder`` stretch: Express sub-workflows started
synchronously, so a shipped order enters four Standard states (see "stretches" below).

1. ``AuthorizePayment`` (payment/authorize): hold the order total on the card.
2. ``ReserveStock`` (inventory/reserve): hold stock for every line, all or nothing.
3. ``AssessRisk`` (fraud/assess): score the order; ``NeedsReview`` chooses step 4 or step 5.
4. ``HoldForReview`` (fraud/hold, task token): ON_HOLD until ops approve or reject (``ReviewDecision``).
   ``StockReady``: an order with backordered goods first waits in ``AwaitStock`` (inventory/await_stock, task
   token): BACKORDERED until a receipt fills it (or ``StockArrived`` at once), cancelled past its deadline.
5. ``RequestFulfillment`` (fulfillment/request_fulfillment, task token): PROCESSING until the shipment.
6. ``CommitStock`` (inventory/commit): the reserved units leave the warehouse.
7. ``CapturePayment`` (payment/capture): charge the card; a failure goes to ``FlagCaptureFailure``.
8. ``MarkShipped`` (order_status/mark_shipped): SHIPPED; the workflow ends (``Shipped``).

Errors follow ``oms.contract``: a refusal (declined, out of stock, a rejected review, a human wait that timed out)
runs ``Compensate``: ``ReleaseStock`` -> ``VoidPayment`` -> ``CloseOrder`` (order_status/close: REJECTED or
CANCELLED with the reason). Everything else is retried with backoff and full jitter, then **parked**: the step's
``<Step>Failed`` state records which step failed and ``ParkOrder`` (before shipment), ``ParkShipment`` (after) or
``ParkCompensation`` waits (task token) for ops to retry from that step (``POST /admin/orders/{id}/retry``) or,
before shipment, to cancel; after ``technicalHoldTimeoutHours`` a parked order is compensated (or, past shipment
or mid-compensation, the execution fails and alarms). Action and error names come from ``oms.contract``.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.alarms import AlarmRouting, Severity, alarm_on, service_metric
from infra.config import OmsConfig
from infra.data_stack import DataStack
from infra.functions import WORKFLOW_TIMEOUT, function_factory
from infra.messaging_stack import MessagingStack
from infra.nag import (
    acknowledge,
    acknowledge_executions,
    acknowledge_function_versions,
    acknowledge_kms_data_keys,
    acknowledge_table_indexes,
    depend_only_on_default_policy,
)
from infra.stock_rebalancing import add_rebalancer
from infra.workflow_logs import acknowledge_log_level, log_options
from oms.contract import DEFECT_RETRY, GATEWAY_RETRY, RETRY, TASK_TIMEOUT_SECONDS, Action, Error, RetryPolicy
from oms.contract import REFUSALS as REFUSALS_
from oms.contract import RETRYABLE as RETRYABLE_

JsonPath = sfn.JsonPath

ALL = [sfn.Errors.ALL]
TIMEOUT = [sfn.Errors.TIMEOUT]
REFUSALS = list(REFUSALS_)
RETRYABLE = list(RETRYABLE_)
#: A wait's own timeout is its policy (review, fulfillment, technical hold), never retried.
RETRYABLE_IN_WAITS = [e for e in RETRYABLE if e != sfn.Errors.TIMEOUT]
#: How a stretch (an Express sub-workflow) fails when a step is past its retries; its cause names the step.
STEP_FAILED = "StepFailed"
#: How the Standard workflow sees a failed stretch (``startExecution.sync:2``; its cause is the execution).
STRETCH_FAILED = sfn.Errors.TASKS_FAILED
#: A stretch that could not start: Step Functions' throttling and limits, retried like any transient failure.
STRETCH_START_ERRORS = tuple(f"StepFunctions.{name}{suffix}" for name in (
    "ThrottlingException", "ExecutionLimitExceeded", "ServiceUnavailable", "InternalServerError",
    "SdkClientException", "AWSStepFunctionsException") for suffix in ("", "Exception")
    if not (name.endswith("Exception") and suffix))


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

        function = function_factory(self, config, WORKFLOW_TIMEOUT, messaging.alarms)
        self.gateway_environment = {"PAYMENT_GATEWAY": config.payment_gateway}
        self.sandbox_ledger: dynamodb.Table | None = None
        self.stripe_secret: secretsmanager.ISecret | None = None
        if config.payment_gateway == "stripe":
            self.stripe_secret = secretsmanager.Secret.from_secret_complete_arn(self, "StripeSecretKey",
                                                                                config.stripe_secret_arn)
            self.gateway_environment["STRIPE_SECRET_ARN"] = config.stripe_secret_arn
        if config.payment_gateway == "sandbox":
            # The sandbox gateway's own memory of its authorizations (a real gateway keeps them on its side).
            self.sandbox_ledger = dynamodb.Table(
                self, "SandboxLedger",
                partition_key=dynamodb.Attribute(name="authorization_id", type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST, encryption=dynamodb.TableEncryption.AWS_MANAGED,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True),
                removal_policy=RemovalPolicy.DESTROY,
            )
            self.gateway_environment["SANDBOX_LEDGER_TABLE"] = self.sandbox_ledger.table_name
        self.payment = function("payment", "Payment", {
            "ORDERS_TABLE": orders, "AUTHORIZATION_HOLD_HOURS": str(config.authorization_hold_hours),
            **self.gateway_environment,
        })
        self.grant_gateway(self.payment.function)
        self.inventory = function("inventory", "Inventory", {
            "ORDERS_TABLE": orders, "INVENTORY_TABLE": data.inventory.table_name,
            "MOVEMENTS_TABLE": data.movements.table_name, "BACKORDERS_TABLE": data.backorders.table_name,
            "CATALOG_TABLE": data.catalog.table_name, "WAREHOUSE_LOCATIONS": config.warehouse_locations_csv,
            "BACKORDER_LIMIT_DAYS": str(config.backorder_limit_days), "NOTIFICATIONS_QUEUE_URL": notifications,
            "OPS_ALERTS_TOPIC_ARN": alerts_topic,
        })
        self.fraud = function("fraud", "Fraud", {
            "ORDERS_TABLE": orders, "FRAUD_THRESHOLD": config.fraud_threshold,
            "REVIEW_AMOUNT": config.review_amount, "OPS_ALERTS_TOPIC_ARN": alerts_topic,
            "NOTIFICATIONS_QUEUE_URL": notifications,
        })
        self.fulfillment = function("fulfillment", "Fulfillment",
                                    {"ORDERS_TABLE": orders, "NOTIFICATIONS_QUEUE_URL": notifications})
        self.order_status = function("order_status", "OrderStatus", {
            "ORDERS_TABLE": orders, "NOTIFICATIONS_QUEUE_URL": notifications, "OPS_ALERTS_TOPIC_ARN": alerts_topic,
            **self.gateway_environment,  # a return's replacement that will not ship: its credit is refunded
        })
        self.grant_gateway(self.order_status.function)
        step_functions = (self.payment, self.inventory, self.fraud, self.fulfillment, self.order_status)
        for pf in step_functions:
            data.orders.grant_read_write_data(pf.function)
            acknowledge_table_indexes(pf.role, data.orders)
        for table in (data.inventory, data.movements, data.backorders):
            table.grant_read_write_data(self.inventory.function)
        data.catalog.grant_read_data(self.inventory.function)
        for pf in (self.fraud, self.order_status, self.inventory):
            messaging.ops_alerts.grant_publish(pf.function)
            acknowledge_kms_data_keys(pf.role)
        for pf in (self.fraud, self.fulfillment, self.order_status, self.inventory):
            messaging.notifications.grant_send_messages(pf.function)

        self.state_machine = self._state_machine(config)
        # A release serves orders waiting for goods and resumes them. The state machine's own ARN would be a cycle
        # (it invokes this function), so the grant names the machine by its generated name's prefix.
        self.inventory.allow_resuming("OrderWorkflow", "the machine's ARN would be a cycle (it invokes this "
                                      "function).")
        acknowledge_function_versions(self.state_machine.role, *(pf.function for pf in step_functions))
        # Every minute: even out the shards of sharded stock rows (oms/logic/inventory.py rebalance).
        self.rebalancer = add_rebalancer(self, self.inventory.function)

        # No order without a workflow: every minute, PENDING orders older than the limit get their execution.
        self.sweeper = function("sweeper", "Sweeper", {
            "ORDERS_TABLE": orders, "STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
            "PENDING_ALARM_SECONDS": str(config.pending_alarm_minutes * 60),
        })
        data.orders.grant_read_data(self.sweeper.function)
        acknowledge_table_indexes(self.sweeper.role, data.orders)
        self.state_machine.grant_start_execution(self.sweeper.function)
        self.state_machine.grant_execution(self.sweeper.function, "states:DescribeExecution")
        acknowledge_executions(self.sweeper.role, self.state_machine)
        events.Rule(self, "SweepPendingOrders", schedule=events.Schedule.rate(Duration.minutes(1)),
                    description="Start the workflow of PENDING orders that have none (oms/logic/sweeper.py)",
                    targets=[events_targets.LambdaFunction(self.sweeper.function)])

        self._alarms(messaging.alarm_routing)

        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)

    def grant_gateway(self, fn: lambda_.IFunction) -> None:
        """What a function that calls the payment gateway needs: the sandbox's table or the Stripe key."""
        if self.sandbox_ledger is not None:
            self.sandbox_ledger.grant_read_write_data(fn)
        if self.stripe_secret is not None:
            self.stripe_secret.grant_read(fn)

    def _alarms(self, routing: AlarmRouting) -> None:
        """The per-order signals (docs/operating.md has a runbook section for each); failed executions and a
        failing payment gateway page, the rest are tickets."""
        page, ticket = Severity.PAGE, Severity.TICKET
        alarm_on(self, "ExecutionsFailedAlarm", "Order workflow executions failed (an order may be stuck)",
                 self.state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"), routing,
                 severity=page, runbook="order-workflow-executions-failed")
        # A transient gateway failure (timeout, 5xx, rate limit) is retried; more than 5 in 5 minutes is an outage
        # that stops orders being authorized.
        alarm_on(self, "PaymentGatewayErrorsAlarm", "The payment gateway is failing (timeouts, 5xx, rate limits)",
                 service_metric("payment", "PaymentGatewayErrors"), routing, severity=page, above=5,
                 runbook="payment-gateway-errors")
        alarm_on(self, "OrdersParkedAlarm", "An order is parked: a workflow step kept failing past its retries",
                 service_metric("order_status", "OrdersParked"), routing, severity=ticket, runbook="orders-parked")
        alarm_on(self, "TechnicalCompensationsAlarm", "An order was cancelled for a technical reason",
                 service_metric("order_status", "TechnicalCompensations"), routing, severity=ticket,
                 runbook="technical-compensations")
        alarm_on(self, "StalePendingOrdersAlarm", "Orders are PENDING for longer than the sweeper's limit",
                 service_metric("sweeper", "StalePendingOrders").with_(statistic="Maximum"), routing, periods=2,
                 severity=ticket, runbook="stale-pending-orders")
        alarm_on(self, "WorkflowsStartedBySweeperAlarm", "An order had no workflow; the sweeper started it",
                 service_metric("sweeper", "WorkflowsStartedBySweeper"), routing, severity=ticket,
                 runbook="workflows-started-by-the-sweeper")
        for service in ("fraud", "order_status"):
            alarm_on(self, f"OrderAlertsFailed{service.title().replace('_', '')}Alarm",
                     f"{service} could not publish an order alert to ops", service_metric(service, "OrderAlertsFailed"),
                     routing, severity=ticket, runbook="order-alerts-failed")

    # -- task builders -------------------------------------------------------------------------------

    def _invoke(self, state_id: str, fn: lambda_.IFunction, action: Action, *, result_path: str,
                scope: Construct | None = None, **extra: Any) -> tasks.LambdaInvoke:
        """A synchronous step: answers within ``TASK_TIMEOUT_SECONDS`` or is a (retried) ``States.Timeout``."""
        return tasks.LambdaInvoke(
            scope or self, state_id, lambda_function=fn, payload=_payload(action, **extra),
            payload_response_only=True, result_path=result_path, retry_on_service_exceptions=False,
            task_timeout=sfn.Timeout.duration(Duration.seconds(TASK_TIMEOUT_SECONDS)),
        )

    def _wait(self, state_id: str, fn: lambda_.IFunction, action: Action, *, result_path: str,
              timeout_hours: int | None = None, timeout_path: str | None = None, **extra: Any) -> tasks.LambdaInvoke:
        """A step that waits (task token) for a person or the warehouse, at most ``timeout_hours`` (or the
        seconds at ``timeout_path``, planned by the step before)."""
        timeout = (sfn.Timeout.at(timeout_path) if timeout_path
                   else sfn.Timeout.duration(Duration.hours(timeout_hours or 1)))
        return tasks.LambdaInvoke(
            self, state_id, lambda_function=fn, integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=_payload(action, task_token=JsonPath.task_token, **extra), result_path=result_path,
            task_timeout=timeout, retry_on_service_exceptions=False,
        )

    def _plan(self, state_id: str, wait_id: str, policy_hours: int | None,
              scope: Construct | None = None) -> tasks.LambdaInvoke:
        """``Plan<Wait>``: how long the wait may last before the payment hold needs renewing (``$.wait``)."""
        policy = {"policy_hours": policy_hours} if policy_hours is not None else {}  # None: the order's deadline
        return self._invoke(state_id, self.payment.function, Action.PLAN_WAIT, result_path="$.wait", scope=scope,
                            wait=wait_id, **policy)

    @staticmethod
    def _retry(task: sfn.TaskStateBase, errors: list[str], policy: RetryPolicy) -> None:
        task.add_retry(errors=errors, interval=Duration.seconds(policy.interval_seconds),
                       max_attempts=policy.max_attempts, backoff_rate=policy.backoff_rate,
                       max_delay=Duration.seconds(policy.max_delay_seconds), jitter_strategy=sfn.JitterType.FULL)

    def _retries(self, task: tasks.LambdaInvoke, *, waits: bool = False, refusals: list[str] | None = None,
                 gateway: bool = False) -> None:
        """The error policy of ``oms.contract``, in order: refusals, a wait's own timeout and a cancellation are not
        retried; the gateway's processing errors a few times; retryable errors for minutes; anything else (defects)
        a few times."""
        not_retried = [*(refusals or []), *([*TIMEOUT, Error.ORDER_CANCELLED.value] if waits else [])]
        if not_retried:
            task.add_retry(errors=not_retried, max_attempts=0)
        if gateway:
            self._retry(task, [Error.PAYMENT_GATEWAY.value], GATEWAY_RETRY)
        self._retry(task, RETRYABLE_IN_WAITS if waits else RETRYABLE, RETRY)
        self._retry(task, ALL, DEFECT_RETRY)

    def _failed(self, step: tasks.LambdaInvoke, park: sfn.IChainable) -> sfn.Pass:
        """``<Step>Failed``: which step failed goes with its error (at ``$.failure``) to the park."""
        return sfn.Pass(self, f"{step.id}Failed", result=sfn.Result.from_string(step.id),
                        result_path="$.failure.step").next(park)

    def _park(self, state_id: str, fn: lambda_.IFunction, *, hours: int, resume: dict[str, sfn.IChainable],
              on_timeout: sfn.IChainable, cancel: sfn.IChainable | None) -> tuple[tasks.LambdaInvoke, sfn.Choice]:
        """Wait (task token) for ops after a step failed past its retries; ``retry`` resumes at that step
        (``resume``: the failed step's name -> the state that runs it again; more can be added to the returned
        choice). A park that can be cancelled ends at once (``OrderCancelled``) for an order cancelled meanwhile."""
        park = self._wait(state_id, fn, Action.PARK, result_path="$.park", timeout_hours=hours,
                          failure=JsonPath.object_at("$.failure"), cancellable=cancel is not None)
        self._retries(park, waits=True)
        park.add_catch(on_timeout, errors=TIMEOUT, result_path="$.error")
        if cancel is not None:
            park.add_catch(cancel, errors=[Error.ORDER_CANCELLED.value], result_path="$.error")
        park.add_catch(sfn.Fail(self, f"{state_id}Unavailable", error="ParkFailed",
                                cause="The order could not be parked for ops; see the execution's history"),
                       errors=ALL, result_path="$.park_error")
        choice = sfn.Choice(self, f"ResumeAfter{state_id}")
        for step, target in resume.items():
            choice.when(sfn.Condition.string_equals("$.failure.step", step), target)
        park.next(choice.otherwise(on_timeout))
        return park, choice

    # -- stretches: Express sub-workflows ------------------------------------------------------------------
    #
    # A run of synchronous steps (authorize -> reserve -> assess -> plan the first wait; commit -> capture -> mark
    # shipped) is one Express execution started synchronously (``startExecution.sync:2``): one Standard state
    # transition instead of one per step, each step keeping its own Retry policy inside the stretch. A refusal ends
    # the stretch normally with ``$.next = "Compensate"``; a step past its retries fails the stretch with
    # ``StepFailed`` and ``{"step", "Error", "Cause"}`` as the cause, and the parent parks the order at that step.
    # Ops' retry runs the stretch again from its start: every step is idempotent (a step already done answers
    # with what it did), which also makes Express's at-least-once execution harmless.

    def _stretch(self, scope: Construct, definition: sfn.IChainable, comment: str,
                 config: OmsConfig) -> sfn.StateMachine:
        machine = sfn.StateMachine(
            scope, "Machine", definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.EXPRESS, comment=comment,
            logs=log_options(scope, "Logs", config), tracing_enabled=config.tracing,
        )
        self._acknowledge_machine(machine, config)
        acknowledge_function_versions(machine.role, self.payment.function, self.inventory.function,
                                      self.fraud.function, self.order_status.function)
        return machine

    @staticmethod
    def _fail_step(scope: Construct, step: tasks.LambdaInvoke) -> None:
        """Past its retries, a step fails the stretch with ``StepFailed`` and ``{"step", "Error", "Cause"}``."""
        failed = sfn.Pass(scope, f"{step.id}Failed", result=sfn.Result.from_string(step.id),
                          result_path="$.failure.step")
        failed.next(sfn.Fail(scope, f"{step.id}StepFailed", error=STEP_FAILED,
                             cause_path=JsonPath.json_to_string(JsonPath.object_at("$.failure"))))
        step.add_catch(failed, errors=ALL, result_path="$.failure")

    def _run(self, state_id: str, machine: sfn.StateMachine, *, park: sfn.IChainable
             ) -> tasks.StepFunctionsStartExecution:
        """The Standard state that runs a stretch and goes on with its output (the stretch's final state). A
        stretch that could not start (throttled, over a limit) is retried like any transient failure; a failed one
        parks the order: at the step named in its cause (``StepFailed``), or, if it timed out, was stopped or never
        started, as ``<state_id>`` (ops' retry runs it again)."""
        run = tasks.StepFunctionsStartExecution(
            self, state_id, state_machine=machine, integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            input=sfn.TaskInput.from_json_path_at("$"), result_selector={"state": JsonPath.object_at("$.Output")},
            result_path="$", output_path="$.state",
        )
        # Not States.TaskFailed: in a Retry or Catch it matches every task error, the start errors too.
        self._retry(run, list(STRETCH_START_ERRORS), RETRY)

        def to_park(state: str, **failure: Any) -> sfn.Chain:
            return sfn.Pass(self, f"{state_id}{state}", result_path="$.failure", parameters=failure).next(park)

        step_found = sfn.Pass(self, f"{state_id}StepFound", input_path="$.stretch.failure", result_path="$.failure")
        step_found.next(park)
        step_failed = sfn.Pass(self, f"{state_id}StepFailed", result_path="$.stretch", parameters={
            "failure": JsonPath.string_to_json(JsonPath.string_at("$.stretch.execution.Cause"))})
        step_failed.next(step_found)
        named = sfn.Condition.and_(sfn.Condition.is_present("$.stretch.execution.Error"),
                                   sfn.Condition.string_equals("$.stretch.execution.Error", STEP_FAILED))
        failed = sfn.Pass(self, f"{state_id}Failed", result_path="$.stretch", parameters={
            "execution": JsonPath.string_to_json(JsonPath.string_at("$.stretch.Cause"))})
        failed.next(sfn.Choice(self, f"{state_id}FailedHow").when(named, step_failed).otherwise(
            to_park("Stopped", step=state_id, Error=JsonPath.string_at("$.stretch.execution.Status"),
                    Cause="The stretch timed out or was stopped")))
        ended = sfn.Choice(self, f"{state_id}Ended", comment="A failed stretch, or one that never started?")
        ended.when(sfn.Condition.string_equals("$.stretch.Error", STRETCH_FAILED), failed).otherwise(
            to_park("NotStarted", step=state_id, Error=JsonPath.string_at("$.stretch.Error"),
                    Cause=JsonPath.string_at("$.stretch.Cause")))
        run.add_catch(ended, errors=ALL, result_path="$.stretch")
        return run

    def _prepare(self, config: OmsConfig) -> tuple[sfn.StateMachine, list[str]]:
        """The stretch from placement to the first wait: authorize, reserve, assess, then plan the wait
        (``$.next``: ``HoldForReview``, ``AwaitStock`` or ``RequestFulfillment``; ``Compensate`` on a refusal)."""
        scope = Construct(self, "PrepareOrderStretch")
        payment, inventory, fraud = self.payment.function, self.inventory.function, self.fraud.function
        authorize = self._invoke("AuthorizePayment", payment, Action.AUTHORIZE, result_path="$.payment",
                                 scope=scope)
        reserve = self._invoke("ReserveStock", inventory, Action.RESERVE, result_path="$.reservation", scope=scope)
        assess = self._invoke("AssessRisk", fraud, Action.ASSESS, result_path="$.risk", scope=scope)
        refused = sfn.Pass(scope, "Refused", result=sfn.Result.from_string("Compensate"), result_path="$.next")
        self._retries(authorize, refusals=REFUSALS, gateway=True)
        authorize.add_catch(refused, errors=[*REFUSALS, Error.PAYMENT_GATEWAY.value], result_path="$.error")
        for task in (reserve, assess):
            self._retries(task, refusals=REFUSALS)
            task.add_catch(refused, errors=REFUSALS, result_path="$.error")
        plans = []
        for wait_id, hours in (("HoldForReview", config.review_timeout_hours), ("AwaitStock", None),
                               ("RequestFulfillment", config.fulfillment_timeout_hours)):
            plan = self._plan(f"PlanFirst{wait_id}", wait_id, hours, scope=scope)
            plan.next(sfn.Pass(scope, f"Then{wait_id}", result=sfn.Result.from_string(wait_id),
                               result_path="$.next"))
            plans.append(plan)
        plan_hold, plan_stock, plan_fulfillment = plans
        for plan in plans:
            self._retries(plan)
        for task in (authorize, reserve, assess, *plans):
            self._fail_step(scope, task)
        definition = authorize.next(reserve).next(assess).next(
            sfn.Choice(scope, "NeedsReview")
            .when(sfn.Condition.string_equals("$.risk.decision", "review"), plan_hold)
            .otherwise(self._stock_ready(scope, plan_stock, plan_fulfillment)))
        machine = self._stretch(scope, definition, "Order stretch: authorize, reserve, assess, plan the first wait",
                                config)
        return machine, [t.id for t in (authorize, reserve, assess, *plans)]

    def _ship(self, config: OmsConfig) -> tuple[sfn.StateMachine, list[str]]:
        """The stretch after the parcel left: commit the stock, capture (a failure is flagged), mark shipped."""
        scope = Construct(self, "ShipOrderStretch")
        commit = self._invoke("CommitStock", self.inventory.function, Action.COMMIT, result_path="$.committed",
                              scope=scope)
        capture = self._invoke("CapturePayment", self.payment.function, Action.CAPTURE, result_path="$.capture",
                               scope=scope)
        mark_shipped = self._invoke("MarkShipped", self.order_status.function, Action.MARK_SHIPPED,
                                    result_path="$.shipped", scope=scope)
        flag = self._invoke("FlagCaptureFailure", self.order_status.function, Action.FLAG_CAPTURE_FAILURE,
                            result_path=JsonPath.DISCARD, scope=scope, error=JsonPath.object_at("$.error"))
        self._retries(capture, gateway=True)
        capture.add_catch(flag, errors=ALL, result_path="$.error")
        for task in (commit, flag, mark_shipped):
            self._retries(task)
            self._fail_step(scope, task)
        flag.next(mark_shipped)
        machine = self._stretch(scope, commit.next(capture).next(mark_shipped),
                                "Order stretch after the shipment: commit stock, capture payment, mark shipped",
                                config)
        return machine, [t.id for t in (commit, capture, flag, mark_shipped)]

    @staticmethod
    def _stock_ready(scope: Construct, plan_stock: sfn.IChainable, plan_fulfillment: sfn.IChainable) -> sfn.Choice:
        backordered = sfn.Condition.and_(sfn.Condition.is_present("$.reservation.backordered"),
                                         sfn.Condition.boolean_equals("$.reservation.backordered", True))
        return (sfn.Choice(scope, "StockReady", comment="Backordered goods to wait for?")
                .when(backordered, plan_stock).otherwise(plan_fulfillment))

    # -- the state machine, in flow order --------------------------------------------------------------

    def _state_machine(self, config: OmsConfig) -> sfn.StateMachine:
        fraud = self.fraud.function
        inventory = self.inventory.function
        fulfillment = self.fulfillment.function
        order_status = self.order_status.function
        hours = config.technical_hold_timeout_hours
        prepare_machine, prepare_steps = self._prepare(config)
        ship_machine, ship_steps = self._ship(config)
        self.stretches = (prepare_machine, ship_machine)

        # 6-8. After the shipment nothing is compensated: commit stock, capture (or flag), mark shipped (a stretch);
        #      anything past its retries parks the shipment. Built first: a compensation or a renewed wait that
        #      finds the parcel gone goes on from here.
        stuck = sfn.Fail(self, "ShipmentStuck", error="ShipmentStuck", cause="A step after the shipment kept failing")
        park_shipment, resume_shipment = self._park("ParkShipment", order_status, hours=hours, on_timeout=stuck,
                                                    cancel=None, resume={})
        ship = self._run("ShipOrder", ship_machine, park=park_shipment)
        for step in (*ship_steps, ship.id):
            resume_shipment.when(sfn.Condition.string_equals("$.failure.step", step), ship)
        compensate = self._compensation(self.payment.function, inventory, order_status, hours, shipped=ship)
        technical_failure = sfn.Pass(
            self, "TechnicalHoldTimedOut", result_path="$.error",
            result=sfn.Result.from_object({"Error": Error.TECHNICAL_FAILURE.value,
                                           "Cause": "A technical failure was not resolved in time"}),
        ).next(compensate)

        # 4. Hold for review (task token), then the decision. Each wait is planned first (how long it may wait
        #    before the payment hold needs renewing) and renews the hold when that time comes (RenewPayment...).
        hold = self._wait("HoldForReview", fraud, Action.HOLD, result_path="$.review",
                          timeout_path="$.wait.seconds", risk=JsonPath.object_at("$.risk"))
        review_rejected = sfn.Pass(
            self, "ReviewRejected",
            parameters={"Error": Error.REVIEW_REJECTED.value, "Cause": JsonPath.string_at("$.review.note")},
            result_path="$.error",
        ).next(compensate)
        # 4b. Wait for backordered goods (task token): BACKORDERED until a receipt fills the order.
        await_stock = self._wait("AwaitStock", inventory, Action.AWAIT_STOCK, result_path="$.stock",
                                 timeout_path="$.wait.seconds")
        # 5. Request fulfillment (task token): the warehouse ships.
        request_fulfillment = self._wait("RequestFulfillment", fulfillment, Action.REQUEST_FULFILLMENT,
                                         result_path="$.shipment", timeout_path="$.wait.seconds")

        waits = []
        for wait, policy_hours, timed_out, error, cause in (
            (hold, config.review_timeout_hours, "ReviewTimedOut", Error.REVIEW_TIMEOUT,
             "The order was not reviewed in time"),
            (request_fulfillment, config.fulfillment_timeout_hours, "FulfillmentTimedOut",
             Error.FULFILLMENT_TIMEOUT, "The order was not shipped in time"),
            # The deadline is the order's own: backorderLimitDays past its first expected date.
            (await_stock, None, "BackorderTimedOut", Error.BACKORDER_TIMEOUT,
             "The backordered goods did not arrive in time"),
        ):
            result = sfn.Result.from_object({"Error": error.value, "Cause": cause})
            waits.append((wait, self._renewing(wait, policy_hours, config),
                          sfn.Pass(self, timed_out, result=result, result_path="$.error").next(compensate)))
        (plan_hold, hold_renewal), (plan_fulfillment, fulfillment_renewal), (plan_stock, stock_renewal) = (
            w[1] for w in waits)

        # 1-3. Authorize, reserve, assess and plan the first wait (a stretch). Before the shipment: refusals
        #      compensate; anything else past its retries parks the order.
        # A wait resumes at the step that plans it (its timeout is planned afresh); a stretch from its start.
        resume_order: dict[str, sfn.IChainable] = {
            s.id: s for s in (plan_hold, plan_stock, plan_fulfillment, *hold_renewal, *stock_renewal,
                              *fulfillment_renewal)}
        resume_order.update({hold.id: plan_hold, await_stock.id: plan_stock, request_fulfillment.id: plan_fulfillment})
        park_order, resume_after_park = self._park("ParkOrder", order_status, hours=hours,
                                                   on_timeout=technical_failure, cancel=compensate,
                                                   resume=resume_order)
        prepare = self._run("PrepareOrder", prepare_machine, park=park_order)
        for step in (*prepare_steps, prepare.id):
            resume_after_park.when(sfn.Condition.string_equals("$.failure.step", step), prepare)

        for wait, (plan, (renew, await_payment)), timed_out_state in waits:
            self._retries(plan)
            plan.add_catch(self._failed(plan, park_order), errors=ALL, result_path="$.failure")
            if wait is request_fulfillment:  # the parcel was recorded while the wait was being renewed
                self._retries(wait, waits=True, refusals=[Error.ORDER_SHIPPED.value])
                wait.add_catch(ship, errors=[Error.ORDER_SHIPPED.value], result_path="$.error")
            elif wait is await_stock:  # the goods came before the wait began
                self._retries(wait, waits=True, refusals=[Error.STOCK_ARRIVED.value])
                wait.add_catch(plan_fulfillment, errors=[Error.STOCK_ARRIVED.value], result_path="$.error")
            else:
                self._retries(wait, waits=True)
            why = sfn.Choice(self, f"{wait.id}WaitEnded", comment="Renew the payment hold, or the wait's policy ended")
            why.when(sfn.Condition.boolean_equals("$.wait.renew", True), renew).otherwise(timed_out_state)
            wait.add_catch(why, errors=TIMEOUT, result_path="$.error")
            wait.add_catch(compensate, errors=[Error.ORDER_CANCELLED.value], result_path="$.error")
            wait.add_catch(self._failed(wait, park_order), errors=ALL, result_path="$.failure")
            # Renewing the hold: declined -> the customer is asked for a new payment method (AwaitPayment...).
            self._retries(renew, refusals=[Error.PAYMENT_DECLINED.value], gateway=True)
            renew.add_catch(await_payment, errors=[Error.PAYMENT_DECLINED.value], result_path="$.error")
            renew.add_catch(self._failed(renew, park_order), errors=ALL, result_path="$.failure")
            self._retries(await_payment, waits=True)
            not_updated = sfn.Pass(self, f"{await_payment.id}TimedOut", result_path="$.error",
                                   result=sfn.Result.from_object({
                                       "Error": Error.PAYMENT_NOT_UPDATED.value,
                                       "Cause": "The payment method was not updated in time"})).next(compensate)
            await_payment.add_catch(not_updated, errors=TIMEOUT, result_path="$.error")
            await_payment.add_catch(compensate, errors=[Error.ORDER_CANCELLED.value], result_path="$.error")
            await_payment.add_catch(self._failed(await_payment, park_order), errors=ALL, result_path="$.failure")

        stock_ready = self._stock_ready(self, plan_stock, plan_fulfillment)
        await_stock.next(plan_fulfillment)
        hold.next(
            sfn.Choice(self, "ReviewDecision")
            .when(sfn.Condition.string_equals("$.review.decision", "approve"), stock_ready)
            .otherwise(review_rejected)
        )
        request_fulfillment.next(ship)
        definition = prepare.next(
            sfn.Choice(self, "Route", comment="Where the stretch left the order")
            .when(sfn.Condition.string_equals("$.next", "Compensate"), compensate)
            .when(sfn.Condition.string_equals("$.next", "HoldForReview"), hold)
            .when(sfn.Condition.string_equals("$.next", "AwaitStock"), await_stock)
            .otherwise(request_fulfillment)
        )
        return self._machine(definition, config)

    def _renewing(self, wait: tasks.LambdaInvoke, policy_hours: int | None, config: OmsConfig
                  ) -> tuple[tasks.LambdaInvoke, tuple[tasks.LambdaInvoke, tasks.LambdaInvoke]]:
        """``Plan<Wait>`` -> ``<Wait>`` (timeout planned) and, when the payment hold is due for renewal,
        ``RenewPaymentFor<Wait>`` -> ``Plan<Wait>`` again; a declined renewal waits for the customer's new payment
        method (``AwaitPaymentFor<Wait>``, task token) and renews with it. The wait's own deadline does not move.
        (The first plan of the wait an order reaches from placement is in the ``PrepareOrder`` stretch.)"""
        plan = self._plan(f"Plan{wait.id}", wait.id, policy_hours)
        renew = self._invoke(f"RenewPaymentFor{wait.id}", self.payment.function, Action.REAUTHORIZE,
                             result_path="$.renewal", wait=wait.id, plan=JsonPath.number_at("$.wait.plan"))
        await_payment = self._wait(f"AwaitPaymentFor{wait.id}", self.order_status.function, Action.AWAIT_PAYMENT,
                                   result_path="$.payment_update", timeout_hours=config.payment_update_hours)
        plan.next(wait)
        renew.next(plan)
        await_payment.next(renew)
        return plan, (renew, await_payment)

    def _compensation(self, payment: lambda_.IFunction, inventory: lambda_.IFunction,
                      order_status: lambda_.IFunction, hours: int, *, shipped: sfn.IChainable) -> sfn.Pass:
        """Undo the order's side effects, then close it with the reason in ``$.error``. A step that keeps failing
        parks the order (ops retry it; past the technical hold the execution fails and alarms). If the parcel was
        recorded before the stock could be released (``OrderShipped``), the shipment wins: on to ``shipped``."""
        release = self._invoke("ReleaseStock", inventory, Action.RELEASE, result_path=JsonPath.DISCARD)
        void = self._invoke("VoidPayment", payment, Action.VOID, result_path=JsonPath.DISCARD)
        close = self._invoke("CloseOrder", order_status, Action.CLOSE, result_path="$.closed",
                             error=JsonPath.object_at("$.error"))
        failed = sfn.Fail(self, "CompensationFailed", error="CompensationFailed",
                          cause="Compensation did not complete; the order needs manual attention")
        park, _ = self._park("ParkCompensation", order_status, hours=hours, on_timeout=failed, cancel=None,
                             resume={t.id: t for t in (release, void, close)})
        self._retries(release, refusals=[Error.ORDER_SHIPPED.value])
        release.add_catch(shipped, errors=[Error.ORDER_SHIPPED.value], result_path="$.error")
        for task in (void, close):
            self._retries(task)
        for task in (release, void, close):
            task.add_catch(self._failed(task, park), errors=ALL, result_path="$.failure")
        compensate = sfn.Pass(self, "Compensate", comment="Undo the order's side effects, then close it")
        compensate.next(release).next(void).next(close).next(sfn.Succeed(self, "Closed"))
        return compensate

    def _machine(self, definition: sfn.IChainable, config: OmsConfig) -> sfn.StateMachine:
        machine = sfn.StateMachine(
            self, "OrderWorkflow",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            comment="Order workflow: prepare (authorize, reserve, assess), (review, backorder), fulfill, ship",
            logs=log_options(self, "OrderWorkflowLogs", config), tracing_enabled=config.tracing,
        )
        self._acknowledge_machine(machine, config)
        for stretch in self.stretches:
            acknowledge_executions(machine.role, stretch, nested=True)
        return machine

    @staticmethod
    def _acknowledge_machine(machine: sfn.StateMachine, config: OmsConfig) -> None:
        acknowledge_log_level(machine, config)
        acknowledge(
            machine.role,
            "IAM5",
            "CloudWatch Logs vended log delivery (logs:*LogDelivery, DescribeResourcePolicies) and X-Ray "
            "do not support resource-level permissions; CDK adds them for logging and tracing.",
            "Resource::*",
        )
        role = machine.role
        assert isinstance(role, iam.Role)
        depend_only_on_default_policy(machine, role)
