import itertools

import pytest

from oms.domain.status import (
    TERMINAL_ORDER_STATUSES,
    TRANSITIONS,
    FulfillmentStatus,
    OrderStatus,
    PaymentStatus,
    allowed_sources,
    can_transition,
)


def test_every_status_of_the_three_sets_has_a_row():
    for enum in (OrderStatus, PaymentStatus, FulfillmentStatus):
        assert set(TRANSITIONS[enum]) == set(enum)


def test_the_happy_path_is_allowed_in_order():
    path = [OrderStatus.PENDING, OrderStatus.ON_HOLD, OrderStatus.PROCESSING, OrderStatus.SHIPPED,
            OrderStatus.DELIVERED, OrderStatus.RETURNED]
    for current, new in itertools.pairwise(path):
        assert can_transition(current, new)


@pytest.mark.parametrize(("current", "new"), [
    (OrderStatus.DELIVERED, OrderStatus.SHIPPED),
    (OrderStatus.SHIPPED, OrderStatus.PROCESSING),
    (OrderStatus.CANCELLED, OrderStatus.PROCESSING),
    (OrderStatus.REJECTED, OrderStatus.PENDING),
    (OrderStatus.PROCESSING, OrderStatus.REJECTED),
    (PaymentStatus.CAPTURED, PaymentStatus.AUTHORIZED),
    (PaymentStatus.VOIDED, PaymentStatus.CAPTURED),
    (FulfillmentStatus.DELIVERED, FulfillmentStatus.SHIPPED),
])
def test_no_backward_moves(current, new):
    assert not can_transition(current, new)


def test_terminal_statuses():
    assert {OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.RETURNED} == TERMINAL_ORDER_STATUSES


def test_allowed_sources_only_cover_the_same_status_set():
    assert allowed_sources(OrderStatus.DELIVERED) == {OrderStatus.SHIPPED, OrderStatus.PARTIALLY_SHIPPED}
    assert allowed_sources(PaymentStatus.CAPTURED) == {PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURE_FAILED}
    assert OrderStatus.PENDING not in allowed_sources(OrderStatus.PENDING)
