"""Currencies and minor units (ISO 4217). Precision comes from Babel's CLDR data, never a hand-kept table."""

from decimal import Decimal, InvalidOperation
from functools import cache

#: The currencies the shop accepts (a business choice; their precision is Babel's).
SUPPORTED_CURRENCIES: frozenset[str] = frozenset({
    "USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "MXN", "BRL",
    "SGD", "HKD", "INR", "ZAR", "JPY", "KRW",
})


def is_supported(currency: str) -> bool:
    return currency in SUPPORTED_CURRENCIES


@cache
def exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency``'s minor unit (JPY 0, EUR 2), from CLDR."""
    # Imported on first use: Babel's number data is not needed by every function's cold start.
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(currency))


def to_minor(amount: str | Decimal, currency: str) -> int:
    """Convert a major-unit amount such as ``"1000.00"`` to integer minor units of ``currency``."""
    try:
        value = Decimal(amount)
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {amount!r}") from exc
    return int((value * (10 ** exponent(currency))).to_integral_value())


def to_major(amount: int, currency: str) -> Decimal:
    """Integer minor units as a major-unit Decimal (1250 USD -> 12.50)."""
    return Decimal(amount).scaleb(-exponent(currency))


def format_minor(amount: int, currency: str) -> str:
    """The amount for ops and the timeline, e.g. ``USD 12.50`` (customer messages use the order's locale)."""
    from babel.numbers import format_currency

    return str(format_currency(to_major(amount, currency), currency, format="¤¤\u00a0#,##0.00", locale="en_US",
                               currency_digits=True)).replace("\u00a0", " ")
