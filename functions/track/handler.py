"""GET /track/{token}: one order's tracking behind a signed link from the shipped email, without signing in.

The page shows what ``GET /orders/{id}/tracking`` shows (no address, email or price): JSON, or a small HTML page
when the client asks for ``text/html``. A forged link is a 404, an expired one a 410.
"""

import time
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.secrets import secret
from oms.api.errors import error
from oms.api.resolver import ApiResolver
from oms.api.responses import responses
from oms.domain.tracking import OrderTracking, tracking_view
from oms.domain.tracking_links import LinkExpired, LinkInvalid, verify
from oms.settings import TrackSettings

logger = observability.logger()
tracer = observability.tracer()
app = ApiResolver(audience="public")
Token = Annotated[str, Path(min_length=10, max_length=80, pattern=r"^[A-Za-z0-9._-]+$",
                            description="From the link in the shipped email")]


@cache
def _deps() -> tuple[OrdersRepository, TrackSettings]:
    env = TrackSettings.from_env()
    return OrdersRepository(env.orders_table), env


ANSWERS = responses(200, OrderTracking, "The tracking", 404, 410)
ANSWERS[200]["content"]["text/html"] = {"schema": {"type": "string", "description": "The same, as a small page"}}


@app.get("/track/<token>", summary="An order's tracking behind a signed link (no sign-in)",
         description="JSON, or HTML with `Accept: text/html`. Links expire after 90 days (410).", responses=ANSWERS)
@tracer.capture_method
def track(token: Token) -> Any:
    orders, env = _deps()
    try:
        order_id = verify(token, secret(env.tracking_link_secret_arn).encode(), time.time())
    except LinkExpired:
        return error(HTTPStatus.GONE, "link_expired", "This tracking link has expired; sign in to see the order")
    except LinkInvalid:
        return error(HTTPStatus.NOT_FOUND, "not_found", "No such tracking link")
    order = orders.get(order_id)
    if order is None:
        return error(HTTPStatus.NOT_FOUND, "not_found", "No such tracking link")
    view = tracking_view(order)
    if "text/html" in (app.current_event.headers.get("accept") or app.current_event.headers.get("Accept") or ""):
        from oms.domain.tracking_page import render_page

        return Response(status_code=HTTPStatus.OK.value, content_type="text/html; charset=utf-8",
                        body=render_page(view, order.get("locale") or "en-US"))
    return Response(status_code=HTTPStatus.OK.value, content_type=content_types.APPLICATION_JSON, body=view)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
