"""Order totals: prices come from the catalog; shipping and tax policies are data."""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from oms.domain.errors import ValidationFailed
from oms.domain.money import to_minor

ShippingMethod = Literal["standard", "express"]


@dataclass(frozen=True)
class ShippingRate:
    fee: str  # major units of the order currency
    free_over: str | None  # subtotal (major units) at or above which shipping is free
    min_days: int  # business days in transit
    max_days: int


@dataclass(frozen=True)
class PricingPolicy:
    shipping: dict[str, ShippingRate] = field(
        default_factory=lambda: {
            "standard": ShippingRate(fee="5.00", free_over="50.00", min_days=3, max_days=5),
            "express": ShippingRate(fee="15.00", free_over=None, min_days=1, max_days=2),
        }
    )
    # Tax rate by destination country, applied to goods and shipping (prices are tax-exclusive).
    # Countries not listed (including US, where sales tax needs a tax provider) are not taxed here.
    tax_rates: dict[str, str] = field(
        default_factory=lambda: {
            "GB": "0.20", "DE": "0.19", "FR": "0.20", "NL": "0.21", "IE": "0.23", "ES": "0.21",
            "IT": "0.22", "SE": "0.25", "DK": "0.25", "AT": "0.20", "BE": "0.21", "PL": "0.23",
            "CA": "0.05", "AU": "0.10", "NZ": "0.15", "JP": "0.10", "CH": "0.081",
        }
    )


DEFAULT_POLICY = PricingPolicy()


@dataclass(frozen=True)
class CatalogProduct:
    sku: str
    name: str
    price: int
    currency: str


@dataclass(frozen=True)
class PricedLine:
    sku: str
    name: str
    quantity: int
    unit_price: int
    line_total: int


@dataclass(frozen=True)
class Quote:
    currency: str
    lines: list[PricedLine]
    subtotal: int
    shipping_total: int
    tax_total: int
    total: int


def quote(
    currency: str,
    lines: list[tuple[str, int]],
    products: dict[str, CatalogProduct],
    shipping_method: str,
    country: str,
    policy: PricingPolicy = DEFAULT_POLICY,
) -> Quote:
    """Price ``lines`` (sku, quantity) from the catalog; raises ``ValidationFailed`` naming the line."""
    priced: list[PricedLine] = []
    for index, (sku, quantity) in enumerate(lines):
        product = products.get(sku)
        if product is None:
            raise ValidationFailed(f"lines[{index}].sku", f"unknown sku {sku!r}")
        if product.currency != currency:
            raise ValidationFailed(
                f"lines[{index}].sku", f"{sku!r} is sold in {product.currency}, not in {currency}"
            )
        priced.append(PricedLine(sku, product.name, quantity, product.price, product.price * quantity))
    subtotal = sum(line.line_total for line in priced)
    rate = policy.shipping[shipping_method]
    free = rate.free_over is not None and subtotal >= to_minor(rate.free_over, currency)
    shipping_total = 0 if free else to_minor(rate.fee, currency)
    tax_rate = Decimal(policy.tax_rates.get(country, "0"))
    tax_total = int((Decimal(subtotal + shipping_total) * tax_rate).quantize(Decimal(1), ROUND_HALF_UP))
    return Quote(currency, priced, subtotal, shipping_total, tax_total, subtotal + shipping_total + tax_total)
