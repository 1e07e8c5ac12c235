"""Rule-based fraud scoring. Rules are data: each names a check, its points and the reason shown to ops."""

from dataclasses import dataclass, field
from typing import Literal

from oms.domain.money import format_minor, to_minor


@dataclass(frozen=True)
class RiskInput:
    total: int
    currency: str
    shipping_country: str
    billing_country: str
    shipping_method: str
    email: str
    quantities: list[int]


@dataclass(frozen=True)
class RiskRule:
    code: str
    points: int
    reason: str
    params: dict[str, object] = field(default_factory=dict)


DEFAULT_RULES: tuple[RiskRule, ...] = (
    RiskRule("billing_country_mismatch", 30, "Billing and shipping countries differ"),
    RiskRule("high_risk_destination", 40, "Shipping destination is on the high-risk list",
             {"countries": ["NG", "KP", "IR", "SY"]}),
    RiskRule("large_quantity", 25, "A line has an unusually large quantity", {"max_quantity": 10}),
    RiskRule("express_high_value", 20, "Express shipping on a high-value order", {"min_total": "500.00"}),
    RiskRule("disposable_email", 40, "Contact email uses a disposable domain",
             {"domains": ["mailinator.com", "guerrillamail.com", "10minutemail.com", "trashmail.com",
                          "yopmail.com", "tempmail.com"]}),
)


@dataclass(frozen=True)
class RiskAssessment:
    score: int
    reasons: list[str]
    decision: Literal["accept", "review"]


def _matches(rule: RiskRule, facts: RiskInput) -> bool:
    params = rule.params
    if rule.code == "billing_country_mismatch":
        return facts.billing_country != facts.shipping_country
    if rule.code == "high_risk_destination":
        return facts.shipping_country in params["countries"]  # type: ignore[operator]
    if rule.code == "large_quantity":
        return max(facts.quantities, default=0) > int(str(params["max_quantity"]))
    if rule.code == "express_high_value":
        return facts.shipping_method == "express" and facts.total >= to_minor(
            str(params["min_total"]), facts.currency
        )
    if rule.code == "disposable_email":
        return facts.email.rsplit("@", 1)[-1].lower() in params["domains"]  # type: ignore[operator]
    raise ValueError(f"unknown risk rule {rule.code!r}")


def assess(
    facts: RiskInput,
    *,
    threshold: int,
    review_amount: str,
    rules: tuple[RiskRule, ...] = DEFAULT_RULES,
) -> RiskAssessment:
    """Score the order; it goes to review when the score exceeds ``threshold`` or the total
    is at or above ``review_amount`` (major units of the order's currency)."""
    matched = [rule for rule in rules if _matches(rule, facts)]
    score = min(100, sum(rule.points for rule in matched))
    reasons = [f"{rule.reason} (+{rule.points})" for rule in matched]
    review_minor = to_minor(review_amount, facts.currency)
    needs_review = score > threshold
    if facts.total >= review_minor:
        needs_review = True
        reasons.append(
            f"Order total {format_minor(facts.total, facts.currency)} is at or above the review amount "
            f"{format_minor(review_minor, facts.currency)}"
        )
    if score > threshold:
        reasons.append(f"Risk score {score} is above the threshold {threshold}")
    return RiskAssessment(score, reasons, "review" if needs_review else "accept")
