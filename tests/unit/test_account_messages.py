"""Account messages (sign-up, reset, invitation and attribute codes through Cognito's custom-message trigger, and the
account-deleted email): every event in every locale, Cognito's placeholders kept verbatim, Cognito's limits, and the
trigger handler on events shaped like AWS's documentation of the trigger."""

from __future__ import annotations

import copy
import importlib
import json
import uuid
from typing import Any

import pytest

from oms.domain.account_messages import (
    CODE_EVENTS,
    EVENTS,
    TEMPLATES,
    cognito_problems,
    customer_locale,
    plain_name,
    render_account,
    template_locales,
)
from oms.domain.messages import Message, MissingTemplate, Shop
from oms.domain.sms import measure, non_gsm_characters

LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES")
CODE = "{####}"
USERNAME = "{username}"
#: A longish shop name: the SMS limits below must hold for real shop names, not only a short demo one.
SHOP = Shop(name="Northwind Outdoor Outfitters", support_email="help@northwind.example",
            support_url="https://northwind.example/help")
VALUES: dict[str, Any] = {"code": CODE, "username": USERNAME, "name": "Zoë Ñúñez",
                          "deleted_at": "2026-03-12T09:30:00+00:00", "orders_kept": 3}
PAIRS = [(event, locale) for event in EVENTS for locale in LOCALES]


def placeholders(event: str) -> list[str]:
    return [CODE, USERNAME] if event == "admin_invite" else [CODE] if event in CODE_EVENTS else []


# -- templates -------------------------------------------------------------------------------------------


def test_every_locale_folder_has_the_same_account_templates():
    assert set(template_locales()) == set(LOCALES)
    expected = {f"{event}.j2" for event in EVENTS} | {"_parts.j2"}
    for locale in LOCALES:
        assert {p.name for p in (TEMPLATES / locale).iterdir()} == expected, locale


@pytest.mark.parametrize(("event", "locale"), PAIRS)
def test_each_account_message_renders_all_blocks(event, locale):
    message = render_account(event, locale, shop=SHOP, values=VALUES)
    assert message.locale == locale
    assert message.subject and message.text.strip() and message.html.strip() and message.sms
    assert "\n" not in message.subject
    assert message.html.lstrip().lower().startswith("<!doctype html>")
    assert f'<html lang="{locale}">' in message.html
    assert SHOP.support_email in message.text and SHOP.support_email in message.html
    assert "Zoë Ñúñez" in message.text and "Zoë Ñúñez" in message.html
    for placeholder in placeholders(event):
        assert placeholder in message.html and placeholder in message.sms and placeholder in message.text
        assert placeholder not in message.subject  # Cognito does not replace it there
        assert message.html.count(placeholder) == 1


@pytest.mark.parametrize(("event", "locale"), [(e, loc) for e, loc in PAIRS if e in CODE_EVENTS])
def test_code_messages_are_what_cognito_accepts(event, locale):
    message = render_account(event, locale, shop=SHOP, values=VALUES)
    assert cognito_problems(message, placeholders(event)) == []
    # Headroom under Cognito's 140 characters for a longer shop name, and (invitation) the real user name and
    # temporary password, which are longer than their placeholders.
    limit = 105 if event == "admin_invite" else 125
    assert len(message.sms) <= limit, f"{locale}/{event} SMS is {len(message.sms)} characters: {message.sms!r}"
    delivered = message.sms.replace(CODE, "123456").replace(USERNAME, "jane.doe@example.com")
    assert measure(delivered).encoding == "GSM-7", (
        f"{locale}/{event} SMS uses {non_gsm_characters(delivered)}, which GSM-7 lacks: {message.sms!r}")


@pytest.mark.parametrize("locale", LOCALES)
def test_the_account_deleted_sms_fits_one_gsm7_part(locale):
    sms = render_account("account_deleted", locale, shop=SHOP, values=VALUES).sms
    size = measure(sms)
    assert size.encoding == "GSM-7" and size.units <= 160, (sms, non_gsm_characters(sms))


