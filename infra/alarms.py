"""One way to raise an alarm: a metric breaching in one 5-minute period notifies the ops-alerts topic."""

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct


def alarm_on(scope: Construct, construct_id: str, description: str, metric: cloudwatch.IMetric,
             topic: sns.ITopic, *, above: float = 0) -> cloudwatch.Alarm:
    """Alarm when ``metric`` is greater than ``above`` (default: any occurrence)."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=above,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cw_actions.SnsAction(topic))
    return alarm
