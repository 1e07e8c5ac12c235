"""Account messages: the emails (and SMS) of sign-up, password reset, invitation and attribute codes, which the
Cognito custom-message trigger hands back to Cognito, and the last email of an account, "your account was deleted".

``oms/templates/account/<locale>/<event>.j2`` holds one event in one locale, in the same four blocks as the order
messages (``subject``, ``text``, ``html`` autoescaped, ``sms``), with ``<locale>/_parts.j2`` (the layout and the
help footer) reached as ``parts``. The wording comes from the first locale of the fallback chain (``de-AT`` ->
``de-DE`` -> ``en-US``) that has the event; an unknown locale is English, never an error.

A code-bearing event gets ``code``, Cognito's placeholder (``{####}``), never a real code: Cognito replaces the
placeholder after the trigger returns, in the body and the SMS (never in the subject), so a template shows
``{{ code }}`` where the code goes. Autoescaping leaves braces and ``#`` alone.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oms.domain.locales import DEFAULT_LOCALE, fallback_chain, normalize
from oms.domain.messages import Formats, Message, MissingTemplate, Shop, compose

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from jinja2 import Environment

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "account"

#: event -> the values its template needs (``name`` is optional everywhere and always defined, "" when unknown)
EVENTS: dict[str, frozenset[str]] = {
    "signup_code": frozenset({"code"}),
    "resend_code": frozenset({"code"}),
    "reset_code": frozenset({"code"}),
    "admin_invite": frozenset({"code", "username"}),
    "attribute_code": frozenset({"code"}),
    "account_deleted": frozenset({"deleted_at", "orders_kept"}),
}
#: The events whose message must carry Cognito's placeholders (the code, and the user name of an invitation).
CODE_EVENTS = frozenset(event for event, needs in EVENTS.items() if "code" in needs)

# What Cognito accepts in a message (``[\p{L}\p{M}\p{S}\p{N}\p{P}\s*]*\{####\}[...]*``, Java's ``\s`` being ASCII
# whitespace only: a no-break space fails the whole message) and how long each part may be.
_ALLOWED_CATEGORIES = frozenset("LMSNP")
_ASCII_SPACE = frozenset(" \t\n\x0b\f\r")
MAX_SUBJECT = 140
MAX_EMAIL = 20_000
MAX_SMS = 140
MIN_MESSAGE = 6


def template_locales() -> list[str]:
    return sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir() and not p.name.startswith("_"))


def template_locale(event: str, locale: str) -> str:
    """The first locale of ``locale``'s fallback chain with a template for ``event``."""
    if event not in EVENTS:
        raise MissingTemplate(f"no account message {event!r}; known: {sorted(EVENTS)}")
    for candidate in fallback_chain(locale, DEFAULT_LOCALE):
        if (TEMPLATES / candidate / f"{event}.j2").is_file():
            return candidate
    raise MissingTemplate(f"no account template for {event!r} in {locale!r} or its fallbacks")


def customer_locale(*candidates: str | None) -> str:
    """The first candidate CLDR knows, normalized (``de_at`` -> ``de-AT``); ``en-US`` when none is."""
    for candidate in candidates:
        if candidate:
            try:
                return normalize(candidate.strip())
            except ValueError:
                continue
    return DEFAULT_LOCALE


@cache
def _environment(html: bool) -> Environment:
    # Imported on first use, as the order messages do: Jinja2 is not part of a cold start.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=html, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


def render_account(event: str, locale: str, *, shop: Shop, values: Mapping[str, Any]) -> Message:
    """The ``event`` message in ``locale`` (wording from its fallback chain, dates formatted for ``locale``
    itself). ``values``: ``code`` (Cognito's placeholder, ``{####}``) for the code events, and ``username``
    (``{username}``) for ``admin_invite``; ``deleted_at`` (ISO date-time) and ``orders_kept`` (int) for
    ``account_deleted``; an optional ``name`` for all."""
    formatting = customer_locale(locale)
    wording = template_locale(event, formatting)
    missing = EVENTS[event] - {key for key, value in values.items() if value is not None}
    if missing:
        raise ValueError(f"account message {event!r} needs {sorted(missing)}")
    context: dict[str, Any] = {**values, "event": event, "name": str(values.get("name") or "").strip(),
                               "shop": shop, "date": Formats(formatting, "XXX").date}
    return compose(lambda html, name: _environment(html).get_template(name), wording, event, context)


def plain_name(name: str | None, limit: int = 60) -> str:
    """A user-supplied name cut to what a Cognito message may hold: letters, marks, symbols, digits and
    punctuation, single spaces between words (a no-break space or a control character would fail the message)."""
    if not name:
        return ""
    kept = "".join(ch if unicodedata.category(ch)[0] in _ALLOWED_CATEGORIES else " " for ch in name)
    return " ".join(kept.split())[:limit].strip()


def _foreign(text: str) -> list[str]:
    return sorted({f"U+{ord(ch):04X}" for ch in text
                   if ch not in _ASCII_SPACE and unicodedata.category(ch)[0] not in _ALLOWED_CATEGORIES})


def cognito_problems(message: Message, placeholders: Iterable[str]) -> list[str]:
    """Why Cognito would refuse ``message`` as a custom message (empty when it would not): every placeholder in
    the email body and the SMS, none in the subject (Cognito does not replace it there), the lengths, and only
    the characters Cognito's pattern allows. Content is never part of a problem: a problem may be logged."""
    problems: list[str] = []
    fields = {"emailSubject": (message.subject, 1, MAX_SUBJECT), "emailMessage": (message.html, MIN_MESSAGE, MAX_EMAIL),
              "smsMessage": (message.sms, MIN_MESSAGE, MAX_SMS)}
    for field, (text, shortest, longest) in fields.items():
        if not shortest <= len(text) <= longest:
            problems.append(f"{field} is {len(text)} characters, not {shortest}..{longest}")
        if foreign := _foreign(text):
            problems.append(f"{field} has characters Cognito refuses: {', '.join(foreign)}")
    for placeholder in placeholders:
        for field, text in (("emailMessage", message.html), ("smsMessage", message.sms)):
            if placeholder not in text:
                problems.append(f"{field} lacks the placeholder {placeholder!r}")
        if placeholder in message.subject:
            problems.append(f"emailSubject holds the placeholder {placeholder!r}, which Cognito does not replace")
    return problems
