"""Returns and exchanges over HTTP on the local stack, run by the synthesized ``ReturnWorkflow``: a full refund,
a partial one with a restocking fee, a damaged unit written off, the window and category refusals, a rejection,
exchanges with and without a price difference, and one return for concurrent requests with one key."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.client import Api

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def rita(local_stack):
    return local_stack.token(f"rita-{uuid.uuid4().hex[:6]}@example.com")


def until(check: Any, timeout: float = 45) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {check.__doc__ or check}")
        time.sleep(0.25)


def product(api: Api, price: int = 2000, on_hand: int = 10, category: str | None = None) -> str:
    sku = f"RET-{uuid.uuid4().hex[:8]}"
    body: dict[str, Any] = {"name": f"Shirt {sku[-4:]}", "price": price, "currency": "USD"}
    if category:
        body["category"] = category
    assert api.call("PUT", f"/admin/products/{sku}", api.ops, json=body).status_code == 200
    assert api.call("PUT", f"/admin/inventory/{sku}", api.ops,
                    json={"warehouse": "wh-east", "on_hand": on_hand}).status_code == 200
    return sku


def delivered(api: Api, token: str, sku: str, quantity: int = 2, delivered_at: str | None = None) -> dict[str, Any]:
    """An order placed, shipped and delivered (the carrier's delivery at ``delivered_at``, default now)."""
    order_id = api.place(token, sku, quantity).json()["order_id"]
    return api.deliver(token, order_id, delivered_at)


def ask(api: Api, token: str, order_id: str, lines: list[dict[str, Any]], key: str | None = None,
        **extra: Any) -> Any:
    return api.call("POST", f"/orders/{order_id}/returns", token, json={"lines": lines, **extra},
                    headers={"Idempotency-Key": key or uuid.uuid4().hex})


def the_return(api: Api, token: str, order_id: str, return_id: str) -> dict[str, Any]:
    answer = api.call("GET", f"/orders/{order_id}/returns/{return_id}", token)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_return(api: Api, token: str, order_id: str, return_id: str, *statuses: str,
                timeout: float = 45) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        record = the_return(api, token, order_id, return_id)
        return record if record["status"] in statuses else None
    return until(reached, timeout)


def events_sent(api: Api, order_id: str) -> list[str]:
    """The events the customer was emailed about (the order's message records, as ops see them)."""
    records = api.order(api.ops, order_id).get("notifications", [])
    return [r["event"].split(":")[0] for r in records if r["channel"] == "email" and r["status"] == "SENT"]


def receive(api: Api, return_id: str, lines: list[dict[str, Any]]) -> Any:
    return api.call("POST", f"/admin/returns/{return_id}/receive", api.ops, json={"lines": lines})


def test_a_full_return_is_approved_tracked_received_refunded_and_the_stock_comes_back(api, rita, local_stack):
    sku = product(api)
    order = delivered(api, rita, sku, quantity=2)
    order_id = order["order_id"]
    on_hand = api.stock(sku)["on_hand"]
    answer = ask(api, rita, order_id, [{"sku": sku, "quantity": 2, "reason": "DAMAGED", "note": "torn seam"}])
    assert answer.status_code == 201, answer.text
    created = answer.json()
    rma = created["return_id"]
    assert rma.startswith("RMA-") and len(rma) == 10
    assert created["refund_estimate"] == 4000 and created["restocking_fee"] == 0
    assert created["return_shipping_fee"] == 0  # damaged: the label is free
    approved = wait_return(api, rita, order_id, rma, "APPROVED")
    assert rma in approved["instructions"] and approved["ship_by"]
    until(lambda: "return_approved" in events_sent(api, order_id))

    parcel = f"1ZRET{uuid.uuid4().hex[:10].upper()}"
    answer = api.call("POST", f"/orders/{order_id}/returns/{rma}/parcel", rita,
                      json={"carrier": "UPS", "tracking_number": parcel})
    assert answer.status_code == 200, answer.text
    assert api.tracking(parcel, "in_transit").status_code == 200
    wait_return(api, rita, order_id, rma, "IN_TRANSIT")

    answer = receive(api, rma, [{"sku": sku, "quantity": 2, "condition": "RESELLABLE"}])
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "RECEIVED" and answer.json()["refund_amount"] == 4000
    closed = wait_return(api, rita, order_id, rma, "CLOSED")
    assert closed["refund_amount"] == 4000
    assert [e["event"] for e in closed["timeline"]][:1] == ["return_requested"]
    assert {"return_approved", "in_transit", "return_received", "refunded", "return_closed"} <= {
        e["event"] for e in closed["timeline"]}

    order = api.order(rita, order_id)
    assert order["status"] == "RETURNED" and order["fulfillment_status"] == "RETURNED"
    assert order["amount_refunded"] == 4000 and order["payment_status"] == "PARTIALLY_REFUNDED"  # not shipping
    assert order["lines"][0]["returned_quantity"] == 2
    ledger = api.call("GET", f"/admin/orders/{order_id}/payments", api.ops).json()
    assert [(e["operation"], e["amount"], e["status"]) for e in ledger if e["operation"] == "REFUND"] == [
        ("REFUND", 4000, "SUCCEEDED")]
    assert api.stock(sku)["on_hand"] == on_hand + 2
    kinds = [m["kind"] for m in api.call("GET", f"/admin/inventory/{sku}/movements", api.ops).json()["movements"]]
    assert kinds[0] == "RETURN"
    until(lambda: {"return_approved", "return_received", "return_refunded"} <= set(events_sent(api, order_id)))
    assert "payment_refunded" not in events_sent(api, order_id)  # one refund email, the return's


def test_a_partial_return_pays_less_its_restocking_fee_and_label(api, rita):
    sku = product(api)
    order_id = delivered(api, rita, sku, quantity=2)["order_id"]
    answer = ask(api, rita, order_id, [{"sku": sku, "quantity": 1, "reason": "NO_LONGER_NEEDED"}])
    assert answer.status_code == 201, answer.text
    created = answer.json()
    # 20.00 less 10 % restocking (2.00) and the 5.00 label: 13.00.
    assert (created["restocking_fee"], created["return_shipping_fee"], created["refund_estimate"]) == (200, 500, 1300)
    rma = created["return_id"]
    wait_return(api, rita, order_id, rma, "APPROVED")
    more = ask(api, rita, order_id, [{"sku": sku, "quantity": 2, "reason": "SIZE_OR_FIT"}])
    assert more.status_code == 422 and more.json()["errors"][0]["field"] == "lines[0].quantity", more.text
    assert receive(api, rma, [{"sku": sku, "quantity": 1, "condition": "RESELLABLE"}]).status_code == 200
    assert wait_return(api, rita, order_id, rma, "CLOSED")["refund_amount"] == 1300
    order = api.order(rita, order_id)
    assert order["status"] == "PARTIALLY_RETURNED" and order["amount_refunded"] == 1300


def test_a_damaged_unit_is_written_off_and_still_refunded(api, rita):
    sku = product(api)
    order_id = delivered(api, rita, sku, quantity=2)["order_id"]
    on_hand = api.stock(sku)["on_hand"]
    rma = ask(api, rita, order_id, [{"sku": sku, "quantity": 2, "reason": "WRONG_ITEM"}]).json()["return_id"]
    wait_return(api, rita, order_id, rma, "APPROVED")
    answer = receive(api, rma, [{"sku": sku, "quantity": 1, "condition": "RESELLABLE"},
                                {"sku": sku, "quantity": 1, "condition": "DAMAGED"}])
    assert answer.status_code == 200, answer.text
    assert wait_return(api, rita, order_id, rma, "CLOSED")["refund_amount"] == 4000
    assert api.stock(sku)["on_hand"] == on_hand + 1
    movements = api.call("GET", f"/admin/inventory/{sku}/movements", api.ops).json()["movements"]
    by_kind = {m["kind"]: m for m in movements}
    assert by_kind["RETURN"]["changes"] == {"on_hand": 1} and by_kind["WRITE_OFF"]["changes"] == {"written_off": 1}
    assert by_kind["WRITE_OFF"]["order_id"] == order_id


def test_outside_the_window_and_non_returnable_items_are_refused_naming_the_line(api, rita):
    sku = product(api)
    long_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    order_id = delivered(api, rita, sku, quantity=1, delivered_at=long_ago)["order_id"]
    answer = ask(api, rita, order_id, [{"sku": sku, "quantity": 1, "reason": "SIZE_OR_FIT"}])
    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "return_window_closed"
    assert answer.json()["errors"][0]["field"] == "lines[0].sku"

    final = product(api, category="final-sale")
    order_id = delivered(api, rita, final, quantity=1)["order_id"]
    answer = ask(api, rita, order_id, [{"sku": final, "quantity": 1, "reason": "NO_LONGER_NEEDED"}])
    assert answer.status_code == 409 and answer.json()["code"] == "not_returnable", answer.text
    assert answer.json()["errors"][0]["field"] == "lines[0].sku"
    assert api.call("GET", f"/orders/{order_id}/returns", rita).json() == []


def test_ops_reject_a_return_that_needs_review_and_its_items_can_be_asked_again(api, rita, local_stack):
    sku = product(api)
    order_id = delivered(api, rita, sku, quantity=1)["order_id"]
    rma = ask(api, rita, order_id, [{"sku": sku, "quantity": 1, "reason": "DEFECTIVE"}]).json()["return_id"]
    queue = until(lambda: [r for r in api.call("GET", "/admin/returns?status=REQUESTED", api.ops).json()["returns"]
                           if r["return_id"] == rma])
    assert queue[0]["customer_id"] and queue[0]["lines"][0]["reason"] == "DEFECTIVE"
    no_note = api.call("POST", f"/admin/returns/{rma}/review", api.ops, json={"decision": "reject"})
    assert no_note.status_code == 422 and no_note.json()["errors"][0]["field"] == "note"
    answer = api.call("POST", f"/admin/returns/{rma}/review", api.ops,
                      json={"decision": "reject", "note": "The photos show wear from use"})
    assert answer.status_code == 200 and answer.json()["status"] == "REJECTED", answer.text
    assert api.call("POST", f"/admin/returns/{rma}/review", api.ops,
                    json={"decision": "approve"}).status_code == 409
    until(lambda: "return_rejected" in events_sent(api, order_id))
    again = ask(api, rita, order_id, [{"sku": sku, "quantity": 1, "reason": "DEFECTIVE"}])
    assert again.status_code == 201, again.text


def test_an_exchange_for_another_size_at_the_same_price_ships_a_free_replacement(api, rita):
    small, large = product(api, price=2000), product(api, price=2000)
    order_id = delivered(api, rita, small, quantity=1)["order_id"]
    answer = ask(api, rita, order_id, [{"sku": small, "quantity": 1, "reason": "SIZE_OR_FIT"}],
                 resolution="exchange", exchange_for=[{"sku": large, "quantity": 1}])
    assert answer.status_code == 201, answer.text
    rma = answer.json()["return_id"]
    assert answer.json()["refund_estimate"] == 0 and answer.json()["return_shipping_fee"] == 0
    assert answer.json()["exchange_difference"] == 0
    wait_return(api, rita, order_id, rma, "APPROVED")
    assert receive(api, rma, [{"sku": small, "quantity": 1, "condition": "RESELLABLE"}]).status_code == 200
    closed = wait_return(api, rita, order_id, rma, "CLOSED")
    replacement_id = closed["exchange"]["order_id"]
    assert closed["exchange"]["difference"] == 0
    replacement = api.wait(rita, replacement_id, "PROCESSING")
    assert replacement["exchange_of"] == {"order_id": order_id, "return_id": rma}
    assert replacement["total"] == 0 and replacement["exchange_credit"] == 2000
    assert [line["sku"] for line in replacement["lines"]] == [large]
    original = api.order(rita, order_id)
    assert original["exchanges"] == [replacement_id] and original["status"] == "RETURNED"
    assert original["amount_refunded"] == 0


def test_an_exchange_for_a_dearer_item_charges_the_difference_and_ships_at_once_for_a_wrong_item(api, rita):
    shirt, dearer = product(api, price=2000), product(api, price=2600)
    order_id = delivered(api, rita, shirt, quantity=1)["order_id"]
    answer = ask(api, rita, order_id, [{"sku": shirt, "quantity": 1, "reason": "WRONG_ITEM"}],
                 resolution="exchange", exchange_for=[{"sku": dearer, "quantity": 1}])
    assert answer.status_code == 201, answer.text
    rma = answer.json()["return_id"]
    assert answer.json()["exchange_difference"] == 600  # told before anything happens
    # WRONG_ITEM allows an advance exchange: the replacement exists before anything comes back.
    record = until(lambda: (r := the_return(api, rita, order_id, rma)).get("exchange") and r)
    assert record["status"] == "APPROVED" and record["exchange"]["difference"] == 600
    replacement = api.wait(rita, record["exchange"]["order_id"], "PROCESSING")
    assert replacement["total"] == 600 and replacement["payment_status"] == "AUTHORIZED"
    ledger = api.call("GET", f"/admin/orders/{replacement['order_id']}/payments", api.ops).json()
    assert [(e["operation"], e["amount"]) for e in ledger] == [("AUTHORIZE", 600)]
    assert receive(api, rma, [{"sku": shirt, "quantity": 1, "condition": "RESELLABLE"}]).status_code == 200
    closed = wait_return(api, rita, order_id, rma, "CLOSED")
    assert closed["exchange"]["order_id"] == replacement["order_id"]  # one replacement, not two


def test_concurrent_requests_with_one_key_make_one_return(api, rita):
    sku = product(api)
    order_id = delivered(api, rita, sku, quantity=1)["order_id"]
    key = uuid.uuid4().hex
    lines = [{"sku": sku, "quantity": 1, "reason": "SIZE_OR_FIT"}]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: ask(api, rita, order_id, lines, key=key), range(6)))
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert len({a.json()["return_id"] for a in answers}) == 1
    assert [a.headers["Idempotent-Replayed"] for a in answers].count("false") == 1
    assert len(api.call("GET", f"/orders/{order_id}/returns", rita).json()) == 1
    other = ask(api, rita, order_id, [{"sku": sku, "quantity": 1, "reason": "OTHER", "note": "x"}], key=key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_two_returns_of_the_last_unit_at_once_make_one_and_a_cancelled_return_gives_it_back(api, rita):
    sku = product(api)
    order_id = delivered(api, rita, sku, quantity=1)["order_id"]
    lines = [{"sku": sku, "quantity": 1, "reason": "SIZE_OR_FIT"}]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: ask(api, rita, order_id, lines), range(4)))
    assert sorted(a.status_code for a in answers) == [201, 422, 422, 422], [a.text for a in answers]
    rma = next(a.json()["return_id"] for a in answers if a.status_code == 201)
    wait_return(api, rita, order_id, rma, "APPROVED")
    parcel = f"1ZRET{uuid.uuid4().hex[:10].upper()}"
    taken = api.call("POST", f"/orders/{order_id}/returns/{rma}/parcel", rita,
                     json={"carrier": "UPS", "tracking_number": parcel})
    assert taken.status_code == 200, taken.text
    assert api.call("POST", f"/orders/{order_id}/returns/{rma}/parcel", rita,
                    json={"carrier": "UPS", "tracking_number": parcel}).status_code == 200  # repeated: same
    cancelled = api.call("POST", f"/orders/{order_id}/returns/{rma}/cancel", rita)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED", cancelled.text
    assert api.call("POST", f"/orders/{order_id}/returns/{rma}/cancel", rita).status_code == 200  # repeat: safe
    assert receive(api, rma, [{"sku": sku, "quantity": 1, "condition": "RESELLABLE"}]).status_code == 409
    again = ask(api, rita, order_id, lines)
    assert again.status_code == 201, again.text
    other = api.call("GET", f"/orders/{order_id}/returns/{again.json()['return_id']}",
                     api.stack.token(f"eve-{uuid.uuid4().hex[:6]}@example.com"))
    assert other.status_code == 404  # another customer sees nothing of it


