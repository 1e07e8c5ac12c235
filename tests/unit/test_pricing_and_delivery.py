from datetime import UTC, date, datetime

import pytest

from oms.domain.delivery import add_business_days, expected_delivery
from oms.domain.errors import ValidationFailed
from oms.domain.money import format_minor, to_minor
from oms.domain.pricing import CatalogProduct, quote

PRODUCTS = {
    "MUG": CatalogProduct("MUG", "Mug", 1250, "USD"),
    "TEE": CatalogProduct("TEE", "T-shirt", 2000, "USD"),
    "EURO": CatalogProduct("EURO", "Euro thing", 1000, "EUR"),
}


def test_totals_come_from_the_catalog_with_shipping_and_no_us_tax():
    q = quote("USD", [("MUG", 2)], PRODUCTS, "standard", "US")
    assert (q.subtotal, q.shipping_total, q.tax_total, q.total) == (2500, 500, 0, 3000)
    assert q.lines[0].unit_price == 1250 and q.lines[0].line_total == 2500


def test_free_standard_shipping_at_threshold_and_vat_on_goods_and_shipping():
    q = quote("USD", [("TEE", 3)], PRODUCTS, "standard", "US")
    assert q.shipping_total == 0
    express = quote("USD", [("MUG", 1)], PRODUCTS, "express", "GB")
    assert express.shipping_total == 1500
    assert express.tax_total == 550  # 20% of 12.50 + 15.00
    assert express.total == 1250 + 1500 + 550


def test_unknown_sku_and_wrong_currency_name_the_line():
    with pytest.raises(ValidationFailed) as unknown:
        quote("USD", [("MUG", 1), ("NOPE", 1)], PRODUCTS, "standard", "US")
    assert unknown.value.field == "lines[1].sku"
    with pytest.raises(ValidationFailed) as currency:
        quote("USD", [("EURO", 1)], PRODUCTS, "standard", "US")
    assert "sold in EUR" in currency.value.message


def test_minor_units_follow_the_currency():
    assert to_minor("1000.00", "USD") == 100000
    assert to_minor("1000", "JPY") == 1000
    assert format_minor(123456, "EUR") == "EUR 1,234.56"


def test_business_days_skip_weekends():
    assert add_business_days(date(2026, 11, 20), 1) == date(2026, 11, 23)  # Friday -> Monday


def test_delivery_window_before_and_after_the_cutoff():
    monday_morning = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    window = expected_delivery(monday_morning, "standard")
    assert (window.earliest, window.latest) == (date(2026, 11, 26), date(2026, 11, 30))
    monday_evening = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    express = expected_delivery(monday_evening, "express")
    assert (express.earliest, express.latest) == (date(2026, 11, 25), date(2026, 11, 26))
