"""Workflow step: authorize, capture or void an order's payment."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.payment_gateway import PaymentGateway, gateway_for
from oms.contract import Action
from oms.logic import payment
from oms.settings import PaymentSettings
from oms.steps import run_step

logger = observability.logger()
tracer = observability.tracer()


@cache
def _deps() -> tuple[OrdersRepository, PaymentGateway]:
    env = PaymentSettings.from_env()
    return OrdersRepository(env.orders_table), gateway_for(env.payment_gateway, env.sandbox_ledger_table)


STEPS = {
    Action.AUTHORIZE: lambda e: payment.authorize(e["order_id"], *_deps()),
    Action.CAPTURE: lambda e: payment.capture(e["order_id"], *_deps()),
    Action.VOID: lambda e: payment.void(e["order_id"], *_deps()),
}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return run_step(STEPS, event, logger)
