"""Workflow steps: authorize, renew, capture or void an order's payment, and plan how long a wait may last
before the payment hold needs renewing."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.payment_gateway import PaymentGateway, gateway_for
from oms.contract import Action
from oms.domain.errors import PaymentDeclined, PaymentGatewayError
from oms.logic import payment
from oms.settings import PaymentSettings
from oms.steps import run_step

logger = observability.logger()
tracer = observability.tracer()


@cache
def _env() -> PaymentSettings:
    return PaymentSettings.from_env()


@cache
def _orders() -> OrdersRepository:
    return OrdersRepository(_env().orders_table)


def _deps() -> tuple[OrdersRepository, PaymentGateway]:
    """The gateway is asked for on every step: the Stripe one follows a rotated key (it keeps one per key)."""
    return _orders(), gateway_for(_env().payment_gateway, _env().sandbox_ledger_table)


STEPS = {
    Action.AUTHORIZE: lambda e: payment.authorize(e["order_id"], *_deps()),
    Action.REAUTHORIZE: lambda e: payment.reauthorize(e["order_id"], *_deps(), wait=e.get("wait"),
                                                      plan=e.get("plan")),
    Action.CAPTURE: lambda e: payment.capture(e["order_id"], *_deps()),
    Action.VOID: lambda e: payment.void(e["order_id"], *_deps()),
    Action.PLAN_WAIT: lambda e: payment.plan_wait(
        e["order_id"], e["wait"], int(e["policy_hours"]) if e.get("policy_hours") is not None else None,
        _env().authorization_hold_hours, _orders()),
}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    try:
        return run_step(STEPS, event, logger)
    except PaymentDeclined as declined:
        _count("PaymentDeclines", {"code": declined.code})
        raise
    except PaymentGatewayError:
        _count("PaymentGatewayErrors", {})
        raise


def _count(name: str, dimensions: dict[str, str]) -> None:
    """A payment metric (EMF): declines by the gateway's code, and the gateway's own failures (paging alarm)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=1,
                       default_dimensions={"service": "payment", **dimensions}):
        pass
