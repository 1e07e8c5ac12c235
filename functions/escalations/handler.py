"""Scheduled (EventBridge, every 5 minutes): SLA reminders, escalations and default actions for held orders and
return reviews, one alert per stuck order, and the queues' gauges (``oms/logic/escalations.py``)."""

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.returns_repo import ReturnsRepository
from oms.adapters.workflow import Workflow
from oms.domain.escalation import load_policy
from oms.domain.return_policy import load_policy as load_return_policy
from oms.logic import clock
from oms.logic.escalations import Escalations, run
from oms.logic.returns import Returns
from oms.settings import EscalationsSettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()


class EscalationRunIncomplete(RuntimeError):
    """Some items could not be handled (logged one by one); the next run tries them again."""


@cache
def _deps() -> Escalations:
    env = EscalationsSettings.from_env()
    orders = OrdersRepository(env.orders_table)
    returns = Returns(returns=ReturnsRepository(env.returns_table), orders=orders,
                      policy=load_return_policy(env.return_policy), workflow=Workflow(),
                      notifications=NotificationQueue(env.notifications_queue_url))
    return Escalations(policy=load_policy(env.escalation_policy), orders=orders, returns=returns, workflow=Workflow(),
                       reminders=OpsAlerts(env.ops_alerts_topic_arn),
                       escalations=OpsAlerts(env.escalation_topic_arn))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    ctx = _deps()
    outcome = run(ctx, clock.now())
    held = [outcome.queues["order_review"], outcome.queues["technical_hold"]]  # waiting for ops
    for name, value in (
        ("HeldOrders", sum(g.count for g in held)),
        ("OldestHeldMinutes", max(g.oldest_minutes for g in held)),
        ("PaymentUpdatesWaiting", outcome.queues["payment_update"].count),
        ("BackordersWaiting", outcome.backorders_waiting),
        ("ReturnReviewsWaiting", outcome.queues["return_review"].count),
        ("OldestReturnReviewMinutes", outcome.queues["return_review"].oldest_minutes),
        ("SlaReminders", len(outcome.reminders)),
        ("SlaEscalations", len(outcome.escalations)),
        ("SlaDefaultActions", len(outcome.default_actions)),
        ("StuckOrdersFound", len(outcome.stuck)),
        ("OrderAlertsFailed", len(outcome.alerts_failed)),
    ):
        unit = MetricUnit.NoUnit if name.endswith("Minutes") else MetricUnit.Count
        metrics.add_metric(name=name, unit=unit, value=value)
    summary = outcome.summary()
    if outcome.reminders or outcome.escalations or outcome.default_actions or outcome.stuck:
        logger.info("escalations sent", extra={k: summary[k] for k in
                                               ("reminders", "escalations", "default_actions", "stuck")})
    if outcome.alerts_failed:
        logger.warning("alerts not published; the next run tries again", extra={"items": outcome.alerts_failed})
    for failure in outcome.failures:
        logger.error("escalation of an item failed", extra=failure)
    if outcome.failures:
        # Everything else was done; failing the invocation makes the function's Errors alarm tell ops.
        raise EscalationRunIncomplete(f"{len(outcome.failures)} items failed: "
                                      f"{', '.join(f['item'] for f in outcome.failures[:20])}")
    return summary