def test_the_html_keeps_the_placeholders_verbatim_and_escapes_the_name():
    values = {**VALUES, "name": 'Ann & <b>"Bo"</b>'}
    message = render_account("admin_invite", "en-US", shop=SHOP, values=values)
    assert "Ann &amp; &lt;b&gt;&#34;Bo&#34;&lt;/b&gt;" in message.html and "<b>" not in message.html
    assert 'Ann & <b>"Bo"</b>' in message.text
    assert f">{CODE}</p>" in message.html and f"<strong>{USERNAME}</strong>" in message.html
    assert "&#35;" not in message.html and "&#123;" not in message.html


def test_without_a_name_the_greeting_has_none():
    values = {"code": CODE}
    assert render_account("signup_code", "en-US", shop=SHOP, values=values).text.startswith("Hi there,\n")
    assert render_account("signup_code", "de-DE", shop=SHOP, values=values).text.startswith("Hallo,\n")
    assert render_account("signup_code", "es-ES", shop=SHOP, values={**values, "name": "  "}).text.startswith("Hola:\n")


def test_codes_say_how_long_they_last():
    assert "24 hours" in render_account("signup_code", "en-US", shop=SHOP, values=VALUES).text
    assert "1 hour" in render_account("reset_code", "en-US", shop=SHOP, values=VALUES).text
    assert "24 Stunden" in render_account("signup_code", "de-DE", shop=SHOP, values=VALUES).html
    assert "1 heure" in render_account("reset_code", "fr-FR", shop=SHOP, values=VALUES).html
    assert "ignore this email" in render_account("reset_code", "en-US", shop=SHOP, values=VALUES).text


# -- account deleted -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("locale", "date", "words"), [
    ("en-US", "March 12, 2026", "anonymized"),
    ("en-GB", "12 March 2026", "anonymised"),
    ("de-DE", "12. März 2026", "anonymisierter"),
    ("fr-FR", "12 mars 2026", "anonymisée"),
    ("es-ES", "12 de marzo de 2026", "anonimizada"),
])
def test_account_deleted_says_when_what_is_kept_and_whom_to_ask(locale, date, words):
    message = render_account("account_deleted", locale, shop=SHOP, values={**VALUES, "orders_kept": 7})
    for body in (message.text, message.html):
        assert date in body
        assert " 7 " in body and words in body
        assert SHOP.support_email in body
    assert f"mailto:{SHOP.support_email}" in message.html
    assert CODE not in message.html


def test_account_deleted_with_one_or_no_orders_kept():
    one = render_account("account_deleted", "en-US", shop=SHOP, values={**VALUES, "orders_kept": 1})
    assert "your past order in anonymized form" in one.text and "orders in" not in one.text
    none = render_account("account_deleted", "en-US", shop=SHOP, values={**VALUES, "orders_kept": 0})
    assert "no past orders" in none.text and "anonymized" not in none.text + none.sms


def test_account_deleted_dates_follow_the_customers_own_locale():
    message = render_account("account_deleted", "de-AT", shop=SHOP, values=VALUES)
    assert message.locale == "de-DE" and "12. März 2026" in message.text
    assert "Jänner" in render_account("account_deleted", "de-AT", shop=SHOP,
                                      values={**VALUES, "deleted_at": "2026-01-05T10:00:00Z"}).text


# -- locales and errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("asked", "wording"), [
    ("de-AT", "de-DE"), ("de", "de-DE"), ("fr_CA", "fr-FR"), ("en-AU", "en-US"), ("pt-BR", "en-US"),
    ("xx-YY", "en-US"), ("", "en-US"), ("not a locale", "en-US"),
])
def test_the_wording_falls_back_and_never_fails(asked, wording):
    assert render_account("signup_code", asked, shop=SHOP, values=VALUES).locale == wording


def test_customer_locale_takes_the_first_known_candidate():
    assert customer_locale(None, "xx-YY", "de_de", "fr-FR") == "de-DE"
    assert customer_locale(None, "", "xx-YY") == "en-US"


