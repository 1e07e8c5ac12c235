"""One way to raise an alarm: a metric breaching notifies the alarms topic, with the runbook in its description."""

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

RUNBOOK = "docs/operating.md#{}"
NAMESPACE = "OMS"


def alarm_on(scope: Construct, construct_id: str, description: str, metric: cloudwatch.IMetric,
             topic: sns.ITopic, *, above: float = 0, periods: int = 1, runbook: str = "alarms") -> cloudwatch.Alarm:
    """Alarm when ``metric`` is greater than ``above`` (default: any occurrence) in ``periods`` periods running."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=f"{description}. Runbook: {RUNBOOK.format(runbook)}",
        metric=metric,
        threshold=above,
        evaluation_periods=periods,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cw_actions.SnsAction(topic))
    return alarm


def service_metric(service: str, name: str) -> cloudwatch.Metric:
    """An EMF metric a function emits with Powertools Metrics (namespace OMS, dimension ``service``)."""
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name, dimensions_map={"service": service},
                             statistic="Sum", period=Duration.minutes(5))
