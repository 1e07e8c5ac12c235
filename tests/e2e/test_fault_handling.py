"""Faults injected into the running stack: a transient one is retried to PROCESSING; a persistent one parks the
order (ON_HOLD, reason technical) with its authorization and stock kept, until ops retry it or cancel it."""

import json
import time

import pytest

pytestmark = pytest.mark.e2e


def _wait_for(api, token, order_id, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        order = api.call("GET", f"/orders/{order_id}", api.ops).json()
        if predicate(order):
            return order
        if time.monotonic() > deadline:
            raise AssertionError(f"order {order_id} never matched: {order}")
        time.sleep(0.2)


def _place(api, ann, sku):
    answer = api.place(ann, sku)
    assert answer.status_code == 201, answer.text
    return answer.json()["order_id"]


@pytest.mark.parametrize("fault", [
    {"action": "aws:lambda:invocation-error", "function": "inventory", "step": "reserve", "when": "after"},
    {"action": "oms:lambda:kill", "function": "payment", "step": "authorize", "when": "after"},
    {"action": "aws:fis:inject-api-throttle-error", "service": "dynamodb", "operations": ["TransactWriteItems"],
     "function": "inventory"},
])
def test_a_transient_fault_is_retried_and_the_order_goes_on(api, ann, faults, fault):
    sku = api.product(on_hand=3)
    faults.add({**fault, "count": 2})
    order_id = _place(api, ann, sku)
    order = api.wait(ann, order_id, "PROCESSING", "CANCELLED", "REJECTED", "ON_HOLD")
    assert order["status"] == "PROCESSING", order
    assert faults.list()[0]["fired"] == 2
    stock = api.stock(sku)
    assert (stock["reserved"], stock["available"]) == (1, 2)  # reserved once, whatever was retried


def test_a_persistent_fault_parks_the_order_until_ops_retry_it(api, ann, faults, local_stack):
    sku = api.product(on_hand=3)
    order_id = _place(api, ann, sku)
    api.wait(ann, order_id, "PROCESSING")
    # A second order meets a persistent failure of its stock reservation.
    faults.add({"action": "aws:lambda:invocation-error", "function": "inventory", "step": "reserve"})
    parked_id = _place(api, ann, sku)
    parked = _wait_for(api, ann, parked_id, lambda o: "technical_hold" in o)
    hold = parked["technical_hold"]
    assert parked["status"] == "ON_HOLD" and parked["payment_status"] == "AUTHORIZED"
    assert (hold["step"], hold["error"], hold["attempts"], hold["count"]) == ("ReserveStock", "InjectedFault", 4, 1)
    assert "longer than usual" in api.order(ann, parked_id)["status_detail"]
    assert "technical_hold" not in api.order(ann, parked_id)  # customers do not see the ops detail
    held = api.call("GET", "/admin/orders?status=ON_HOLD&limit=100", api.ops).json()["orders"]
    assert {o["order_id"]: o.get("hold_reason") for o in held}[parked_id] == "technical"
    assert api.call("POST", f"/admin/orders/{order_id}/retry", api.ops).status_code == 409  # not parked

    faults.clear()  # the cause is fixed
    retried = api.call("POST", f"/admin/orders/{parked_id}/retry", api.ops)
    assert retried.status_code == 200, retried.text
    assert "technical_hold" not in retried.json() and "hold_reason" not in retried.json()
    order = api.wait(ann, parked_id, "PROCESSING", "CANCELLED", "REJECTED")
    assert order["status"] == "PROCESSING"
    assert api.stock(sku)["reserved"] == 2
    assert api.call("POST", f"/admin/orders/{parked_id}/retry", api.ops).status_code == 409  # already resumed


def test_ops_cancel_a_parked_order_and_its_stock_and_authorization_are_released(api, ann, faults, local_stack):
    sku = api.product(on_hand=2)
    faults.add({"action": "aws:lambda:invocation-error", "function": "fraud", "step": "assess"})
    order_id = _place(api, ann, sku)
    parked = _wait_for(api, ann, order_id, lambda o: "technical_hold" in o)
    assert parked["technical_hold"]["step"] == "AssessRisk" and api.stock(sku)["reserved"] == 1
    body = {"reason": "STAFF_ERROR", "note": "the risk service is down for the day", "notify_customer": False}
    answer = api.call("POST", f"/admin/orders/{order_id}/cancel", api.ops, json=body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["cancellation"]["by"] == "ops"
    order = api.wait(ann, order_id, "CANCELLED")
    assert order["payment_status"] == "VOIDED" and order["cancellation"]["reason"] == "STAFF_ERROR"
    closed = api.call("GET", f"/orders/{order_id}", api.ops).json()
    assert closed["close_reason"] == "ops_cancelled"
    assert "technical_hold" not in closed and "hold_reason" not in closed  # nothing left for ops to retry
    assert api.stock(sku)["reserved"] == 0
    time.sleep(2)  # the notification queue would have delivered by now
    assert not [m for m in local_stack.outbox(order_id)["email"] if "cancelled" in m["subject"]]  # not notified
    again = api.call("POST", f"/admin/orders/{order_id}/cancel", api.ops, json=body)
    assert again.status_code == 409 and again.json()["code"] == "not_cancellable"


def test_ops_actions_that_step_functions_did_not_take_can_be_repeated(api, ann, faults):
    """Retry and cancel answer 503 when Step Functions is unavailable, and leave the order as it was."""
    sku = api.product(on_hand=2)
    faults.add({"action": "aws:lambda:invocation-error", "function": "fraud", "step": "assess"})
    order_id = _place(api, ann, sku)
    parked = _wait_for(api, ann, order_id, lambda o: "technical_hold" in o)
    faults.clear()
    cancel = {"reason": "STAFF_ERROR", "note": "the risk service is down", "notify_customer": False}
    for path, operation, body in (("retry", "SendTaskSuccess", None), ("cancel", "SendTaskFailure", cancel)):
        faults.add({"action": "aws:fis:inject-api-unavailable-error", "service": "states",
                    "operations": [operation], "function": "admin"})
        refused = api.call("POST", f"/admin/orders/{order_id}/{path}", api.ops, json=body)
        assert refused.status_code == 503 and refused.headers["Retry-After"], refused.text
        faults.clear()
        unchanged = api.call("GET", f"/orders/{order_id}", api.ops).json()
        assert unchanged["technical_hold"] == parked["technical_hold"] and "cancellation" not in unchanged
        assert unchanged["hold_reason"] == "technical" and unchanged["status_detail"] == parked["status_detail"]
    retried = api.call("POST", f"/admin/orders/{order_id}/retry", api.ops)
    assert retried.status_code == 200, retried.text
    assert api.wait(ann, order_id, "PROCESSING", "CANCELLED", "REJECTED")["status"] == "PROCESSING"


def test_no_order_without_a_workflow_503_then_the_sweeper_or_the_retry_starts_it(api, ann, faults, local_stack):
    import boto3

    sku = api.product(on_hand=5)
    faults.add({"action": "aws:fis:inject-api-throttle-error", "service": "states", "operations": ["StartExecution"],
                "function": "place_order"})
    key = "sweep-me"
    refused = api.place(ann, sku, key=key)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1", refused.text
    assert refused.json()["code"] == "service_unavailable"
    order_id = api.call("GET", "/orders?limit=1", ann).json()["orders"][0]["order_id"]
    assert api.order(ann, order_id)["status"] == "PENDING"  # written, but its workflow never started
    faults.clear()

    config = local_stack.config
    lam = boto3.client("lambda", endpoint_url=config["aws_endpoint_url"], region_name=config["region"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    swept = lam.invoke(FunctionName=config["functions"]["sweeper"], Payload=b'{"older_than_seconds": 0}')
    result = json.loads(swept["Payload"].read())
    assert order_id in result["started"], result
    assert api.wait(ann, order_id, "PROCESSING", "CANCELLED", "REJECTED")["status"] == "PROCESSING"
    # The client's own retry with the same key answers the same order and starts nothing new.
    again = api.place(ann, sku, key=key)
    assert again.status_code == 201 and again.json()["order_id"] == order_id
    assert again.headers["Idempotent-Replayed"] == "true"


def test_the_same_shipment_twice_at_once_gets_the_same_answer(api, ann):
    from concurrent.futures import ThreadPoolExecutor

    sku = api.product(on_hand=2)
    order_id = _place(api, ann, sku)
    api.wait(ann, order_id, "PROCESSING")
    shipment = {"carrier": "UPS", "tracking_number": f"1Z{order_id[-10:]}"}
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: api.call("POST", f"/admin/orders/{order_id}/shipments", api.ops,
                                                    json=shipment), range(2)))
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json()["shipments"] == answers[1].json()["shipments"]
    later = api.call("POST", f"/admin/orders/{order_id}/shipments", api.ops, json=shipment)
    assert later.status_code == 201
    other = api.call("POST", f"/admin/orders/{order_id}/shipments", api.ops,
                     json={"carrier": "DHL", "tracking_number": shipment["tracking_number"]})
    assert other.status_code == 409
    assert api.wait(ann, order_id, "SHIPPED")["payment_status"] == "CAPTURED"
