"""The cancellation policy (data: ``policies/cancellation.json``, validated when the CDK app synthesizes) and the
decision it makes: may this caller cancel this order now, and for what fee.

An order's **stage** is its status before it ships, with ``PICKING`` for a ``PROCESSING`` order the warehouse has
started to pick (``POST /admin/orders/{id}/picking``). After the shipment nothing is cancelled: it is returned.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oms.domain.errors import NotCancellable
from oms.domain.money import format_minor
from oms.domain.order import Order
from oms.domain.reasons import OpsReason
from oms.domain.status import OrderStatus

Stage = Literal["PENDING", "ON_HOLD", "BACKORDERED", "PROCESSING", "PICKING"]
STAGES: tuple[Stage, ...] = ("PENDING", "ON_HOLD", "BACKORDERED", "PROCESSING", "PICKING")
Canceller = Literal["customer", "ops", "system"]


#: What the customer reads about an ops cancellation (a fraud suspicion is never spelled out).
OPS_REASON_TEXT: dict[str, str] = {
    "CUSTOMER_REQUEST": "at your request",
    "FRAUD": "because we could not verify it",
    "OUT_OF_STOCK": "because an item is out of stock",
    "PAYMENT_ISSUE": "because of a problem with the payment",
    "STAFF_ERROR": "because of an error on our side",
    "OTHER": "",
}

Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageRule(_Policy):
    customer: bool
    ops: bool
    fee_percent: Percent = Decimal(0)


class CancellationPolicy(_Policy):
    version: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""
    stages: dict[Stage, StageRule]
    ops_reasons_charged_a_fee: list[OpsReason] = []
    max_fee_percent: Percent = Decimal(25)

    @model_validator(mode="after")
    def _complete_and_sane(self) -> CancellationPolicy:
        missing = [stage for stage in STAGES if stage not in self.stages]
        if missing:
            raise ValueError(f"stages: every stage before shipment needs a rule; missing {missing}")
        for stage, rule in self.stages.items():
            if rule.customer and not rule.ops:
                raise ValueError(f"stages.{stage}: ops must be able to cancel wherever customers can")
            if rule.fee_percent > self.max_fee_percent:
                raise ValueError(f"stages.{stage}.fee_percent {rule.fee_percent} is above max_fee_percent "
                                 f"{self.max_fee_percent}")
        return self

    def to_json(self) -> str:
        return self.model_dump_json(exclude={"description"})


def load_policy(text: str) -> CancellationPolicy:
    """Parse and validate a policy document; raises ``pydantic.ValidationError`` naming the bad field."""
    return CancellationPolicy.model_validate(json.loads(text))


def stage_of(order: Order) -> Stage | None:
    """The order's stage, or None once it has shipped or closed (nothing left to cancel)."""
    status = order["status"]
    if status == OrderStatus.PROCESSING:
        return "PICKING" if "picking" in order else "PROCESSING"
    if status in (OrderStatus.PENDING, OrderStatus.ON_HOLD, OrderStatus.BACKORDERED):
        return str(status)  # type: ignore[return-value]
    return None


def cancellation_fee(order: Order, by: Canceller, reason: str, policy: CancellationPolicy) -> int:
    """The fee (minor units) this caller's cancellation costs at the order's stage. Raises ``NotCancellable``
    with a sentence for the caller when the policy does not let them cancel now."""
    stage = stage_of(order)
    if stage is None:
        raise NotCancellable(_too_late(order, by))
    rule = policy.stages[stage]
    allowed = rule.customer if by == "customer" else rule.ops
    if not allowed:
        raise NotCancellable(_too_late(order, by))
    charged = by == "customer" or (by == "ops" and reason in policy.ops_reasons_charged_a_fee)
    if not charged or rule.fee_percent == 0:
        return 0
    fee = (Decimal(order["total"]) * rule.fee_percent / 100).to_integral_value(ROUND_HALF_UP)
    return int(fee)


def _too_late(order: Order, by: Canceller) -> str:
    if by == "customer" and order["status"] == OrderStatus.PROCESSING:
        return ("Your order is already being picked in the warehouse and can no longer be cancelled. Once it "
                "is delivered you can return it instead under our returns policy.")
    if order["status"] in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
        return f"The order is already {order['status']}."
    return (f"The order is {order['status']} and can no longer be cancelled; once delivered it can be returned "
            "instead.")


def cancelled_detail(by: Canceller, reason: str, fee: int, currency: str) -> str:
    """The ``status_detail`` sentence of an order cancelled by a customer or ops."""
    if by == "customer":
        first = "You cancelled this order."
    else:
        why = OPS_REASON_TEXT.get(reason, "")
        first = f"Our team cancelled your order{' ' + why if why else ''}."
    if fee:
        return f"{first} A cancellation fee of {format_minor(fee, currency)} was charged; the rest of the payment " \
               "hold was released."
    return f"{first} You have not been charged."
