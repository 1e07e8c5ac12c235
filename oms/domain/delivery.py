"""Expected delivery window: handling time plus the shipping method's transit days, in business days."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from oms.domain.pricing import DEFAULT_POLICY, PricingPolicy

# Orders placed at or after this hour (UTC) leave the warehouse the next business day.
DISPATCH_CUTOFF_HOUR_UTC = 14


@dataclass(frozen=True)
class DeliveryWindow:
    earliest: date
    latest: date


def add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def dispatch_date(placed_at: datetime) -> date:
    day = placed_at.date()
    if day.weekday() >= 5 or placed_at.hour >= DISPATCH_CUTOFF_HOUR_UTC:
        return add_business_days(day, 1)
    return day


def expected_delivery(
    placed_at: datetime, shipping_method: str, policy: PricingPolicy = DEFAULT_POLICY
) -> DeliveryWindow:
    rate = policy.shipping[shipping_method]
    dispatched = dispatch_date(placed_at)
    return DeliveryWindow(
        earliest=add_business_days(dispatched, rate.min_days),
        latest=add_business_days(dispatched, rate.max_days),
    )
