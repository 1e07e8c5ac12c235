"""Card holds that lapse while an order waits, on the local stack with its wait timers scaled (as retry waits
are): 3e-5 makes the 144 h renewal point about 16 s, the 168 h review limit 18 s, the 336 h fulfillment limit 36 s
and the 72 h payment-update limit 8 s. The state machine is the synthesized one; only the clock its timers run on
is shorter."""

import time
import uuid
from typing import Any

import pytest

from tests.e2e.client import Api

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def timed(timed_stack):
    return timed_stack


@pytest.fixture(scope="module")
def api(timed):
    return Api(timed)


@pytest.fixture(scope="module")
def cara(timed):
    return timed.token(f"cara-{uuid.uuid4().hex[:6]}@example.com")


def _ledger(api: Api, order_id: str) -> list[tuple[str, str]]:
    entries = api.call("GET", f"/admin/orders/{order_id}/payments", api.ops).json()
    return [(e["operation"], e["status"]) for e in entries]


def _until(check: Any, timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {check.__doc__ or check}")


def _ship(api: Api, order_id: str) -> int:
    return api.call("POST", f"/admin/orders/{order_id}/shipments", api.ops,
                    json={"carrier": "UPS", "tracking_number": f"1Z{uuid.uuid4().hex[:12].upper()}"}).status_code


def test_a_waiting_order_renews_its_hold_before_it_lapses_and_ships_paid(api, cara):
    sku = api.product(on_hand=2)
    order_id = api.place(cara, sku).json()["order_id"]
    api.wait(cara, order_id, "PROCESSING")
    _until(lambda: ("REAUTHORIZE", "SUCCEEDED") in _ledger(api, order_id))
    assert api.order(cara, order_id)["status"] == "PROCESSING"
    assert _ship(api, order_id) == 201
    order = api.wait(cara, order_id, "SHIPPED")
    assert order["payment_status"] == "CAPTURED" and order["amount_captured"] == order["total"]
    ledger = _ledger(api, order_id)
    assert ledger[:2] == [("AUTHORIZE", "SUCCEEDED"), ("REAUTHORIZE", "SUCCEEDED")]
    assert ("VOID", "SUCCEEDED") in ledger and ledger[-1] == ("CAPTURE", "SUCCEEDED")
    assert "payment_reauthorized" in [e["event"] for e in order["timeline"]]


def test_a_declined_renewal_holds_the_order_until_the_customer_updates_payment(api, cara, timed):
    sku = api.product(on_hand=2)
    order_id = api.place(cara, sku, payment="tok_sandbox_reauthorizationDeclined").json()["order_id"]
    api.wait(cara, order_id, "PROCESSING")
    held = api.wait(cara, order_id, "ON_HOLD", timeout=40)
    assert "update your payment" in held["status_detail"]
    ops_view = api.order(api.ops, order_id)
    assert ops_view["hold_reason"] == "payment"
    assert _ship(api, order_id) == 409  # nothing ships unpaid
    answer = api.call("POST", f"/orders/{order_id}/payment", cara, json={"token": "tok_visa"})
    assert answer.status_code == 200, answer.text
    order = api.wait(cara, order_id, "PROCESSING")
    assert order["payment_status"] == "AUTHORIZED"
    assert _ship(api, order_id) == 201
    assert api.wait(cara, order_id, "SHIPPED")["payment_status"] == "CAPTURED"
    ledger = _ledger(api, order_id)
    assert ("REAUTHORIZE", "FAILED") in ledger and ("REAUTHORIZE", "SUCCEEDED") in ledger
    subjects = [m["subject"] for m in timed.outbox(order_id)["email"]]
    assert any("update your payment" in s for s in subjects), subjects


def test_an_order_whose_payment_is_never_updated_is_cancelled_unpaid(api, cara):
    sku = api.product(on_hand=2)
    order_id = api.place(cara, sku, payment="tok_sandbox_reauthorizationDeclined").json()["order_id"]
    api.wait(cara, order_id, "ON_HOLD", timeout=40)
    order = api.wait(cara, order_id, "CANCELLED", timeout=40)
    assert (order["payment_status"], order["fulfillment_status"]) == ("VOIDED", "RELEASED")
    assert order["cancellation"]["by"] == "system" and order["cancellation"]["reason"] == "payment_not_updated"
    assert api.stock(sku)["reserved"] == 0


def test_a_review_nobody_answers_is_cancelled_by_the_system_after_renewing_the_hold(api, cara):
    sku = api.product(price=120000, on_hand=1)  # above the review amount
    order_id = api.place(cara, sku).json()["order_id"]
    api.wait(cara, order_id, "ON_HOLD")
    order = api.wait(cara, order_id, "CANCELLED", timeout=60)
    assert order["cancellation"]["by"] == "system" and order["cancellation"]["reason"] == "review_timeout"
    assert order["payment_status"] == "VOIDED"
    assert ("REAUTHORIZE", "SUCCEEDED") in _ledger(api, order_id)
