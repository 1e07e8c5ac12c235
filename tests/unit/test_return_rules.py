"""Returns (RMAs): the return policy (data, validated at synth) and the rules over an order: what may be returned,
for how much, what is approved without a person, and the return status table. Plain Python, no AWS."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from oms.domain.errors import ReturnRefused, ValidationFailed
from oms.domain.return_policy import REASONS, ReturnPolicy, load_policy
from oms.domain.returns import (
    RMA_PATTERN,
    RequestedLine,
    advance_exchange,
    auto_approves,
    check_request,
    delivered_on,
    line_value,
    message_context,
    new_rma,
    public_view,
    quote,
    returnable_quantities,
    settled_refund,
)
from oms.domain.status import TRANSITIONS, OrderStatus, ReturnStatus, allowed_sources, can_transition

POLICY_FILE = Path(__file__).resolve().parents[2] / "policies" / "returns.json"
POLICY = load_policy(POLICY_FILE.read_text())

DELIVERED_AT = "2026-11-02T15:04:05Z"
CATEGORIES: dict[str, str | None] = {"TSHIRT-M": "apparel", "PHONE-1": "electronics", "GIFT-50": "gift-cards",
                                     "MUG-1": None}


def _document(**changes: Any) -> dict[str, Any]:
    document = json.loads(POLICY_FILE.read_text())
    document.update(changes)
    return document


def _order(lines: list[tuple[str, int, int]], *, currency: str = "USD", tax_total: int = 0, shipping_total: int = 0,
           status: str = "DELIVERED", **extra: Any) -> Any:
    """An order shipped whole (its parcel records no lines) and delivered at ``DELIVERED_AT``.
    ``lines``: (sku, quantity, unit price in minor units)."""
    subtotal = sum(quantity * price for _, quantity, price in lines)
    order = {
        "order_id": "ord_1", "customer_id": "cus_1", "status": status, "currency": currency,
        "lines": [{"sku": sku, "name": f"Item {sku}", "quantity": quantity, "unit_price": price,
                   "line_total": quantity * price} for sku, quantity, price in lines],
        "subtotal": subtotal, "shipping_total": shipping_total, "tax_total": tax_total,
        "total": subtotal + shipping_total + tax_total,
        "shipments": {"1Z999": {"carrier": "UPS", "tracking_number": "1Z999", "status": "delivered",
                                "status_detail": "", "events": [], "created_at": "2026-10-30T09:00:00Z"}},
        "timeline": [{"at": "2026-10-28T10:00:00Z", "event": "order_placed", "detail": "Order received."},
                     {"at": DELIVERED_AT, "event": "delivered", "detail": "Delivered by UPS."}],
    }
    order.update(extra)
    return order


def _gb_order(**extra: Any) -> Any:
    """GBP, 20 % VAT on goods and shipping: 2500 goods + 500 shipping, tax 600."""
    return _order([("TSHIRT-M", 2, 1000), ("MUG-1", 1, 500)], currency="GBP", shipping_total=500, tax_total=600,
                  **extra)


def _check(order: Any, lines: list[RequestedLine], today: date,
           policy: ReturnPolicy = POLICY) -> None:
    check_request(order, lines, CATEGORIES, policy, today)


def _record(order: Any, lines: list[RequestedLine], resolution: Any = "refund",
            policy: ReturnPolicy = POLICY, **extra: Any) -> Any:
    """A return record as the API builds it from the quote (an exchange's credit is the returned lines' value)."""
    priced = quote(order, lines, resolution, policy)
    record = {
        "return_id": "RMA-ABC123", "order_id": order["order_id"], "customer_id": order["customer_id"],
        "status": ReturnStatus.REQUESTED, "status_detail": "", "currency": order["currency"], "locale": "en-US",
        "lines": priced.lines, "resolution": resolution, "exchange_for": [], "refund_estimate": priced.refund_estimate,
        "restocking_fee": priced.restocking_fee, "return_shipping_fee": priced.return_shipping_fee,
        "label_free": priced.label_free, "credit": priced.value if resolution == "exchange" else 0,
        "advance_exchange": False, "policy_version": policy.version, "request_hash": "h", "timeline": [],
        "created_at": "2026-11-10T10:00:00Z", "updated_at": "2026-11-10T10:00:00Z",
        "created_key": "2026-11-10T10:00:00Z#RMA-ABC123",
    }
    record.update(extra)
    return record


# -- the policy --------------------------------------------------------------------------------------------------

def test_the_shipped_policy_loads_with_a_rule_for_every_reason():
    assert set(POLICY.reasons) == set(REASONS)
    assert POLICY.window_for("electronics") == 14
    assert POLICY.window_for("apparel") == POLICY.window_for(None) == 30
    assert not POLICY.returnable("gift-cards") and not POLICY.returnable("final-sale")
    assert POLICY.returnable(None) and POLICY.returnable("apparel")
    assert POLICY.shipping_fee("GBP") == 450 and POLICY.shipping_fee("JPY") == 0
    assert POLICY.auto_limit("USD") == 25_000 and POLICY.auto_limit("JPY") is None
    assert "DEFECTIVE" in POLICY.auto_approve.excluded_reasons
    assert load_policy(POLICY.to_json()) == POLICY  # what the API serves at GET /returns/policy reads back the same


def _without_other() -> dict[str, Any]:
    document = _document()
    del document["reasons"]["OTHER"]
    return document


def _reason(reason: str, **rule: Any) -> dict[str, Any]:
    document = _document()
    document["reasons"][reason] = {**document["reasons"][reason], **rule}
    return document


@pytest.mark.parametrize(("document", "field"), [
    (_without_other(), r"reasons: every return reason needs a rule; missing \['OTHER'\]"),
    (_reason("DAMAGED", restocking_fee_percent="5"), "reasons.DAMAGED.restocking_fee_percent must be 0"),
    (_reason("DEFECTIVE", restocking_fee_percent="0.01"), "reasons.DEFECTIVE.restocking_fee_percent must be 0"),
    (_reason("WRONG_ITEM", restocking_fee_percent="10"), "reasons.WRONG_ITEM.restocking_fee_percent must be 0"),
    (_reason("NO_LONGER_NEEDED", restocking_fee_percent="50.01"),
     "reasons.NO_LONGER_NEEDED.restocking_fee_percent is above 50"),
    (_reason("OTHER", restocking_fee_percent="-1"), r"reasons\.OTHER\.restocking_fee_percent"),
    (_document(review_reminder_hours=48, review_limit_hours=24), "review_limit_hours must be at least"),
    (_document(category_window_days={"electronics": 14, "gift-cards": 7}),
     r"category_window_days: \['gift-cards'\] are also non_returnable_categories"),
    (_document(return_shipping_fee={"USD": "5.00", "XTS": "1.00"}), r"return_shipping_fee\n.*'XTS' is not a supported"),
    (_document(return_shipping_fee={"JPY": "5.5"}), r"return_shipping_fee\n.*JPY 5.5 has more decimals"),
    (_document(return_shipping_fee={"USD": "5.001"}), r"return_shipping_fee\n.*USD 5.001 has more decimals"),
    (_document(auto_approve={"max_refund": {"JPY": "5.5"}}), r"auto_approve\.max_refund\n.*JPY 5.5"),
    (_document(auto_approve={"max_refund": {"USD": "-5"}}), r"auto_approve\.max_refund\.USD"),
    (_document(auto_approve={"excluded_reasons": ["BORED"]}), r"auto_approve\.excluded_reasons\.0"),
    (_document(window_days=0), "window_days"),
    (_document(return_address={**_document()["return_address"], "country": "XX"}),
     r"return_address\.country\n.*unknown country code 'XX'"),
    (_document(surprise=True), "surprise"),
])
def test_a_bad_policy_is_refused_naming_the_field(document, field):
    with pytest.raises(ValidationError, match=field):
        load_policy(json.dumps(document))


def test_a_fee_up_to_half_the_price_is_fine_and_yen_amounts_are_whole():
    policy = load_policy(json.dumps({**_reason("OTHER", restocking_fee_percent="50"),
                                     "return_shipping_fee": {"JPY": "500"}}))
    assert policy.reasons["OTHER"].restocking_fee_percent == 50
    assert policy.shipping_fee("JPY") == 500


# -- what may be returned ----------------------------------------------------------------------------------------

def test_the_window_counts_from_delivery_and_its_last_day_is_still_allowed():
    order = _order([("TSHIRT-M", 1, 2000), ("PHONE-1", 1, 50_000)])
    assert delivered_on(order) == date(2026, 11, 2)
    shirt, phone = RequestedLine("TSHIRT-M", 1, "SIZE_OR_FIT"), RequestedLine("PHONE-1", 1, "DEFECTIVE")
    _check(order, [shirt, phone], date(2026, 11, 16))  # electronics: 14 days, the last one
    with pytest.raises(ReturnRefused) as closed:
        _check(order, [shirt, phone], date(2026, 11, 17))
    assert closed.value.code == "return_window_closed" and closed.value.field == "lines[1].sku"
    assert "14-day" in closed.value.message and "2026-11-16" in closed.value.message
    _check(order, [shirt], date(2026, 12, 2))  # everything else: 30 days
    with pytest.raises(ReturnRefused) as late:
        _check(order, [shirt], date(2026, 12, 3))
    assert late.value.code == "return_window_closed" and late.value.field == "lines[0].sku"
    assert "30-day" in late.value.message and "closed on 2026-12-02" in late.value.message


def test_the_window_starts_at_the_carriers_delivery_time_else_the_last_delivery_event():
    order = _order([("TSHIRT-M", 1, 2000)], delivered_at="2026-11-20T08:00:00Z")
    assert delivered_on(order) == date(2026, 11, 20)
    _check(order, [RequestedLine("TSHIRT-M", 1, "OTHER", "meh")], date(2026, 12, 20))
    twice = _order([("TSHIRT-M", 1, 2000)])
    twice["timeline"].insert(1, {"at": "2026-10-01T10:00:00Z", "event": "delivered", "detail": "First parcel."})
    assert delivered_on(twice) == date(2026, 11, 2)


def test_a_custom_window_for_a_category_is_policy_data():
    policy = load_policy(json.dumps(_document(window_days=60, category_window_days={"apparel": 7})))
    order = _order([("TSHIRT-M", 1, 2000), ("MUG-1", 1, 800)])
    _check(order, [RequestedLine("MUG-1", 1, "OTHER", "x")], date(2027, 1, 1), policy)
    with pytest.raises(ReturnRefused, match="7-day"):
        _check(order, [RequestedLine("TSHIRT-M", 1, "OTHER", "x")], date(2026, 11, 10), policy)


def test_a_non_returnable_category_is_refused_even_inside_the_window():
    order = _order([("TSHIRT-M", 1, 2000), ("GIFT-50", 1, 5000)])
    with pytest.raises(ReturnRefused) as refused:
        _check(order, [RequestedLine("TSHIRT-M", 1, "SIZE_OR_FIT"), RequestedLine("GIFT-50", 1, "DAMAGED")],
               date(2026, 11, 3))
    assert refused.value.code == "not_returnable" and refused.value.field == "lines[1].sku"
    assert "gift-cards" in refused.value.message


@pytest.mark.parametrize("status", ["PENDING", "PROCESSING", "PARTIALLY_SHIPPED", "SHIPPED", "CANCELLED", "RETURNED"])
def test_only_a_delivered_order_can_be_returned(status):
    with pytest.raises(ReturnRefused) as refused:
        _check(_order([("TSHIRT-M", 1, 2000)], status=status), [RequestedLine("TSHIRT-M", 1, "SIZE_OR_FIT")],
               date(2026, 11, 3))
    assert refused.value.code == "not_delivered" and refused.value.field == "order_id"


def test_a_partly_returned_order_can_return_what_is_left():
    order = _order([("TSHIRT-M", 3, 2000)], status="PARTIALLY_RETURNED", return_quantities={"TSHIRT-M": 1})
    assert returnable_quantities(order) == {"TSHIRT-M": 2}
    _check(order, [RequestedLine("TSHIRT-M", 2, "SIZE_OR_FIT")], date(2026, 11, 3))
    with pytest.raises(ValidationFailed) as too_many:
        _check(order, [RequestedLine("TSHIRT-M", 3, "SIZE_OR_FIT")], date(2026, 11, 3))
    assert too_many.value.field == "lines[0].quantity"
    assert "more than the 2 delivered and not already being returned" in too_many.value.message


def test_a_sku_not_on_the_order_is_named():
    with pytest.raises(ValidationFailed) as unknown:
        _check(_order([("TSHIRT-M", 1, 2000)]),
               [RequestedLine("TSHIRT-M", 1, "SIZE_OR_FIT"), RequestedLine("HAT-9", 1, "SIZE_OR_FIT")],
               date(2026, 11, 3))
    assert unknown.value.field == "lines[1].sku" and "'HAT-9' is not on this order" in unknown.value.message


def test_only_units_that_were_delivered_can_come_back():
    # 3 ordered; one parcel of 2 left the warehouse and ops cancelled the rest: the third was never delivered.
    order = _order([("TSHIRT-M", 3, 2000)], rest_cancelled=True, shipments={
        "1Z1": {"carrier": "UPS", "tracking_number": "1Z1", "status": "delivered", "status_detail": "", "events": [],
                "created_at": "2026-10-30T09:00:00Z", "lines": [{"sku": "TSHIRT-M", "quantity": 2}]}},
        reservation={"state": "COMMITTED", "allocations": [
            {"sku": "TSHIRT-M", "warehouse": "WH1", "quantity": 2, "shipped": 2}]})
    assert returnable_quantities(order) == {"TSHIRT-M": 2}
    with pytest.raises(ValidationFailed) as too_many:
        _check(order, [RequestedLine("TSHIRT-M", 3, "DAMAGED")], date(2026, 11, 3))
    assert too_many.value.field == "lines[0].quantity"
    held = {**order, "return_quantities": {"TSHIRT-M": 2}}
    with pytest.raises(ValidationFailed, match="more than the 0 delivered"):
        _check(held, [RequestedLine("TSHIRT-M", 1, "DAMAGED")], date(2026, 11, 3))


# -- what a return is worth --------------------------------------------------------------------------------------

def test_a_lines_value_includes_its_share_of_the_tax():
    order = _gb_order()
    assert line_value(order, "TSHIRT-M", 1) == 1000 + 200
    assert line_value(order, "MUG-1", 1) == 500 + 100


def test_a_refund_quote_deducts_the_restocking_fee_and_the_label():
    priced = quote(_gb_order(), [RequestedLine("TSHIRT-M", 1, "NO_LONGER_NEEDED")], "refund", POLICY)
    (line,) = priced.lines
    assert line == {"sku": "TSHIRT-M", "name": "Item TSHIRT-M", "quantity": 1, "reason": "NO_LONGER_NEEDED",
                    "unit_price": 1000, "value": 1200, "restocking_fee": 120}
    assert (priced.value, priced.restocking_fee, priced.return_shipping_fee) == (1200, 120, 450)
    assert not priced.label_free
    assert priced.refund_estimate == 1200 - 120 - 450


def test_no_restocking_fee_for_size_or_fit_but_the_label_is_paid():
    priced = quote(_gb_order(), [RequestedLine("TSHIRT-M", 2, "SIZE_OR_FIT")], "refund", POLICY)
    assert (priced.restocking_fee, priced.return_shipping_fee, priced.refund_estimate) == (0, 450, 2400 - 450)


def test_our_fault_means_no_fee_and_a_free_label_for_the_whole_return():
    priced = quote(_gb_order(), [RequestedLine("TSHIRT-M", 1, "DAMAGED")], "refund", POLICY)
    assert (priced.restocking_fee, priced.return_shipping_fee, priced.label_free) == (0, 0, True)
    assert priced.refund_estimate == 1200
    mixed = quote(_gb_order(), [RequestedLine("TSHIRT-M", 1, "NO_LONGER_NEEDED"),
                                RequestedLine("MUG-1", 1, "WRONG_ITEM", "a bowl came")], "refund", POLICY)
    assert [line["restocking_fee"] for line in mixed.lines] == [120, 0]
    assert mixed.lines[1]["note"] == "a bowl came" and "note" not in mixed.lines[0]
    assert mixed.label_free and mixed.return_shipping_fee == 0
    assert mixed.refund_estimate == 1200 + 600 - 120


def test_an_exchange_carries_no_fees():
    priced = quote(_gb_order(), [RequestedLine("TSHIRT-M", 2, "NO_LONGER_NEEDED")], "exchange", POLICY)
    assert (priced.restocking_fee, priced.return_shipping_fee, priced.label_free) == (0, 0, True)
    assert priced.refund_estimate == priced.value == 2400


def test_the_restocking_fee_rounds_half_up():
    priced = quote(_order([("MUG-1", 1, 1005)]), [RequestedLine("MUG-1", 1, "OTHER", "x")], "refund", POLICY)
    assert priced.restocking_fee == 101  # 10 % of 10.05 = 1.005


def test_a_cheap_return_never_costs_the_customer_money():
    priced = quote(_order([("MUG-1", 1, 300)]), [RequestedLine("MUG-1", 1, "OTHER", "x")], "refund", POLICY)
    assert priced.restocking_fee == 30
    assert priced.return_shipping_fee == 270  # the label is capped at what is left, not the full 5.00
    assert priced.refund_estimate == 0


def test_a_currency_without_a_label_fee_deducts_none():
    order = _order([("MUG-1", 1, 3000)], currency="JPY")
    priced = quote(order, [RequestedLine("MUG-1", 1, "NO_LONGER_NEEDED")], "refund", POLICY)
    assert (priced.return_shipping_fee, priced.refund_estimate) == (0, 2700)


# -- what is refunded when the parcel comes --------------------------------------------------------------------

def test_the_refund_is_pro_rata_to_the_units_received():
    record = _record(_gb_order(), [RequestedLine("TSHIRT-M", 2, "NO_LONGER_NEEDED")])
    assert record["refund_estimate"] == 2400 - 240 - 450
    assert settled_refund(record, {"TSHIRT-M": 2}) == record["refund_estimate"]
    assert settled_refund(record, {"TSHIRT-M": 1}) == (2400 - 240) // 2 - 450
    assert settled_refund(record, {"TSHIRT-M": 5}) == record["refund_estimate"]
    assert settled_refund(record, {"MUG-1": 1}) == 0  # not in this return


def test_the_label_fee_is_charged_once_per_return():
    record = _record(_gb_order(), [RequestedLine("TSHIRT-M", 1, "NO_LONGER_NEEDED"),
                                   RequestedLine("MUG-1", 1, "NO_LONGER_NEEDED")])
    assert record["return_shipping_fee"] == 450
    assert settled_refund(record, {"TSHIRT-M": 1, "MUG-1": 1}) == 1080 + 540 - 450
    assert settled_refund(record, {"MUG-1": 1}) == 540 - 450


def test_nothing_received_refunds_nothing_and_a_refund_is_never_negative():
    record = _record(_gb_order(), [RequestedLine("TSHIRT-M", 2, "NO_LONGER_NEEDED")])
    assert settled_refund(record, {}) == 0
    assert settled_refund(record, {"TSHIRT-M": 0}) == 0
    cheap = _record(_order([("MUG-1", 2, 300)]), [RequestedLine("MUG-1", 2, "NO_LONGER_NEEDED")])
    assert cheap["return_shipping_fee"] == 500
    assert settled_refund(cheap, {"MUG-1": 1}) == 0  # 2.70 back, 5.00 label


def test_a_free_label_return_refunds_everything_that_came():
    record = _record(_gb_order(), [RequestedLine("TSHIRT-M", 2, "DEFECTIVE")])
    assert settled_refund(record, {"TSHIRT-M": 1}) == 1200


# -- who approves ------------------------------------------------------------------------------------------------

def test_returns_within_the_currency_limit_approve_themselves():
    order = _order([("MUG-1", 1, 30_000)], currency="GBP")
    record = _record(order, [RequestedLine("MUG-1", 1, "DAMAGED")])
    limit = POLICY.auto_limit("GBP")
    assert limit == 20_000
    assert auto_approves({**record, "refund_estimate": limit}, POLICY)
    assert not auto_approves({**record, "refund_estimate": limit + 1}, POLICY)
    assert not auto_approves(record, POLICY)  # 300.00 back: ops look first


def test_a_defective_item_is_always_reviewed():
    record = _record(_order([("MUG-1", 1, 100)]), [RequestedLine("MUG-1", 1, "DEFECTIVE")])
    assert record["refund_estimate"] == 100
    assert not auto_approves(record, POLICY)
    mixed = _record(_order([("MUG-1", 1, 100), ("TSHIRT-M", 1, 100)]),
                    [RequestedLine("TSHIRT-M", 1, "DAMAGED"), RequestedLine("MUG-1", 1, "DEFECTIVE")])
    assert not auto_approves(mixed, POLICY)


def test_a_currency_without_a_limit_is_always_reviewed():
    record = _record(_order([("MUG-1", 1, 1)], currency="JPY"), [RequestedLine("MUG-1", 1, "DAMAGED")])
    assert record["refund_estimate"] == 1
    assert not auto_approves(record, POLICY)


def test_an_exchange_is_approved_on_its_credit_not_its_refund():
    order = _order([("TSHIRT-M", 1, 25_001)])
    exchange = _record(order, [RequestedLine("TSHIRT-M", 1, "SIZE_OR_FIT")], "exchange", refund_estimate=0)
    assert exchange["credit"] == 25_001
    assert not auto_approves(exchange, POLICY)
    assert auto_approves({**exchange, "credit": 25_000}, POLICY)


def test_the_replacement_ships_first_only_when_every_reason_allows_it():
    order = _order([("TSHIRT-M", 1, 2000), ("MUG-1", 1, 800)])
    ours = [RequestedLine("TSHIRT-M", 1, "DAMAGED"), RequestedLine("MUG-1", 1, "WRONG_ITEM")]
    assert advance_exchange(_record(order, ours, "exchange"), POLICY)
    assert not advance_exchange(_record(order, ours, "refund"), POLICY)
    mixed = [RequestedLine("TSHIRT-M", 1, "DAMAGED"), RequestedLine("MUG-1", 1, "SIZE_OR_FIT")]
    assert not advance_exchange(_record(order, mixed, "exchange"), POLICY)
    assert not advance_exchange(_record(order, [RequestedLine("MUG-1", 1, "DEFECTIVE")], "exchange"), POLICY)


# -- the RMA number and what the customer sees -------------------------------------------------------------------

def test_rma_numbers_can_be_read_aloud():
    drawn = {new_rma() for _ in range(2000)}
    assert len(drawn) > 1990  # 32^6 numbers: a repeat in 2000 draws is rare
    for rma in drawn:
        assert re.fullmatch(RMA_PATTERN, rma), rma
        assert not set(rma[4:]) & set("ILOU"), rma
    assert set("".join(rma[4:] for rma in drawn)) == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    for bad in ("RMA-ABCDEI", "RMA-ABCDEL", "RMA-ABCDEO", "RMA-ABCDEU", "RMA-abcdef", "RMA-ABCDE", "RMA-ABCDEFG"):
        assert not re.fullmatch(RMA_PATTERN, bad), bad


def test_the_customer_is_told_not_to_send_anything_before_approval_and_how_to_send_it_after():
    record = _record(_gb_order(), [RequestedLine("TSHIRT-M", 1, "NO_LONGER_NEEDED")])
    view = public_view(record, POLICY)
    assert "do not send anything yet" in view["instructions"] and view["ship_by"] is None
    assert view["return_address"] == {"name": "OMS Demo Shop Returns", "line1": "1 Warehouse Way", "city": "Newark",
                                      "region": "NJ", "postal_code": "07102", "country": "US"}
    assert "customer_id" not in view and "request_hash" not in view
    approved = public_view({**record, "status": ReturnStatus.APPROVED, "ship_by": "2026-11-24"}, POLICY)
    assert "RMA-ABC123" in approved["instructions"] and "by 2026-11-24" in approved["instructions"]
    assert "1 Warehouse Way" in approved["instructions"]
    assert "shipping fee is deducted" in approved["instructions"]
    free = _record(_gb_order(), [RequestedLine("TSHIRT-M", 1, "DAMAGED")], status=ReturnStatus.APPROVED,
                   ship_by="2026-11-24")
    assert "Return shipping is free." in public_view(free, POLICY)["instructions"]


def test_a_review_note_reaches_the_customer_only_when_rejected():
    approval = {"decision": "reject", "by": "ops@example.com", "note": "Worn item", "at": "2026-11-11T10:00:00Z"}
    record = _record(_gb_order(), [RequestedLine("TSHIRT-M", 1, "NO_LONGER_NEEDED")], approval=approval)
    assert message_context({**record, "status": ReturnStatus.REJECTED}, POLICY)["review_note"] == "Worn item"
    context = message_context({**record, "status": ReturnStatus.APPROVED}, POLICY)
    assert context["review_note"] == "" and context["exchange"] is None
    assert context["return_address"]["line2"] == ""  # templates may print it unconditionally


# -- the return status table -------------------------------------------------------------------------------------

R = ReturnStatus


def test_every_return_status_has_a_row():
    assert set(TRANSITIONS[ReturnStatus]) == set(ReturnStatus)


@pytest.mark.parametrize(("current", "targets"), [
    (R.REQUESTED, {R.APPROVED, R.REJECTED, R.CANCELLED}),
    (R.APPROVED, {R.IN_TRANSIT, R.RECEIVED, R.EXPIRED, R.CANCELLED}),
    (R.IN_TRANSIT, {R.RECEIVED}),  # no cancelling once the parcel is on its way back
    (R.RECEIVED, {R.REFUNDED, R.EXCHANGED}),
    (R.REFUNDED, {R.CLOSED}),
    (R.EXCHANGED, {R.CLOSED}),
    (R.REJECTED, set()),
    (R.EXPIRED, set()),
    (R.CANCELLED, set()),
    (R.CLOSED, set()),
])
def test_return_transitions(current, targets):
    assert {new for new in ReturnStatus if can_transition(current, new)} == targets


def test_a_return_only_moves_within_its_own_status_set():
    for order_status in OrderStatus:
        for return_status in ReturnStatus:
            assert not can_transition(order_status, return_status), (order_status, return_status)
            assert not can_transition(return_status, order_status), (return_status, order_status)
    # CANCELLED and REJECTED are the same words in both sets: still no crossing.
    assert not can_transition(OrderStatus.PENDING, ReturnStatus.CANCELLED)
    assert not can_transition(ReturnStatus.REQUESTED, OrderStatus.CANCELLED)
    for status in ReturnStatus:
        assert all(type(source) is ReturnStatus for source in allowed_sources(status))
    assert allowed_sources(R.CANCELLED) == {R.REQUESTED, R.APPROVED}
    assert allowed_sources(R.RECEIVED) == {R.APPROVED, R.IN_TRANSIT}


def test_the_refund_email_names_the_fees_charged_on_what_came_back_not_the_quote():
    from oms.domain.returns import message_context

    line = {"sku": "A", "name": "A", "quantity": 2, "reason": "NO_LONGER_NEEDED", "unit_price": 2000, "value": 4000,
            "restocking_fee": 400}
    record: Any = {"return_id": "RMA-ABC123", "status": ReturnStatus.REFUNDED, "resolution": "refund",
                   "lines": [line], "refund_estimate": 3100, "restocking_fee": 400, "return_shipping_fee": 500,
                   "label_free": False, "advance_exchange": False, "refund_amount": 1300,
                   "received": [{"sku": "A", "quantity": 1, "condition": "RESELLABLE", "warehouse": "wh-east"}]}
    rma = message_context(record, POLICY)
    assert (rma["restocking_fee"], rma["return_shipping_fee"], rma["refund_amount"]) == (200, 500, 1300)
    assert 2000 - rma["restocking_fee"] - rma["return_shipping_fee"] == rma["refund_amount"]
