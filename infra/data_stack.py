"""OmsData: the twelve DynamoDB tables (on demand, PITR, AWS-managed encryption, retained, deletion-protected)."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

S = dynamodb.AttributeType.STRING


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)

        # Streams: the KPI projection (OmsOps) follows every change to an order or a return.
        self.orders = self._table("Orders", partition_key="order_id", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES)
        # Keys only (an order is read with BatchGetItem after its key): an index entry is written only when its key
        # changes, never by the order's other updates. ``ops_queue`` ("<status>#<shard>") is sparse and sharded:
        # present only while the order is in a status ops work on; ``placed_day`` ("<YYYY-MM-DD>#<shard>") is
        # written once. oms/adapters/orders_repo.py keeps both, and says why.
        _by_time(self.orders, projection=dynamodb.ProjectionType.KEYS_ONLY, by_customer="customer_id",
                 ops_queue="ops_queue", by_day="placed_day")
        self.catalog = self._table("Catalog", partition_key="sku")
        self.inventory = self._table("Inventory", partition_key="sku", sort_key="warehouse")
        # Every change to a stock row, written in the same transaction (oms/adapters/inventory_repo.py).
        self.movements = self._table("StockMovements", partition_key="sku", sort_key="movement_id")
        # Orders waiting for incoming goods, per "<sku>#<warehouse>", in placement order.
        self.backorders = self._table("Backorders", partition_key="queue", sort_key="created_key")
        self.shipments = self._table("Shipments", partition_key="tracking_number")
        self.idempotency = self._table("Idempotency", partition_key="id", time_to_live_attribute="expiration")
        # One partition per customer, one item per kind: profile, preferences, address#<id>, card#<payment method>;
        # an erasure's audit record under the pseudonym the anonymized orders carry.
        self.customers = self._table("Customers", partition_key="customer_id", sort_key="item")
        # Email addresses SES reported bouncing for good or complaining: no message goes to them.
        self.suppressions = self._table("Suppressions", partition_key="email")
        # Returns (RMAs), and the Idempotency-Key claims that created them (items without a status: no index).
        self.returns = self._table("Returns", partition_key="return_id",
                                   stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES)
        _by_time(self.returns, by_order="order_id", by_status="status")
        # Carrier events as received (30 days) and those parked until their shipment exists (24 hours).
        self.tracking_events = self._table("TrackingEvents", partition_key="pk", sort_key="sk",
                                           time_to_live_attribute="expires_at")
        # The KPI projection: each order's contribution and each placement day's totals (oms/adapters/kpis_repo.py).
        self.kpis = self._table("Kpis", partition_key="pk", sort_key="sk")

    def _table(
        self,
        construct_id: str,
        *,
        partition_key: str,
        sort_key: str | None = None,
        time_to_live_attribute: str | None = None,
        stream: dynamodb.StreamViewType | None = None,
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition_key, type=S),
            sort_key=dynamodb.Attribute(name=sort_key, type=S) if sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
            deletion_protection=True,
            time_to_live_attribute=time_to_live_attribute,
            stream=stream,
        )


def _by_time(table: dynamodb.Table, projection: dynamodb.ProjectionType = dynamodb.ProjectionType.ALL,
             **indexes: str) -> None:
    """Global secondary indexes ``name -> partition key``, each sorted by ``created_key`` (time, then id)."""
    for index_name, partition_key in indexes.items():
        table.add_global_secondary_index(
            index_name=index_name,
            partition_key=dynamodb.Attribute(name=partition_key, type=S),
            sort_key=dynamodb.Attribute(name="created_key", type=S),
            projection_type=projection,
        )
