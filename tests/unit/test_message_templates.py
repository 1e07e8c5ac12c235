"""Customer message templates: every event in every required locale, formatted with Babel for the order's locale,
HTML autoescaped, and an SMS that fits one GSM-7 part."""

import re
from pathlib import Path

import pytest

from local.preview import SAMPLE_LINK, SAMPLE_SHOP, sample_order, sample_ref
from oms.domain.messages import Formats, render, template_locale
from oms.domain.notification_policy import EVENTS, load_policy, missing_templates
from oms.domain.sms import measure, non_gsm_characters

POLICY = load_policy((Path(__file__).resolve().parents[2] / "policies" / "notifications.json").read_text())
PAIRS = [(event, locale) for event in EVENTS for locale in POLICY.required_locales]


def test_every_event_has_a_template_with_all_four_parts_in_every_required_locale():
    assert set(POLICY.required_locales) >= {"en-US", "en-GB", "de-DE", "fr-FR", "es-ES"}
    assert missing_templates(POLICY) == []


@pytest.mark.parametrize(("event", "locale"), PAIRS)
def test_each_template_renders_and_its_sms_fits_one_gsm7_part(event, locale):
    order = sample_order(event, locale)
    message = render(event, order, sample_ref(event, order), shop=SAMPLE_SHOP, tracking_link=SAMPLE_LINK)
    assert message.locale == locale
    assert message.subject and "\n" not in message.subject
    assert "ord_5f2c9a1e7b3d4c6a8e0f1b2c" in message.text and "ord_5f2c9a1e7b3d4c6a8e0f1b2c" in message.html
    assert SAMPLE_SHOP.support_email in message.text and SAMPLE_SHOP.support_email in message.html
    assert message.html.lstrip().lower().startswith("<!doctype html>")
    size = measure(message.sms)
    assert size.encoding == "GSM-7", (
        f"{locale}/{event} SMS uses {non_gsm_characters(message.sms)}, which GSM-7 lacks: the whole SMS becomes "
        f"UCS-2 (70 characters a part). Reword it: {message.sms!r}")
    assert size.units <= 160, f"{locale}/{event} SMS is {size.units} GSM-7 characters, over 160: {message.sms!r}"


def test_a_german_confirmation_has_german_amounts_dates_and_words():
    message = render("order_confirmed", sample_order("order_confirmed", "de-DE"), shop=SAMPLE_SHOP)
    assert "1.299,00\u00a0€" in message.text and "1.581,50\u00a0€" in message.html
    assert "7.\u20139. Dez. 2026" in message.text  # CLDR's interval, with an en dash
    assert "Deutschland" in message.text
    assert "Bestellung" in message.subject


def test_a_british_confirmation_has_pounds_and_day_month_dates():
    message = render("order_confirmed", sample_order("order_confirmed", "en-GB"), shop=SAMPLE_SHOP)
    assert "£1,299.00" in message.text and "£1,581.50" in message.html
    assert re.search(r"7\s?\u2013\s?9 Dec 2026", message.text)


def test_austrian_german_takes_the_german_words_and_austrian_formats():
    order = sample_order("order_confirmed", "de-DE")
    order["locale"] = "de-AT"
    assert template_locale("order_confirmed", "de-AT") == "de-DE"
    message = render("order_confirmed", order, shop=SAMPLE_SHOP)
    assert message.locale == "de-DE" and "Bestellung" in message.subject
    assert "€\u00a01.581,50" in message.text  # de-AT puts the sign first
    assert "Österreich" not in message.text and "Deutschland" in message.text


def test_an_unknown_language_falls_back_to_english_with_its_own_formats():
    order = sample_order("order_shipped", "en-US")
    order["locale"] = "pt-BR"
    message = render("order_shipped", order, shop=SAMPLE_SHOP)
    assert message.locale == "en-US" and "has shipped" in message.subject


def test_html_is_escaped_and_text_is_not():
    order = sample_order("order_confirmed", "en-US")
    order["lines"][0]["name"] = "Mugs & <script>alert(1)</script>"
    message = render("order_confirmed", order, shop=SAMPLE_SHOP)
    assert "<script>" not in message.html and "Mugs &amp; &lt;script&gt;" in message.html
    assert "Mugs & <script>alert(1)</script>" in message.text


