"""The signed-in customer's own resources: GET and PUT /customers/me/preferences."""

from functools import cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.customers_repo import CustomersRepository
from oms.api.resolver import KIB, ApiResolver
from oms.api.responses import responses
from oms.domain.models import PreferencesRequest
from oms.domain.preferences import Preferences
from oms.logic import preferences
from oms.logic.clock import now
from oms.settings import CustomersSettings

logger = observability.logger()
tracer = observability.tracer()
app = ApiResolver(audience="customer", max_body_bytes=16 * KIB)
ME: list[dict[str, list[str]]] = [{"cognito": []}]


@cache
def _customers() -> CustomersRepository:
    return CustomersRepository(CustomersSettings.from_env().customers_table)


@app.get("/customers/me/preferences", summary="How the signed-in customer wants to hear from us", security=ME,
         description="The defaults (`updated_at` null) until the customer saves their own.",
         responses=responses(200, Preferences, "The preferences", 401))
@tracer.capture_method
def read_preferences() -> Any:
    return preferences.read(app.caller.user_id, _customers())


@app.put("/customers/me/preferences", summary="Replace the signed-in customer's preferences", security=ME,
         description="The whole document; a field left out takes its default. `phone` is normalized to E.164. "
                     "SMS order updates take effect for orders placed before the change too (the latest word "
                     "wins); marketing consent keeps the time it was given.",
         responses=responses(200, Preferences, "The saved preferences", 400, 401, 413, 415, 422))
@tracer.capture_method
def save_preferences(request: PreferencesRequest) -> Any:
    saved = preferences.save(app.caller.user_id, request, _customers(), now())
    logger.info("preferences saved", extra={"sms": saved["sms"]["order_updates"], "locale": saved["locale"]})
    return saved


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
