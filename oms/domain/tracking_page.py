"""The public tracking page as HTML (Jinja2, autoescaped; dates in the order's locale with Babel)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from oms.domain.locales import babel_identifier
from oms.domain.messages import TEMPLATES
from oms.domain.tracking import DESCRIPTION, OrderTracking

if TYPE_CHECKING:
    from jinja2 import Template


@cache
def _template() -> Template:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(TEMPLATES.parent)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("tracking_page.html.j2")


def render_page(view: OrderTracking, locale: str) -> str:
    from datetime import date, datetime

    from babel.dates import format_date, format_datetime

    ident = babel_identifier(locale)

    def when(value: str | None) -> str:
        if not value:
            return ""
        try:
            return str(format_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")), "medium", locale=ident))
        except ValueError:
            return value

    def day(value: str | None) -> str:
        return str(format_date(date.fromisoformat(value[:10]), "long", locale=ident)) if value else ""

    return _template().render(view=view, when=when, day=day, describe=DESCRIPTION, lang=locale)
