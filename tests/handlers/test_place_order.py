import boto3

from tests.handlers.helpers import order_body, place, stock


def executions(stack):
    sfn = boto3.client("stepfunctions")
    arn = stack.env("place_order", "STATE_MACHINE_ARN")
    return [e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]]


def test_placement_prices_from_the_catalog_stores_pending_and_starts_the_workflow(stack, context):
    stock(stack, context, price=1250)
    status, body = place(stack, context, order_body(quantity=2))
    assert status == 201
    assert body["status"] == "PENDING" and body["payment_status"] == "PENDING"
    assert body["lines"] == [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": 1250, "line_total": 2500,
                              "backordered_quantity": 0, "expected_ship_date": None, "shipped_quantity": 0,
                              "cancelled_quantity": 0, "allocation": [], "returned_quantity": 0}]
    assert (body["subtotal"], body["shipping_total"], body["total"]) == (2500, 500, 3000)
    assert body["expected_delivery"]["earliest"] <= body["expected_delivery"]["latest"]
    assert executions(stack) == [body["order_id"]]


def test_same_key_same_body_returns_the_same_order_and_starts_nothing_new(stack, context):
    stock(stack, context)
    _, first = place(stack, context, order_body())
    status, again = place(stack, context, order_body())
    assert status == 201 and again["order_id"] == first["order_id"]
    assert executions(stack) == [first["order_id"]]


def test_a_replay_answers_the_order_even_when_its_stock_has_sold_out_since(stack, context):
    stock(stack, context, on_hand=1)
    _, first = place(stack, context, order_body(), key="only-one")
    stock(stack, context, on_hand=0)  # the counted stock is gone
    status, again = place(stack, context, order_body(), key="only-one")
    assert status == 201 and again["order_id"] == first["order_id"]
    status, refused = place(stack, context, order_body(), key="a-new-attempt")
    assert status == 409 and refused["code"] == "insufficient_stock"


def test_same_key_different_body_is_refused_and_writes_nothing(stack, context):
    stock(stack, context)
    place(stack, context, order_body(quantity=1))
    status, body = place(stack, context, order_body(quantity=2))
    assert status == 422 and body["code"] == "idempotency_key_reused"
    assert body["errors"] == [{"field": "Idempotency-Key", "message": "already used with a different request body"}]
    assert len(executions(stack)) == 1


def test_a_different_customer_with_the_same_key_gets_their_own_order(stack, context):
    stock(stack, context)
    _, first = place(stack, context, order_body(), sub="cust-1")
    _, second = place(stack, context, order_body(), sub="cust-2")
    assert first["order_id"] != second["order_id"]


def test_bad_input_names_the_field_and_leaves_nothing_behind(stack, context):
    stock(stack, context)
    orders = stack.table("place_order", "ORDERS_TABLE")
    cases = [
        (order_body(surprise=True), 422, "surprise"),
        (order_body(quantity=0), 422, "lines[0].quantity"),
        (order_body(sku="NOPE"), 422, "lines[0].sku"),
        (order_body(quantity=6), 409, "lines[0].quantity"),
        ({**order_body(), "contact": {"email": "nope"}}, 422, "contact.email"),
    ]
    for body, expected_status, field in cases:
        status, answer = place(stack, context, body, key=f"k-{field}")
        assert status == expected_status, answer
        assert any(e["field"] == field for e in answer["errors"]), answer
    assert orders.scan()["Count"] == 0
    assert executions(stack) == []


def test_missing_idempotency_key_names_the_header(stack, context):
    """API Gateway's validator answers 400 before the function; the function itself answers 422."""
    from tests.handlers.conftest import api_event, call

    stock(stack, context)
    module = stack.handler("place_order")
    status, body = call(module, api_event("POST", "/orders", "/orders", body=order_body()), context)
    assert status == 422 and body["errors"] == [{"field": "Idempotency-Key", "message": "is required"}]


def test_an_order_written_before_a_failed_workflow_start_is_started_on_retry(stack, context):
    """A crash between the order write and StartExecution must not leave an order that never moves."""
    from datetime import UTC, datetime

    import pytest
    from botocore.exceptions import ClientError

    from oms.adapters.catalog_repo import PlacementReader
    from oms.adapters.customers_repo import CustomersRepository
    from oms.adapters.orders_repo import OrdersRepository
    from oms.adapters.workflow import Workflow
    from oms.domain.models import PlaceOrderRequest
    from oms.logic.place_order import place_order

    stock(stack, context)
    env = lambda key: stack.env("place_order", key)  # noqa: E731
    broken = Workflow(env("STATE_MACHINE_ARN") + "-missing")
    reader = PlacementReader(env("CATALOG_TABLE"), env("INVENTORY_TABLE"), tuple(env("WAREHOUSES").split(",")))
    with pytest.raises(ClientError):
        place_order(customer_id="cust-1", idempotency_key="crash",
                    request=PlaceOrderRequest.model_validate(order_body()), reader=reader,
                    orders=OrdersRepository(env("ORDERS_TABLE")), workflow=broken, now=datetime.now(UTC),
                    customers=CustomersRepository(env("CUSTOMERS_TABLE")))
    assert executions(stack) == []
    status, body = place(stack, context, order_body(), key="crash")
    assert status == 201
    assert executions(stack) == [body["order_id"]]


def test_the_sweeper_starts_only_the_workflows_that_never_started(stack, context):
    """Running executions are left alone, a missing one is started, an ended one is reported for ops."""
    from datetime import UTC, datetime

    import pytest
    from botocore.exceptions import ClientError

    from oms.adapters.catalog_repo import PlacementReader
    from oms.adapters.customers_repo import CustomersRepository
    from oms.adapters.orders_repo import OrdersRepository
    from oms.adapters.workflow import Workflow
    from oms.domain.models import PlaceOrderRequest
    from oms.logic.place_order import place_order

    stock(stack, context)
    _, running = place(stack, context, order_body(), key="running")
    _, ended = place(stack, context, order_body(), key="ended")
    sfn = boto3.client("stepfunctions")
    arn = stack.env("place_order", "STATE_MACHINE_ARN")
    sfn.stop_execution(executionArn=f"{arn.replace(':stateMachine:', ':execution:')}:{ended['order_id']}")
    env = lambda key: stack.env("place_order", key)  # noqa: E731
    reader = PlacementReader(env("CATALOG_TABLE"), env("INVENTORY_TABLE"), tuple(env("WAREHOUSES").split(",")))
    with pytest.raises(ClientError):
        place_order(customer_id="cust-1", idempotency_key="lost", request=PlaceOrderRequest.model_validate(
                    order_body()), reader=reader, orders=OrdersRepository(env("ORDERS_TABLE")),
                    workflow=Workflow(arn + "-missing"), now=datetime.now(UTC),
                    customers=CustomersRepository(env("CUSTOMERS_TABLE")))
    lost = next(o for o in OrdersRepository(env("ORDERS_TABLE")).pending_before("9999", 10)
                if o["order_id"] not in (running["order_id"], ended["order_id"]))

    result = stack.handler("sweeper").handler({"older_than_seconds": 0}, context)
    assert (result["stale"], result["started"], result["finished"]) == (3, [lost["order_id"]], [ended["order_id"]])
    assert sorted(executions(stack)) == sorted(o["order_id"] for o in (running, ended, lost))
    again = stack.handler("sweeper").handler({"older_than_seconds": 0}, context)
    assert (again["started"], again["finished"]) == ([], [ended["order_id"]])  # the start is not counted twice
