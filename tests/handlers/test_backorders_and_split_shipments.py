"""Backorders, receipts, expected arrivals, movements, low stock, split shipments with partial capture and the
cancellation of what has not shipped: the real handlers and workflow steps on moto."""

import json
from collections import Counter
from typing import Any

import boto3
import pytest

from tests.handlers.conftest import api_event, call
from tests.handlers.helpers import ADDRESS, order, order_body, place, record_parcel, step

WAITING = {"task_token": "token"}


def admin(stack: Any, ctx: Any, method: str, path: str, resource: str, body: Any = None,
          headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
          **path_params: str) -> tuple[int, Any]:
    return call(stack.handler("admin"), api_event(method, path, resource, body=body, groups="ops", headers=headers,
                                                  path_params=path_params or None, query=query), ctx)


def product(stack: Any, ctx: Any, sku: str, *, backorderable: bool = False, threshold: int | None = None,
            price: int = 1000) -> None:
    body: dict[str, Any] = {"name": sku.title(), "price": price, "currency": "USD", "backorderable": backorderable}
    if threshold:
        body["low_stock_threshold"] = threshold
    assert admin(stack, ctx, "PUT", f"/admin/products/{sku}", "/admin/products/{sku}", body, sku=sku)[0] == 200


def count(stack: Any, ctx: Any, sku: str, warehouse: str, on_hand: int,
          incoming: list[dict[str, Any]] | None = None) -> tuple[int, Any]:
    body: dict[str, Any] = {"warehouse": warehouse, "on_hand": on_hand}
    if incoming is not None:
        body["incoming"] = incoming
    return admin(stack, ctx, "PUT", f"/admin/inventory/{sku}", "/admin/inventory/{sku}", body, sku=sku)


def receipt(stack: Any, ctx: Any, sku: str, warehouse: str, quantity: int, key: str) -> tuple[int, Any]:
    return admin(stack, ctx, "POST", f"/admin/inventory/{sku}/receipts", "/admin/inventory/{sku}/receipts",
                 {"warehouse": warehouse, "quantity": quantity}, headers={"Idempotency-Key": key}, sku=sku)


def levels(stack: Any, ctx: Any, sku: str) -> dict[str, Any]:
    status, body = admin(stack, ctx, "GET", f"/admin/inventory/{sku}", "/admin/inventory/{sku}", sku=sku)
    assert status == 200
    return {row["warehouse"]: row for row in body["warehouses"]}


def accepted(stack: Any, ctx: Any, body: dict[str, Any], key: str, sub: str = "cust-1") -> str:
    status, placed = place(stack, ctx, body, key=key, sub=sub)
    assert status == 201, placed
    order_id = placed["order_id"]
    step(stack, ctx, "payment", "authorize", order_id)
    return order_id


def queued_events(stack: Any) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = stack.env("fulfillment", "NOTIFICATIONS_QUEUE_URL")
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_backordered_order_waits_is_served_first_come_first_served_and_resumes(stack, context):
    product(stack, context, "MUG", backorderable=True)
    assert count(stack, context, "MUG", "wh-east", 1, [{"quantity": 5, "eta": "2027-01-15"}])[0] == 200
    first = accepted(stack, context, order_body(quantity=3), "k1")
    second = accepted(stack, context, order_body(quantity=2), "k2", sub="cust-2")
    assert step(stack, context, "inventory", "reserve", first) == {"reservation": "HELD", "backordered": True}
    assert step(stack, context, "inventory", "reserve", second) == {"reservation": "HELD", "backordered": True}
    # One incoming unit is left to promise: two are refused.
    status, refused = place(stack, context, order_body(quantity=2), key="k3", sub="cust-3")
    assert status == 409 and "lines[0].quantity" in refused["message"]
    step(stack, context, "inventory", "await_stock", first, **WAITING)
    waiting = order(stack, first)
    assert waiting["status"] == "BACKORDERED" and waiting["stock_task_token"] == "token"
    status, view = call(stack.handler("get_order"), api_event("GET", f"/orders/{first}", "/orders/{order_id}",
                                                             path_params={"order_id": first}), context)
    [line] = view["lines"]
    assert (line["backordered_quantity"], line["expected_ship_date"]) == (2, "2027-01-15")
    assert line["allocation"] == [{"warehouse": "wh-east", "quantity": 3}]
    assert view["expected_delivery"]["earliest"] > "2027-01-15"
    assert [e["event"] for e in queued_events(stack)].count("order_backordered") == 1
    row = levels(stack, context, "MUG")["wh-east"]
    assert (row["on_hand"], row["reserved"], row["available"], row["backordered"]) == (1, 1, 0, 4)

    # Three units come: the older order's two missing units first, then one of the newer order's two.
    status, after = receipt(stack, context, "MUG", "wh-east", 3, "receipt-1")
    assert status == 201
    assert order(stack, first)["reservation"]["allocations"][0]["backordered"] == 0
    assert order(stack, second)["reservation"]["allocations"][0]["backordered"] == 1
    row = {r["warehouse"]: r for r in after["warehouses"]}["wh-east"]
    assert (row["on_hand"], row["reserved"], row["available"], row["backordered"]) == (4, 4, 0, 1)
    assert row["incoming"] == [{"quantity": 2, "eta": "2027-01-15"}]
    # The same receipt again is counted once.
    status, again = receipt(stack, context, "MUG", "wh-east", 3, "receipt-1")
    assert status == 201 and again == after
    # The filled order goes on to fulfillment: BACKORDERED -> PROCESSING.
    step(stack, context, "fulfillment", "request_fulfillment", first, task_token="token-2")
    assert order(stack, first)["status"] == "PROCESSING" and "stock_task_token" not in order(stack, first)
    # A wait that begins after the goods came ends at once (StockArrived).
    receipt(stack, context, "MUG", "wh-east", 2, "receipt-2")
    try:
        step(stack, context, "inventory", "await_stock", second, **WAITING)
        raise AssertionError("expected StockArrived")
    except Exception as exc:
        assert type(exc).__name__ == "StockArrived"


