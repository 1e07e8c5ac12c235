"""Cancellation by customers and ops, refunds and the payment ledger, over HTTP against the local stack."""

import threading
import uuid
from typing import Any

import pytest

from tests.e2e.test_workflow import _held, _wait_for_mail

pytestmark = pytest.mark.e2e


def _cancel(api, token: str, order_id: str, key: str | None = None, **body: Any):
    return api.call("POST", f"/orders/{order_id}/cancel", token, json=body or {"reason": "CHANGED_MIND"},
                    headers={"Idempotency-Key": key or uuid.uuid4().hex})


def _ship(api, order_id: str):
    return api.call("POST", f"/admin/orders/{order_id}/shipments", api.ops,
                    json={"carrier": "UPS", "tracking_number": f"1Z{uuid.uuid4().hex[:12].upper()}"})


def _refund(api, order_id: str, key: str | None = None, **body: Any):
    return api.call("POST", f"/admin/orders/{order_id}/refunds", api.ops, json={"reason": "goodwill", **body},
                    headers={"Idempotency-Key": key or uuid.uuid4().hex})


def _ledger(api, order_id: str) -> list[dict[str, Any]]:
    answer = api.call("GET", f"/admin/orders/{order_id}/payments", api.ops)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_customer_cancels_a_processing_order(api, ann, local_stack):
    sku = api.product(on_hand=5)
    order_id = api.place(ann, sku, quantity=2).json()["order_id"]
    api.wait(ann, order_id, "PROCESSING")
    for body, field in [({"reason": "BORED"}, "reason"), ({"reason": "OTHER"}, "note"),
                        ({"reason": "OTHER", "note": "x" * 501}, "note"), ({}, "reason")]:
        refused = api.call("POST", f"/orders/{order_id}/cancel", ann, json=body,
                           headers={"Idempotency-Key": uuid.uuid4().hex})
        assert refused.status_code == 422 and field in [e["field"] for e in refused.json()["errors"]], refused.text
    assert "cancellation" not in api.order(ann, order_id)  # nothing written
    answer = _cancel(api, ann, order_id, key="cancel-1", reason="FOUND_BETTER_PRICE")
    assert answer.status_code == 202, answer.text
    assert answer.headers["Idempotent-Replayed"] == "false"
    assert answer.json()["cancellation"]["by"] == "customer"
    order = api.wait(ann, order_id, "CANCELLED")
    assert (order["payment_status"], order["fulfillment_status"]) == ("VOIDED", "RELEASED")
    assert order["cancellation"] == {**order["cancellation"], "reason": "FOUND_BETTER_PRICE", "by": "customer",
                                     "fee": 0}
    assert order["status_detail"] == "You cancelled this order. You have not been charged."
    assert (api.stock(sku)["reserved"], api.stock(sku)["available"]) == (0, 5)
    replay = _cancel(api, ann, order_id, key="cancel-1", reason="FOUND_BETTER_PRICE")
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["status"] == "CANCELLED"
    assert _cancel(api, ann, order_id, key="cancel-1", reason="OTHER", note="x").status_code == 422
    assert _cancel(api, ann, order_id).json()["code"] == "not_cancellable"
    assert [(e["operation"], e["status"]) for e in _ledger(api, order_id)] == [
        ("AUTHORIZE", "SUCCEEDED"), ("VOID", "SUCCEEDED")]
    assert any("cancelled" in s for s in _wait_for_mail(local_stack, order_id, 2))


def test_after_picking_the_customer_is_pointed_to_returns_but_ops_can_still_cancel(api, ann, local_stack):
    sku = api.product(on_hand=3)
    order_id = api.place(ann, sku).json()["order_id"]
    api.wait(ann, order_id, "PROCESSING")
    picked = api.call("POST", f"/admin/orders/{order_id}/picking", api.ops)
    assert picked.status_code == 200 and picked.json()["picking"]["by"], picked.text
    refused = _cancel(api, ann, order_id)
    assert refused.status_code == 409 and refused.json()["code"] == "not_cancellable"
    assert "return" in refused.json()["message"]
    assert api.order(ann, order_id)["status"] == "PROCESSING"
    answer = api.call("POST", f"/admin/orders/{order_id}/cancel", api.ops,
                      json={"reason": "STAFF_ERROR", "note": "dropped in the warehouse", "notify_customer": False})
    assert answer.status_code == 202, answer.text
    order = api.wait(ann, order_id, "CANCELLED")
    assert order["cancellation"]["by"] == "ops" and order["payment_status"] == "VOIDED"
    assert api.stock(sku)["reserved"] == 0
    assert not [m for m in local_stack.outbox(order_id)["email"] if "cancelled" in m["subject"]]


def test_ops_cancel_a_held_order(api, ann):
    sku, order_id = _held(api, ann)
    answer = api.call("POST", f"/admin/orders/{order_id}/cancel", api.ops,
                      json={"reason": "FRAUD", "note": "card reported stolen"})
    assert answer.status_code == 202, answer.text
    order = api.wait(ann, order_id, "CANCELLED")
    assert (order["payment_status"], order["fulfillment_status"]) == ("VOIDED", "RELEASED")
    assert "could not verify" in order["status_detail"] and "stolen" not in order["status_detail"]
    assert api.stock(sku)["reserved"] == 0


