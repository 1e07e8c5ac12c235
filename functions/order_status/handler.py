"""Workflow step: the order's final states (shipped, or closed with a reason), capture failures, and parking an
order whose step kept failing (task token: ops retry or cancel it)."""

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.contract import Action
from oms.domain.order import Order
from oms.logic import order_status, payment_hold
from oms.settings import OrderStatusSettings
from oms.steps import run_step

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()


@cache
def _settings() -> OrderStatusSettings:
    return OrderStatusSettings.from_env()


@cache
def _orders() -> OrdersRepository:
    return OrdersRepository(_settings().orders_table)


@cache
def _queue() -> NotificationQueue:
    return NotificationQueue(_settings().notifications_queue_url)


def _alerts() -> OpsAlerts:
    return OpsAlerts(_settings().ops_alerts_topic_arn)


def _count(name: str, condition: bool = True) -> None:
    if condition:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _close(event: dict[str, Any]) -> dict[str, Any]:
    result = order_status.close(event["order_id"], event.get("error") or {}, _orders(), _queue())
    _count("TechnicalCompensations", result.get("reason") == "technical_failure")
    if result.get("replacement"):
        _refund_unfulfilled_replacement(_orders().require(event["order_id"]))
    return result


def _refund_unfulfilled_replacement(replacement: Order) -> None:
    """A return's replacement that will not ship: its credit goes back to the customer (imported only then)."""
    from oms.adapters.payment_gateway import gateway_for
    from oms.logic.return_steps import refund_unfulfilled_replacement

    env = _settings()
    gateway = gateway_for(env.payment_gateway, env.sandbox_ledger_table)
    refund_unfulfilled_replacement(replacement, _orders(), gateway, _queue(), _alerts())
    _count("ReplacementCreditsRefunded")


def _park(event: dict[str, Any]) -> dict[str, Any]:
    result = order_status.park(event["order_id"], event["task_token"], event.get("failure") or {}, _orders(),
                               _alerts(), cancellable=bool(event.get("cancellable")))
    _count("OrdersParked")
    _count("OrderAlertsFailed", not result["alerted"])
    return result


def _flag(event: dict[str, Any]) -> dict[str, Any]:
    result = order_status.flag_capture_failure(event["order_id"], event.get("error") or {}, _orders(), _alerts())
    _count("OrderAlertsFailed", not result["alerted"])
    return result


STEPS = {
    Action.MARK_SHIPPED: lambda e: order_status.mark_shipped(e["order_id"], _orders(), _queue()),
    Action.CLOSE: _close,
    Action.FLAG_CAPTURE_FAILURE: _flag,
    Action.PARK: _park,
    Action.AWAIT_PAYMENT: lambda e: payment_hold.await_payment(e["order_id"], e["task_token"], _orders(), _queue()),
}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
