"""Property: whatever sequence of authorize, capture, refund, void and cancel runs on an order (including calls
repeated after a lost answer), the money adds up: captured - refunded is what the ledger says the customer paid,
never negative, refunds never exceed captures, and the sandbox gateway holds the same amounts."""

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms.adapters.notifications import NotificationQueue
from oms.adapters.orders_repo import Change, OrdersRepository
from oms.adapters.payment_gateway import SandboxGateway
from oms.domain import ledger
from oms.domain.errors import Conflict, IdempotencyKeyReused, PaymentDeclined, ValidationFailed
from oms.domain.models import PlaceOrderRequest
from oms.domain.order import new_order
from oms.domain.pricing import CatalogProduct
from oms.logic import payment, refunds
from tests.handlers.helpers import order_body

Operation = st.one_of(
    st.just(("authorize",)), st.just(("capture",)), st.just(("void",)), st.just(("cancel_with_fee",)),
    st.tuples(st.just("refund"), st.integers(min_value=1, max_value=4000), st.sampled_from(["a", "b", "c"])),
)
_ids = itertools.count()


@pytest.fixture
def money(stack):
    orders = OrdersRepository(stack.env("payment", "ORDERS_TABLE"))
    gateway = SandboxGateway(stack.env("payment", "SANDBOX_LEDGER_TABLE"))
    queue = NotificationQueue(stack.env("fulfillment", "NOTIFICATIONS_QUEUE_URL"))
    return orders, gateway, queue


def _new(orders: OrdersRepository) -> str:
    order_id = f"ord_{next(_ids):024x}"
    request = PlaceOrderRequest.model_validate(order_body(quantity=2))
    products = {"MUG": CatalogProduct(sku="MUG", name="Mug", price=1250, currency="USD")}
    order = new_order(order_id=order_id, customer_id="c", request=request, products=products,
                      now=datetime.now(UTC))
    assert orders.create(order) is None
    return order_id


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.sampled_from([(), (("authorize",),), (("authorize",), ("capture",)),
                               (("authorize",), ("capture",))]),
       operations=st.lists(Operation, min_size=1, max_size=8))
def test_the_ledger_always_adds_up(money, start, operations):
    orders, gateway, queue = money
    order_id = _new(orders)
    for operation in (*start, *operations):
        name = operation[0]
        try:
            if name == "authorize":
                payment.authorize(order_id, orders, gateway)
            elif name == "capture":
                if orders.require(order_id)["payment_status"] in ("AUTHORIZED", "CAPTURE_FAILED", "CAPTURED"):
                    payment.capture(order_id, orders, gateway)
            elif name == "void":
                payment.void(order_id, orders, gateway)
            elif name == "cancel_with_fee":
                order = orders.require(order_id)
                if "cancellation" not in order:
                    orders.apply(order_id, Change(sets={"cancellation": {
                        "reason": "CHANGED_MIND", "note": "", "by": "customer", "at": "2026-12-02T00:00:00Z",
                        "fee": 300}}))
                payment.void(order_id, orders, gateway)
            else:
                _, amount, key = operation
                # The same key twice is a retry after a lost answer: it must not refund twice.
                refunds.refund(order_id, refunds.RefundCommand(idempotency_key=key, reason="r", amount=amount),
                               orders, gateway, queue)
        except (Conflict, PaymentDeclined, ValidationFailed, IdempotencyKeyReused):
            pass  # a refusal is fine; what it must not do is break the arithmetic
        _check(orders.require(order_id), gateway)


def _check(order, gateway):
    entries = list(order.get("ledger", {}).values())
    captured, refunded = ledger.captured(entries), ledger.refunded(entries)
    assert order.get("amount_captured", 0) == captured
    assert order.get("amount_refunded", 0) == refunded
    assert 0 <= refunded <= captured <= order["total"]
    assert ledger.paid(entries) == captured - refunded >= 0
    assert order.get("refund_pending", 0) == 0  # the sandbox always answers: nothing stays reserved
    expected = {"CAPTURED": captured > 0 and refunded == 0,
                "PARTIALLY_REFUNDED": 0 < refunded < captured, "REFUNDED": refunded == captured > 0}
    if order["payment_status"] in expected:
        assert expected[order["payment_status"]], order["payment_status"]
    # One ledger entry per gateway key, and the gateway agrees on every amount.
    keys = [e["idempotency_key"] for e in entries]
    assert len(keys) == len(set(keys))
    charge = order["payment"].get("capture_id")
    objects = {o["authorization_id"]: o for o in gateway.objects()}
    if charge:
        assert objects[charge]["amount"] == captured and objects[charge]["refunded"] == refunded
    gateway_refunds = sum(o["amount"] for o in objects.values()
                          if o["authorization_id"].startswith("re_") and o.get("charge") == charge)
    assert gateway_refunds == refunded