def test_a_later_date_reschedules_each_waiting_order_and_emails_once(stack, context):
    product(stack, context, "MUG", backorderable=True)
    count(stack, context, "MUG", "wh-east", 0, [{"quantity": 4, "eta": "2027-01-10"}])
    order_id = accepted(stack, context, order_body(quantity=2), "k1")
    step(stack, context, "inventory", "reserve", order_id)
    queued_events(stack)
    slipped = [{"quantity": 4, "eta": "2027-02-01"}]
    assert count(stack, context, "MUG", "wh-east", 0, slipped)[0] == 200
    assert count(stack, context, "MUG", "wh-east", 0, slipped)[0] == 200  # the same again: no news
    moved = order(stack, order_id)
    assert moved["reservation"]["allocations"][0]["eta"] == "2027-02-01"
    assert moved["expected_delivery"]["earliest"] > "2027-02-01"
    assert [e["detail"] for e in moved["timeline"] if e["event"] == "backorder_rescheduled"] == [
        "The supplier's delivery moved later: expected to ship 2027-02-01 (was 2027-01-10)."]
    delays = [e for e in queued_events(stack) if e["event"] == "backorder_delayed"]
    assert [e["ref"] for e in delays] == ["2027-01-10.2027-02-01"]
    # Fewer incoming units than are promised is refused, naming the field.
    status, refused = count(stack, context, "MUG", "wh-east", 0, [{"quantity": 1, "eta": "2027-02-01"}])
    assert status == 409 and refused["message"].startswith("incoming:")


def test_a_backorder_released_by_compensation_gives_its_promise_back(stack, context):
    product(stack, context, "MUG", backorderable=True)
    count(stack, context, "MUG", "wh-east", 0, [{"quantity": 3, "eta": "2027-01-10"}])
    order_id = accepted(stack, context, order_body(quantity=3), "k1")
    step(stack, context, "inventory", "reserve", order_id)
    assert levels(stack, context, "MUG")["wh-east"]["backordered"] == 3
    step(stack, context, "inventory", "release", order_id)
    step(stack, context, "payment", "void", order_id)
    step(stack, context, "order_status", "close", order_id,
         error={"Error": "BackorderTimeout", "Cause": "The backordered goods did not arrive in time"})
    closed = order(stack, order_id)
    assert closed["status"] == "CANCELLED" and closed["close_reason"] == "backorder_timeout"
    row = levels(stack, context, "MUG")["wh-east"]
    assert (row["backordered"], row["incoming_total"]) == (0, 3)
    # The promise is free again, and nobody waits in the queue: a receipt keeps its units on the shelf.
    receipt(stack, context, "MUG", "wh-east", 3, "r")
    assert levels(stack, context, "MUG")["wh-east"]["available"] == 3


