"""Customer messages per order event, rendered from templates a non-programmer can edit.

``oms/templates/messages/<locale>/<event>.j2`` holds one event in one locale as four blocks: ``subject``, ``text``,
``html`` (autoescaped) and ``sms``. ``<locale>/_parts.j2`` holds that locale's shared pieces (the email layout,
the items table, the help footer), reached from a template as ``parts``. Money, dates and delivery windows are
formatted for the order's own locale with Babel (``money``, ``date``, ``window``); the wording comes from the
first locale of the fallback chain (``de-AT`` -> ``de-DE`` -> ``en-US``) that has the event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date as Date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oms.domain.carriers import tracking_url
from oms.domain.locales import DEFAULT_LOCALE, babel_identifier, fallback_chain
from oms.domain.money import to_major
from oms.domain.order import Order
from oms.domain.shipping import expected_ship_date, line_progress

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from jinja2 import Environment, Template

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "messages"
BLOCKS = ("subject", "text", "html", "sms")


@dataclass(frozen=True)
class Shop:
    name: str
    support_email: str
    support_url: str = ""


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    sms: str
    locale: str  # the template's locale (the wording); formatting follows the order's locale


class MissingTemplate(LookupError):
    pass


def template_locales() -> list[str]:
    """The locales that have templates (a folder each)."""
    return sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir() and not p.name.startswith("_"))


def template_events(locale: str) -> set[str]:
    return {p.stem for p in (TEMPLATES / locale).glob("*.j2") if not p.name.startswith("_")}


def template_locale(event: str, locale: str) -> str:
    """The first locale of ``locale``'s fallback chain with a template for ``event``."""
    for candidate in fallback_chain(locale, DEFAULT_LOCALE):
        if (TEMPLATES / candidate / f"{event}.j2").is_file():
            return candidate
    raise MissingTemplate(f"no template for {event!r} in {locale!r} or its fallbacks")


@cache
def _environment(html: bool) -> Environment:
    # Imported on first use: only the notify function (and the preview) render messages.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=html, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


def _template(html: bool, name: str) -> Template:
    return _environment(html).get_template(name)


class Formats:
    """Babel formatting for one locale and currency (what templates call as ``money``, ``date``, ``window``)."""

    def __init__(self, locale: str, currency: str) -> None:
        self.locale = babel_identifier(locale)
        self.currency = currency

    def money(self, minor: int) -> str:
        from babel.numbers import format_currency

        return str(format_currency(to_major(minor, self.currency), self.currency, locale=self.locale,
                                   currency_digits=True))

    def date(self, value: str) -> str:
        from babel.dates import format_date

        return str(format_date(Date.fromisoformat(value[:10]), format="long", locale=self.locale))

    def window(self, window: dict[str, str]) -> str:
        from babel.dates import format_interval

        start, end = Date.fromisoformat(window["earliest"]), Date.fromisoformat(window["latest"])
        if start == end:
            return self.date(window["earliest"])
        return str(format_interval(start, end, skeleton="yMMMd", locale=self.locale))

    def country(self, code: str) -> str:
        from babel import Locale

        return str(Locale.parse(self.locale).territories.get(code, code))


def _shipments(order: Order) -> list[dict[str, Any]]:
    return [{"carrier": s["carrier"], "tracking_number": s["tracking_number"],
             "tracking_url": s.get("tracking_url") or tracking_url(s["carrier"], s["tracking_number"]) or ""}
            for s in order.get("shipments", {}).values()]


def _parcel(order: Order, ref: str) -> dict[str, Any]:
    """The shipment a tracking event is about (``ref`` = ``<tracking number>[.<status>]``)."""
    number, _, problem = ref.partition(".")
    shipment = order.get("shipments", {}).get(number)
    if shipment is None:
        return {"carrier": "", "tracking_number": number, "tracking_url": "", "problem": problem,
                "estimated_delivery": None}
    return {"carrier": shipment["carrier"], "tracking_number": number,
            "tracking_url": shipment.get("tracking_url") or tracking_url(shipment["carrier"], number) or "",
            "problem": problem or shipment.get("tracking_status", ""),
            "estimated_delivery": shipment.get("est_delivery_date")}


