"""Locales (BCP 47 tags such as ``de-DE``): validation against CLDR, the fallback chain of a message's language,
and the choice from an ``Accept-Language`` header."""

from functools import cache

DEFAULT_LOCALE = "en-US"
MAX_ACCEPT_LANGUAGE = 40  # entries of an Accept-Language header considered


@cache
def normalize(tag: str) -> str:
    """``de_at``/``de-AT`` -> ``de-AT``; ValueError when CLDR does not know the locale."""
    # babel.localedata only checks for a data file: no locale data is loaded for a validation.
    from babel import localedata

    parts = tag.replace("_", "-").split("-")
    if not 1 <= len(parts) <= 2 or not all(p.isascii() and p.isalpha() for p in parts):
        raise ValueError(f"not a locale: {tag!r}; use a language and country such as de-DE")
    language = parts[0].lower()
    identifier = f"{language}_{parts[1].upper()}" if len(parts) == 2 else language
    if not localedata.exists(identifier):
        raise ValueError(f"unknown locale {tag!r}; use a language and country such as de-DE")
    return identifier.replace("_", "-")


def babel_identifier(tag: str) -> str:
    return tag.replace("-", "_")


@cache
def _likely(language: str) -> str:
    """The language's most likely country in CLDR: de -> de-DE, en -> en-US, es -> es-ES."""
    from babel.core import get_global

    likely = str(get_global("likely_subtags").get(language, language)).split("_")
    return f"{language}-{likely[-1]}" if len(likely) > 1 and likely[-1].isupper() else language


def fallback_chain(tag: str, default: str = DEFAULT_LOCALE) -> list[str]:
    """Where to look for a message in ``tag``: the locale, its language's main locale, then ``default``
    (``de-AT`` -> ``de-DE`` -> ``en-US``)."""
    chain = [tag]
    language = tag.split("-")[0]
    for candidate in (_likely(language), default):
        if candidate not in chain:
            chain.append(candidate)
    return chain


def from_accept_language(header: str | None) -> str | None:
    """The client's preferred locale CLDR knows, by the header's q-values (RFC 9110 12.5.4); None if none."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:MAX_ACCEPT_LANGUAGE]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and 0 < quality <= 1:
            ranked.append((-quality, position, tag))
    for _quality, _position, tag in sorted(ranked):
        try:
            return normalize(tag)
        except ValueError:
            continue
    return None
