"""Scheduled (EventBridge, every minute): start the workflow of PENDING orders that have none."""

from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.logic.clock import now
from oms.logic.sweeper import sweep
from oms.settings import SweeperSettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()


@cache
def _deps() -> tuple[SweeperSettings, OrdersRepository, Workflow]:
    env = SweeperSettings.from_env()
    return env, OrdersRepository(env.orders_table), Workflow(env.state_machine_arn)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    env, orders, workflow = _deps()
    older_than = timedelta(seconds=int(event.get("older_than_seconds", env.pending_alarm_seconds)))
    result = sweep(orders, workflow, older_than=older_than, now=now())
    metrics.add_metric(name="StalePendingOrders", unit=MetricUnit.Count, value=result["stale"])
    metrics.add_metric(name="WorkflowsStartedBySweeper", unit=MetricUnit.Count, value=len(result["started"]))
    if result["started"] or result["finished"]:
        logger.warning("pending orders without a running workflow", extra=dict(result))
    return result