def _backorders(order: Order, progress: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    names = {line["sku"]: line["name"] for line in order["lines"]}
    return [{"sku": sku, "name": names.get(sku, sku), "quantity": p["backordered_quantity"],
             "expected_ship_date": p["expected_ship_date"]}
            for sku, p in progress.items() if p["backordered_quantity"]]


def _parcel_lines(order: Order, ref: str) -> list[dict[str, Any]]:
    names = {line["sku"]: line["name"] for line in order["lines"]}
    shipment = order.get("shipments", {}).get(ref.partition(".")[0]) if ref else None
    parcel = shipment.get("lines", []) if shipment is not None else []
    return [{"sku": line["sku"], "name": names.get(line["sku"], line["sku"]), "quantity": line["quantity"]}
            for line in parcel]


def _unshipped(order: Order, progress: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    if not order.get("reservation"):
        return []
    return [{"sku": line["sku"], "name": line["name"],
             "quantity": line["quantity"] - progress[line["sku"]]["shipped_quantity"]}
            for line in order["lines"] if line["quantity"] > progress[line["sku"]]["shipped_quantity"]]


def _delay(event: str, ref: str) -> dict[str, str] | None:
    """``backorder_delayed``'s ref is ``<previous date>.<new date>``."""
    if event != "backorder_delayed":
        return None
    previous, _, new = ref.partition(".")
    return {"previous_date": previous, "new_date": new or previous}


def context(event: str, order: Order, ref: str, shop: Shop, tracking_link: str = "", *,
            extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a template sees: the order, the event's own facts, the shop, and the formatters; then ``extra``, facts
    the caller has that the order does not (a return's ``rma``), which win over a name of the same key."""
    formats = Formats(order.get("locale") or DEFAULT_LOCALE, order["currency"])
    progress = line_progress(order)
    close_reason = str(order.get("close_reason") or "")
    entry = order.get("ledger", {}).get(ref) if ref else None
    # Optional address lines present (empty) so a template may test them: unknown names still fail loudly.
    addresses = {key: {"line2": "", "region": "", **order[key]}
                 for key in ("shipping_address", "billing_address") if key in order}
    return {
        "event": event,
        "order": {**order, **addresses},
        "customer_name": order["shipping_address"]["name"],
        "shipments": _shipments(order),
        "cancellation": order.get("cancellation"),
        # Why a closed order closed, in words a template may choose from (never a fraud finding).
        "close_reason": close_reason.split(":")[0],
        "decline_code": close_reason.split(":")[1] if close_reason.startswith("payment_declined:") else "",
        "refund": {"amount": entry["amount"] if entry else order.get("amount_refunded", 0),
                   "total_refunded": order.get("amount_refunded", 0),
                   "total_paid": order.get("amount_captured", 0)},
        "parcel": _parcel(order, ref),
        "parcel_lines": _parcel_lines(order, ref) if event == "order_shipped" else [],
        "unshipped": _unshipped(order, progress),
        "backorders": _backorders(order, progress),
        "expected_ship_date": expected_ship_date(order) or "",
        "delay": _delay(event, ref),
        "cancelled_items": [{"sku": line["sku"], "name": line["name"],
                             "quantity": progress[line["sku"]]["cancelled_quantity"]}
                            for line in order["lines"] if progress[line["sku"]]["cancelled_quantity"]],
        "amount_due": order.get("capture_due", order["total"]),
        "tracking_link": tracking_link,
        "shop": shop,
        "money": formats.money,
        "date": formats.date,
        "window": formats.window,
        "country": formats.country,
        **(extra or {}),
    }


#: CLDR's typography (no-break and thin spaces in "1 299,00 €", the en dash of a date interval) in characters GSM-7 has,
#: so a formatted amount or date does not switch an SMS to UCS-2 (70 characters a part instead of 160).
_SMS_PLAIN = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2013": "-", "\u2014": "-",
                            "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _sms_text(rendered: str) -> str:
    return " ".join(rendered.translate(_SMS_PLAIN).split())


def _text(rendered: str) -> str:
    lines = [line.rstrip() for line in rendered.strip().splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text) + "\n"


def render(event: str, order: Order, ref: str = "", *, shop: Shop, tracking_link: str = "",
           extra: Mapping[str, Any] | None = None) -> Message:
    """The message for ``event`` in the order's locale; ``ref`` names which occurrence (a refund's ledger entry,
    a parcel); ``tracking_link`` is the signed link to the order's tracking page; ``extra`` adds names to what the
    template sees (the ``return_*`` events need ``rma``, the return)."""
    locale = template_locale(event, order.get("locale") or DEFAULT_LOCALE)
    return compose(_template, locale, event, context(event, order, ref, shop, tracking_link, extra=extra))


def compose(template: Callable[[bool, str], Template], locale: str, event: str,
            values: Mapping[str, Any]) -> Message:
    """``<locale>/<event>.j2``'s blocks rendered with ``values`` (and the locale's ``_parts.j2`` as ``parts``):
    subject, text and SMS without autoescape, HTML with it. ``template(html, name)`` loads a template."""
    parts: dict[str, str] = {}
    for html in (False, True):
        scope = dict(values)
        scope["parts"] = template(html, f"{locale}/_parts.j2").make_module(scope)
        page = template(html, f"{locale}/{event}.j2")
        ctx = page.new_context(scope)
        for block in (("html",) if html else ("subject", "text", "sms")):
            if block not in page.blocks:
                raise MissingTemplate(f"{page.name} has no {block!r} block")
            parts[block] = "".join(page.blocks[block](ctx))
    return Message(subject=" ".join(parts["subject"].split()), text=_text(parts["text"]),
                   html=parts["html"].strip() + "\n", sms=_sms_text(parts["sms"]), locale=locale)
