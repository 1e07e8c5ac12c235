"""OmsMessaging: notifications queue (+DLQ) and its notify function; SES identity and configuration set, whose
bounces and complaints reach the mail-feedback function (SNS -> SQS (+DLQ)); ops-alerts topic; the paging and
ticket alarm topics; DLQ alarms."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.alarms import AlarmRouting, Severity, alarm_on
from infra.config import OmsConfig
from infra.data_stack import DataStack
from infra.functions import NOTIFY_TIMEOUT, PowertoolsFunction, oms_code
from infra.nag import acknowledge, acknowledge_kms_data_keys, acknowledge_table_indexes

#: The API's public URL (an SSM parameter the API stack writes): links in emails point there.
PUBLIC_URL_PARAMETER = "/oms/public-api-url"


class MessagingStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: OmsConfig, data: DataStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.sender_email = config.sender_email

        # ops-alerts: encrypted with a customer-managed key because CloudWatch alarms cannot publish to a
        # topic encrypted with the AWS-managed aws/sns key (its key policy cannot be changed).
        self.alerts_key = kms.Key(
            self,
            "OpsAlertsKey",
            description="OMS ops-alerts topic encryption",
            enable_key_rotation=True,
        )
        self.alerts_key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        # Alerts about orders (held for review, parked, capture failed) and CloudWatch alarms are separate topics.
        # An order alert that cannot be published never fails the order's step, and alarms never depend on it.
        self.ops_alerts = sns.Topic(
            self,
            "OpsAlerts",
            display_name="OMS order alerts",
            master_key=self.alerts_key,
            enforce_ssl=True,
        )
        # Alarms go to one of two topics (infra/alarms.py): paging (cannot wait for the morning) or tickets (the
        # rest). The ticket topic keeps the construct id "Alarms" of the single alarms topic it replaced.
        self.alarms = sns.Topic(
            self,
            "Alarms",
            display_name="OMS alarms (tickets)",
            master_key=self.alerts_key,
            enforce_ssl=True,
        )
        self.tickets = self.alarms
        self.paging = sns.Topic(
            self,
            "Paging",
            display_name="OMS alarms (paging)",
            master_key=self.alerts_key,
            enforce_ssl=True,
        )
        for topic, email in ((self.paging, config.paging_email), (self.tickets, config.ticket_email)):
            if email:
                topic.add_subscription(subscriptions.EmailSubscription(email))
        self.alarm_routing = AlarmRouting(tickets=self.tickets, paging=self.paging,
                                          runbook_base_url=config.runbook_base_url)

        # Each message is one event for one order, delivered in a batch of one: a message that keeps failing
        # reaches the DLQ alone (after 5 receives), never with innocent neighbours.
        self.notifications, self.dead_letters = self._queue_with_dlq("Notifications", "NotificationsDlq")

        self.sender_identity = ses.EmailIdentity(
            self, "SenderIdentity", identity=ses.Identity.email(config.sender_email)
        )
        self._mail_feedback(config, data)
        # Signs the tracking page links in emails (notify signs, the track function verifies).
        self.tracking_link_secret = secretsmanager.Secret(
            self, "TrackingLinkSecret", description="OMS: HMAC key of the tracking page links in customer emails",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=48, exclude_punctuation=True),
        )
        acknowledge(self.tracking_link_secret, "SMG4",
                    "Rotating it only invalidates tracking links already emailed (customers still sign in to see "
                    "their orders); rotate by hand when needed (docs/operating.md).")

        self.notify = PowertoolsFunction(
            self,
            "Notify",
            name="notify",
            config=config,
            code=oms_code(),
            timeout=NOTIFY_TIMEOUT,
            alarm_topic=self.alarms,
            environment={
                "ORDERS_TABLE": data.orders.table_name,
                "RETURNS_TABLE": data.returns.table_name,
                "RETURN_POLICY": config.return_policy,
                "IDEMPOTENCY_TABLE": data.idempotency.table_name,
                "CUSTOMERS_TABLE": data.customers.table_name,
                "SUPPRESSIONS_TABLE": data.suppressions.table_name,
                "SENDER_EMAIL": config.sender_email,
                "CONFIGURATION_SET": self.configuration_set.configuration_set_name,
                "NOTIFICATION_POLICY": config.notification_policy,
                "SHOP_NAME": config.shop_name,
                "SUPPORT_EMAIL": config.support_email,
                "SUPPORT_URL": config.support_url,
                "TRACKING_LINK_SECRET_ARN": self.tracking_link_secret.secret_arn,
                "PUBLIC_URL_PARAMETER": PUBLIC_URL_PARAMETER,
                # How long each message's idempotency record lives (Idempotency table, TTL ``expiration``).
                "NOTIFICATION_RECORD_TTL_SECONDS": str(config.retention.notification_record_seconds),
            },
        )
        fn = self.notify.function
        # Read the order, record each message's outcome on it (no status change: a conditional update).
        data.orders.grant_read_write_data(fn)
        data.idempotency.grant_read_write_data(fn)
        data.customers.grant_read_data(fn)
        data.returns.grant_read_data(fn)
        data.suppressions.grant_read_data(fn)
        acknowledge_table_indexes(self.notify.role, data.orders, data.returns)
        self.grant_send_email(fn)
        self.tracking_link_secret.grant_read(fn)
        fn.add_to_role_policy(iam.PolicyStatement(
            actions=["ssm:GetParameter"],
            resources=[self.format_arn(service="ssm", resource="parameter",
                                       resource_name=PUBLIC_URL_PARAMETER.lstrip("/"))]))
        self._tracking_events(config, data)
        # Is a number on SNS's opt-out list (it replied STOP)? The action has no resource to scope to.
        fn.add_to_role_policy(iam.PolicyStatement(actions=["sns:CheckIfPhoneNumberIsOptedOut"], resources=["*"]))
        # SMS: sns:Publish with a PhoneNumber has no ARN to scope to. NotResource excludes every topic/endpoint
        # ARN, so the function can text phone numbers but cannot publish to any topic.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"],
                not_resources=["arn:aws:sns:*:*:*"],
            )
        )
        fn.add_event_source(
            event_sources.SqsEventSource(self.notifications, batch_size=1, report_batch_item_failures=True)
        )

        alarm_on(self, "MailFeedbackDlqAlarm", "SES bounce or complaint events are landing in the dead-letter queue",
                 self.feedback_dead_letters.metric_approximate_number_of_messages_visible(
                     period=Duration.minutes(5), statistic="Maximum"),
                 self.alarm_routing, severity=Severity.PAGE, runbook="mail-feedback-dead-letter-queue")
        alarm_on(self, "NotificationsDlqAlarm", "Notifications are landing in the dead-letter queue",
                 self.dead_letters.metric_approximate_number_of_messages_visible(
                     period=Duration.minutes(5), statistic="Maximum"),
                 self.alarm_routing, severity=Severity.PAGE, runbook="notifications-dead-letter-queue")

    def _queue_with_dlq(self, queue_id: str, dlq_id: str) -> tuple[sqs.Queue, sqs.Queue]:
        """A queue consumed by a function (visibility 6x its timeout, Lambda's guidance) whose message moves to
        the dead-letter queue (kept 14 days) after 5 receives."""
        dead_letters = sqs.Queue(self, dlq_id, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                                 retention_period=Duration.days(14))
        queue = sqs.Queue(
            self, queue_id, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            visibility_timeout=Duration.seconds(NOTIFY_TIMEOUT.to_seconds() * 6),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=dead_letters),
        )
        return queue, dead_letters

    def _mail_feedback(self, config: OmsConfig, data: DataStack) -> None:
        """SES configuration set -> SNS topic -> SQS queue (+DLQ) -> mail_feedback: permanent bounces and
        complaints suppress the address."""
        self.configuration_set = ses.ConfigurationSet(self, "Mail", sending_enabled=True)
        self.alerts_key.grant(iam.ServicePrincipal("ses.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.mail_feedback_topic = sns.Topic(self, "MailFeedback", display_name="OMS SES bounces and complaints",
                                             master_key=self.alerts_key, enforce_ssl=True)
        self.configuration_set.add_event_destination(
            "BouncesAndComplaints",
            destination=ses.EventDestination.sns_topic(self.mail_feedback_topic),
            events=[ses.EmailSendingEvent.BOUNCE, ses.EmailSendingEvent.COMPLAINT],
        )
        self.feedback_queue, self.feedback_dead_letters = self._queue_with_dlq("MailFeedbackQueue", "MailFeedbackDlq")
        self.mail_feedback_topic.add_subscription(
            subscriptions.SqsSubscription(self.feedback_queue, raw_message_delivery=True))
        self.mail_feedback = PowertoolsFunction(
            self, "MailFeedbackFunction", name="mail_feedback", config=config, code=oms_code(),
            timeout=NOTIFY_TIMEOUT, alarm_topic=self.alarms,
            environment={"ORDERS_TABLE": data.orders.table_name,
                         "SUPPRESSIONS_TABLE": data.suppressions.table_name},
        )
        data.suppressions.grant_read_write_data(self.mail_feedback.function)
        data.orders.grant_read_write_data(self.mail_feedback.function)  # marks the order's message BOUNCED
        acknowledge_table_indexes(self.mail_feedback.role, data.orders)
        self.mail_feedback.function.add_event_source(
            event_sources.SqsEventSource(self.feedback_queue, batch_size=10, report_batch_item_failures=True))

    def _tracking_events(self, config: OmsConfig, data: DataStack) -> None:
        """Carrier events: the webhook stores and queues them; tracking_events applies them (DLQ after 5)."""
        self.tracking_queue, self.tracking_dead_letters = self._queue_with_dlq("TrackingEventsQueue",
                                                                              "TrackingEventsDlq")
        self.tracking_events = PowertoolsFunction(
            self, "TrackingEventsFunction", name="tracking_events", config=config, code=oms_code(),
            timeout=NOTIFY_TIMEOUT, alarm_topic=self.alarms,
            environment={"ORDERS_TABLE": data.orders.table_name, "SHIPMENTS_TABLE": data.shipments.table_name,
                         "TRACKING_EVENTS_TABLE": data.tracking_events.table_name,
                         "NOTIFICATIONS_QUEUE_URL": self.notifications.queue_url,
                         "OPS_ALERTS_TOPIC_ARN": self.ops_alerts.topic_arn,
                         "RETURNS_TABLE": data.returns.table_name, "RETURN_POLICY": config.return_policy,
                         # The retention policy's periods for what it writes to TrackingEvents (TTL ``expires_at``).
                         "TRACKING_BODY_TTL_SECONDS": str(config.retention.tracking_body_seconds),
                         "TRACKING_PARK_TTL_SECONDS": str(config.retention.parked_event_seconds)},
        )
        fn = self.tracking_events.function
        data.orders.grant_read_write_data(fn)
        data.returns.grant_read_write_data(fn)  # a return parcel's events move its return
        # ... and resume its workflow's wait. Named by the machine's generated name's prefix: its ARN would make
        # this stack depend on OmsReturns, which depends on this one.
        self.tracking_events.allow_resuming("ReturnWorkflow", "its ARN would be a cycle between the stacks.")
        data.shipments.grant_read_data(fn)
        data.tracking_events.grant_read_write_data(fn)
        acknowledge_table_indexes(self.tracking_events.role, data.orders, data.returns)
        self.notifications.grant_send_messages(fn)
        self.ops_alerts.grant_publish(fn)
        acknowledge_kms_data_keys(self.tracking_events.role)
        fn.add_event_source(event_sources.SqsEventSource(self.tracking_queue, batch_size=10,
                                                         report_batch_item_failures=True))
        alarm_on(self, "TrackingEventsDlqAlarm", "Carrier tracking events are landing in the dead-letter queue",
                 self.tracking_dead_letters.metric_approximate_number_of_messages_visible(
                     period=Duration.minutes(5), statistic="Maximum"),
                 self.alarm_routing, severity=Severity.PAGE, runbook="tracking-events-dead-letter-queue")

    def grant_send_email(self, fn: lambda_.IFunction) -> None:
        """Send as the shop's sender identity, through the configuration set that reports bounces."""
        fn.add_to_role_policy(iam.PolicyStatement(
            actions=["ses:SendEmail", "ses:SendRawEmail"],
            resources=[
                self.format_arn(service="ses", resource="identity", resource_name=self.sender_email),
                self.format_arn(service="ses", resource="configuration-set",
                                resource_name=self.configuration_set.configuration_set_name),
            ],
        ))
