"""The return policy (data: ``policies/returns.json``, validated when the CDK app synthesizes, shown to customers at
``GET /returns/policy``): how long after delivery goods may be returned, what may not be, the fees per reason, which
returns are approved without a person, and the timers of the return workflow.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oms.domain.countries import ISO_3166_ALPHA2
from oms.domain.money import SUPPORTED_CURRENCIES, to_minor
from oms.domain.reasons import ReturnReason

REASONS: tuple[ReturnReason, ...] = get_args(ReturnReason)
#: Our fault: the law (and fairness) forbid a restocking fee.
FEE_FREE_REASONS: frozenset[str] = frozenset({"DAMAGED", "DEFECTIVE", "WRONG_ITEM"})
MAX_RESTOCKING_PERCENT = Decimal(50)

Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]
Amount = Annotated[str, Field(pattern=r"^[0-9]{1,9}(\.[0-9]{1,3})?$", description="Major units, e.g. 5.00")]
Days = Annotated[int, Field(ge=1, le=365)]


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReasonRule(_Policy):
    restocking_fee_percent: Percent = Decimal(0)
    return_shipping_refunded: bool = False  # the return label is free for this reason
    advance_exchange: bool = False  # an exchange's replacement ships at approval, before the items come back


class AutoApproval(_Policy):
    max_refund: dict[str, Amount] = {}  # per currency; a currency not listed is always reviewed
    excluded_reasons: list[ReturnReason] = []

    @field_validator("max_refund")
    @classmethod
    def _currencies(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_amounts(value)


class ReturnAddress(_Policy):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    line1: Annotated[str, Field(min_length=1, max_length=200)]
    line2: Annotated[str, Field(max_length=200)] = ""
    city: Annotated[str, Field(min_length=1, max_length=100)]
    region: Annotated[str, Field(max_length=100)] = ""
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    country: str

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value not in ISO_3166_ALPHA2:
            raise ValueError(f"unknown country code {value!r}")
        return value


def _check_amounts(value: dict[str, str]) -> dict[str, str]:
    from oms.domain.money import exponent

    for currency, amount in value.items():
        if currency not in SUPPORTED_CURRENCIES:
            raise ValueError(f"{currency!r} is not a supported currency")
        decimals = -int(Decimal(amount).as_tuple().exponent)
        if decimals > exponent(currency):
            raise ValueError(f"{currency} {amount} has more decimals than {currency} has ({exponent(currency)})")
    return value


class ReturnPolicy(_Policy):
    version: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""
    window_days: Days = 30
    category_window_days: dict[Annotated[str, Field(min_length=1, max_length=100)], Days] = {}
    non_returnable_categories: list[Annotated[str, Field(min_length=1, max_length=100)]] = []
    reasons: dict[ReturnReason, ReasonRule]
    return_shipping_fee: dict[str, Amount] = {}
    auto_approve: AutoApproval = AutoApproval()
    ship_back_days: Annotated[int, Field(ge=1, le=90)] = 14
    review_reminder_hours: Annotated[int, Field(ge=1, le=168)] = 24
    review_limit_hours: Annotated[int, Field(ge=1, le=2160)] = 168
    review_default: Literal["approve", "reject"] = "approve"
    receipt_reminder_days: Annotated[int, Field(ge=1, le=90)] = 21
    return_address: ReturnAddress

    @field_validator("return_shipping_fee")
    @classmethod
    def _fee_currencies(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_amounts(value)

    @model_validator(mode="after")
    def _complete_and_fair(self) -> ReturnPolicy:
        missing = [reason for reason in REASONS if reason not in self.reasons]
        if missing:
            raise ValueError(f"reasons: every return reason needs a rule; missing {missing}")
        for reason, rule in self.reasons.items():
            if reason in FEE_FREE_REASONS and rule.restocking_fee_percent:
                raise ValueError(f"reasons.{reason}.restocking_fee_percent must be 0: the fault is ours")
            if rule.restocking_fee_percent > MAX_RESTOCKING_PERCENT:
                raise ValueError(f"reasons.{reason}.restocking_fee_percent is above {MAX_RESTOCKING_PERCENT}")
        both = set(self.category_window_days) & set(self.non_returnable_categories)
        if both:
            raise ValueError(f"category_window_days: {sorted(both)} are also non_returnable_categories")
        if self.review_limit_hours < self.review_reminder_hours:
            raise ValueError("review_limit_hours must be at least review_reminder_hours")
        return self

    def window_for(self, category: str | None) -> int:
        return self.category_window_days.get(category or "", self.window_days)

    def returnable(self, category: str | None) -> bool:
        return (category or "") not in self.non_returnable_categories

    def shipping_fee(self, currency: str) -> int:
        amount = self.return_shipping_fee.get(currency)
        return to_minor(amount, currency) if amount else 0

    def auto_limit(self, currency: str) -> int | None:
        amount = self.auto_approve.max_refund.get(currency)
        return to_minor(amount, currency) if amount else None

    def to_json(self) -> str:
        return self.model_dump_json()


def load_policy(text: str) -> ReturnPolicy:
    """Parse and validate a policy document; raises ``pydantic.ValidationError`` naming the bad field."""
    return ReturnPolicy.model_validate(json.loads(text))
