"""The escalation engine: the ``escalations`` function every 5 minutes, and the ``Escalations`` topic it escalates to
(SLA escalations, default actions taken by the policy, stuck orders); reminders go to the order-alerts topic."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import OmsConfig
from infra.data_stack import DataStack
from infra.functions import PowertoolsFunction, function_factory
from infra.messaging_stack import MessagingStack
from infra.nag import acknowledge_kms_data_keys, acknowledge_table_indexes
from infra.returns_stack import ReturnsStack
from infra.workflow_stack import WorkflowStack

#: A run reads every order in the queues' and the stuck rules' statuses (a filtered Query, page by page); one cut off
#: is continued by the next run, since every write is conditional.
ESCALATIONS_TIMEOUT = Duration.minutes(2)
SCHEDULE = Duration.minutes(5)


class Escalations(Construct):
    """``escalations`` (``oms.logic.escalations``) with the escalation policy, the two topics and the grants of
    what a run does: read the queues (Orders and Returns, their ``by_status`` indexes), record its stages on the
    items, publish, and take a default decision (the order review resumes OrderWorkflow's wait, the return review
    ReturnWorkflow's and emails the customer)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: OmsConfig, data: DataStack,
                 messaging: MessagingStack, workflow: WorkflowStack, returns: ReturnsStack) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name="OMS escalations", master_key=messaging.alerts_key,
                               enforce_ssl=True)
        make = function_factory(self, config, ESCALATIONS_TIMEOUT, messaging.alarms)
        self.function: PowertoolsFunction = make("escalations", "Function", {
            "ORDERS_TABLE": data.orders.table_name, "RETURNS_TABLE": data.returns.table_name,
            "ESCALATION_POLICY": config.escalation_policy, "RETURN_POLICY": config.return_policy,
            "NOTIFICATIONS_QUEUE_URL": messaging.notifications.queue_url,
            "OPS_ALERTS_TOPIC_ARN": messaging.ops_alerts.topic_arn, "ESCALATION_TOPIC_ARN": self.topic.topic_arn,
        })
        fn = self.function.function
        for table in (data.orders, data.returns):  # read the queues, record stages, take the default decisions
            table.grant(fn, "dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem")
        acknowledge_table_indexes(self.function.role, data.orders, data.returns)
        for topic in (messaging.ops_alerts, self.topic):
            topic.grant_publish(fn)
        acknowledge_kms_data_keys(self.function.role)
        messaging.notifications.grant_send_messages(fn)  # a return decided by the policy emails the customer
        # Resuming the review waits: both machines are in stacks this one depends on, but they are named by their
        # generated names' prefixes like every other resuming function.
        for machine in ("OrderWorkflow", "ReturnWorkflow"):
            self.function.allow_resuming(machine, "the default decision at a review's hard limit resumes its wait.")
        self.schedule = events.Rule(
            self, "Schedule", schedule=events.Schedule.rate(SCHEDULE),
            description="SLA reminders, escalations and default actions; stuck orders (oms/logic/escalations.py)",
            targets=[events_targets.LambdaFunction(fn)])
        CfnOutput(self, "EscalationTopicArn", value=self.topic.topic_arn,
                  description="Subscribe the on-call ops address: SLA escalations, policy decisions, stuck orders")
