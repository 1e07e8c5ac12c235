import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from oms.domain.easypost import sign, signature_is_valid
from oms.domain.models import PlaceOrderRequest
from oms.domain.order import close_outcome, new_order, ops_view, order_id_for, public_view
from oms.domain.pricing import CatalogProduct
from oms.domain.status import OrderStatus, PaymentStatus
from oms.domain.tracking import normalized, supersedes

REQUEST = {
    "currency": "USD",
    "lines": [{"sku": "MUG", "quantity": 2}],
    "shipping_address": {"name": "Ann", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
                         "country": "US"},
    "shipping_method": "standard",
    "payment": {"token": "tok_visa"},
    "contact": {"email": "ann@example.com", "phone": "+12015550123"},
}


def test_new_order_is_pending_priced_and_keeps_no_card_data():
    request = PlaceOrderRequest.model_validate(REQUEST)
    order = new_order(order_id="ord_1", customer_id="c1", request=request,
                      products={"MUG": CatalogProduct("MUG", "Mug", 1250, "USD")},
                      now=datetime(2026, 11, 23, 9, tzinfo=UTC))
    assert order["status"] == "PENDING" and order["payment_status"] == "PENDING"
    assert order["total"] == 3000 and order["billing_address"] == order["shipping_address"]
    view = public_view(order)
    assert "payment" not in view and "request_hash" not in view and view["shipments"] == []
    assert view["expected_delivery"] == {"earliest": "2026-11-26", "latest": "2026-11-30"}


def test_ops_see_why_an_order_is_held_and_customers_do_not():
    request = PlaceOrderRequest.model_validate(REQUEST)
    order = new_order(order_id="ord_1", customer_id="c1", request=request,
                      products={"MUG": CatalogProduct("MUG", "Mug", 1250, "USD")},
                      now=datetime(2026, 11, 23, 9, tzinfo=UTC))
    assert "hold_reason" not in ops_view(order)
    waiting = {**order, "status": OrderStatus.ON_HOLD.value, "review_task_token": "t"}
    assert ops_view(waiting)["hold_reason"] == "review"
    decided = {**waiting, "review": {"decision": "approve", "note": "", "reviewer": "ops", "at": "x"}}
    assert "hold_reason" not in ops_view(decided)
    hold = {"step": "AssessRisk", "error": "InjectedFault", "cause": "", "attempts": 4, "parked_at": "x", "count": 1}
    parked = {**waiting, "technical_hold": hold}
    assert ops_view(parked)["hold_reason"] == "technical"
    assert "hold_reason" not in public_view(parked)


def test_order_id_is_stable_per_customer_and_key():
    assert order_id_for("c1", "k") == order_id_for("c1", "k") != order_id_for("c2", "k")


@pytest.mark.parametrize(("patch", "field"), [
    ({"surprise": 1}, "surprise"),
    ({"lines": [{"sku": "MUG", "quantity": 0}]}, "quantity"),
    ({"currency": "XXX"}, "currency"),
    ({"contact": {"email": "not-an-email"}}, "email"),
    ({"contact": {"email": "a@example.com", "phone": "555"}}, "phone"),
    ({"shipping_method": "teleport"}, "shipping_method"),
    ({"lines": [{"sku": "MUG", "quantity": 1}, {"sku": "MUG", "quantity": 1}]}, "appears more than once"),
])
def test_bad_requests_name_the_field(patch, field):
    with pytest.raises(ValidationError) as error:
        PlaceOrderRequest.model_validate({**REQUEST, **patch})
    assert field in str(error.value)


def test_country_must_be_iso_alpha2():
    bad = {**REQUEST, "shipping_address": {**REQUEST["shipping_address"], "country": "XX"}}
    with pytest.raises(ValidationError, match="country"):
        PlaceOrderRequest.model_validate(bad)


