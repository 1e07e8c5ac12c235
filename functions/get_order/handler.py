"""GET /orders/{order_id} and its /tracking (owner or ops), and GET /orders (the caller's history, newest first)."""

from datetime import date
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.pagination import CursorCodec
from oms.adapters.secrets import secret
from oms.api.resolver import ApiResolver
from oms.api.responses import responses
from oms.domain.errors import NotFound, ValidationFailed
from oms.domain.order import ORDER_ID_PATTERN, OpsOrderView, OrderPage, ops_view, public_view
from oms.domain.status import OrderStatus
from oms.domain.tracking import OrderTracking, tracking_view
from oms.settings import GetOrderSettings

logger = observability.logger()
tracer = observability.tracer()
app = ApiResolver(audience="customer")

OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN, description="e.g. ord_1f0c...")]
Limit = Annotated[int, Query(ge=1, le=100, description="Orders per page")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")]
StatusFilter = Annotated[list[OrderStatus] | None, Query(description="Only orders in this status (repeatable)")]
DateFrom = Annotated[str | None, Query(alias="from", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                                       description="Placed on or after this day (UTC), YYYY-MM-DD")]
DateTo = Annotated[str | None, Query(alias="to", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                                     description="Placed on or before this day (UTC), YYYY-MM-DD")]


@cache
def _orders() -> OrdersRepository:
    env = GetOrderSettings.from_env()
    return OrdersRepository(env.orders_table, cursors=CursorCodec(lambda: secret(env.cursor_secret_arn).encode()))


@app.get(
    "/orders/<order_id>",
    summary="Read an order (its owner or ops)",
    description="Ops also see `risk`, `review`, `payment_reference`, `close_reason`, `hold_reason` and "
                "`technical_hold`.",
    responses=responses(200, OpsOrderView, "The order", 401, 404),
    security=[{"cognito": []}],
)
@tracer.capture_method
def read_order(order_id: OrderId) -> Any:
    who = app.caller
    order = _orders().get(order_id)
    if order is None or (order["customer_id"] != who.user_id and not who.is_ops):
        raise NotFound(f"order {order_id} not found")
    return ops_view(order) if who.is_ops else public_view(order)


@app.get(
    "/orders/<order_id>/tracking",
    summary="Where the order's parcels are (its owner or ops)",
    description="Per shipment: carrier, tracking number, the carrier's tracking page, `tracking_status` "
                "(LABEL_CREATED, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERY_ATTEMPTED, AVAILABLE_FOR_PICKUP, DELIVERED, "
                "EXCEPTION, RETURN_TO_SENDER, EXPIRED), the carrier's estimated delivery and the events, newest first.",
    responses=responses(200, OrderTracking, "The tracking", 401, 404),
    security=[{"cognito": []}],
)
@tracer.capture_method
def read_tracking(order_id: OrderId) -> Any:
    who = app.caller
    order = _orders().get(order_id)
    if order is None or (order["customer_id"] != who.user_id and not who.is_ops):
        raise NotFound(f"order {order_id} not found")
    return tracking_view(order)


@app.get(
    "/orders",
    summary="The caller's orders, newest first",
    description="Filters: `status` (repeat it for several), `from`/`to` (dates the order was placed, UTC, both "
                "inclusive). A cursor belongs to its date range: with another range it is refused (422 "
                "`cursor`).",
    responses=responses(200, OrderPage, "A page of orders; `next_cursor` is null on the last page", 401, 422),
    security=[{"cognito": []}],
)
@tracer.capture_method
def list_orders(limit: Limit = 20, cursor: Cursor = None, status: StatusFilter = None,
                placed_from: DateFrom = None, placed_to: DateTo = None) -> Any:
    if placed_from and placed_to and placed_from > placed_to:
        raise ValidationFailed("from", f"{placed_from} is after to {placed_to}")
    items, next_cursor = _orders().list_for_customer(
        app.caller.user_id, limit, cursor, statuses=sorted({s.value for s in status or []}) or None,
        after=_check_date("from", placed_from), before=_end_of(_check_date("to", placed_to)))
    page: OrderPage = {"orders": [public_view(item) for item in items], "next_cursor": next_cursor}
    return page


def _check_date(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValidationFailed(field, f"{value!r} is not a calendar date (YYYY-MM-DD)") from None


def _end_of(day: str | None) -> str | None:
    """The highest sort key of a day: ``created_key`` is ``<ISO time>#<id>``, and "9" sorts after any hour."""
    return f"{day}T99" if day else None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
