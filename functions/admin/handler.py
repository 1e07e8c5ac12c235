"""Ops routes (Cognito group ``ops``, enforced once by the resolver's guard): catalog, stock, order queues,
reviews, picking and shipments, cancellations, refunds, the payment ledger and suppressed email addresses."""

from functools import cache, cached_property
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.pagination import CursorCodec
from oms.adapters.payment_gateway import PaymentGateway, gateway_for
from oms.adapters.secrets import secret
from oms.adapters.suppressions_repo import SuppressionsRepository
from oms.adapters.tracking_inbox import KEEP_SECONDS, PARK_SECONDS, TrackingInbox
from oms.adapters.workflow import Workflow
from oms.api.idempotency import REPLAYED_HEADER, IdempotencyKey, replayed_header
from oms.api.resolver import ApiResolver
from oms.api.responses import responses
from oms.domain.cancellation import load_policy
from oms.domain.catalog import MovementPage, Product, StockLevels
from oms.domain.errors import NotFound
from oms.domain.ledger import PaymentEntry, payment_entries
from oms.domain.models import (
    SKU_PATTERN,
    InventoryRequest,
    OpsCancelRequest,
    ProductRequest,
    ReceiptRequest,
    RefundRequest,
    ReviewRequest,
    ShipmentRequest,
)
from oms.domain.order import ORDER_ID_PATTERN, OpsOrderPage, OpsOrderView, ops_view
from oms.domain.status import OrderStatus
from oms.domain.stock import check_warehouse
from oms.domain.suppression import Suppression, SuppressionPage
from oms.logic import catalog as catalog_logic
from oms.logic import refunds
from oms.logic.cancellation import CancelCommand
from oms.logic.cancellation import cancel as cancel_order
from oms.logic.catalog import StockContext
from oms.logic.fulfillment import ShipmentCommand, cancel_rest, record_shipment, start_picking
from oms.logic.low_stock import LowStock
from oms.logic.payment import ParcelCapture
from oms.logic.refunds import RefundCommand
from oms.logic.review import review_order
from oms.logic.technical_hold import retry_order
from oms.logic.warehouse_queue import WarehouseQueue, queue_for
from oms.settings import AdminSettings

logger = observability.logger()
tracer = observability.tracer()
app = ApiResolver(audience="ops")

Sku = Annotated[str, Path(pattern=SKU_PATTERN, description="Letters, digits, '.', '_' or '-' (at most 64)")]
OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN)]
WarehousePath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
OPS: list[dict[str, list[str]]] = [{"cognito": []}]
EmailAddress = Annotated[str, Path(min_length=3, max_length=762, pattern=r"^[^\s/]+$",
                                   description="The suppressed address (any case; `@` may be sent as `%40`)")]


class _Deps:
    def __init__(self) -> None:
        env = AdminSettings.from_env()
        self.env = env
        self.warehouses = env.warehouses
        self.catalog = CatalogRepository(env.catalog_table)
        self.cursors = CursorCodec(lambda: secret(env.cursor_secret_arn).encode())
        self.inventory = InventoryRepository(env.inventory_table, env.movements_table, env.backorders_table,
                                             self.cursors)
        self.orders = OrdersRepository(env.orders_table, env.shipments_table, self.cursors)
        self.workflow = Workflow()
        self.cancellation_policy = load_policy(env.cancellation_policy)
        self.suppressions = SuppressionsRepository(env.suppressions_table, self.cursors)

    @property
    def gateway(self) -> PaymentGateway:
        """Asked for on every refund: the Stripe gateway follows a rotated key (it keeps one per key)."""
        return gateway_for(self.env.payment_gateway, self.env.sandbox_ledger_table)

    @cached_property
    def inbox(self) -> TrackingInbox:
        """Carrier events that arrived before their shipment wait here to be queued again."""
        return TrackingInbox(self.env.tracking_events_table, self.env.tracking_queue_url,
                             keep_seconds=self.env.tracking_body_ttl_seconds or KEEP_SECONDS,
                             park_seconds=self.env.tracking_park_ttl_seconds or PARK_SECONDS)

    @cached_property
    def notifications(self) -> NotificationQueue:
        return NotificationQueue(self.env.notifications_queue_url)

    @cached_property
    def stock(self) -> StockContext:
        """What a change of stock touches: waiting orders and the low-stock alert."""
        low_stock = LowStock(self.catalog, self.inventory, OpsAlerts(self.env.ops_alerts_topic_arn))
        return StockContext(self.catalog, self.inventory, self.orders, self.workflow, self.notifications, low_stock,
                            self.warehouses)


