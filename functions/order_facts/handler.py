"""DynamoDB streams of the Orders and Returns tables: keep the KPI projection current and emit business metrics.

Each batch names the orders that changed (an order's own records, or a return's ``order_id``); each is projected
once from its current state (``oms.logic.kpis``). A failed order reports its records as failed, so Lambda retries
from the first of them (``ReportBatchItemFailures``) with backoff, then bisects, then sends the batch's place in the
stream to the dead-letter queue (ops rebuild the days it covers: docs/operating.md). Metrics come from the records'
old and new images: approximate by nature (a retried batch counts again), unlike the KPIs.

Invoked directly with ``{"rebuild": {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}}`` it projects every order placed
in that range again.
"""

from datetime import date
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.adapters.kpis_repo import KpiRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.returns_repo import ReturnsRepository
from oms.domain import kpis
from oms.domain.money import to_major
from oms.logic import kpis as projection
from oms.settings import OrderFactsSettings

logger = observability.logger()
tracer = observability.tracer()


@cache
def _deps() -> tuple[OrdersRepository, ReturnsRepository, KpiRepository]:
    env = OrderFactsSettings.from_env()
    return OrdersRepository(env.orders_table), ReturnsRepository(env.returns_table), KpiRepository(env.kpis_table)


def _emit(metrics: list[kpis.Metric]) -> None:
    for metric in metrics:
        with single_metric(name=metric["name"], unit=MetricUnit[metric["unit"]], value=metric["value"],
                           default_dimensions={"service": "order_facts", **metric["dimensions"]}):
            pass  # one EMF line per data point, written when the block ends


def _major(amount: int, currency: str) -> float:
    return float(to_major(amount, currency))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    orders, returns, store = _deps()
    if "rebuild" in event:
        first, last = date.fromisoformat(event["rebuild"]["from"]), date.fromisoformat(event["rebuild"]["to"])
        result = projection.rebuild(first, last, orders, returns, store)
        logger.info("KPI projection rebuilt", extra={"from": first.isoformat(), "to": last.isoformat(), **result})
        return result
    records: dict[str, list[str]] = {}  # order id -> its records' sequence numbers, in stream order
    fresh: dict[str, list[dict[str, Any]]] = {}  # order id -> return images from this batch
    metrics: list[kpis.Metric] = []
    for record in DynamoDBStreamEvent(event).records:
        change = record.dynamodb
        if change is None:
            continue
        old, new = change.old_image or None, change.new_image or None
        image = new or old or {}
        if "return_id" in (change.keys or {}):
            if "order_id" not in image or "status" not in image:
                continue  # an Idempotency-Key claim, not a return
            if new is not None:
                fresh.setdefault(str(image["order_id"]), []).append(new)
            metrics += kpis.return_metrics(old, new)
        else:
            metrics += kpis.order_metrics(old, new, _major)
        records.setdefault(str(image.get("order_id", change.keys.get("order_id") if change.keys else "")), []
                           ).append(str(change.sequence_number))
    failed: list[str] = []
    for order_id, sequence_numbers in records.items():
        try:
            projection.project(order_id, orders, returns, store, fresh.get(order_id, ()))
        except Exception:
            logger.exception("projecting an order failed; its records are retried", extra={"order_id": order_id})
            failed += sequence_numbers
    _emit(metrics)
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}
