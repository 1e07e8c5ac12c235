"""A parcel recorded while no workflow step was listening for it: the shipment wins, nothing is undone."""

import pytest

from oms.domain.errors import OrderShipped
from tests.handlers.conftest import api_event, call
from tests.handlers.helpers import inventory, order, step, stock
from tests.handlers.test_workflow_steps import placed


def _waiting(stack, context) -> str:
    stock(stack, context)
    order_id = placed(stack, context)
    step(stack, context, "payment", "authorize", order_id)
    step(stack, context, "inventory", "reserve", order_id)
    step(stack, context, "fulfillment", "request_fulfillment", order_id, task_token="no-longer-waiting")
    return order_id


def _ship(stack, context, order_id: str):
    return call(stack.handler("admin"), api_event(
        "POST", f"/admin/orders/{order_id}/shipments", "/admin/orders/{order_id}/shipments", groups="ops",
        body={"carrier": "UPS", "tracking_number": "1ZRACE0001"}, path_params={"order_id": order_id}), context)


def test_a_shipment_recorded_while_the_wait_is_renewed_is_found_by_the_renewed_wait(stack, context):
    order_id = _waiting(stack, context)
    # The wait's token went stale (its hold is being renewed): the shipment is recorded all the same.
    status, body = _ship(stack, context, order_id)
    assert status == 201, body
    assert order(stack, order_id)["fulfillment_status"] == "SHIPPED"
    with pytest.raises(OrderShipped):  # the renewed wait: nothing to wait for, on to commit and capture
        step(stack, context, "fulfillment", "request_fulfillment", order_id, task_token="renewed")


def test_a_compensation_that_finds_the_parcel_gone_undoes_nothing(stack, context):
    order_id = _waiting(stack, context)
    assert _ship(stack, context, order_id)[0] == 201
    with pytest.raises(OrderShipped):
        step(stack, context, "inventory", "release", order_id)
    shipped = order(stack, order_id)
    assert shipped["reservation"]["state"] == "HELD" and shipped["payment_status"] == "AUTHORIZED"
    left = inventory(stack, context)
    assert left["reserved"] == 0  # the parcel's units left the warehouse with it (committed with the shipment)
    step(stack, context, "inventory", "commit", order_id)  # where the workflow goes next
    assert order(stack, order_id)["reservation"]["state"] == "COMMITTED"
    assert inventory(stack, context) == left  # nothing committed twice
