"""POST /admin/customers/{customer_id}/erase: ops erase a customer for a verified request (the same erasure as
``DELETE /customers/me``, for a customer who cannot or will not sign in)."""

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.customers.deps import AccountDeps
from oms import observability
from oms.api.resolver import KIB, ApiResolver
from oms.api.responses import responses
from oms.domain.customers import ErasureReport
from oms.domain.models import EraseRequest
from oms.logic import privacy
from oms.logic.clock import now
from oms.settings import CustomersAdminSettings

logger = observability.logger()
tracer = observability.tracer()
app = ApiResolver(audience="ops", max_body_bytes=4 * KIB)
CustomerId = Annotated[str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                                 description="The customer's id (their Cognito `sub`, as on their orders)")]


@cache
def _deps() -> AccountDeps:
    return AccountDeps(CustomersAdminSettings.from_env())


@app.post("/admin/customers/<customer_id>/erase", summary="Erase a customer (a verified request)",
          security=[{"cognito": []}],
          description="What `DELETE /customers/me` does, for ops: `reason` records how the request was verified "
                      "(logged with the operator). Orders or returns in progress: 409 `erasure_blocked` listing "
                      "them. Erasing an erased customer again answers 200 with zero counts (the audit record "
                      "adds them up); an id that never was a customer: 404.",
          responses=responses(200, ErasureReport, "Erased", 400, 401, 403, 404, 409, 413, 415, 422))
@tracer.capture_method
def erase(customer_id: CustomerId, request: EraseRequest) -> Any:
    deps = _deps()
    at = now()
    report = privacy.erase(customer_id, deps.holdings, deps.identity, deps.gateway, deps.suppressions, at,
                           lambda farewell: deps.send_farewell(farewell, at), by=app.caller.name,
                           reason=request.reason)
    logger.info("customer erased by ops", extra={"by": app.caller.user_id, "reason_length": len(request.reason),
                                                 **{k: v for k, v in report.items() if k != "customer_id"}})
    return report


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