def test_a_cancel_racing_a_shipment_has_exactly_one_winner(api, ann):
    sku = api.product(on_hand=40)
    order_ids = [api.place(ann, sku).json()["order_id"] for _ in range(12)]
    for order_id in order_ids:
        api.wait(ann, order_id, "PROCESSING")
    answers: dict[str, dict[str, int]] = {}

    def race(order_id: str) -> None:
        results: dict[str, int] = {}
        go = threading.Barrier(2)

        def cancel() -> None:
            go.wait()
            results["cancel"] = _cancel(api, ann, order_id).status_code

        def ship() -> None:
            go.wait()
            results["ship"] = _ship(api, order_id).status_code

        threads = [threading.Thread(target=cancel), threading.Thread(target=ship)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        answers[order_id] = results

    for order_id in order_ids:
        race(order_id)
    shipped = cancelled = 0
    for order_id in order_ids:
        order = api.wait(ann, order_id, "SHIPPED", "CANCELLED")
        result = answers[order_id]
        if order["status"] == "SHIPPED":
            shipped += 1
            assert result == {"ship": 201, "cancel": 409}, (order_id, result)
            assert order["payment_status"] == "CAPTURED" and "cancellation" not in order
        else:
            cancelled += 1
            assert result == {"ship": 409, "cancel": 202}, (order_id, result)
            assert order["payment_status"] == "VOIDED" and order["shipments"] == []
    stock = api.stock(sku)
    assert stock["reserved"] == 0 and stock["on_hand"] == 40 - shipped
    assert shipped + cancelled == len(order_ids)


def test_partial_then_full_refund_after_delivery_and_over_refunds_refused(api, ann, local_stack):
    sku = api.product(price=1000, on_hand=5)
    order_id = api.place(ann, sku, quantity=3).json()["order_id"]
    api.wait(ann, order_id, "PROCESSING")
    assert _ship(api, order_id).status_code == 201
    order = api.wait(ann, order_id, "SHIPPED")
    total = order["total"]
    assert order["amount_captured"] == total and order["amount_refunded"] == 0
    # Bad input writes nothing.
    for body, field in [({"amount": -5}, "amount"), ({"lines": [{"sku": "NOPE", "quantity": 1}]}, "lines[0].sku"),
                        ({"lines": [{"sku": sku, "quantity": 4}]}, "lines[0].quantity"),
                        ({"amount": 1, "lines": [{"sku": sku, "quantity": 1}]}, "amount")]:
        answer = _refund(api, order_id, **body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in [e["field"] for e in answer.json()["errors"]], (body, answer.text)
    assert api.order(ann, order_id)["amount_refunded"] == 0
    one_line = _refund(api, order_id, key="r1", lines=[{"sku": sku, "quantity": 1}])
    assert one_line.status_code == 201, one_line.text
    partial = one_line.json()
    assert partial["amount_refunded"] == 1000 and partial["payment_status"] == "PARTIALLY_REFUNDED"
    assert _refund(api, order_id, key="r1", lines=[{"sku": sku, "quantity": 1}]).headers[
        "Idempotent-Replayed"] == "true"
    over = _refund(api, order_id, amount=total)
    assert over.status_code == 409 and over.json()["code"] == "refund_exceeds_captured", over.text
    rest = _refund(api, order_id, amount=total - 1000)
    assert rest.status_code == 201, rest.text
    assert (rest.json()["amount_refunded"], rest.json()["payment_status"]) == (total, "REFUNDED")
    assert _refund(api, order_id, amount=1).status_code == 409
    ledger = _ledger(api, order_id)
    assert [(e["operation"], e["amount"], e["status"]) for e in ledger] == [
        ("AUTHORIZE", total, "SUCCEEDED"), ("CAPTURE", total, "SUCCEEDED"), ("REFUND", 1000, "SUCCEEDED"),
        ("REFUND", total - 1000, "SUCCEEDED")]
    assert all(e["gateway_reference"] and e["idempotency_key"] for e in ledger)
    subjects = _wait_for_mail(local_stack, order_id, 4)
    assert sum("refund" in s.lower() for s in subjects) == 2, subjects


def test_two_concurrent_refunds_that_together_exceed_the_capture_cannot_both_succeed(api, ann):
    sku = api.product(price=1000, on_hand=5)
    order_id = api.place(ann, sku, quantity=2).json()["order_id"]
    api.wait(ann, order_id, "PROCESSING")
    assert _ship(api, order_id).status_code == 201
    total = api.wait(ann, order_id, "SHIPPED")["total"]
    amount = total // 2 + 1
    statuses: list[int] = []
    go = threading.Barrier(2)

    def refund() -> None:
        go.wait()
        statuses.append(_refund(api, order_id, amount=amount).status_code)

    threads = [threading.Thread(target=refund) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 409], statuses
    order = api.order(api.ops, order_id)
    assert order["amount_refunded"] == amount
    refunds = [e for e in _ledger(api, order_id) if e["operation"] == "REFUND"]
    assert [(e["amount"], e["status"]) for e in refunds] == [(amount, "SUCCEEDED")]