def test_a_held_order_message_never_gives_the_reason():
    order = sample_order("order_held", "en-US")
    order["risk"] = {"score": 90, "reasons": ["Order total at or above the review amount"], "decision": "review",
                     "threshold": 50, "assessed_at": "2026-12-02T09:30:00.000Z"}
    for locale in POLICY.required_locales:
        order["locale"] = locale
        message = render("order_held", order, shop=SAMPLE_SHOP)
        for part in (message.subject, message.text, message.html, message.sms):
            assert "review amount" not in part and "90" not in part and "fraud" not in part.lower()


def test_yen_has_no_minor_unit_from_babel_data():
    order = sample_order("order_confirmed", "en-US")
    order.update(currency="JPY", total=158150)
    assert "¥158,150" in render("order_confirmed", order, shop=SAMPLE_SHOP).text


@pytest.mark.parametrize("locale", POLICY.required_locales)
@pytest.mark.parametrize("problem", ["DELIVERY_ATTEMPTED", "EXCEPTION", "RETURN_TO_SENDER"])
def test_each_delivery_problem_says_something_different(locale, problem):
    order = sample_order("delivery_problem", locale)
    texts = {p: render("delivery_problem", order, sample_ref("delivery_problem", order, p), shop=SAMPLE_SHOP).text
             for p in ("DELIVERY_ATTEMPTED", "EXCEPTION", "RETURN_TO_SENDER")}
    assert len(set(texts.values())) == 3, f"{locale}: the three problems read the same"
    assert "1Z999AA10123456784" in texts[problem]


def test_the_shipped_email_carries_the_tracking_link_in_every_locale():
    for locale in POLICY.required_locales:
        message = render("order_shipped", sample_order("order_shipped", locale), shop=SAMPLE_SHOP,
                         tracking_link=SAMPLE_LINK)
        assert SAMPLE_LINK in message.text and SAMPLE_LINK in message.html, locale


#: Per locale: the sentence that announces the items still to come in a split order's parcel message.
REST_FOLLOWS = {"en-US": "The rest of your order will follow in a separate parcel",
                "en-GB": "The rest of your order will follow in a separate parcel",
                "de-DE": "Der Rest Ihrer Bestellung folgt in einem separaten Paket",
                "fr-FR": "Le reste de votre commande suivra dans un colis séparé",
                "es-ES": "El resto de su pedido llegará en un paquete aparte"}


def _split_order(locale):
    """A shipped sample whose parcel holds only the T-shirt; the mugs are still to ship."""
    order = sample_order("order_shipped", locale)
    order["fulfillment_status"] = "PARTIALLY_SHIPPED"
    order["shipments"]["1Z999AA10123456784"]["lines"] = [{"sku": "TEE-BLK-M", "quantity": 1}]
    order["reservation"] = {"state": "HELD", "allocations": [
        {"sku": "MUG-LOGO", "warehouse": "wh-east", "quantity": 2, "backordered": 0, "eta": None, "shipped": 0},
        {"sku": "TEE-BLK-M", "warehouse": "wh-west", "quantity": 1, "backordered": 0, "eta": None, "shipped": 1}]}
    return order


@pytest.mark.parametrize("locale", POLICY.required_locales)
def test_a_split_parcel_lists_its_items_and_the_ones_still_to_follow(locale):
    order = _split_order(locale)
    mug, tee = (line["name"] for line in order["lines"])  # the parcel holds the T-shirt; the mugs follow
    message = render("order_shipped", order, "1Z999AA10123456784", shop=SAMPLE_SHOP, tracking_link=SAMPLE_LINK)
    for part in (message.text, message.html):
        assert tee in part and mug in part and REST_FOLLOWS[locale] in part
        assert "1Z999AA10123456784" in part and SAMPLE_LINK in part and SAMPLE_SHOP.support_email in part
    assert message.text.index(tee) < message.text.index(REST_FOLLOWS[locale]) < message.text.index(mug)
    size = measure(message.sms)
    assert size.encoding == "GSM-7" and size.units <= 160, message.sms
    assert "UPS" in message.sms and "1Z999AA10123456784" in message.sms

    order["reservation"]["allocations"][0]["shipped"] = 2  # everything shipped: nothing left to announce
    done = render("order_shipped", order, "1Z999AA10123456784", shop=SAMPLE_SHOP).text
    assert tee in done and REST_FOLLOWS[locale] not in done