def test_movements_replay_to_the_counters_and_name_the_order(stack, context):
    product(stack, context, "MUG", backorderable=True)
    count(stack, context, "MUG", "wh-east", 2, [{"quantity": 5, "eta": "2027-01-10"}])
    order_id = accepted(stack, context, order_body(quantity=4), "k1")
    step(stack, context, "inventory", "reserve", order_id)
    receipt(stack, context, "MUG", "wh-east", 5, "r1")
    status, page = admin(stack, context, "GET", "/admin/inventory/MUG/movements", "/admin/inventory/{sku}/movements",
                         query={"limit": "3"}, sku="MUG")
    assert status == 200 and len(page["movements"]) == 3 and page["next_cursor"]
    status, rest = admin(stack, context, "GET", "/admin/inventory/MUG/movements",
                         "/admin/inventory/{sku}/movements", query={"cursor": page["next_cursor"]}, sku="MUG")
    movements = page["movements"] + rest["movements"]
    assert [m["at"] for m in movements] == sorted((m["at"] for m in movements), reverse=True)
    kinds = Counter(m["kind"] for m in movements)
    assert kinds == Counter({"COUNT": 1, "INCOMING": 1, "RESERVE": 1, "BACKORDER": 1, "RECEIPT": 1,
                             "BACKORDER_FILLED": 1})
    assert {m["order_id"] for m in movements if m["kind"] in ("RESERVE", "BACKORDER_FILLED")} == {order_id}
    replayed = Counter()
    for movement in movements:
        replayed.update(movement["changes"])
    row = levels(stack, context, "MUG")["wh-east"]
    assert {k: replayed[k] for k in ("on_hand", "reserved", "backordered")} == {
        k: row[k] for k in ("on_hand", "reserved", "backordered")}
    assert replayed["incoming"] == row["incoming_total"]
    forged = admin(stack, context, "GET", "/admin/inventory/MUG/movements", "/admin/inventory/{sku}/movements",
                   query={"cursor": page["next_cursor"][:-2] + "AA"}, sku="MUG")
    assert forged[0] == 422


def test_low_stock_alerts_once_per_crossing(stack, context):
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    url = sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.env("inventory", "OPS_ALERTS_TOPIC_ARN"), Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})
    product(stack, context, "MUG", threshold=5)
    count(stack, context, "MUG", "wh-east", 6)
    for index in range(3):
        order_id = accepted(stack, context, order_body(), f"k{index}", sub=f"c{index}")
        step(stack, context, "inventory", "reserve", order_id)
    alerts = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(alerts) == 1 and "MUG at wh-east: 4 available, below the threshold of 5" in alerts[0]["Body"]
    count(stack, context, "MUG", "wh-east", 20)  # back above: re-armed
    assert levels(stack, context, "MUG")["wh-east"]["available"] >= 5


def two_warehouse_order(stack: Any, ctx: Any) -> str:
    product(stack, ctx, "MUG", price=1000)
    product(stack, ctx, "TEE", price=3000)
    count(stack, ctx, "MUG", "wh-east", 5)
    count(stack, ctx, "TEE", "wh-west", 5)
    body = order_body(quantity=2)
    body["lines"].append({"sku": "TEE", "quantity": 1})
    order_id = accepted(stack, ctx, body, "k1")
    step(stack, ctx, "inventory", "reserve", order_id)
    step(stack, ctx, "fulfillment", "request_fulfillment", order_id, **WAITING)
    return order_id


def ship(stack: Any, ctx: Any, order_id: str, tracking: str, **body: Any) -> tuple[int, Any]:
    return admin(stack, ctx, "POST", f"/admin/orders/{order_id}/shipments", "/admin/orders/{order_id}/shipments",
                 {"carrier": "UPS", "tracking_number": tracking, **body}, order_id=order_id)


def test_a_two_warehouse_order_ships_in_two_parcels_whose_captures_sum_to_the_total(stack, context):
    order_id = two_warehouse_order(stack, context)
    placed = order(stack, order_id)
    assert {(a["sku"], a["warehouse"]) for a in placed["reservation"]["allocations"]} == {
        ("MUG", "wh-east"), ("TEE", "wh-west")}
    status, refused = ship(stack, context, order_id, "1Z0001", warehouse="wh-east",
                           lines=[{"sku": "MUG", "quantity": 3}])
    assert status == 409 and "lines[0].quantity" in refused["message"]
    status, partly = ship(stack, context, order_id, "1Z0001", warehouse="wh-east")
    assert status == 201 and partly["status"] == "PARTIALLY_SHIPPED"
    assert partly["fulfillment_status"] == "PARTIALLY_SHIPPED" and partly["payment_status"] == "AUTHORIZED"
    [parcel] = partly["shipments"]
    assert parcel["lines"] == [{"sku": "MUG", "quantity": 2}] and parcel["warehouse"] == "wh-east"
    assert partly["amount_captured"] == parcel["amount"] > 0
    assert levels(stack, context, "MUG")["wh-east"]["on_hand"] == 3  # committed with the parcel
    status, _ = ship(stack, context, order_id, "1Z0002", warehouse="wh-east")
    assert status == 409  # nothing left to ship there
    status, last = ship(stack, context, order_id, "1Z0002", warehouse="wh-west")
    assert status == 201 and last["fulfillment_status"] == "SHIPPED"
    step(stack, context, "inventory", "commit", order_id)
    step(stack, context, "payment", "capture", order_id)
    step(stack, context, "order_status", "mark_shipped", order_id)
    done = order(stack, order_id)
    captures = [e["amount"] for e in done["ledger"].values() if e["operation"] == "CAPTURE"]
    assert len(captures) == 2 and sum(captures) == done["total"] == done["amount_captured"]
    assert done["status"] == "SHIPPED" and done["payment_status"] == "CAPTURED"
    shipped = [e for e in queued_events(stack) if e["event"] == "order_shipped"]
    assert sorted(e["ref"] for e in shipped) == ["1Z0001", "1Z0002"]


