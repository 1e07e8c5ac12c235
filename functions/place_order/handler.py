"""POST /orders: validate, price from the catalog, store PENDING, start the workflow (idempotent)."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.models import PlaceOrderRequest
from oms.domain.order import public_view
from oms.http import caller, error, header, install_error_handlers
from oms.logic.clock import now
from oms.logic.placement import place_order
from oms.settings import setting

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)
install_error_handlers(app)

orders = OrdersRepository(setting("ORDERS_TABLE"))
catalog = CatalogRepository(setting("CATALOG_TABLE"))
inventory = InventoryRepository(setting("INVENTORY_TABLE"))
workflow = Workflow(setting("STATE_MACHINE_ARN"))
idempotency = IdempotencyConfig(
    event_key_jmespath="[customer_id, idempotency_key]",
    payload_validation_jmespath="request",
    expires_after_seconds=24 * 3600,
)
persistence = DynamoDBPersistenceLayer(table_name=setting("IDEMPOTENCY_TABLE"))


@idempotent_function(data_keyword_argument="data", config=idempotency, persistence_store=persistence)
def _place(data: dict[str, Any]) -> dict[str, Any]:
    order = place_order(
        customer_id=data["customer_id"],
        idempotency_key=data["idempotency_key"],
        request=PlaceOrderRequest.model_validate(data["request"]),
        orders=orders, catalog=catalog, inventory=inventory, workflow=workflow, now=now(),
    )
    metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=1)
    return public_view(order)


@app.post("/orders", summary="Place an order", responses={201: {"description": "The order, PENDING"}})
@tracer.capture_method
def create_order(order: PlaceOrderRequest) -> Response[dict[str, Any]]:
    key = header(app, "Idempotency-Key")
    if not key or len(key) > 255:
        return error(HTTPStatus.BAD_REQUEST, "validation_error", "Idempotency-Key header is required (1-255 chars)",
                     [{"field": "Idempotency-Key", "message": "is required"}])
    who = caller(app)
    body = _place(data={"customer_id": who.user_id, "idempotency_key": key, "request": order.model_dump(mode="json")})
    logger.info("order placed", extra={"order_id": body["order_id"]})
    return Response(status_code=HTTPStatus.CREATED.value, content_type=content_types.APPLICATION_JSON, body=body)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return app.resolve(event, context)