@pytest.mark.parametrize("locale", POLICY.required_locales)
def test_a_parcel_without_its_lines_reads_as_the_whole_order_shipped(locale):
    order = sample_order("order_shipped", locale)
    whole = render("order_shipped", order, "", shop=SAMPLE_SHOP, tracking_link=SAMPLE_LINK)
    parcel = render("order_shipped", order, "1Z999AA10123456784", shop=SAMPLE_SHOP, tracking_link=SAMPLE_LINK)
    assert parcel == whole


@pytest.mark.parametrize("locale", POLICY.required_locales)
def test_a_backordered_order_names_the_waiting_and_the_reserved_items(locale):
    order = sample_order("order_backordered", locale)
    mug, tee = (line["name"] for line in order["lines"])
    ships = Formats(locale, order["currency"]).date("2026-12-18")
    message = render("order_backordered", order, shop=SAMPLE_SHOP)
    for part in (message.text, message.html):
        assert mug in part and tee in part and ships in part
    assert message.text.index(mug) < message.text.index(tee)  # the waiting items first, then the reserved ones
    assert ships.replace("\u00fb", "u") in message.sms


def test_a_german_backorder_delay_gives_both_ship_dates_in_german():
    order = sample_order("backorder_delayed", "de-DE")
    message = render("backorder_delayed", order, sample_ref("backorder_delayed", order), shop=SAMPLE_SHOP)
    for part in (message.text, message.html):
        assert "8. Januar 2027" in part and "18. Dezember 2026" in part
        assert "Kaffeebecher mit Logo" in part
    assert message.text.index("8. Januar 2027") < message.text.index("18. Dezember 2026")  # the new date first
    assert "8. Januar 2027" in message.sms


@pytest.mark.parametrize("locale", POLICY.required_locales)
def test_items_cancelled_names_the_cancelled_item_and_the_amount_due(locale):
    order = sample_order("items_cancelled", locale)  # the mugs shipped; the T-shirt was cancelled
    mug, tee = (line["name"] for line in order["lines"])
    due = Formats(locale, order["currency"]).money(order["capture_due"])
    assert order["capture_due"] < order["total"]
    message = render("items_cancelled", order, sample_ref("items_cancelled", order), shop=SAMPLE_SHOP)
    for part in (message.text, message.html):
        assert tee in part and due in part
        assert mug not in part  # what shipped is not listed as cancelled


def _cancelled_by(locale, by, reason):
    order = sample_order("order_cancelled", locale)
    order["cancellation"] = {"reason": reason, "note": "", "by": by, "at": "2026-12-02T10:00:00.000Z", "fee": 0}
    order["close_reason"] = reason
    return order


@pytest.mark.parametrize("locale", POLICY.required_locales)
def test_a_backorder_timeout_cancellation_says_why_and_its_sms_fits(locale):
    order = _cancelled_by(locale, "system", "backorder_timeout")
    message = render("order_cancelled", order, sample_ref("order_cancelled", order), shop=SAMPLE_SHOP)
    generic = render("order_cancelled", _cancelled_by(locale, "ops", "ops_cancelled"), shop=SAMPLE_SHOP)
    assert message.text != generic.text and message.html != generic.html and message.sms != generic.sms
    assert "ord_5f2c9a1e7b3d4c6a8e0f1b2c" in message.text and "ord_5f2c9a1e7b3d4c6a8e0f1b2c" in message.sms
    size = measure(message.sms)
    assert size.encoding == "GSM-7", f"{locale}: {non_gsm_characters(message.sms)} in {message.sms!r}"
    assert size.units <= 160, f"{locale}: {size.units} GSM-7 characters: {message.sms!r}"
