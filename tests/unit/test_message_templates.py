"""Customer message templates: every event in every required locale, formatted with Babel for the order's locale,
HTML autoescaped, and an SMS that fits one GSM-7 part."""

import copy
import re
from pathlib import Path

import pytest

from local.preview import SAMPLE_LINK, SAMPLE_SHOP, sample_extra, sample_order, sample_ref
from oms.domain.messages import Formats, context, render, template_locale
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
    message = render(event, order, sample_ref(event, order), shop=SAMPLE_SHOP, tracking_link=SAMPLE_LINK,
                     extra=sample_extra(event, order))
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


def test_extra_adds_names_to_the_context_and_wins_over_the_computed_ones():
    order = sample_order("order_confirmed", "en-US")
    values = context("order_confirmed", order, "", SAMPLE_SHOP, extra={"rma": {"return_id": "RMA-7K3F9Q"},
                                                                        "customer_name": "Dr. Lee"})
    assert values["rma"] == {"return_id": "RMA-7K3F9Q"} and values["customer_name"] == "Dr. Lee"
    assert "rma" not in context("order_confirmed", order, "", SAMPLE_SHOP)
    assert sample_extra("order_confirmed", order) == {}


def _return(event, locale, **changes):
    """A sample order and its return (``rma``) for ``event``, with ``changes`` applied to the return."""
    order = sample_order(event, locale)
    rma = copy.deepcopy(sample_extra(event, order)["rma"])
    rma.update(changes)
    return order, rma


def _render_return(event, order, rma):
    return render(event, order, shop=SAMPLE_SHOP, tracking_link=SAMPLE_LINK, extra={"rma": rma})


@pytest.mark.parametrize("locale", POLICY.required_locales)
def test_an_approved_return_gives_the_rma_number_the_ship_by_date_and_the_return_address(locale):
    order, rma = _return("return_approved", locale)
    formats = Formats(locale, order["currency"])
    ship_by = formats.date(rma["ship_by"])
    address = rma["return_address"]
    message = _render_return("return_approved", order, rma)
    for part in (message.text, message.html):
        assert "RMA-7K3F9Q" in part and ship_by in part
        assert address["name"] in part and address["line1"] in part and address["city"] in part
        assert address["postal_code"] in part and formats.country(address["country"]) in part
        assert formats.money(rma["refund_estimate"]) in part
    assert "RMA-7K3F9Q" in message.subject
    assert "RMA-7K3F9Q" in message.sms and ship_by.replace("\u00fb", "u") in message.sms


#: Per locale: how the refunded email names the restocking fee, and the charged and refunded price differences of an
#: exchange.
RESTOCKING = {"en-US": "Restocking fee", "en-GB": "Restocking fee", "de-DE": "Wiedereinlagerungsgebühr",
              "fr-FR": "Frais de remise en stock", "es-ES": "Gastos de reposición"}
CHARGED = {"en-US": "we charged the difference", "en-GB": "we have charged the difference",
           "de-DE": "über Ihre ursprüngliche Zahlungsart abgebucht", "fr-FR": "débité la différence",
           "es-ES": "hemos cargado la diferencia"}
REFUNDED = {"en-US": "we refunded the difference", "en-GB": "we have refunded the difference",
            "de-DE": "über Ihre ursprüngliche Zahlungsart erstattet", "fr-FR": "remboursé la différence",
            "es-ES": "reembolsado la diferencia"}
NOTE = {"en-US": "Our team's note", "en-GB": "A note from our team", "de-DE": "Anmerkung unseres Teams",
        "fr-FR": "Remarque de notre équipe", "es-ES": "Nota de nuestro equipo"}


@pytest.mark.parametrize("locale", POLICY.required_locales)
def test_a_refunded_return_gives_the_amount_and_the_fees_it_deducted(locale):
    order, rma = _return("return_refunded", locale, restocking_fee=1299, refund_amount=151631)
    formats = Formats(locale, order["currency"])
    message = _render_return("return_refunded", order, rma)
    for part in (message.text, message.html):
        assert formats.money(151631) in part and "RMA-7K3F9Q" in part
        assert RESTOCKING[locale] in part and formats.money(1299) in part
        assert formats.money(rma["return_shipping_fee"]) in part  # the label was not free
    assert formats.money(151631).replace("\u00a0", " ").replace("\u202f", " ") in message.sms  # SMS spaces are plain

    no_fees = _render_return("return_refunded", order, {**rma, "restocking_fee": 0, "label_free": True})
    for part in (no_fees.text, no_fees.html):
        assert formats.money(151631) in part
        assert RESTOCKING[locale] not in part and formats.money(1299) not in part
        assert formats.money(rma["return_shipping_fee"]) not in part


@pytest.mark.parametrize("locale", POLICY.required_locales)
def test_an_exchange_says_whether_the_difference_was_charged_or_refunded(locale):
    order, rma = _return("return_exchanged", locale)
    formats = Formats(locale, order["currency"])
    replacement = rma["exchange"]["lines"][0]["name"]
    texts = {}
    for difference in (750, -750, 0):
        exchange = {**rma["exchange"], "difference": difference}
        message = _render_return("return_exchanged", order, {**rma, "exchange": exchange})
        texts[difference] = message.text
        for part in (message.text, message.html):
            assert "ord_8e1d4a7c2b9f3e6d0a5c7b1e" in part and replacement in part
    assert CHARGED[locale] in texts[750] and REFUNDED[locale] not in texts[750]
    assert REFUNDED[locale] in texts[-750] and CHARGED[locale] not in texts[-750]
    assert formats.money(750) in texts[750] and formats.money(750) in texts[-750]
    assert formats.money(-750) not in texts[-750]
    assert CHARGED[locale] not in texts[0] and REFUNDED[locale] not in texts[0] and formats.money(750) not in texts[0]


