import pytest

from oms.domain.allocation import Allocation, allocate
from oms.domain.errors import OutOfStock
from oms.domain.fraud import RiskInput, assess


def facts(**overrides):
    base = dict(total=5000, currency="USD", shipping_country="US", billing_country="US",
                shipping_method="standard", email="ann@example.com", quantities=[1])
    return RiskInput(**{**base, **overrides})


def test_ordinary_order_is_accepted_with_no_reasons():
    result = assess(facts(), threshold=60, review_amount="1000.00")
    assert (result.decision, result.score, result.reasons) == ("accept", 0, [])


def test_total_at_review_amount_goes_to_review_and_says_why():
    result = assess(facts(total=100000), threshold=60, review_amount="1000.00")
    assert result.decision == "review"
    assert any("review amount" in reason for reason in result.reasons)
    assert assess(facts(total=99999), threshold=60, review_amount="1000.00").decision == "accept"


def test_scores_add_up_and_review_above_threshold():
    risky = facts(billing_country="GB", email="x@mailinator.com")
    result = assess(risky, threshold=60, review_amount="1000.00")
    assert result.score == 70 and result.decision == "review"
    assert any("disposable" in reason for reason in result.reasons)
    assert assess(facts(billing_country="GB"), threshold=60, review_amount="1000.00").decision == "accept"


def test_allocation_prefers_one_warehouse_for_the_whole_order():
    stock = {"A": {"east": 5, "west": 1}, "B": {"east": 1, "west": 3}}
    assert allocate([("A", 1), ("B", 1)], stock) == [Allocation("A", "east", 1), Allocation("B", "east", 1)]


def test_allocation_splits_a_line_only_when_needed():
    stock = {"A": {"east": 2, "west": 3}}
    assert allocate([("A", 4)], stock) == [Allocation("A", "west", 3), Allocation("A", "east", 1)]


def test_out_of_stock_lists_every_short_sku():
    with pytest.raises(OutOfStock, match="A, C"):
        allocate([("A", 9), ("B", 1), ("C", 1)], {"A": {"east": 2}, "B": {"east": 1}})
