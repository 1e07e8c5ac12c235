"""OmsMonitoring: the two CloudWatch dashboards, "OMS-business" and "OMS-health", and the account-level alarms.

* **OMS-business** is native ``aws_cloudwatch`` widgets over the functions' EMF business metrics (namespace ``OMS``,
  dimension ``service`` = the emitting function, plus the listed dimensions). cdk-monitoring-constructs has no model
  of custom business metrics beyond "a graph of these metrics", so plain widgets say the same with exact titles,
  periods and statistics. Dimension values that form a closed set in the code (currencies, order statuses, return
  reasons, channels and outcomes) are explicit metrics (they render locally, on the ops page, too); open sets
  (cancellation reasons, payment decline codes) are ``SEARCH`` expressions.
* **OMS-health** is a ``MonitoringFacade`` (cdk-monitoring-constructs) for what it models well, per resource: the
  API as a whole, each state machine and each Lambda step of it, each queue with its dead-letter queue, each
  function. Native widgets add what the library does not cover or covers poorly: a summary row (every function's
  errors, throttles, duration p99 and concurrency on one graph each; failed executions; DLQ depth), per-route API
  graphs (one line per route, rather than one section of widgets per route for 50+ routes), DynamoDB consumed
  capacity and throttles per table (the library's per-table section is mostly provisioned-capacity graphs, empty for
  on-demand tables, 6 widgets per table) and the SES reputation.

The facade creates no alarms: every alarm goes through ``infra.alarms.alarm_on`` (severity, runbook link, topic).
Functions, tables, queues and state machines are found by walking the construct tree of every other stack of the
app, so a new one appears on the health dashboard without an edit here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar, cast, get_args

import cdk_monitoring_constructs as monitoring
from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct

from infra.alarms import NAMESPACE, Severity, alarm_on
from infra.api_stack import ApiStack
from infra.config import OmsConfig
from infra.data_stack import DataStack
from infra.functions import PowertoolsFunction
from infra.messaging_stack import MessagingStack
from infra.returns_stack import ReturnsStack
from infra.workflow_stack import WorkflowStack
from oms.domain.money import SUPPORTED_CURRENCIES
from oms.domain.reasons import ReturnReason
from oms.domain.status import OrderStatus

BUSINESS_DASHBOARD = "OMS-business"
HEALTH_DASHBOARD = "OMS-health"

RETURN_REASONS: tuple[str, ...] = get_args(ReturnReason)  # a closed API enum
CHANNELS = ("email", "sms")
OUTCOMES = ("SENT", "SKIPPED", "FAILED")

FIVE_MINUTES = Duration.minutes(5)
HOUR = Duration.hours(1)
DAY = Duration.days(1)

#: (what, AWS/SES metric, the rate at which AWS puts the account under review): a ticket at 80% of it.
SES_REPUTATION = (("bounce", "Reputation.BounceRate", 0.05), ("complaint", "Reputation.ComplaintRate", 0.001))
SES_ALARM_SHARE = 0.8

C = TypeVar("C", bound=IConstruct)


def emf(name: str, service: str, *, statistic: str = "Sum", period: Duration = FIVE_MINUTES,
        label: str | None = None, **dimensions: str) -> cloudwatch.Metric:
    """A business metric a function emits as EMF (namespace OMS, ``service`` plus ``dimensions``)."""
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name, dimensions_map={"service": service, **dimensions},
                             statistic=statistic, period=period, label=label or name)


def search(name: str, service: str, dimension: str, *, period: Duration = HOUR,
           label: str = "") -> cloudwatch.MathExpression:
    """Every value of ``dimension`` of an EMF metric (an open set: a line per value that occurred)."""
    return cloudwatch.MathExpression(
        expression=(f"SEARCH('{{{NAMESPACE},{dimension},service}} MetricName=\"{name}\" service=\"{service}\"', "
                    f"'Sum', {int(period.to_seconds())})"),
        using_metrics={}, period=period, label=label or f"{name} by {dimension}")


def find_all(stacks: Iterable[Stack], kind: type[C]) -> list[C]:
    """Every construct of ``kind`` in ``stacks``, in construct-tree order, each once."""
    found: list[C] = []
    for stack in stacks:
        for construct in stack.node.find_all():
            if isinstance(construct, kind) and construct not in found:
                found.append(construct)
    return found


def reads_a_stream(pf: PowertoolsFunction) -> bool:
    """The function consumes a DynamoDB or Kinesis stream (its iterator age matters)."""
    return any(child.node.id.startswith(("DynamoDBEventSource", "KinesisEventSource"))
               for child in pf.function.node.children)


def queue_name(queue: sqs.IQueue) -> str:
    """A queue's construct id, prefixed with its parent's when the id alone says nothing ("Dlq")."""
    parent = queue.node.scope
    return f"{parent.node.id}{queue.node.id}" if queue.node.id == "Dlq" and parent is not None else queue.node.id


def route_group(path: str) -> str:
    if path.startswith("/admin"):
        return "ops (/admin)"
    if path.startswith("/webhooks"):
        return "carrier webhooks"
    return "storefront"


class MonitoringStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: OmsConfig,
        data: DataStack,
        messaging: MessagingStack,
        workflow: WorkflowStack,
        returns: ReturnsStack,
        api: ApiStack,
        ops: Stack | None = None,
        extra_functions: Sequence[PowertoolsFunction] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.runbooks = f"{config.runbook_base_url}#alarms-and-runbooks"
        # Every other stack of the app (the named ones first), so stacks added later are monitored too.
        named: list[Stack] = [data, messaging, workflow, returns, api, *([ops] if ops is not None else [])]
        others = [c for c in scope.node.children if isinstance(c, Stack) and c is not self]
        self.monitored_stacks = [*named, *(s for s in others if s not in named)]
        self.functions = find_all(self.monitored_stacks, PowertoolsFunction)
        self.functions += [pf for pf in extra_functions if pf not in self.functions]
        self.tables = find_all(self.monitored_stacks, dynamodb.Table)
        self.state_machines = find_all(self.monitored_stacks, sfn.StateMachine)
        queues = find_all(self.monitored_stacks, sqs.Queue)
        self.dead_letter_queues = [q.dead_letter_queue.queue for q in queues if q.dead_letter_queue is not None]
        self.dead_letter_queues += [q for q in queues if q.node.id.endswith("Dlq") and q not in self.dead_letter_queues]
        self.queues_with_dlq = [(q, q.dead_letter_queue.queue) for q in queues if q.dead_letter_queue is not None]
        self.rest_api = api.api
        self.routes = sorted({(m.resource.path, m.http_method) for m in find_all([api], apigateway.Method)
                              if m.http_method != "OPTIONS"})
        # The functions the state machines invoke (their "step durations", as Step Functions measures them).
        self.workflow_steps = [workflow.payment, workflow.inventory, workflow.fraud, workflow.fulfillment,
                               workflow.order_status, returns.steps]

        self.business = self._business_dashboard()
        self.health = self._health_dashboard()
        self._alarms(messaging)

    # -- OMS-business ------------------------------------------------------------------------------------------

    def _business_dashboard(self) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "BusinessDashboard", dashboard_name=BUSINESS_DASHBOARD,
                                         default_interval=DAY)
        graph = cloudwatch.GraphWidget
        placed = emf("OrdersPlaced", "place_order", label="Orders placed")
        on_time = emf("DeliveriesOnTime", "order_facts", period=DAY)
        late = emf("DeliveriesLate", "order_facts", period=DAY)
        dashboard.add_widgets(cloudwatch.TextWidget(
            markdown=("# OMS business\nEMF metrics of the OMS functions (namespace `OMS`). Counts are per 5 minutes "
                      "unless a title says otherwise; the queue gauges are sampled every 5 minutes by the "
                      f"escalations function. Reports over whole days: `GET /admin/reports/kpis`. "
                      f"[Alarms and runbooks]({self.runbooks})"),
            width=24, height=2))
        dashboard.add_widgets(
            cloudwatch.SingleValueWidget(title="Orders placed in the dashboard's time range", metrics=[placed],
                                         set_period_to_time_range=True, width=6, height=5),
            graph(title="Orders placed per 5 minutes", left=[placed], width=9, height=5),
            graph(title="Revenue per hour by currency (major units)", width=9, height=5,
                  left=[emf("Revenue", "order_facts", period=HOUR, label=currency, currency=currency)
                        for currency in sorted(SUPPORTED_CURRENCIES)]),
        )
        dashboard.add_widgets(
            graph(title="Orders entering each status per 5 minutes", width=12, height=6,
                  left=[emf("OrderStatusEntered", "order_facts", label=status.value, status=status.value)
                        for status in OrderStatus]),
            graph(title="On-time delivery rate per day (%)", width=6, height=6, left_y_axis={"min": 0, "max": 100},
                  left=[cloudwatch.MathExpression(expression="100 * onTime / (onTime + late)",
                                                  using_metrics={"onTime": on_time, "late": late},
                                                  label="Delivered by the promised date (%)", period=DAY)]),
            graph(title="Deliveries on time and late per day", width=6, height=6, stacked=True,
                  left=[on_time.with_(label="On time"), late.with_(label="Late")]),
        )
        dashboard.add_widgets(
            graph(title="Held orders: queue depth and oldest wait (minutes)", width=8, height=6,
                  left=[emf("HeldOrders", "escalations", statistic="Maximum", label="Held orders")],
                  right=[emf("OldestHeldMinutes", "escalations", statistic="Maximum", label="Oldest (minutes)")]),
            graph(title="Backorders waiting for stock", width=8, height=6,
                  left=[emf("BackordersWaiting", "escalations", statistic="Maximum", label="Backordered orders")]),
            graph(title="Return reviews: queue depth and oldest wait (minutes)", width=8, height=6,
                  left=[emf("ReturnReviewsWaiting", "escalations", statistic="Maximum", label="Returns to review")],
                  right=[emf("OldestReturnReviewMinutes", "escalations", statistic="Maximum",
                             label="Oldest (minutes)")]),
        )
        dashboard.add_widgets(
            graph(title="Cancellations per hour by reason", width=8, height=6,
                  left=[search("OrdersCancelled", "order_facts", "reason", label="${PROP('Dim.reason')}")]),
            graph(title="Returns per hour by reason", width=8, height=6,
                  left=[emf("ReturnsByReason", "order_facts", period=HOUR, label=reason, reason=reason)
                        for reason in RETURN_REASONS]),
            graph(title="Payment declines per hour by decline code", width=8, height=6,
                  left=[search("PaymentDeclines", "payment", "code", label="${PROP('Dim.code')}")]),
        )
        dashboard.add_widgets(*(
            graph(title=f"{title} (minutes, p50 and p90 per hour)", width=12, height=6,
                  left=[emf(metric, "order_facts", statistic=stat, period=HOUR, label=stat) for stat in ("p50", "p90")])
            for title, metric in (("Place to ship time", "PlaceToShipMinutes"),
                                  ("Ship to deliver time", "ShipToDeliverMinutes"))
        ))
        dashboard.add_widgets(
            *(graph(title=f"{label} notifications: sent, skipped, failed", width=8, height=6,
                    left=[emf("Notifications", "notify", label=outcome.lower(), channel=channel, outcome=outcome)
                          for outcome in OUTCOMES])
              for channel, label in zip(CHANNELS, ("Email", "SMS"), strict=True)),
            graph(title="SLA reminders, escalations, default actions, stuck orders", width=8, height=6,
                  left=[emf(name, "escalations", label=label) for name, label in (
                      ("SlaReminders", "Reminders"), ("SlaEscalations", "Escalations"),
                      ("SlaDefaultActions", "Default actions"), ("StuckOrdersFound", "Stuck orders found"))]),
        )
        dashboard.add_widgets(
            graph(title="Orders parked and cancelled for a technical reason", width=8, height=6,
                  left=[emf("OrdersParked", "order_status", label="Parked"),
                        emf("TechnicalCompensations", "order_status", label="Cancelled (technical)")]),
            graph(title="Customer cancellations per hour by reason", width=8, height=6,
                  left=[search("OrdersCancelledByCustomer", "order_changes", "reason",
                               label="${PROP('Dim.reason')}")]),
            graph(title="Email addresses suppressed (bounces, complaints)", width=8, height=6,
                  left=[emf("EmailAddressesSuppressed", "mail_feedback", label="Suppressed")]),
        )
        return dashboard

    # -- OMS-health --------------------------------------------------------------------------------------------

    def _health_dashboard(self) -> monitoring.MonitoringFacade:
        facade = monitoring.MonitoringFacade(
            self, "Health",
            dashboard_factory=monitoring.DefaultDashboardFactory(
                self, "HealthDashboards", dashboard_name_prefix=HEALTH_DASHBOARD, create_dashboard=True,
                create_summary_dashboard=False, create_alarm_dashboard=False,
                detail_dashboard_range=Duration.hours(3)))
        facade.add_large_header("OMS health")
        facade.add_widget(cloudwatch.TextWidget(
            markdown=(f"Functions, API, workflows, queues, tables and SES of the OMS, found in the CDK app. "
                      f"Every alarm pages or opens a ticket: [alarms and runbooks]({self.runbooks})."),
            width=24, height=1))
        self._add_rows(facade, self._summary_widgets())

        facade.add_medium_header("API (stage v1)")
        facade.monitor_api_gateway(api=self.rest_api, api_stage=self.rest_api.deployment_stage.stage_name,
                                   human_readable_name="OMS API, all routes", alarm_friendly_name="Api")
        self._add_rows(facade, self._route_widgets())

        facade.add_medium_header("Workflows")
        for machine in self.state_machines:
            name = machine.node.id
            facade.monitor_step_function(state_machine=machine, human_readable_name=f"{name} executions",
                                         alarm_friendly_name=name)
        for pf in self.workflow_steps:
            facade.monitor_step_function_lambda_integration(
                lambda_function=pf.function, human_readable_name=f"{pf.name} as a workflow step",
                alarm_friendly_name=f"{pf.name}-step")

        facade.add_medium_header("Queues and dead-letter queues")
        for queue, dead_letters in self.queues_with_dlq:
            facade.monitor_sqs_queue_with_dlq(queue=queue, dead_letter_queue=dead_letters,
                                              human_readable_name=f"{queue.node.id} queue",
                                              alarm_friendly_name=queue.node.id)
        with_source = {id(dlq) for _, dlq in self.queues_with_dlq}
        for dlq in self.dead_letter_queues:
            if id(dlq) not in with_source:
                name = queue_name(dlq)
                facade.monitor_sqs_queue(queue=dlq, human_readable_name=f"{name} dead-letter queue",
                                         alarm_friendly_name=name)

        facade.add_medium_header("DynamoDB tables")
        self._add_rows(facade, self._table_widgets())

        facade.add_medium_header("SES sending reputation (account)")
        self._add_rows(facade, self._ses_widgets())

        facade.add_medium_header("Functions")
        for pf in self.functions:
            facade.monitor_lambda_function(lambda_function=pf.function, human_readable_name=pf.name,
                                           alarm_friendly_name=pf.name, is_iterator=reads_a_stream(pf))
        return facade

    @staticmethod
    def _add_rows(facade: monitoring.MonitoringFacade, widgets: list[cloudwatch.IWidget]) -> None:
        """Native widgets side by side, a new row each time the 24 columns are full (the facade puts each widget it
        is given on a row of its own)."""
        row: list[cloudwatch.IWidget] = []
        for widget in widgets:
            if sum(w.width for w in row) + widget.width > 24:
                facade.add_widget(cast(cloudwatch.IWidget, cloudwatch.Row(*row)))
                row = []
            row.append(widget)
        if row:
            facade.add_widget(cast(cloudwatch.IWidget, cloudwatch.Row(*row)))

    def _summary_widgets(self) -> list[cloudwatch.IWidget]:
        graph = cloudwatch.GraphWidget
        api = self.rest_api
        functions = self.functions
        return [
            graph(title="API requests, 4XX and 5XX, all routes (per 5 minutes)", width=8, height=6,
                  left=[api.metric_count(period=FIVE_MINUTES, statistic="Sum", label="Requests")],
                  right=[api.metric_client_error(period=FIVE_MINUTES, statistic="Sum", label="4XX"),
                         api.metric_server_error(period=FIVE_MINUTES, statistic="Sum", label="5XX")]),
            graph(title="Workflow executions failed or timed out (per 5 minutes)", width=8, height=6,
                  left=[m for machine in self.state_machines for m in (
                      machine.metric_failed(period=FIVE_MINUTES, statistic="Sum",
                                            label=f"{machine.node.id} failed"),
                      machine.metric_timed_out(period=FIVE_MINUTES, statistic="Sum",
                                               label=f"{machine.node.id} timed out"))]),
            graph(title="Dead-letter queue depth (messages)", width=8, height=6,
                  left=[q.metric_approximate_number_of_messages_visible(
                      period=FIVE_MINUTES, statistic="Maximum", label=queue_name(q))
                      for q in self.dead_letter_queues]),
            graph(title="Payment gateway errors (per 5 minutes)", width=6, height=6,
                  left=[emf("PaymentGatewayErrors", "payment", label="Gateway errors")]),
            graph(title="Function errors, every function (per 5 minutes)", width=9, height=6,
                  left=[pf.function.metric_errors(period=FIVE_MINUTES, statistic="Sum", label=pf.name)
                        for pf in functions]),
            graph(title="Function throttles, every function (per 5 minutes)", width=9, height=6,
                  left=[pf.function.metric_throttles(period=FIVE_MINUTES, statistic="Sum", label=pf.name)
                        for pf in functions]),
            graph(title="Function duration p99, every function (ms)", width=12, height=6,
                  left=[pf.function.metric_duration(period=FIVE_MINUTES, statistic="p99", label=pf.name)
                        for pf in functions]),
            graph(title="Function concurrent executions, every function (max)", width=12, height=6,
                  left=[pf.function.metric("ConcurrentExecutions", period=FIVE_MINUTES, statistic="Maximum",
                                           label=pf.name)
                        for pf in functions]),
        ]

    def _route_metric(self, name: str, path: str, method: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway", metric_name=name, statistic=statistic, period=FIVE_MINUTES,
            label=f"{method} {path}",
            dimensions_map={"ApiName": self.rest_api.rest_api_name, "Method": method, "Resource": path,
                            "Stage": self.rest_api.deployment_stage.stage_name})

    def _route_widgets(self) -> list[cloudwatch.IWidget]:
        """Requests, 4XX, 5XX and latency p50/p99 per route (the stage has detailed metrics): one graph per measure
        and group of routes, one line per route."""
        groups: dict[str, list[tuple[str, str]]] = {}
        for path, method in self.routes:
            groups.setdefault(route_group(path), []).append((path, method))
        widgets: list[cloudwatch.IWidget] = []
        for title, metric, statistic in (("requests", "Count", "Sum"), ("4XX", "4XXError", "Sum"),
                                         ("5XX", "5XXError", "Sum"), ("latency p50 (ms)", "Latency", "p50"),
                                         ("latency p99 (ms)", "Latency", "p99")):
            for group in ("storefront", "ops (/admin)", "carrier webhooks"):
                routes = groups.get(group, [])
                if routes:
                    widgets.append(cloudwatch.GraphWidget(
                        title=f"API {title} per route: {group}", width=8, height=6, legend_position=(
                            cloudwatch.LegendPosition.RIGHT if len(routes) > 10 else cloudwatch.LegendPosition.BOTTOM),
                        left=[self._route_metric(metric, path, method, statistic) for path, method in routes]))
        return widgets

    def _table_widgets(self) -> list[cloudwatch.IWidget]:
        graph = cloudwatch.GraphWidget
        tables = self.tables

        def each(metric: str) -> list[cloudwatch.IMetric]:
            return [t.metric(metric, period=FIVE_MINUTES, statistic="Sum", label=t.node.id) for t in tables]

        return [
            graph(title="DynamoDB consumed read capacity per table (RCU per 5 minutes)", width=12, height=6,
                  left=each("ConsumedReadCapacityUnits")),
            graph(title="DynamoDB consumed write capacity per table (WCU per 5 minutes)", width=12, height=6,
                  left=each("ConsumedWriteCapacityUnits")),
            graph(title="DynamoDB read throttle events per table", width=12, height=6,
                  left=each("ReadThrottleEvents")),
            graph(title="DynamoDB write throttle events per table", width=12, height=6,
                  left=each("WriteThrottleEvents")),
        ]

    def _ses_widgets(self) -> list[cloudwatch.IWidget]:
        widgets: list[cloudwatch.IWidget] = []
        for what, metric, review in SES_REPUTATION:
            rate = cloudwatch.Metric(namespace="AWS/SES", metric_name=metric, statistic="Maximum", period=HOUR)
            widgets.append(cloudwatch.GraphWidget(
                title=f"SES {what} rate (%)", width=12, height=6,
                left=[cloudwatch.MathExpression(expression="100 * rate", using_metrics={"rate": rate},
                                                label=f"{what.capitalize()} rate (%)", period=HOUR)],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=100 * review,
                                                                  label="AWS reviews the account")]))
        return widgets

    # -- alarms ------------------------------------------------------------------------------------------------

    def _alarms(self, messaging: MessagingStack) -> None:
        """The account's SES reputation (tickets: the alarms fire below the rates at which AWS reviews it)."""
        routing = messaging.alarm_routing
        for what, metric, review in SES_REPUTATION:
            above = review * SES_ALARM_SHARE
            alarm_on(self, f"Ses{what.capitalize()}RateAlarm",
                     f"The account's SES {what} rate is above {above:.2%} (AWS reviews the account at {review:.1%})",
                     cloudwatch.Metric(namespace="AWS/SES", metric_name=metric, statistic="Maximum", period=HOUR),
                     routing, severity=Severity.TICKET, above=round(above, 6), runbook=f"ses-{what}-rate")