def test_an_english_and_a_german_exchange_read_as_charged_and_refunded():
    order, rma = _return("return_exchanged", "en-US")
    charged = _render_return("return_exchanged", order, rma).text  # the sample's difference is positive
    refunded = _render_return("return_exchanged", order, {**rma, "exchange": {**rma["exchange"], "difference": -500}})
    assert "we charged the difference of $5.00 to your original payment method" in charged
    assert "we refunded the difference of $5.00 to your original payment method" in refunded.text
    order, rma = _return("return_exchanged", "de-DE")
    charged = _render_return("return_exchanged", order, rma).text
    refunded = _render_return("return_exchanged", order, {**rma, "exchange": {**rma["exchange"], "difference": -500}})
    assert "Den Differenzbetrag von 5,00\u00a0€ haben wir über Ihre ursprüngliche Zahlungsart abgebucht." in charged
    assert "Den Differenzbetrag von 5,00\u00a0€ haben wir Ihnen über Ihre ursprüngliche Zahlungsart erstattet." in (
        refunded.text)


@pytest.mark.parametrize("locale", POLICY.required_locales)
def test_a_rejected_return_gives_our_teams_note_escaped_in_html_and_leaves_it_out_when_empty(locale):
    order, rma = _return("return_rejected", locale, review_note="Worn & washed, see <photo 2>")
    message = _render_return("return_rejected", order, rma)
    assert NOTE[locale] in message.text and "Worn & washed, see <photo 2>" in message.text
    assert "Worn &amp; washed, see &lt;photo 2&gt;" in message.html and "<photo 2>" not in message.html
    assert "RMA-7K3F9Q" in message.text and "RMA-7K3F9Q" in message.html
    assert rma["lines"][0]["name"] in message.text

    plain = _render_return("return_rejected", order, {**rma, "review_note": ""})
    assert NOTE[locale] not in plain.text and NOTE[locale] not in plain.html


def _return_variants(event, locale):
    """The sample return and its other shapes: an exchange (sent ahead or not yet created), fees, a damaged item, a
    long ship-by date and a large amount."""
    order, rma = _return(event, locale)
    big = {"ship_by": "2026-09-30", "refund_estimate": 1234567, "refund_amount": 1234567, "restocking_fee": 123457,
           "label_free": False, "return_shipping_fee": 500,
           "received": [{"sku": "TEE-BLK-M", "name": "T", "quantity": 1, "condition": "DAMAGED"}]}
    exchange = {"order_id": "ord_8e1d4a7c2b9f3e6d0a5c7b1e", "difference": -1234567,
                "lines": [{"sku": "TEE-WHT-L", "name": "T", "quantity": 1}]}
    variants = [rma, {**rma, **big}, {**rma, **big, "ship_by": "2026-08-31"},
                {**rma, "resolution": "exchange", "label_free": True, "advance_exchange": True, "exchange": exchange},
                {**rma, **big, "resolution": "exchange", "exchange": {**exchange, "difference": 0}}]
    if event != "return_exchanged":  # until then the replacement order may not exist yet, even one sent ahead
        variants += [{**rma, "resolution": "exchange", "label_free": True, "advance_exchange": advance,
                      "exchange": None} for advance in (False, True)]
    return order, variants


@pytest.mark.parametrize("locale", POLICY.required_locales)
@pytest.mark.parametrize("event", [e for e in EVENTS if e.startswith("return_")])
def test_every_shape_of_a_return_renders_and_its_sms_fits_one_gsm7_part(event, locale):
    order, variants = _return_variants(event, locale)
    for rma in variants:
        message = _render_return(event, order, rma)
        assert rma["return_id"] in message.text and rma["return_id"] in message.html
        size = measure(message.sms)
        assert size.encoding == "GSM-7", f"{locale}/{event}: {non_gsm_characters(message.sms)} in {message.sms!r}"
        assert size.units <= 160, f"{locale}/{event}: {size.units} GSM-7 characters: {message.sms!r}"


@pytest.mark.parametrize("locale", POLICY.required_locales)
def test_an_approved_exchange_sent_ahead_says_so_even_before_its_replacement_order_exists(locale):
    order, rma = _return("return_approved", locale)
    exchange = {**rma, "resolution": "exchange", "label_free": True, "return_shipping_fee": 0}
    later = _render_return("return_approved", order, {**exchange, "advance_exchange": False, "exchange": None})
    ahead = _render_return("return_approved", order, {**exchange, "advance_exchange": True, "exchange": None})
    created = _render_return("return_approved", order, {**exchange, "advance_exchange": True, "exchange": {
        "order_id": "ord_8e1d4a7c2b9f3e6d0a5c7b1e", "difference": 0, "lines": []}})
    assert later.text != ahead.text
    assert "ord_8e1d4a7c2b9f3e6d0a5c7b1e" in created.text and "ord_8e1d4a7c2b9f3e6d0a5c7b1e" in created.html
    for message in (later, ahead, created):  # an exchange has no refund to estimate
        assert Formats(locale, order["currency"]).money(rma["refund_estimate"]) not in message.text