def test_ops_cancel_what_has_not_shipped_of_a_partly_shipped_order(stack, context):
    order_id = two_warehouse_order(stack, context)
    ship(stack, context, order_id, "1Z0001", lines=[{"sku": "MUG", "quantity": 2}])
    status, body = admin(stack, context, "POST", f"/admin/orders/{order_id}/cancel",
                         "/admin/orders/{order_id}/cancel",
                         {"reason": "OUT_OF_STOCK", "note": "TEE damaged in the warehouse"}, order_id=order_id)
    assert status == 202 and body["fulfillment_status"] == "SHIPPED"
    assert levels(stack, context, "TEE")["wh-west"]["available"] == 5  # released
    step(stack, context, "inventory", "commit", order_id)
    step(stack, context, "payment", "capture", order_id)
    step(stack, context, "order_status", "mark_shipped", order_id)
    done = order(stack, order_id)
    assert done["status"] == "SHIPPED" and done["payment_status"] == "CAPTURED"
    assert done["amount_captured"] == done["capture_due"] == done["shipments"]["1Z0001"]["amount"] < done["total"]
    tee = next(line for line in call(stack.handler("get_order"), api_event(
        "GET", f"/orders/{order_id}", "/orders/{order_id}", path_params={"order_id": order_id}), context)[1]["lines"]
        if line["sku"] == "TEE")
    assert tee["cancelled_quantity"] == 1 and tee["shipped_quantity"] == 0
    assert "items_cancelled" in [e["event"] for e in queued_events(stack)]


def test_the_warehouse_queue_lists_express_first_then_oldest_with_the_lines_to_pick(stack, context):
    product(stack, context, "MUG")
    count(stack, context, "MUG", "wh-east", 10)
    count(stack, context, "MUG", "wh-west", 10)
    placed = []
    for index, method in enumerate(("standard", "express", "standard")):
        body = order_body(quantity=index + 1, shipping_method=method)
        body["shipping_address"] = {**ADDRESS, "region": "NJ"}
        order_id = accepted(stack, context, body, f"k{index}", sub=f"c{index}")
        step(stack, context, "inventory", "reserve", order_id)
        step(stack, context, "fulfillment", "request_fulfillment", order_id, **WAITING)
        placed.append(order_id)
    status, queue = admin(stack, context, "GET", "/admin/warehouses/wh-east/queue",
                          "/admin/warehouses/{warehouse}/queue", warehouse="wh-east")
    assert status == 200 and queue["total"] == 3
    assert [o["order_id"] for o in queue["orders"]] == [placed[1], placed[0], placed[2]]
    assert queue["orders"][0]["lines"] == [{"sku": "MUG", "name": "Mug", "quantity": 2}]
    assert admin(stack, context, "GET", "/admin/warehouses/nowhere/queue", "/admin/warehouses/{warehouse}/queue",
                 warehouse="nowhere")[0] == 404


