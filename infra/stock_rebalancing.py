"""The shards' rebalancer: every minute the ``inventory`` function's ``rebalance`` action moves units from full
shards of a hot SKU to dry ones, refreshes the total that placement reads, serves orders waiting for goods on shard 0
and raises the low-stock alert of a sharded row (``oms.logic.inventory.rebalance``). Ops run it for one SKU with
``aws lambda invoke --function-name <inventory> --payload '{"action": "rebalance", "sku": "SKU-1"}'``."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

#: How often the shards are rebalanced (a dry shard only sends its buyers to the next one meanwhile).
SCHEDULE = Duration.minutes(1)
#: The event the rule sends (``functions/inventory/handler.py``).
REBALANCE_EVENT = {"action": "rebalance"}


def add_rebalancer(scope: Construct, inventory_fn: lambda_.IFunction) -> events.Rule:
    """The EventBridge rule that runs the rebalancer every minute (the function already reads and writes the
    Inventory and StockMovements tables, reads Orders and Catalog and resumes waiting orders)."""
    return events.Rule(
        scope, "RebalanceStockShards", schedule=events.Schedule.rate(SCHEDULE),
        description="Move units between the shards of hot SKUs (oms/logic/inventory.py: rebalance)",
        targets=[events_targets.LambdaFunction(
            inventory_fn, event=events.RuleTargetInput.from_object(REBALANCE_EVENT), retry_attempts=0)])