def test_a_missing_value_or_an_unknown_event_is_an_error():
    with pytest.raises(ValueError, match="code"):
        render_account("reset_code", "en-US", shop=SHOP, values={"name": "Ann"})
    with pytest.raises(ValueError, match="orders_kept"):
        render_account("account_deleted", "en-US", shop=SHOP, values={"deleted_at": "2026-03-12T09:30:00Z"})
    with pytest.raises(MissingTemplate):
        render_account("welcome_back", "en-US", shop=SHOP, values=VALUES)


def test_cognito_problems_name_what_cognito_would_refuse():
    good = render_account("signup_code", "fr-FR", shop=SHOP, values=VALUES)
    assert cognito_problems(good, [CODE]) == []
    bad = Message(subject=f"Code {CODE}", text="", html="Bonjour\u00a0!", sms="x" * 141, locale="fr-FR")
    problems = cognito_problems(bad, [CODE])
    assert any("emailMessage has characters Cognito refuses: U+00A0" in p for p in problems)
    assert any("smsMessage is 141 characters" in p for p in problems)
    assert any("emailMessage lacks the placeholder" in p for p in problems)
    assert any("emailSubject holds the placeholder" in p for p in problems)


def test_plain_name_keeps_only_what_cognito_accepts():
    assert plain_name("Zoë\u00a0 Ñúñez\u200b\n") == "Zoë Ñúñez"
    assert plain_name(None) == "" and plain_name("\x00\x07") == ""
    assert len(plain_name("a" * 500)) == 60


# -- the trigger -----------------------------------------------------------------------------------------


class Context:
    function_name = "cognito_messages"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cognito_messages"
    aws_request_id = "req"

    def get_remaining_time_in_millis(self) -> int:
        return 5000


def cognito_event(source: str, *, locale: str | None = None, attributes: dict[str, str] | None = None,
                  username_parameter: str | None = None) -> dict[str, Any]:
    """A custom-message event as AWS documents it (common fields, request, empty response)."""
    request: dict[str, Any] = {
        "userAttributes": {"sub": "4f1c2d3e-5a6b-7c8d-9e0f-a1b2c3d4e5f6", "cognito:user_status": "UNCONFIRMED",
                           "email_verified": "false", "phone_number_verified": "false",
                           "email": "jurgen.schmidt@example.com", "given_name": "Jürgen", **(attributes or {})},
        "codeParameter": CODE,
        "linkParameter": "{##Click Here##}",
        "usernameParameter": username_parameter,
    }
    if locale is not None:
        request["clientMetadata"] = {"locale": locale}
    return {
        "version": "1", "triggerSource": source, "region": "eu-central-1", "userPoolId": "eu-central-1_EXAMPLE",
        "userName": "jurgen.schmidt@example.com",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
        "request": request,
        "response": {"smsMessage": None, "emailMessage": None, "emailSubject": None},
    }


