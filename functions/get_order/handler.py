"""GET /orders/{order_id} (owner or ops) and GET /orders (the caller's history, newest first)."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.adapters.orders_repo import OrdersRepository
from oms.domain.errors import NotFound
from oms.domain.order import public_view
from oms.http import caller, install_error_handlers
from oms.settings import setting

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver(enable_validation=True)
install_error_handlers(app)
orders = OrdersRepository(setting("ORDERS_TABLE"))


@app.get("/orders/<order_id>", summary="Read an order (its owner or ops)")
@tracer.capture_method
def read_order(order_id: str) -> dict[str, Any]:
    who = caller(app)
    order = orders.get(order_id)
    if order is None or (order["customer_id"] != who.user_id and not who.is_ops):
        raise NotFound(f"order {order_id} not found")
    return public_view(order, ops=who.is_ops)


@app.get("/orders", summary="The caller's orders, newest first")
@tracer.capture_method
def list_orders(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, Any]:
    who = caller(app)
    items, next_cursor = orders.list_for_customer(who.user_id, limit, cursor)
    return {"orders": [public_view(item) for item in items], "next_cursor": next_cursor}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
