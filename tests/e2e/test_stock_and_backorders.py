"""Stock across warehouses over HTTP against the local stack, with the real state machine: backorders that resume
when goods arrive (oldest first), a supplier's date that slips, a two-warehouse order in two parcels whose captures
sum to the total, over-shipping refused, and the rest of a partly shipped order cancelled."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.client import ADDRESS

pytestmark = pytest.mark.e2e


def _product(api, *, backorderable: bool = False, price: int = 1000) -> str:
    sku = f"E2E-{uuid.uuid4().hex[:8]}"
    answer = api.call("PUT", f"/admin/products/{sku}", api.ops,
                      json={"name": f"Thing {sku}", "price": price, "currency": "USD", "backorderable": backorderable})
    assert answer.status_code == 200, answer.text
    return sku


def _stock(api, sku: str, warehouse: str, on_hand: int, incoming: list[dict[str, Any]] | None = None):
    body: dict[str, Any] = {"warehouse": warehouse, "on_hand": on_hand}
    if incoming is not None:
        body["incoming"] = incoming
    return api.call("PUT", f"/admin/inventory/{sku}", api.ops, json=body)


def _receive(api, sku: str, warehouse: str, quantity: int):
    return api.call("POST", f"/admin/inventory/{sku}/receipts", api.ops, json={"warehouse": warehouse,
                                                                              "quantity": quantity},
                    headers={"Idempotency-Key": uuid.uuid4().hex})


def _mail(local_stack, order_id: str, needle: str, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        subjects = [m["subject"] for m in local_stack.outbox(order_id)["email"]]
        if any(needle in s for s in subjects) or time.monotonic() > deadline:
            return subjects
        time.sleep(0.2)


def test_backordered_orders_resume_oldest_first_when_goods_arrive_and_a_slip_emails_once(api, ann, local_stack):
    sku = _product(api, backorderable=True)
    assert _stock(api, sku, "wh-east", 0, [{"quantity": 4, "eta": "2027-01-15"}]).status_code == 200
    older = api.place(ann, sku, quantity=2).json()
    newer = api.place(ann, sku, quantity=2).json()
    assert older["status"] == "PENDING"
    first = api.wait(ann, older["order_id"], "BACKORDERED")
    api.wait(ann, newer["order_id"], "BACKORDERED")
    [line] = first["lines"]
    assert (line["backordered_quantity"], line["expected_ship_date"]) == (2, "2027-01-15")
    assert first["payment_status"] == "AUTHORIZED"
    assert first["expected_delivery"]["earliest"] > "2027-01-15"
    assert any("backorder" in s.lower() for s in _mail(local_stack, older["order_id"], "backorder"))
    # No more can be promised.
    refused = api.place(ann, sku, quantity=1)
    assert refused.status_code == 409, refused.text

    # The supplier's date slips: both orders get the new date and one email each.
    slipped = [{"quantity": 4, "eta": "2027-02-01"}]
    for _ in range(2):
        assert _stock(api, sku, "wh-east", 0, slipped).status_code == 200
    moved = api.order(ann, older["order_id"])
    assert moved["lines"][0]["expected_ship_date"] == "2027-02-01"
    assert [e["event"] for e in moved["timeline"]].count("backorder_rescheduled") == 1
    subjects = _mail(local_stack, older["order_id"], "2027")
    delayed = [m for m in local_stack.outbox(older["order_id"])["email"] if "delay" in m["subject"].lower()
               or "later" in m["subject"].lower()]
    assert len(delayed) == 1, subjects

    # Two units arrive: the older order is served and resumes to PROCESSING; the newer still waits.
    assert _receive(api, sku, "wh-east", 2).status_code == 201
    api.wait(ann, older["order_id"], "PROCESSING")
    assert api.order(ann, newer["order_id"])["status"] == "BACKORDERED"
    assert _receive(api, sku, "wh-east", 2).status_code == 201
    api.wait(ann, newer["order_id"], "PROCESSING")
    stock = api.stock(sku)
    assert (stock["on_hand"], stock["reserved"], stock["backordered"], stock["incoming_total"]) == (4, 4, 0, 0)


def test_a_backordered_order_can_be_cancelled_by_the_customer(api, ann, local_stack):
    sku = _product(api, backorderable=True)
    _stock(api, sku, "wh-east", 0, [{"quantity": 3, "eta": "2027-01-15"}])
    order_id = api.place(ann, sku, quantity=3).json()["order_id"]
    api.wait(ann, order_id, "BACKORDERED")
    answer = api.call("POST", f"/orders/{order_id}/cancel", ann, json={"reason": "CHANGED_MIND"},
                      headers={"Idempotency-Key": uuid.uuid4().hex})
    assert answer.status_code == 202, answer.text
    order = api.wait(ann, order_id, "CANCELLED")
    assert order["payment_status"] == "VOIDED"
    stock = api.stock(sku)
    assert (stock["backordered"], stock["incoming_total"]) == (0, 3)


def _two_warehouse_order(api, ann) -> tuple[str, str, str]:
    mug, tee = _product(api, price=1000), _product(api, price=3000)
    assert _stock(api, mug, "wh-east", 5).status_code == 200
    assert _stock(api, tee, "wh-west", 5).status_code == 200
    body = {"currency": "USD", "lines": [{"sku": mug, "quantity": 2}, {"sku": tee, "quantity": 1}],
            "shipping_address": ADDRESS, "shipping_method": "standard", "payment": {"token": "tok_visa"},
            "contact": {"email": "ann@example.com"}}
    placed = api.call("POST", "/orders", ann, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    order = api.wait(ann, order_id, "PROCESSING")
    assert {(line["sku"], line["allocation"][0]["warehouse"]) for line in order["lines"]} == {
        (mug, "wh-east"), (tee, "wh-west")}
    return order_id, mug, tee


def _ship(api, order_id: str, **body: Any):
    return api.call("POST", f"/admin/orders/{order_id}/shipments", api.ops,
                    json={"carrier": "UPS", "tracking_number": f"1Z{uuid.uuid4().hex[:12].upper()}", **body})


def test_a_two_warehouse_order_ships_in_two_parcels_whose_captures_sum_to_the_total(api, ann, local_stack):
    order_id, mug, tee = _two_warehouse_order(api, ann)
    queue = api.call("GET", "/admin/warehouses/wh-west/queue", api.ops).json()
    assert any(o["order_id"] == order_id and o["lines"][0]["sku"] == tee for o in queue["orders"])
    over = _ship(api, order_id, warehouse="wh-east", lines=[{"sku": mug, "quantity": 3}])
    assert over.status_code == 409 and "lines[0].quantity" in over.json()["message"], over.text
    first = _ship(api, order_id, warehouse="wh-east")
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "PARTIALLY_SHIPPED"
    order = api.wait(ann, order_id, "PARTIALLY_SHIPPED")
    assert order["amount_captured"] > 0 and order["payment_status"] == "AUTHORIZED"
    # The first parcel arrives before the second leaves: the order is not delivered yet.
    first_parcel = first.json()["shipments"][0]["tracking_number"]
    assert api.tracking(first_parcel, "delivered").json()["result"] == "accepted"
    for _ in range(50):
        parcel = api.order(ann, order_id)["shipments"][0]
        if parcel["tracking_status"] == "DELIVERED":
            break
        time.sleep(0.2)
    assert parcel["tracking_status"] == "DELIVERED" and api.order(ann, order_id)["status"] == "PARTIALLY_SHIPPED"
    second = _ship(api, order_id, warehouse="wh-west")
    assert second.status_code == 201
    order = api.wait(ann, order_id, "SHIPPED")
    ledger = api.call("GET", f"/admin/orders/{order_id}/payments", api.ops).json()
    captures = [e["amount"] for e in ledger if e["operation"] == "CAPTURE" and e["status"] == "SUCCEEDED"]
    assert len(captures) == 2 and sum(captures) == order["total"] == order["amount_captured"]
    assert len(order["shipments"]) == 2 and order["payment_status"] == "CAPTURED"
    shipped = [m for m in local_stack.outbox(order_id)["email"] if "shipped" in m["subject"].lower()]
    for _ in range(50):
        if len(shipped) >= 2:
            break
        time.sleep(0.2)
        shipped = [m for m in local_stack.outbox(order_id)["email"] if "shipped" in m["subject"].lower()]
    assert len(shipped) == 2  # one email per parcel
    last_parcel = next(p["tracking_number"] for p in second.json()["shipments"] if p["tracking_number"] != first_parcel)
    assert api.tracking(last_parcel, "delivered").json()["result"] == "accepted"
    assert api.wait(ann, order_id, "DELIVERED")["fulfillment_status"] == "DELIVERED"


def test_ops_cancel_the_rest_of_a_partly_shipped_order(api, ann, local_stack):
    order_id, _, tee = _two_warehouse_order(api, ann)
    assert _ship(api, order_id, warehouse="wh-east").status_code == 201
    api.wait(ann, order_id, "PARTIALLY_SHIPPED")
    answer = api.call("POST", f"/admin/orders/{order_id}/cancel", api.ops,
                      json={"reason": "OUT_OF_STOCK", "note": "damaged in the warehouse"})
    assert answer.status_code == 202, answer.text
    order = api.wait(ann, order_id, "SHIPPED")
    assert order["payment_status"] == "CAPTURED"
    assert 0 < order["amount_captured"] < order["total"]
    assert next(line for line in order["lines"] if line["sku"] == tee)["cancelled_quantity"] == 1
    assert api.stock(tee)["available"] == 5
    assert any("cancel" in s.lower() for s in _mail(local_stack, order_id, "cancel"))


def test_receipts_arriving_at_once_serve_every_waiting_order_exactly_once(api, ann, local_stack):
    sku = _product(api, backorderable=True)
    _stock(api, sku, "wh-east", 0, [{"quantity": 4, "eta": "2027-01-15"}])
    order_ids = [api.place(ann, sku).json()["order_id"] for _ in range(4)]
    for order_id in order_ids:
        api.wait(ann, order_id, "BACKORDERED")
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _receive(api, sku, "wh-east", 1), range(4)))
    assert [a.status_code for a in answers] == [201] * 4
    for order_id in order_ids:
        api.wait(ann, order_id, "PROCESSING")
    stock = api.stock(sku)
    assert (stock["on_hand"], stock["reserved"], stock["available"], stock["backordered"]) == (4, 4, 0, 0)


def test_low_stock_alerts_ops_once_and_the_outbox_shows_it(api, ann, local_stack):
    sku = f"E2E-{uuid.uuid4().hex[:8]}"
    assert api.call("PUT", f"/admin/products/{sku}", api.ops, json={
        "name": "Low", "price": 500, "currency": "USD", "low_stock_threshold": 3}).status_code == 200
    assert _stock(api, sku, "wh-east", 4).status_code == 200
    for _ in range(2):
        api.wait(ann, api.place(ann, sku).json()["order_id"], "PROCESSING")

    def alerts() -> list[dict[str, Any]]:
        return [a for a in local_stack.outbox()["alerts"] if a["subject"] == f"Low stock: {sku} at wh-east"]

    assert len(alerts()) == 1 and "2 available, below the threshold of 3" in alerts()[0]["text"]
