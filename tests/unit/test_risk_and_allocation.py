
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