def test_a_settling_step_that_fails_after_refunding_is_retried_then_parked_and_refunds_once(api, rita, faults):
    sku = product(api)
    order_id = delivered(api, rita, sku, quantity=2)["order_id"]
    first, second = (ask(api, rita, order_id, [{"sku": sku, "quantity": 1, "reason": "DAMAGED"}]).json()["return_id"]
                     for _ in range(2))
    for rma in (first, second):
        wait_return(api, rita, order_id, rma, "APPROVED")
    # A transient failure after the refund went through: the step runs again, the ledger refunds once.
    faults.add({"action": "aws:lambda:invocation-error", "function": "return_steps", "step": "settle",
                "when": "after", "count": 2})
    assert receive(api, first, [{"sku": sku, "quantity": 1, "condition": "RESELLABLE"}]).status_code == 200
    assert wait_return(api, rita, order_id, first, "CLOSED")["refund_amount"] == 2000
    faults.clear()
    # A persistent one: the return is parked where ops see it, and resumes when they retry it.
    faults.add({"action": "aws:lambda:invocation-error", "function": "return_steps", "step": "settle",
                "when": "after"})
    assert receive(api, second, [{"sku": sku, "quantity": 1, "condition": "RESELLABLE"}]).status_code == 200
    parked = until(lambda: (r := api.call("GET", f"/admin/returns/{second}", api.ops).json()).get(
        "technical_hold") and r)
    assert parked["technical_hold"]["step"] == "Settle" and parked["status"] in ("RECEIVED", "REFUNDED")
    faults.clear()
    assert api.call("POST", f"/admin/returns/{second}/retry", api.ops).status_code == 200
    assert wait_return(api, rita, order_id, second, "CLOSED")["refund_amount"] == 2000
    ledger = api.call("GET", f"/admin/orders/{order_id}/payments", api.ops).json()
    assert [e["amount"] for e in ledger if e["operation"] == "REFUND"] == [2000, 2000]
    assert api.order(rita, order_id)["status"] == "RETURNED"
