"""Ops' return routes (Cognito group ``ops``): the queue by status, one return, the review, the receipt of the
parcel (stock movements, the refund computed) and resuming a return parked by a technical failure."""

from functools import cache, cached_property
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.notifications import NotificationQueue, OpsAlerts
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.pagination import CursorCodec
from oms.adapters.returns_repo import ReturnsRepository
from oms.adapters.secrets import secret
from oms.adapters.workflow import Workflow
from oms.api.resolver import ApiResolver
from oms.api.responses import responses
from oms.domain.models import ReceiveRequest, ReviewRequest
from oms.domain.return_policy import load_policy
from oms.domain.returns import RMA_PATTERN, OpsReturnView, ReturnPage, ops_view
from oms.domain.status import ReturnStatus
from oms.domain.stock import check_warehouse
from oms.logic import returns
from oms.logic.returns import ReceivedUnits, Returns
from oms.settings import ReturnsAdminSettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()
app = ApiResolver(audience="ops")
OPS: list[dict[str, list[str]]] = [{"cognito": []}]
ReturnId = Annotated[str, Path(pattern=RMA_PATTERN, description="The RMA number, e.g. RMA-7K3F9Q")]


class _Deps:
    def __init__(self) -> None:
        env = ReturnsAdminSettings.from_env()
        self.env = env
        self.orders = OrdersRepository(env.orders_table)
        self.ctx = Returns(
            returns=ReturnsRepository(env.returns_table, CursorCodec(lambda: secret(env.cursor_secret_arn).encode())),
            orders=self.orders, policy=load_policy(env.return_policy), workflow=Workflow(),
            notifications=NotificationQueue(env.notifications_queue_url))

    @cached_property
    def inventory(self) -> InventoryRepository:
        return InventoryRepository(self.env.inventory_table, self.env.movements_table, self.env.backorders_table)

    def restocked(self, skus: set[tuple[str, str]]) -> None:
        """Units back on a shelf serve orders waiting for them first, and may clear a low-stock alert. Best effort:
        the return is received whatever happens here (the next receipt or count serves them)."""
        from oms.logic.catalog import StockContext, after_more_stock
        from oms.logic.low_stock import LowStock

        catalog = CatalogRepository(self.env.catalog_table)
        context = StockContext(catalog, self.inventory, self.orders, Workflow(self.env.state_machine_arn),
                               self.ctx.notifications,  # type: ignore[arg-type]
                               LowStock(catalog, self.inventory, OpsAlerts(self.env.ops_alerts_topic_arn)),
                               self.env.warehouses)
        for sku, warehouse in sorted(skus):
            try:
                after_more_stock(sku, warehouse, context)
            except Exception:
                logger.exception("serving waiting orders after a return failed", extra={"sku": sku})


@cache
def deps() -> _Deps:
    return _Deps()


@app.get("/admin/returns", summary="Returns in a status, oldest first (REQUESTED: the review queue)", security=OPS,
         responses=responses(200, ReturnPage, "A page of returns", 401, 403, 422))
@tracer.capture_method
def list_returns(
    status: ReturnStatus = ReturnStatus.REQUESTED,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Any:
    d = deps()
    items, next_cursor = d.ctx.returns.in_status(status, limit, cursor)
    page: ReturnPage = {"returns": [ops_view(r, d.ctx.policy) for r in items], "next_cursor": next_cursor}
    return page


@app.get("/admin/returns/<return_id>", summary="A return, as ops see it", security=OPS,
         responses=responses(200, OpsReturnView, "The return", 401, 403, 404))
@tracer.capture_method
def get_return(return_id: ReturnId) -> Any:
    d = deps()
    return ops_view(d.ctx.returns.require(return_id), d.ctx.policy)


@app.post("/admin/returns/<return_id>/review", summary="Approve or reject a requested return", security=OPS,
          description="A rejection needs a `note` (the customer reads it). 409 once decided.",
          responses=responses(200, OpsReturnView, "The return after the decision", 400, 401, 403, 404, 409, 413,
                              415, 422))
@tracer.capture_method
def review(return_id: ReturnId, decision: ReviewRequest) -> Any:
    d = deps()
    record = returns.review(return_id, decision.decision, decision.note, app.caller.name, d.ctx)
    metrics.add_metric(name="ReturnsReviewed", unit=MetricUnit.Count, value=1)
    metrics.add_dimension(name="decision", value=decision.decision)
    return ops_view(record, d.ctx.policy)


@app.post("/admin/returns/<return_id>/receive", summary="Record the returned items that arrived", security=OPS,
          description="RESELLABLE units go back on the shelf of `warehouse` (default: where each shipped from), "
                      "DAMAGED ones are written off; each is a stock movement (`RETURN`, `WRITE_OFF`). The refund "
                      "(`refund_amount`) is the received lines' price and tax share less their restocking fees and "
                      "the label fee; the workflow then refunds it (or completes the exchange) and emails the "
                      "customer. Items not received are given back to the order. 409 unless APPROVED or "
                      "IN_TRANSIT; 422 naming the line for an item not in the return or more than it holds.",
          responses=responses(200, OpsReturnView, "The return, RECEIVED", 400, 401, 403, 404, 409, 413, 415, 422))
@tracer.capture_method
def receive(return_id: ReturnId, receipt: ReceiveRequest) -> Any:
    d = deps()
    check_warehouse(receipt.warehouse, d.env.warehouses)
    lines = [ReceivedUnits(line.sku, line.quantity, line.condition) for line in receipt.lines]
    record = returns.receive(return_id, lines, receipt.warehouse, app.caller.name, d.ctx, d.inventory,
                             d.env.warehouses)
    restocked = {(r["sku"], r["warehouse"]) for r in record.get("received", []) if r["condition"] == "RESELLABLE"}
    d.restocked(restocked)
    return ops_view(record, d.ctx.policy)


@app.post("/admin/returns/<return_id>/retry", summary="Resume a return parked by a technical failure",
          security=OPS, description="Runs the step that kept failing again (`technical_hold` on the return). 409 "
                                    "when it is not parked.",
          responses=responses(200, OpsReturnView, "The return, no longer parked", 401, 403, 404, 409))
@tracer.capture_method
def retry(return_id: ReturnId) -> Any:
    d = deps()
    return ops_view(returns.retry(return_id, app.caller.name, d.ctx), d.ctx.policy)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
