"""Placing an order: price it from the catalog, store it PENDING, start its workflow.

Idempotent by construction, with one mechanism: the order id derives from (customer, Idempotency-Key), the
write is conditional, and the execution is named after the order. The same key with the same body answers
the same order at any age; with another body, ``IdempotencyKeyReused`` at any age. A new order costs three
AWS requests: one BatchGetItem (prices, stock and incoming goods), one conditional PutItem, one StartExecution
(and one GetItem of the customer's preferences when the request names no ``locale``).
"""

from datetime import datetime

from oms.adapters.catalog_repo import PlacementReader
from oms.adapters.customers_repo import CustomersRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.errors import IdempotencyKeyReused, StockUnavailable, ValidationFailed
from oms.domain.locales import DEFAULT_LOCALE, from_accept_language
from oms.domain.models import PlaceOrderRequest
from oms.domain.order import Order, fingerprint, new_order, order_id_for
from oms.domain.status import OrderStatus


def place_order(
    *,
    customer_id: str,
    idempotency_key: str,
    request: PlaceOrderRequest,
    reader: PlacementReader,
    orders: OrdersRepository,
    workflow: Workflow,
    now: datetime,
    customers: CustomersRepository,
    accept_language: str | None = None,
) -> tuple[Order, bool]:
    """``(order, replayed)``: the stored order, and whether this request repeated an earlier one."""
    order_id = order_id_for(customer_id, idempotency_key)
    request_hash = fingerprint(request.model_dump(mode="json"))
    found = reader.read([line.sku for line in request.lines])
    try:
        order = new_order(order_id=order_id, customer_id=customer_id, request=request, products=found.products,
                          now=now, locale=_locale(customer_id, request, customers, accept_language))
        _check_stock(request, found.units)
        skus = {line.sku for line in request.lines}
        if found.backorderable & skus:
            order["backorderable_skus"] = sorted(found.backorderable & skus)
        if skus & set(found.thresholds):  # the reservation checks them without reading the catalog again
            order["low_stock_thresholds"] = {sku: found.thresholds[sku] for sku in sorted(skus & set(found.thresholds))}
    except ValidationFailed:
        # A retry of an order we already took answers that order, whatever the catalog or stock say today.
        existing = orders.get(order_id)
        if existing is None:
            raise
    else:
        existing = orders.create(order)
        if existing is None:
            workflow.start(order_id)
            return order, False
    if existing["request_hash"] != request_hash:
        raise IdempotencyKeyReused("Idempotency-Key was already used with a different request body; use a new key")
    if existing["status"] == OrderStatus.PENDING:
        workflow.start(order_id)  # a no-op while the execution runs; starts the one a crash left unstarted
    return existing, True


def _locale(customer_id: str, request: PlaceOrderRequest, customers: CustomersRepository,
            accept_language: str | None) -> str:
    """The order's ``locale``, else the customer's preferred one, else the client's ``Accept-Language``."""
    if request.locale:
        return request.locale
    saved = customers.preferences(customer_id)
    return (saved["locale"] if saved else None) or from_accept_language(accept_language) or DEFAULT_LOCALE


def _check_stock(request: PlaceOrderRequest, units: dict[str, int]) -> None:
    """An early, friendly answer; the workflow's atomic reservation is what prevents overselling (and promising
    incoming goods twice)."""
    for index, line in enumerate(request.lines):
        sellable = units.get(line.sku, 0)
        if sellable < line.quantity:
            raise StockUnavailable(
                f"lines[{index}].quantity", f"only {sellable} of {line.sku!r} available, {line.quantity} requested"
            )
