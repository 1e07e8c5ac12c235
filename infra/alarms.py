"""One way to raise an alarm: a metric breaching notifies the paging or the ticket topic, and its description says
which (``Severity``) and ends with the full URL of its runbook section in docs/operating.md.

Paging is for what cannot wait for the morning: a workflow execution failed, a dead-letter queue is not empty, the
API answers 5XX, the payment gateway is failing. Everything else opens a ticket. Every alarm of the app goes through
``alarm_on`` (the dashboards create none), and tests/infra/test_dashboards.py checks each one's runbook link and
topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

NAMESPACE = "OMS"


class Severity(StrEnum):
    PAGE = "page"  # wakes the on-call engineer (the paging topic)
    TICKET = "ticket"  # handled in working hours (the ticket topic)


@dataclass(frozen=True)
class AlarmRouting:
    """Where alarms go (``MessagingStack.alarm_routing``) and where their runbooks live.

    A routing without a paging topic (what a function's own errors alarm gets) can only raise tickets.
    """

    tickets: sns.ITopic
    runbook_base_url: str
    paging: sns.ITopic | None = None

    def topic(self, severity: Severity) -> sns.ITopic:
        if severity is Severity.TICKET:
            return self.tickets
        if self.paging is None:
            raise ValueError("this alarm routing has no paging topic: pass MessagingStack.alarm_routing")
        return self.paging

    def runbook_url(self, anchor: str) -> str:
        return f"{self.runbook_base_url}#{anchor}"


def alarm_on(scope: Construct, construct_id: str, description: str, metric: cloudwatch.IMetric,
             routing: AlarmRouting, *, severity: Severity, runbook: str, above: float = 0,
             periods: int = 1) -> cloudwatch.Alarm:
    """Alarm when ``metric`` is greater than ``above`` (default: any occurrence) in ``periods`` periods running.

    ``runbook`` is the anchor of the alarm's section in docs/operating.md (its heading's GitHub slug).
    """
    if not runbook or runbook != runbook.strip().lower() or " " in runbook:
        raise ValueError(f"runbook {runbook!r} must be the GitHub anchor of a heading in docs/operating.md")
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=f"{description}. Severity: {severity.value}. Runbook: {routing.runbook_url(runbook)}",
        metric=metric,
        threshold=above,
        evaluation_periods=periods,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cw_actions.SnsAction(routing.topic(severity)))
    return alarm


def service_metric(service: str, name: str) -> cloudwatch.Metric:
    """An EMF metric a function emits with Powertools Metrics (namespace OMS, dimension ``service``)."""
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name, dimensions_map={"service": service},
                             statistic="Sum", period=Duration.minutes(5))
