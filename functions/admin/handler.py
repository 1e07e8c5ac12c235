"""Ops routes (Cognito group ``ops``): catalog, stock, order queues, reviews and shipments."""

import re
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.errors import NotFound, ValidationFailed
from oms.domain.models import SKU_PATTERN, InventoryRequest, ProductRequest, ReviewRequest, ShipmentRequest
from oms.domain.order import public_view
from oms.domain.status import OrderStatus
from oms.http import install_error_handlers, require_ops
from oms.logic.fulfilment import record_shipment
from oms.logic.review import review_order
from oms.settings import setting, warehouses

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver(enable_validation=True)
install_error_handlers(app)

orders = OrdersRepository(setting("ORDERS_TABLE"), setting("SHIPMENTS_TABLE"))
catalog = CatalogRepository(setting("CATALOG_TABLE"))
inventory = InventoryRepository(setting("INVENTORY_TABLE"))
workflow = Workflow()
WAREHOUSES = warehouses()


@app.put("/admin/products/<sku>", summary="Create or update a product")
@tracer.capture_method
def put_product(sku: str, product: ProductRequest) -> dict[str, Any]:
    require_ops(app)
    _check_sku(sku)
    item = {"sku": sku, **product.model_dump(exclude_none=True), "active": True}
    catalog.put(item)
    return item


@app.put("/admin/inventory/<sku>", summary="Set the counted stock of a SKU at a warehouse")
@tracer.capture_method
def put_inventory(sku: str, stock: InventoryRequest) -> dict[str, Any]:
    require_ops(app)
    _check_sku(sku)
    if stock.warehouse not in WAREHOUSES:
        raise ValidationFailed("warehouse", f"unknown warehouse {stock.warehouse!r}; known: {', '.join(WAREHOUSES)}")
    if catalog.get(sku) is None:
        raise NotFound(f"sku {sku!r} is not in the catalog; PUT /admin/products/{sku} first")
    inventory.set_on_hand(sku, stock.warehouse, stock.on_hand)
    return _stock_view(sku)


@app.get("/admin/inventory/<sku>", summary="Stock of a SKU per warehouse")
@tracer.capture_method
def get_inventory(sku: str) -> dict[str, Any]:
    require_ops(app)
    return _stock_view(sku)


@app.get("/admin/orders", summary="Orders in a status, newest first (e.g. ON_HOLD for the review queue)")
@tracer.capture_method
def list_orders(
    status: OrderStatus,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, Any]:
    require_ops(app)
    items, next_cursor = orders.list_in_status(status.value, limit, cursor)
    return {"orders": [public_view(item, ops=True) for item in items], "next_cursor": next_cursor}


@app.post("/admin/orders/<order_id>/review", summary="Approve or reject an order held for review")
@tracer.capture_method
def review(order_id: str, decision: ReviewRequest) -> dict[str, Any]:
    who = require_ops(app)
    order = review_order(order_id, decision.decision, decision.note, who.email or who.user_id, orders, workflow)
    return public_view(order, ops=True)


@app.post("/admin/orders/<order_id>/shipments", summary="Record the parcel handed to a carrier")
@tracer.capture_method
def create_shipment(order_id: str, shipment: ShipmentRequest) -> Response[dict[str, Any]]:
    require_ops(app)
    order = record_shipment(order_id, shipment.carrier, shipment.tracking_number, orders, workflow)
    return Response(status_code=HTTPStatus.CREATED.value, content_type=content_types.APPLICATION_JSON,
                    body=public_view(order, ops=True))


def _check_sku(sku: str) -> None:
    if not re.fullmatch(SKU_PATTERN, sku):
        raise ValidationFailed("sku", "use letters, digits, '.', '_' or '-' (at most 64)")


def _stock_view(sku: str) -> dict[str, Any]:
    rows = [
        {"warehouse": r["warehouse"], "on_hand": r["on_hand"], "reserved": r["reserved"], "available": r["available"]}
        for r in inventory.levels(sku)
    ]
    if not rows and catalog.get(sku) is None:
        raise NotFound(f"sku {sku!r} not found")
    totals = {k: sum(r[k] for r in rows) for k in ("on_hand", "reserved", "available")}
    return {"sku": sku, **totals, "warehouses": rows}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