@cache
def deps() -> _Deps:
    return _Deps()


@app.put("/admin/products/<sku>", summary="Create or update a product", security=OPS,
         responses=responses(200, Product, "The product as stored", 400, 401, 403, 413, 415, 422))
@tracer.capture_method
def put_product(sku: Sku, product: ProductRequest) -> Any:
    return catalog_logic.put_product(sku, product, deps().catalog)


@app.put("/admin/inventory/<sku>", summary="Set the counted stock (and expected arrivals) of a SKU at a warehouse",
         security=OPS,
         description="Refuses (409) to count below what is reserved at that warehouse, or to expect fewer incoming "
                     "units than are promised to waiting orders. `incoming`, when given, replaces the warehouse's "
                     "expected arrivals: orders waiting on goods whose date moved later get the new date and one "
                     "email; more stock serves waiting orders, oldest first. `shards` (1-64) splits a hot SKU's "
                     "stock at the warehouse into that many shards (docs/operating.md, \"Hot SKUs: shards\"); "
                     "the units are spread evenly over them.",
         responses=responses(200, StockLevels, "The SKU's stock after the change", 400, 401, 403, 404, 409, 413,
                             415, 422))
@tracer.capture_method
def put_inventory(sku: Sku, stock: InventoryRequest) -> Any:
    return catalog_logic.set_stock(sku, stock, app.caller.name, deps().stock)


@app.get("/admin/inventory/<sku>", summary="Stock of a SKU per warehouse", security=OPS,
         description="Per warehouse: `on_hand`, `reserved`, `available`, `incoming` (expected arrivals) and "
                     "`backordered` (units of them promised to waiting orders); a sharded warehouse also has "
                     "`shards` and `by_shard` (each shard's counters; the warehouse's are their sums).",
         responses=responses(200, StockLevels, "The SKU's stock", 401, 403, 404))
@tracer.capture_method
def get_inventory(sku: Sku) -> Any:
    return catalog_logic.stock_levels(sku, deps().catalog, deps().inventory)


@app.post("/admin/inventory/<sku>/receipts", summary="Record goods arriving at a warehouse", security=OPS,
          description="`on_hand` grows by `quantity`, the earliest expected arrivals shrink by it, and orders "
                      "waiting for the SKU there are served first come, first served (each fully served order "
                      "resumes to PROCESSING). The same `Idempotency-Key` counts the receipt once.",
          responses=responses(201, StockLevels, "The SKU's stock after the receipt", 400, 401, 403, 404, 413, 415,
                              422, headers=REPLAYED_HEADER))
@tracer.capture_method
def receive(sku: Sku, receipt: ReceiptRequest, idempotency_key: IdempotencyKey) -> Response[Any]:
    levels, replayed = catalog_logic.receive(sku, receipt, idempotency_key, app.caller.name, deps().stock)
    return Response(status_code=HTTPStatus.CREATED.value, content_type=content_types.APPLICATION_JSON,
                    body=levels, headers=replayed_header(replayed))


@app.get("/admin/inventory/<sku>/movements", summary="Every change to a SKU's stock, newest first", security=OPS,
         description="Counts, expected arrivals, receipts, reservations, backorders, fills, releases and commits, "
                     "each with the counters it moved, the order and who or what caused it. Of a sharded "
                     "warehouse, the shard 0 row's: per-order changes on the other shards are kept under their "
                     "own keys (`<sku>#<n>`) and appear here as `REBALANCE` when units move between shards.",
         responses=responses(200, MovementPage, "A page of movements", 401, 403, 404, 422))