def test_a_partly_shipped_order_whose_rest_times_out_keeps_its_parcels_and_cancels_the_rest(stack, context):
    order_id = two_warehouse_order(stack, context)
    ship(stack, context, order_id, "1Z0001", warehouse="wh-east")
    # FulfillmentTimedOut -> Compensate -> ReleaseStock: the parcel left, so the shipment path goes on.
    try:
        step(stack, context, "inventory", "release", order_id)
        raise AssertionError("expected OrderShipped")
    except Exception as exc:
        assert type(exc).__name__ == "OrderShipped"
    rest = order(stack, order_id)
    assert rest["rest_cancelled"]["by"] == "system" and rest["fulfillment_status"] == "SHIPPED"
    assert levels(stack, context, "TEE")["wh-west"]["reserved"] == 0
    for function, action in (("inventory", "commit"), ("payment", "capture"), ("order_status", "mark_shipped")):
        step(stack, context, function, action, order_id)
    done = order(stack, order_id)
    assert done["status"] == "SHIPPED" and done["amount_captured"] == done["shipments"]["1Z0001"]["amount"]
    assert levels(stack, context, "MUG")["wh-east"]["on_hand"] == 3  # nothing committed twice


def test_units_a_cancelled_order_gives_back_go_to_the_orders_waiting_first(stack, context):
    product(stack, context, "MUG", backorderable=True)
    count(stack, context, "MUG", "wh-east", 1, [{"quantity": 5, "eta": "2027-01-10"}])
    leaving = accepted(stack, context, order_body(quantity=2), "k1")  # 1 from the shelf, 1 promised
    waiting = accepted(stack, context, order_body(quantity=1), "k2", sub="cust-2")  # promised
    for order_id in (leaving, waiting):
        step(stack, context, "inventory", "reserve", order_id)
    step(stack, context, "inventory", "release", leaving)
    assert order(stack, waiting)["reservation"]["allocations"][0]["backordered"] == 0
    row = levels(stack, context, "MUG")["wh-east"]
    assert (row["reserved"], row["available"], row["backordered"]) == (1, 0, 0)
    # A new order cannot take the unit ahead of the queue: it was served before anyone could.
    status, _ = place(stack, context, order_body(quantity=6), key="k3", sub="cust-3")
    assert status == 409


def test_a_parcel_capture_the_gateway_fails_is_taken_by_the_last_capture_not_lost(stack, context, monkeypatch):
    from oms.adapters.payment_gateway import SandboxGateway
    from oms.domain.errors import PaymentGatewayError

    order_id = two_warehouse_order(stack, context)
    real = SandboxGateway.capture

    def flaky(self, *, authorization_id, amount, idempotency_key, final=True):
        if not final:
            raise PaymentGatewayError("api_connection_error: the provider did not answer")
        return real(self, authorization_id=authorization_id, amount=amount, idempotency_key=idempotency_key,
                    final=final)

    monkeypatch.setattr(SandboxGateway, "capture", flaky)
    status, partly = ship(stack, context, order_id, "1Z0001", warehouse="wh-east")
    assert status == 201 and partly["status"] == "PARTIALLY_SHIPPED" and partly["amount_captured"] == 0
    assert "parcel_capture_deferred" in [e["event"] for e in partly["timeline"]]
    ship(stack, context, order_id, "1Z0002", warehouse="wh-west")
    step(stack, context, "inventory", "commit", order_id)
    with pytest.raises(PaymentGatewayError):  # still failing: the step fails and the workflow retries it
        step(stack, context, "payment", "capture", order_id)
    monkeypatch.undo()  # the provider answers again
    step(stack, context, "payment", "capture", order_id)
    done = order(stack, order_id)
    assert done["amount_captured"] == done["total"] and done["payment_status"] == "CAPTURED"
    captures = [e for e in done["ledger"].values() if e["operation"] == "CAPTURE"]
    assert [e["status"] for e in captures] == ["SUCCEEDED", "SUCCEEDED"]  # the parcel's asked again, the rest
    assert sum(e["amount"] for e in captures) == done["total"]


def test_a_parcel_recorded_while_the_order_changes_for_another_reason_is_recorded(stack, context):
    """A hold renewal or a carrier event writing the order between the parcel's read and write: read again."""
    from oms.adapters.orders_repo import Change, OrdersRepository
    from oms.logic.fulfillment import ShipmentCommand

    order_id = two_warehouse_order(stack, context)

    class Busy(OrdersRepository):
        reads = 0

        def require(self, wanted):
            read = super().require(wanted)
            Busy.reads += 1
            if Busy.reads == 1:  # another writer gets in right after our first read
                self.apply(wanted, Change(sets={"payment.reauthorizations": 1}))
            return read

    repo = Busy(stack.env("admin", "ORDERS_TABLE"), stack.env("admin", "SHIPMENTS_TABLE"))
    shipped = record_parcel(stack, order_id, ShipmentCommand("UPS", "1ZBUSY0001", "wh-east"), repo)
    assert shipped["status"] == "PARTIALLY_SHIPPED" and Busy.reads > 2
    assert levels(stack, context, "MUG")["wh-east"]["on_hand"] == 3  # committed once
