"""POST /orders: validate, price from the catalog, store PENDING, start the workflow (idempotent)."""

from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.catalog_repo import PlacementReader
from oms.adapters.customers_repo import CustomersRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.api.idempotency import REPLAYED_HEADER, IdempotencyKey, replayed_header
from oms.api.resolver import KIB, ApiResolver
from oms.api.responses import responses
from oms.domain.models import PlaceOrderRequest
from oms.domain.order import OrderView, public_view
from oms.logic.clock import now
from oms.logic.place_order import place_order
from oms.settings import PlaceOrderSettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()
app = ApiResolver(audience="customer", max_body_bytes=64 * KIB)

CREATED_HEADERS = {
    "Location": {"description": "The order's URL", "required": True, "schema": {"type": "string"}},
    **REPLAYED_HEADER,
}


@cache
def _deps() -> tuple[PlacementReader, OrdersRepository, Workflow, CustomersRepository]:
    env = PlaceOrderSettings.from_env()
    return (PlacementReader(env.catalog_table, env.inventory_table, env.warehouses),
            OrdersRepository(env.orders_table), Workflow(env.state_machine_arn),
            CustomersRepository(env.customers_table))


@app.post(
    "/orders",
    summary="Place an order",
    description="Prices come from the catalog. The same `Idempotency-Key` with the same body answers the same "
                "order (201, `Idempotent-Replayed: true`) at any age; with another body, 422 "
                "`idempotency_key_reused`.",
    responses=responses(201, OrderView, "The order, PENDING while payment, stock and risk are checked",
                        400, 401, 409, 413, 415, 422, headers=CREATED_HEADERS),
    security=[{"cognito": []}],
)
@tracer.capture_method
def create_order(
    order: PlaceOrderRequest,
    idempotency_key: IdempotencyKey,
) -> Response[Any]:
    reader, orders, workflow, customers = _deps()
    placed, replayed = place_order(customer_id=app.caller.user_id, idempotency_key=idempotency_key, request=order,
                                   reader=reader, orders=orders, workflow=workflow, now=now(), customers=customers,
                                   accept_language=app.current_event.headers.get("accept-language")
                                   or app.current_event.headers.get("Accept-Language"))
    logger.append_keys(order_id=placed["order_id"])
    if not replayed:
        metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=1)
    logger.info("order replayed" if replayed else "order placed")
    return Response(status_code=HTTPStatus.CREATED.value, content_type=content_types.APPLICATION_JSON,
                    body=public_view(placed),
                    headers={"Location": f"/orders/{placed['order_id']}", **replayed_header(replayed)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
