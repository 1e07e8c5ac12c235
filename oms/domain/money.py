"""Currencies and minor units (ISO 4217)."""

from decimal import Decimal, InvalidOperation

# Supported currencies and their minor-unit exponents.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CHF": 2,
    "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "MXN": 2, "BRL": 2,
    "SGD": 2, "HKD": 2, "INR": 2, "ZAR": 2, "JPY": 0, "KRW": 0,
}


def is_supported(currency: str) -> bool:
    return currency in CURRENCY_EXPONENTS


def to_minor(amount: str | Decimal, currency: str) -> int:
    """Convert a major-unit amount such as ``"1000.00"`` to integer minor units of ``currency``."""
    try:
        value = Decimal(amount)
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {amount!r}") from exc
    return int((value * (10 ** CURRENCY_EXPONENTS[currency])).to_integral_value())


def format_minor(amount: int, currency: str) -> str:
    """Human-readable amount, e.g. ``USD 12.50``."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    if exponent == 0:
        return f"{currency} {amount:,}"
    major = Decimal(amount).scaleb(-exponent)
    return f"{currency} {major:,.{exponent}f}"
