"""A customer's changes to their order: cancel it under the cancellation policy (idempotent), or give a new payment
method when its payment hold could not be renewed."""

from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.api.idempotency import REPLAYED_HEADER, IdempotencyKey, replayed_header
from oms.api.resolver import KIB, ApiResolver
from oms.api.responses import responses
from oms.domain.cancellation import CancellationPolicy, load_policy
from oms.domain.errors import NotFound
from oms.domain.models import CancelRequest, PaymentRequest
from oms.domain.order import ORDER_ID_PATTERN, OrderView, PaymentRecord, fingerprint, public_view
from oms.logic import payment_hold
from oms.logic.cancellation import CancelCommand, cancel
from oms.settings import OrderChangesSettings

logger = observability.logger()
tracer = observability.tracer()
metrics = observability.metrics()
app = ApiResolver(audience="customer", max_body_bytes=16 * KIB)

OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN, description="e.g. ord_1f0c...")]


@cache
def _deps() -> tuple[OrdersRepository, Workflow, CancellationPolicy]:
    env = OrderChangesSettings.from_env()
    return OrdersRepository(env.orders_table), Workflow(), load_policy(env.cancellation_policy)


@app.post(
    "/orders/<order_id>/cancel",
    summary="Cancel my order (before the warehouse starts picking it)",
    description="Allowed while the order is PENDING, ON_HOLD, BACKORDERED or PROCESSING and picking has not "
                "started (the cancellation policy). 202: the cancellation is recorded and under way; the order "
                "becomes CANCELLED within seconds (stock released, payment hold voided, email sent). The same "
                "`Idempotency-Key` answers the same; with another body, 422 `idempotency_key_reused`. 409 "
                "`not_cancellable` once picking started or it shipped (return it instead).",
    responses=responses(202, OrderView, "The order with its cancellation, being cancelled", 400, 401, 404, 409,
                        413, 415, 422, headers=REPLAYED_HEADER),
    security=[{"cognito": []}],
)
@tracer.capture_method
def cancel_order(
    order_id: OrderId,
    request: CancelRequest,
    idempotency_key: IdempotencyKey,
) -> Response[Any]:
    orders, workflow, policy = _deps()
    caller = app.caller
    order = orders.get(order_id)
    if order is None or order["customer_id"] != caller.user_id:
        raise NotFound(f"order {order_id} not found")
    command = CancelCommand(
        by="customer", reason=request.reason, note=request.note or "", who=caller.user_id,
        request={"idempotency_key": idempotency_key, "request_hash": fingerprint(request.model_dump(mode="json"))},
    )
    cancelled, replayed = cancel(order_id, command, policy, orders, workflow)
    if not replayed:
        metrics.add_metric(name="OrdersCancelledByCustomer", unit=MetricUnit.Count, value=1)
        metrics.add_dimension(name="reason", value=request.reason)
    return Response(status_code=HTTPStatus.ACCEPTED.value, content_type=content_types.APPLICATION_JSON,
                    body=public_view(cancelled), headers=replayed_header(replayed))


@app.post(
    "/orders/<order_id>/payment",
    summary="Give a new payment method for an order on hold for payment",
    description="When the hold on the card could not be renewed while the order waited (`hold_reason` "
                "`payment`, the customer was emailed), a new token (or a saved `payment_method_id`) resumes it: "
                "a fresh hold is placed and the order goes on to the warehouse. 409 when the order is not waiting "
                "for a payment method.",
    responses=responses(200, OrderView, "The order, resuming", 400, 401, 404, 409, 413, 415, 422),
    security=[{"cognito": []}],
)
@tracer.capture_method
def update_payment(order_id: OrderId, payment: PaymentRequest) -> Any:
    orders, workflow, _ = _deps()
    caller = app.caller
    order = orders.get(order_id)
    if order is None or order["customer_id"] != caller.user_id:
        raise NotFound(f"order {order_id} not found")
    record: PaymentRecord
    if payment.payment_method_id:
        from oms.adapters.customers_repo import CustomersRepository  # only this route reads the customer
        from oms.logic.accounts import saved_card_payment

        env = OrderChangesSettings.from_env()
        record = saved_card_payment(caller.user_id, payment.payment_method_id,
                                    CustomersRepository(env.customers_table), field="payment_method_id")
    else:
        record = {"token": str(payment.token)}
    return public_view(payment_hold.update_payment(order_id, caller.user_id, record, orders, workflow))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
