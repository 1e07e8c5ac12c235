"""The KPI projection: the order_facts function on the Orders and Returns streams, and its dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.alarms import Severity, alarm_on
from infra.config import OmsConfig
from infra.data_stack import DataStack
from infra.functions import WORKFLOW_TIMEOUT, PowertoolsFunction, function_factory
from infra.messaging_stack import MessagingStack
from infra.nag import acknowledge, acknowledge_table_indexes


class KpiProjection(Construct):
    """``order_facts`` keeps the Kpis table in step with every order and return (``oms.logic.kpis``).

    Stream batches of up to 100 records, gathered for up to 5 s (one projection per order per batch). A failed
    order is retried from its first record (ReportBatchItemFailures), with the batch halved on each error, up to 10
    times or 6 hours; then the batch's place in the stream goes to the dead-letter queue and the shard moves on.
    Ops rebuild the days it covers (docs/operating.md): the projection is recomputed from the orders, so nothing
    is lost, only late."""

    def __init__(self, scope: Construct, construct_id: str, *, config: OmsConfig, data: DataStack,
                 messaging: MessagingStack) -> None:
        super().__init__(scope, construct_id)
        make = function_factory(self, config, WORKFLOW_TIMEOUT, messaging.alarms)
        self.function: PowertoolsFunction = make("order_facts", "OrderFacts", {
            "ORDERS_TABLE": data.orders.table_name, "RETURNS_TABLE": data.returns.table_name,
            "KPIS_TABLE": data.kpis.table_name,
        })
        fn = self.function.function
        data.orders.grant_read_data(fn)
        data.returns.grant_read_data(fn)
        data.kpis.grant_read_write_data(fn)
        acknowledge_table_indexes(self.function.role, data.orders, data.returns)
        self.dead_letters = sqs.Queue(self, "Dlq", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                                      retention_period=Duration.days(14))
        acknowledge(self.dead_letters, "SQS3", "It is the on-failure destination of the projection's stream "
                                               "mappings: a dead-letter queue itself.")
        for table in (data.orders, data.returns):
            fn.add_event_source(sources.DynamoEventSource(
                table, starting_position=lambda_.StartingPosition.TRIM_HORIZON, batch_size=100,
                max_batching_window=Duration.seconds(5), bisect_batch_on_error=True, retry_attempts=10,
                max_record_age=Duration.hours(6), report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.dead_letters)))
        alarm_on(self, "DlqAlarm", "Order or return changes the KPI projection could not apply are in its "
                                   "dead-letter queue",
                 self.dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(5),
                                                                                 statistic="Maximum"),
                 messaging.alarm_routing, severity=Severity.TICKET, runbook="kpi-projection-dlq")
