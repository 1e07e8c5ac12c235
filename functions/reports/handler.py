"""GET /admin/reports/kpis: the KPIs of the orders placed in a date range, from the projection."""

from datetime import date
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.kpis_repo import KpiRepository
from oms.api.resolver import ApiResolver
from oms.api.responses import responses
from oms.domain.errors import ValidationFailed
from oms.domain.kpis import MAX_DAYS, KpiReport
from oms.logic import kpis
from oms.settings import ReportsSettings

logger = observability.logger()
tracer = observability.tracer()
app = ApiResolver(audience="ops")
DateFrom = Annotated[str, Query(alias="from", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                                description="Placed on or after this day (UTC), YYYY-MM-DD")]
DateTo = Annotated[str, Query(alias="to", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                              description="Placed on or before this day (UTC), YYYY-MM-DD")]


@cache
def _store() -> KpiRepository:
    return KpiRepository(ReportsSettings.from_env().kpis_table)


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(field, f"{value} is not a date") from None


@app.get("/admin/reports/kpis", summary="KPIs of the orders placed in a date range", security=[{"cognito": []}],
         description="Orders placed from `from` to `to` (UTC dates, inclusive, at most 366 days), as they stand now: "
                     "revenue and average order value per currency (orders neither cancelled nor rejected), "
                     "fulfilment time (placed -> shipped) and delivery time (shipped -> delivered) as p50/p90 in "
                     "whole minutes (nearest rank), on-time delivery against the promised window, cancellation and "
                     "rejection rates by reason (of orders), return rate by reason and order accuracy (of shipped "
                     "orders; accurate: no return for WRONG_ITEM), backorder and hold rates, the median review "
                     "time, and a row per day. Computed from the orders (a projection the order stream keeps), "
                     "not from metrics. Rates are null when nothing qualifies.",
         responses=responses(200, KpiReport, "The KPIs", 400, 401, 403, 422))
@tracer.capture_method
def get_kpis(placed_from: DateFrom, placed_to: DateTo) -> Any:
    first, last = _day(placed_from, "from"), _day(placed_to, "to")
    if first > last:
        raise ValidationFailed("from", f"{placed_from} is after to {placed_to}")
    if (last - first).days >= MAX_DAYS:
        raise ValidationFailed("to", f"the range is longer than {MAX_DAYS} days")
    return kpis.report(first, last, _store())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
