"""Placing an order: price it from the catalog, store it PENDING, start its workflow.

Idempotent by construction, with one mechanism: the order id derives from (customer, Idempotency-Key), the
write is conditional, and the execution is named after the order. The same key with the same body answers
the same order at any age; with another body, ``IdempotencyKeyReused`` at any age. A new order costs three
AWS requests: one BatchGetItem (prices, stock and incoming goods), one conditional PutItem, one StartExecution
(and one GetItem of the customer's preferences when the request names no ``locale``, one per saved address or
card the request names by id).
"""

from collections.abc import Callable
from datetime import datetime

from oms.adapters.catalog_repo import PlacementReader
from oms.adapters.customers_repo import CustomersRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.errors import IdempotencyKeyReused, StockUnavailable, ValidationFailed
from oms.domain.locales import DEFAULT_LOCALE, from_accept_language
from oms.domain.models import PlaceOrderRequest
from oms.domain.order import (
    Address,
    Order,
    PaymentRecord,
    SavedChoices,
    fingerprint,
    new_order,
    order_id_for,
)
from oms.domain.phones import to_e164
from oms.domain.status import OrderStatus
from oms.logic.accounts import saved_card_payment


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
        saved = _saved_choices(customer_id, request, customers)
        order = new_order(order_id=order_id, customer_id=customer_id, request=request, products=found.products,
                          now=now, locale=_locale(customer_id, request, customers, accept_language), saved=saved)
        order["request_hash"] = request_hash  # of the request as sent (a saved address may normalize its phone)
        _check_stock(request, found.units, lambda sku: reader.recount(sku, sku in found.backorderable))
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


def _saved_choices(customer_id: str, request: PlaceOrderRequest, customers: CustomersRepository) -> SavedChoices:
    """The saved address(es) and card a request names by id, read from the customer's own book (another
    customer's id is simply not found there)."""
    shipping = billing = None
    payment: PaymentRecord | None = None
    if request.shipping_address_id:
        shipping = _address(customer_id, request.shipping_address_id, "shipping_address_id", customers)
        phone = request.contact.phone
        if phone is not None:
            try:
                request.contact.phone = to_e164(phone, shipping["country"])
            except ValueError as exc:
                raise ValidationFailed("contact.phone", str(exc)) from None
    if request.billing_address_id:
        billing = _address(customer_id, request.billing_address_id, "billing_address_id", customers)
    if request.payment.payment_method_id:
        payment = saved_card_payment(customer_id, request.payment.payment_method_id, customers)
    return SavedChoices(shipping=shipping, billing=billing, payment=payment)


def _address(customer_id: str, address_id: str, field: str, customers: CustomersRepository) -> Address:
    saved = customers.address(customer_id, address_id)
    if saved is None:
        raise ValidationFailed(field, "no saved address with this id")
    return saved["address"]


def _locale(customer_id: str, request: PlaceOrderRequest, customers: CustomersRepository,
            accept_language: str | None) -> str:
    """The order's ``locale``, else the customer's preferred one, else the client's ``Accept-Language``."""
    if request.locale:
        return request.locale
    saved = customers.preferences(customer_id)
    return (saved["locale"] if saved else None) or from_accept_language(accept_language) or DEFAULT_LOCALE


def _check_stock(request: PlaceOrderRequest, units: dict[str, int],
                 recount: Callable[[str], int] | None = None) -> None:
    """An early, friendly answer; the workflow's atomic reservation is what prevents overselling (and promising
    incoming goods twice). ``units`` come from eventually consistent reads (the stock rows and, for a sharded
    SKU, each of its shards: no strongly consistent read of a hot key); only a line that looks short is counted
    again, consistently, so an order is never refused while its units are there."""
    for index, line in enumerate(request.lines):
        sellable = units.get(line.sku, 0)
        if sellable < line.quantity and recount is not None:
            sellable = recount(line.sku)
        if sellable < line.quantity:
            raise StockUnavailable(
                f"lines[{index}].quantity", f"only {sellable} of {line.sku!r} available, {line.quantity} requested"
            )