def test_close_outcomes_explain_the_reason():
    cause = json.dumps({"errorMessage": "insufficient_funds", "errorType": "PaymentDeclined"})
    declined = close_outcome("PaymentDeclined", cause)
    assert declined.status == OrderStatus.REJECTED and declined.payment_status == PaymentStatus.DECLINED
    assert "insufficient funds" in declined.detail
    assert close_outcome("OutOfStock", "{}").status == OrderStatus.CANCELLED
    assert close_outcome("ReviewRejected", "fraud ring").status == OrderStatus.REJECTED
    assert close_outcome("PaymentGatewayError", "").payment_status == PaymentStatus.FAILED
    assert close_outcome("States.TaskFailed", "boom").reason == "internal_error"


def test_easypost_signature():
    body = b'{"description":"tracker.updated"}'
    header = sign(body, "s3cret")
    assert header.startswith("hmac-sha256-hex=")
    assert signature_is_valid(body, "s3cret", header)
    assert not signature_is_valid(body + b" ", "s3cret", header)
    assert not signature_is_valid(body, "other", header)
    assert not signature_is_valid(body, "s3cret", None)


def test_tracking_moves_forward_only():
    assert supersedes("LABEL_CREATED", None, "IN_TRANSIT", None)
    assert supersedes("IN_TRANSIT", None, "DELIVERED", None)
    assert not supersedes("DELIVERED", None, "IN_TRANSIT", None)
    assert not supersedes("OUT_FOR_DELIVERY", None, "IN_TRANSIT", None)
    assert not supersedes("IN_TRANSIT", None, "IN_TRANSIT", None)
    # Detours come and go; older news never replaces newer.
    assert supersedes("OUT_FOR_DELIVERY", "2026-12-03T08:00", "DELIVERY_ATTEMPTED", "2026-12-03T14:00")
    assert supersedes("DELIVERY_ATTEMPTED", "2026-12-03T14:00", "OUT_FOR_DELIVERY", "2026-12-04T08:00")
    assert supersedes("EXCEPTION", "2026-12-03T14:00", "IN_TRANSIT", "2026-12-04T08:00")
    assert not supersedes("OUT_FOR_DELIVERY", "2026-12-03T08:00", "EXCEPTION", "2026-12-02T08:00")


def test_one_table_maps_every_source_to_the_normalized_statuses():
    assert normalized("easypost", "pre_transit") == "LABEL_CREATED"
    assert normalized("easypost", "in_transit", "delivery_exception") == "DELIVERY_ATTEMPTED"
    assert normalized("easypost", "unknown") is None and normalized("easypost", "Something_New") is None
    assert normalized("aftership", "AttemptFail") == "DELIVERY_ATTEMPTED"
    assert normalized("aftership", "Exception", "Exception_011") == "RETURN_TO_SENDER"
    assert normalized("aftership", "Expired") == "EXPIRED" and normalized("aftership", "Pending") is None
    assert normalized("generic", "OUT_FOR_DELIVERY") == "OUT_FOR_DELIVERY"


def test_events_from_sources_with_different_offsets_order_by_the_instant():
    import json

    from oms.domain.carrier_events import from_aftership, from_generic

    aftership = from_aftership(json.dumps({"event": "tracking_update", "event_id": "e1", "msg": {
        "tracking_number": "1ZHAND0001", "slug": "ups", "tag": "AttemptFail",
        "checkpoints": [{"checkpoint_time": "2026-12-02T07:30:00-05:00", "tag": "AttemptFail"}]}}).encode())
    generic = from_generic(json.dumps({"event_id": "g1", "tracking_number": "1ZHAND0001", "carrier": "UPS",
                                       "status": "IN_TRANSIT", "occurred_at": "2026-12-02T10:00:00+00:00"}).encode())
    # 07:30 at UTC-5 is 12:30 UTC: after the 10:00 UTC scan, though its text sorts before it.
    assert aftership.occurred_at == "2026-12-02T12:30:00+00:00" > generic.occurred_at == "2026-12-02T10:00:00+00:00"
    assert supersedes("IN_TRANSIT", generic.occurred_at, "DELIVERY_ATTEMPTED", aftership.occurred_at)
