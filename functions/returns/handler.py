"""A customer's returns: the policy (public), ask to return delivered items for a refund or an exchange, follow,
cancel, and give the return parcel's tracking number."""

from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.returns_repo import ReturnsRepository
from oms.adapters.workflow import Workflow
from oms.api.idempotency import REPLAYED_HEADER, IdempotencyKey, replayed_header
from oms.api.resolver import KIB, ApiResolver
from oms.api.responses import responses
from oms.domain.models import ReturnParcelRequest, ReturnRequest
from oms.domain.order import ORDER_ID_PATTERN, fingerprint
from oms.domain.return_policy import ReturnPolicy, load_policy
from oms.domain.returns import RMA_PATTERN, RequestedLine, ReturnView, public_view
from oms.logic import returns
from oms.logic.returns import ReturnCommand, Returns
from oms.settings import ReturnsSettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()
app = ApiResolver(audience="customer", max_body_bytes=16 * KIB, public=frozenset({"/returns/policy"}))
ME: list[dict[str, list[str]]] = [{"cognito": []}]

OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN, description="e.g. ord_1f0c...")]
ReturnId = Annotated[str, Path(pattern=RMA_PATTERN, description="The RMA number, e.g. RMA-7K3F9Q")]


class _Deps:
    def __init__(self) -> None:
        env = ReturnsSettings.from_env()
        self.env = env
        self.orders = OrdersRepository(env.orders_table, env.shipments_table)
        self.ctx = Returns(returns=ReturnsRepository(env.returns_table), orders=self.orders,
                           policy=load_policy(env.return_policy), workflow=Workflow(env.return_state_machine_arn))

    @property
    def policy(self) -> ReturnPolicy:
        return self.ctx.policy


@cache
def deps() -> _Deps:
    return _Deps()


@cache
def _policy_only() -> ReturnPolicy:
    """The policy route reads no table: it builds nothing else."""
    return load_policy(ReturnsSettings.from_env().return_policy)


@app.get("/returns/policy", summary="The return policy (no sign-in needed)",
         description="Return window per category, what cannot be returned, fees per reason, which returns are "
                     "approved at once, how long an approved return may take to be sent back, and where to. "
                     "`version` names the policy a return was made under (each return records it).",
         responses=responses(200, ReturnPolicy, "The policy in force"))
@tracer.capture_method
def policy() -> Any:
    return _policy_only().model_dump(mode="json")


@app.post("/orders/<order_id>/returns", summary="Return delivered items, for a refund or an exchange", security=ME,
          description="201 with the return (`return_id` is its RMA number). It is approved at once when the policy "
                      "allows (the email has the instructions), else reviewed by our team. 409 "
                      "`return_window_closed` or `not_returnable` naming the line, `not_delivered` before "
                      "delivery, `insufficient_stock` for an exchange item out of stock; 422 naming the line for "
                      "more than was delivered and is not already being returned. The same `Idempotency-Key` "
                      "answers the same return (`Idempotent-Replayed: true`); with another body, 422 "
                      "`idempotency_key_reused`.",
          responses=responses(201, ReturnView, "The return", 400, 401, 404, 409, 413, 415, 422,
                              headers=REPLAYED_HEADER))
@tracer.capture_method
def request_return(order_id: OrderId, request: ReturnRequest, idempotency_key: IdempotencyKey) -> Response[Any]:
    d = deps()
    command = ReturnCommand(
        idempotency_key=idempotency_key, request_hash=fingerprint(request.model_dump(mode="json")),
        lines=[RequestedLine(line.sku, line.quantity, line.reason, line.note or "") for line in request.lines],
        resolution=request.resolution,
        exchange_for=[(line.sku, line.quantity) for line in request.exchange_for or []])
    record, replayed = returns.request_return(
        order_id, app.caller.user_id, command, d.ctx, CatalogRepository(d.env.catalog_table),
        InventoryRepository(d.env.inventory_table))
    if not replayed:
        metrics.add_metric(name="ReturnsRequested", unit=MetricUnit.Count, value=1)
        metrics.add_dimension(name="resolution", value=request.resolution)
    return Response(status_code=HTTPStatus.CREATED.value, content_type=content_types.APPLICATION_JSON,
                    body=public_view(record, d.policy), headers=replayed_header(replayed))


@app.get("/orders/<order_id>/returns", summary="The returns of my order, oldest first", security=ME,
         responses=responses(200, list[ReturnView], "The order's returns", 401, 404))
@tracer.capture_method
def list_returns(order_id: OrderId) -> Any:
    d = deps()
    return [public_view(r, d.policy) for r in returns.order_returns(order_id, app.caller.user_id, d.ctx)]


@app.get("/orders/<order_id>/returns/<return_id>", summary="One of my returns", security=ME,
         responses=responses(200, ReturnView, "The return", 401, 404))
@tracer.capture_method
def get_return(order_id: OrderId, return_id: ReturnId) -> Any:
    d = deps()
    return public_view(returns.owned_return(order_id, return_id, app.caller.user_id, d.ctx), d.policy)


@app.post("/orders/<order_id>/returns/<return_id>/cancel", summary="Cancel my return before I send it",
          security=ME,
          description="While REQUESTED or APPROVED: the return is CANCELLED and its items may be returned again. "
                      "Repeating it is safe. 409 once the parcel is on its way.",
          responses=responses(200, ReturnView, "The cancelled return", 401, 404, 409))
@tracer.capture_method
def cancel_return(order_id: OrderId, return_id: ReturnId) -> Any:
    d = deps()
    return public_view(returns.cancel_return(order_id, return_id, app.caller.user_id, d.ctx), d.policy)


@app.post("/orders/<order_id>/returns/<return_id>/parcel", summary="Tell us the return parcel's tracking number",
          security=ME,
          description="After approval. The carrier's events for this number then move the return to IN_TRANSIT, "
                      "and a return with a parcel is not expired unsent. Repeating it is safe; 409 for a second, "
                      "different parcel or a number another parcel uses.",
          responses=responses(200, ReturnView, "The return with its parcel", 400, 401, 404, 409, 413, 415, 422))
@tracer.capture_method
def register_parcel(order_id: OrderId, return_id: ReturnId, parcel: ReturnParcelRequest) -> Any:
    d = deps()
    record = returns.register_parcel(order_id, return_id, app.caller.user_id, parcel.carrier,
                                     parcel.tracking_number, d.ctx)
    return public_view(record, d.policy)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