@pytest.fixture
def trigger(monkeypatch):
    monkeypatch.setenv("SHOP_NAME", SHOP.name)
    monkeypatch.setenv("SUPPORT_EMAIL", SHOP.support_email)
    monkeypatch.delenv("SUPPORT_URL", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    # A logger of its own per test, so its output goes to this test's captured stdout.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", f"cognito_messages_{uuid.uuid4().hex}")
    module = importlib.reload(importlib.import_module("functions.cognito_messages.handler"))
    module._shop.cache_clear()
    yield module
    module._shop.cache_clear()


@pytest.mark.parametrize(("source", "subject"), [
    ("CustomMessage_SignUp", "Bestätigen Sie Ihre E-Mail-Adresse für"),
    ("CustomMessage_ForgotPassword", "Passwort für"),
])
def test_the_trigger_writes_german_messages_with_the_code_placeholder(trigger, source, subject):
    event = trigger.handler(cognito_event(source, locale="de-DE"), Context())
    response = event["response"]
    assert response["emailSubject"].startswith(subject) and CODE not in response["emailSubject"]
    assert CODE in response["emailMessage"] and '<html lang="de-DE">' in response["emailMessage"]
    assert "Hallo Jürgen," in response["emailMessage"]
    assert CODE in response["smsMessage"] and len(response["smsMessage"]) <= 140
    assert SHOP.support_email in response["emailMessage"]


def test_the_locale_comes_from_the_client_metadata_then_the_user_attributes(trigger):
    from_attribute = trigger.handler(cognito_event("CustomMessage_ResendCode", attributes={"locale": "fr_FR"}),
                                     Context())
    assert from_attribute["response"]["emailSubject"].startswith("Votre nouveau code")
    metadata_wins = trigger.handler(cognito_event("CustomMessage_ResendCode", locale="es-ES",
                                                  attributes={"locale": "fr-FR"}), Context())
    assert metadata_wins["response"]["emailSubject"].startswith("Su nuevo código")
    unknown_metadata = trigger.handler(cognito_event("CustomMessage_ResendCode", locale="xx-YY",
                                                     attributes={"locale": "en-GB"}), Context())
    assert '<html lang="en-GB">' in unknown_metadata["response"]["emailMessage"]


def test_an_unknown_locale_falls_back_to_english(trigger):
    event = trigger.handler(cognito_event("CustomMessage_SignUp", locale="xx-YY"), Context())
    assert event["response"]["emailSubject"] == f"Confirm your email for {SHOP.name}"
    assert '<html lang="en-US">' in event["response"]["emailMessage"] and CODE in event["response"]["emailMessage"]


def test_an_invitation_carries_the_username_and_password_placeholders(trigger):
    event = cognito_event("CustomMessage_AdminCreateUser", username_parameter=USERNAME)
    event["request"]["userAttributes"]["cognito:user_status"] = "FORCE_CHANGE_PASSWORD"
    response = trigger.handler(event, Context())["response"]
    for field in ("emailMessage", "smsMessage"):
        assert CODE in response[field] and USERNAME in response[field]


@pytest.mark.parametrize("source", ["CustomMessage_UpdateUserAttribute", "CustomMessage_VerifyUserAttribute"])
def test_an_attribute_change_gets_the_attribute_code_message(trigger, source):
    response = trigger.handler(cognito_event(source, locale="en-US"), Context())["response"]
    assert response["emailSubject"] == "Confirm your new email address" and CODE in response["emailMessage"]


@pytest.mark.parametrize("source", ["CustomMessage_Authentication", "PreSignUp_SignUp", ""])
def test_other_sources_keep_cognitos_default_message(trigger, source):
    event = cognito_event(source, locale="de-DE")
    assert trigger.handler(copy.deepcopy(event), Context()) == event


def test_a_message_that_cannot_be_rendered_keeps_cognitos_default(trigger, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Message:
        raise RuntimeError("template error")

    monkeypatch.setattr(trigger, "render_account", broken)
    event = cognito_event("CustomMessage_SignUp", locale="de-DE")
    assert trigger.handler(copy.deepcopy(event), Context()) == event


def test_a_name_cognito_would_refuse_is_cleaned(trigger):
    event = cognito_event("CustomMessage_SignUp", attributes={"given_name": "Ann\u00a0Marie\u200b"})
    response = trigger.handler(event, Context())["response"]
    assert "Hi Ann Marie," in response["emailMessage"] and "\u00a0" not in response["emailMessage"]


def test_the_trigger_never_logs_the_name_email_or_code(trigger, caplog):
    """What reaches a log record, before the redacting formatter: the trigger never passes them at all."""
    trigger.handler(cognito_event("CustomMessage_SignUp", locale="de-DE"), Context())
    records = [r for r in caplog.records if r.name.startswith("cognito_messages_")]
    assert any(r.getMessage() == "custom message" and getattr(r, "locale", None) == "de-DE" for r in records)
    logged = json.dumps([{key: str(value) for key, value in vars(r).items()} for r in records], ensure_ascii=False)
    assert "Jürgen" not in logged and "jurgen.schmidt" not in logged and CODE not in logged


def test_a_missing_shop_setting_fails_loudly(trigger, monkeypatch):
    from oms.settings import SettingsError

    monkeypatch.delenv("SHOP_NAME")
    with pytest.raises(SettingsError, match="SHOP_NAME"):
        trigger.handler(cognito_event("CustomMessage_SignUp"), Context())
