"""The cancellation policy (data, validated at synth) and refund amounts for lines: plain Python, no AWS."""

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from oms.domain.cancellation import cancellation_fee, cancelled_detail, load_policy, stage_of
from oms.domain.errors import NotCancellable, ValidationFailed
from oms.domain.ledger import lines_refund_amount

POLICY_FILE = Path(__file__).resolve().parents[2] / "policies" / "cancellation.json"


def _policy(**changes: Any) -> dict[str, Any]:
    document = json.loads(POLICY_FILE.read_text())
    for stage, rule in changes.items():
        document["stages"][stage] = {**document["stages"][stage], **rule}
    return document


def _order(status: str = "PROCESSING", picking: bool = False, total: int = 10_000) -> dict[str, Any]:
    order: dict[str, Any] = {"order_id": "ord_1", "status": status, "total": total, "currency": "USD"}
    if picking:
        order["picking"] = {"started_at": "2026-12-02T10:00:00Z", "by": "wh"}
    return order


def test_the_shipped_policy_lets_customers_cancel_until_picking_for_free():
    policy = load_policy(POLICY_FILE.read_text())
    for status in ("PENDING", "ON_HOLD", "BACKORDERED", "PROCESSING"):
        assert cancellation_fee(_order(status), "customer", "CHANGED_MIND", policy) == 0
    with pytest.raises(NotCancellable, match="return"):
        cancellation_fee(_order(picking=True), "customer", "CHANGED_MIND", policy)
    assert cancellation_fee(_order(picking=True), "ops", "STAFF_ERROR", policy) == 0
    for status in ("SHIPPED", "DELIVERED", "CANCELLED"):
        assert stage_of(_order(status)) is None
        with pytest.raises(NotCancellable):
            cancellation_fee(_order(status), "ops", "OTHER", policy)


def test_a_fee_by_stage_applies_to_customers_and_to_ops_acting_for_them():
    policy = load_policy(json.dumps(_policy(PROCESSING={"fee_percent": "2.5"})))
    assert cancellation_fee(_order(), "customer", "CHANGED_MIND", policy) == 250
    assert cancellation_fee(_order(), "ops", "CUSTOMER_REQUEST", policy) == 250
    assert cancellation_fee(_order(), "ops", "OUT_OF_STOCK", policy) == 0
    assert cancellation_fee(_order("PENDING"), "customer", "CHANGED_MIND", policy) == 0
    assert "USD 2.50" in cancelled_detail("customer", "CHANGED_MIND", 250, "USD")
    assert cancelled_detail("ops", "FRAUD", 0, "USD") == ("Our team cancelled your order because we could not "
                                                          "verify it. You have not been charged.")


@pytest.mark.parametrize(("document", "field"), [
    ({"stages": {"PENDING": {"customer": True, "ops": True}}}, "missing"),
    (_policy(PICKING={"customer": True, "ops": False}), "ops must be able"),
    (_policy(PENDING={"fee_percent": "30"}), "max_fee_percent"),
    (_policy(PENDING={"fee_percent": "-1"}), "fee_percent"),
    ({**_policy(), "ops_reasons_charged_a_fee": ["LUNCH"]}, "ops_reasons_charged_a_fee"),
])
def test_a_bad_policy_is_refused_naming_the_field(document, field):
    document.setdefault("version", "test")
    with pytest.raises(ValidationError, match=field):
        load_policy(json.dumps(document))


def test_line_refunds_take_their_tax_share_and_never_exceed_what_is_left():
    ordered = {"A": (2, 1000), "B": (1, 500)}
    # 2500 goods + 500 shipping, 20% tax on both = 600.
    assert lines_refund_amount(ordered, 2500, 600, 500, [("A", 1)], {}, False, False) == 1000 + 200
    assert lines_refund_amount(ordered, 2500, 600, 500, [("B", 1)], {}, True, False) == 500 + 100 + 500 + 100
    with pytest.raises(ValidationFailed) as left:
        lines_refund_amount(ordered, 2500, 600, 500, [("A", 2)], {"A": 1}, False, False)
    assert left.value.field == "lines[0].quantity"
    with pytest.raises(ValidationFailed) as unknown:
        lines_refund_amount(ordered, 2500, 600, 500, [("B", 1), ("Z", 1)], {}, False, False)
    assert unknown.value.field == "lines[1].sku"
    with pytest.raises(ValidationFailed, match="already"):
        lines_refund_amount(ordered, 2500, 600, 500, [("A", 1)], {}, True, True)