@tracer.capture_method
def movements(
    sku: Sku,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Any:
    return catalog_logic.movements(sku, limit, cursor, deps().catalog, deps().inventory)


@app.get("/admin/warehouses/<warehouse>/queue", summary="Orders awaiting shipment from a warehouse", security=OPS,
         description="Express orders first, then the oldest; each with the lines to pick there.",
         responses=responses(200, WarehouseQueue, "The warehouse's queue", 401, 403, 404, 422))
@tracer.capture_method
def warehouse_queue(
    warehouse: WarehousePath,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    d = deps()
    if warehouse not in d.warehouses:
        raise NotFound(f"warehouse {warehouse!r} not found; known: {', '.join(d.warehouses)}")
    return queue_for(warehouse, limit, d.orders)


@app.get("/admin/orders", summary="Orders in a status, newest first (e.g. ON_HOLD for the review queue)",
         description="The statuses ops work on can be listed: PENDING, ON_HOLD, BACKORDERED, PROCESSING, "
                     "PARTIALLY_SHIPPED, SHIPPED. Another status (DELIVERED, CANCELLED, REJECTED, "
                     "PARTIALLY_RETURNED, RETURNED) is a 422 naming `status`.",
         security=OPS, responses=responses(200, OpsOrderPage, "A page of orders", 401, 403, 422))
@tracer.capture_method
def list_orders(
    status: OrderStatus,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Any:
    items, next_cursor = deps().orders.list_in_status(status, limit, cursor)
    page: OpsOrderPage = {"orders": [ops_view(item) for item in items], "next_cursor": next_cursor}
    return page


@app.post("/admin/orders/<order_id>/review", summary="Approve or reject an order held for review", security=OPS,
          description="409 when the order is not ON_HOLD or was already reviewed the other way.",
          responses=responses(200, OpsOrderView, "The order after the decision", 400, 401, 403, 404, 409, 413,
                              415, 422))
@tracer.capture_method
def review(order_id: OrderId, decision: ReviewRequest) -> Any:
    d = deps()
    return ops_view(review_order(order_id, decision.decision, decision.note, app.caller.name, d.orders, d.workflow))


@app.post("/admin/orders/<order_id>/shipments", summary="Record a parcel handed to a carrier", security=OPS,
          description="`lines` (default: everything not shipped yet, from `warehouse` if given) leave the "
                      "warehouse. A parcel that leaves part of the order behind makes it PARTIALLY_SHIPPED, "
                      "captures its share of the total and emails the customer; the last one resumes the workflow "
                      "(the rest captured, SHIPPED). 409 naming the line for more than was ordered or is waiting "
                      "to ship there. Repeating the same shipment is safe.",
          responses=responses(201, OpsOrderView, "The order with its shipment", 400, 401, 403, 404, 409, 413, 415,
                              422))
@tracer.capture_method
def create_shipment(order_id: OrderId, shipment: ShipmentRequest) -> Response[Any]:
    d = deps()
    check_warehouse(shipment.warehouse, d.warehouses)
    command = ShipmentCommand(
        carrier=shipment.carrier, tracking_number=shipment.tracking_number, warehouse=shipment.warehouse,
        lines=[(line.sku, line.quantity) for line in shipment.lines] if shipment.lines else None,
        by=f"ops:{app.caller.name}")
    order = record_shipment(order_id, command, d.orders, d.inventory, d.workflow, d.inbox,
                            ParcelCapture(d.orders, d.gateway), d.notifications)
    return Response(status_code=HTTPStatus.CREATED.value, content_type=content_types.APPLICATION_JSON,
                    body=ops_view(order))


@app.post("/admin/orders/<order_id>/retry", summary="Resume an order parked by a technical failure",
          security=OPS,
          description="Runs the step that kept failing again (see `technical_hold` on the order). 409 when the "
                      "order is not parked.",
          responses=responses(200, OpsOrderView, "The order, no longer parked", 401, 403, 404, 409))
@tracer.capture_method
def retry(order_id: OrderId) -> Any:
    d = deps()
    return ops_view(retry_order(order_id, app.caller.name, d.orders, d.workflow))


@app.post("/admin/orders/<order_id>/cancel", summary="Cancel an order, or what has not shipped of it", security=OPS,
          description="Of a PARTIALLY_SHIPPED order, what has not shipped is cancelled: its stock released, only "
                      "the parcels' shares captured, the rest of the hold released; the order ends SHIPPED for "
                      "what left. Otherwise the order's waiting step (review, backorder, fulfillment, or a "
                      "technical hold) ends with "
                      "`OrderCancelled`; the workflow releases the stock, voids the authorization (or captures "
                      "only the policy's fee) and closes the order CANCELLED. 202: the cancellation is recorded "
                      "and under way. 409 `not_cancellable` once it has shipped or closed. `notify_customer: "
                      "false` sends no email.",
          responses=responses(202, OpsOrderView, "The order with its cancellation, being cancelled", 400, 401,
                              403, 404, 409, 413, 415, 422))
@tracer.capture_method
def cancel(order_id: OrderId, cancellation: OpsCancelRequest) -> Response[Any]:
    d = deps()
    if d.orders.require(order_id)["status"] == OrderStatus.PARTIALLY_SHIPPED:
        order = cancel_rest(order_id, cancellation.reason, cancellation.note, app.caller.name, d.orders,
                            d.inventory, d.workflow, d.notifications if cancellation.notify_customer else None)
        return Response(status_code=HTTPStatus.ACCEPTED.value, content_type=content_types.APPLICATION_JSON,
                        body=ops_view(order))
    command = CancelCommand(by="ops", reason=cancellation.reason, note=cancellation.note, who=app.caller.name,
                            notify_customer=cancellation.notify_customer)
    order, _ = cancel_order(order_id, command, d.cancellation_policy, d.orders, d.workflow)
    return Response(status_code=HTTPStatus.ACCEPTED.value, content_type=content_types.APPLICATION_JSON,
                    body=ops_view(order))


@app.post("/admin/orders/<order_id>/picking", summary="The warehouse started picking the order", security=OPS,
          description="From now on the customer can no longer cancel the order (409 `not_cancellable`); ops still "
                      "can until it ships. Repeating it is safe. 409 when the order is not PROCESSING or is being "
                      "cancelled.",
          responses=responses(200, OpsOrderView, "The order with `picking`", 401, 403, 404, 409))
@tracer.capture_method
def picking(order_id: OrderId) -> Any:
    return ops_view(start_picking(order_id, app.caller.name, deps().orders))


@app.post("/admin/orders/<order_id>/refunds", summary="Refund captured money, by amount or by lines",
          security=OPS,
          description="Either `amount` (minor units) or `lines` (their goods and tax share; shipping only with "
                      "`include_shipping`). The refunds of an order never exceed what was captured: 409 "
                      "`refund_exceeds_captured`, also for the second of two concurrent refunds that together "
                      "would. The same `Idempotency-Key` answers the same refund (and finishes one the provider "
                      "did not confirm: 503 until then); with another body, 422 `idempotency_key_reused`. The "
                      "customer is emailed the amount.",
          responses=responses(201, OpsOrderView, "The order after the refund (`amount_refunded`, "
                                                 "`payment_status`)", 400, 401, 403, 404, 409, 413, 415, 422,
                              headers=REPLAYED_HEADER))
@tracer.capture_method
def refund(
    order_id: OrderId,
    request: RefundRequest,
    idempotency_key: IdempotencyKey,
) -> Response[Any]:
    d = deps()
    command = RefundCommand(
        idempotency_key=idempotency_key, reason=request.reason, amount=request.amount,
        lines=tuple((line.sku, line.quantity) for line in request.lines or ()),
        include_shipping=request.include_shipping, who=app.caller.name,
    )
    order, replayed = refunds.refund(order_id, command, d.orders, d.gateway, d.notifications)
    return Response(status_code=HTTPStatus.CREATED.value, content_type=content_types.APPLICATION_JSON,
                    body=ops_view(order), headers=replayed_header(replayed))


@app.get("/admin/orders/<order_id>/payments", summary="The order's payment ledger, oldest first", security=OPS,
         description="Every call to the payment gateway: recorded PENDING before it runs, SUCCEEDED or FAILED "
                     "after. A call whose outcome was unknown stays PENDING until it is retried with the same "
                     "idempotency key (one entry, never two charges).",
         responses=responses(200, list[PaymentEntry], "The ledger", 401, 403, 404))
@tracer.capture_method
def payments(order_id: OrderId) -> Any:
    return payment_entries(deps().orders.require(order_id))


@app.get("/admin/suppressions", summary="Email addresses no message is sent to (bounced or complained)",
         description="SES reported a permanent bounce or a complaint for each; notify skips them and says so on "
                     "the order's timeline.",
         security=OPS, responses=responses(200, SuppressionPage, "A page of suppressions", 401, 403, 422))
@tracer.capture_method
def list_suppressions(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Any:
    items, next_cursor = deps().suppressions.page(limit, cursor)
    page: SuppressionPage = {"suppressions": items, "next_cursor": next_cursor}
    return page


@app.delete("/admin/suppressions/<email>", summary="Mail an address again (the customer fixed their mailbox)",
            security=OPS, responses=responses(200, Suppression, "The suppression that was removed", 401, 403, 404))
@tracer.capture_method
def remove_suppression(email: EmailAddress) -> Any:
    email = unquote(email)  # API Gateway may hand over the path still percent-encoded
    removed = deps().suppressions.remove(email) if "@" in email else None
    if removed is None:
        raise NotFound(f"{email} is not suppressed")
    logger.info("suppression removed", extra={"by": app.caller.name, "reason": removed["reason"]})
    return removed


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
