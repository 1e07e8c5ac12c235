"""Steps of the return workflow (``ReturnWorkflow``): decide, wait for review or the parcel, remind, expire,
create the exchange, settle, close, park."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.payment_gateway import gateway_for
from oms.adapters.returns_repo import ReturnsRepository
from oms.adapters.workflow import Workflow
from oms.contract import ReturnAction
from oms.logic import return_steps
from oms.logic.return_steps import Settlement
from oms.logic.returns import Returns
from oms.settings import ReturnStepsSettings
from oms.steps import run_step

logger = observability.logger()
tracer = observability.tracer()


@cache
def _ctx() -> Returns:
    from oms.domain.return_policy import load_policy  # pydantic models: built on the first step, not at init

    env = ReturnStepsSettings.from_env()
    return Returns(returns=ReturnsRepository(env.returns_table), orders=OrdersRepository(env.orders_table),
                   policy=load_policy(env.return_policy), workflow=Workflow(),
                   notifications=NotificationQueue(env.notifications_queue_url),
                   alerts=OpsAlerts(env.ops_alerts_topic_arn))


def _settlement() -> Settlement:
    """Asked for on each settling step: the Stripe gateway follows a rotated key."""
    env = ReturnStepsSettings.from_env()
    return Settlement(gateway=gateway_for(env.payment_gateway, env.sandbox_ledger_table),
                      order_workflow=Workflow(env.state_machine_arn))


STEPS = {
    ReturnAction.DECIDE: lambda e: return_steps.approve_or_review(e["return_id"], _ctx()),
    ReturnAction.AWAIT_REVIEW: lambda e: return_steps.await_review(e["return_id"], e["task_token"], _ctx()),
    ReturnAction.REMIND_REVIEW: lambda e: return_steps.remind_review(e["return_id"], _ctx()),
    ReturnAction.CREATE_EXCHANGE: lambda e: return_steps.create_exchange(e["return_id"], _ctx(), _settlement()),
    ReturnAction.AWAIT_PARCEL: lambda e: return_steps.await_parcel(e["return_id"], e["task_token"], e["stage"],
                                                                   _ctx()),
    ReturnAction.EXPIRE: lambda e: return_steps.expire(e["return_id"], _ctx()),
    ReturnAction.REMIND_RECEIPT: lambda e: return_steps.remind_receipt(e["return_id"], _ctx()),
    ReturnAction.SETTLE: lambda e: return_steps.settle(e["return_id"], _ctx(), _settlement()),
    ReturnAction.CLOSE: lambda e: return_steps.close(e["return_id"], _ctx()),
    ReturnAction.PARK: lambda e: return_steps.park(e["return_id"], e["task_token"], e.get("failure") or {}, _ctx()),
}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
