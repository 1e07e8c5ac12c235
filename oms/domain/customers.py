"""A customer's account: profile, address book, saved cards, and the rules of erasure.

Plain data and rules; ``oms/adapters/customers_repo.py`` stores them (one partition per customer) and
``oms/logic/accounts.py`` / ``oms/logic/privacy.py`` sequence them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from oms.domain.order import Address, Order, iso
from oms.domain.preferences import Preferences, default_preferences

MAX_ADDRESSES = 20
MAX_CARDS = 10
#: How recent a sign-in must be to delete the account without re-entering the password.
RECENT_SIGN_IN_SECONDS = 5 * 60
#: Order statuses that block erasure: the order is still being paid, packed or shipped.
IN_PROGRESS = frozenset({"PENDING", "ON_HOLD", "BACKORDERED", "PROCESSING", "PARTIALLY_SHIPPED", "SHIPPED"})
#: Return statuses that block erasure: a parcel or a refund is still owed.
RETURN_IN_PROGRESS = frozenset({"REQUESTED", "APPROVED", "IN_TRANSIT", "RECEIVED", "REFUNDED", "EXCHANGED"})
ERASED = "[erased]"


class Profile(TypedDict):
    """The ``profile`` item (the rest of what the profile shows lives in the preferences item); created by the
    first write of any kind (a name, an address, a card), so every field may be missing."""

    name: NotRequired[str]
    gateway_customer: NotRequired[str]  # the payment gateway's customer object (cus_...)
    default_shipping_address_id: NotRequired[str]
    default_billing_address_id: NotRequired[str]
    address_count: NotRequired[int]
    card_count: NotRequired[int]
    created_at: NotRequired[str]
    updated_at: NotRequired[str]


class ProfileView(TypedDict):
    customer_id: str
    email: str
    name: str | None
    locale: str | None
    phone: str | None
    marketing_consent: bool
    marketing_consent_at: str | None
    default_shipping_address_id: str | None
    default_billing_address_id: str | None
    created_at: str | None
    updated_at: str | None


class SavedAddress(TypedDict):
    address_id: str
    label: str | None
    address: Address
    phone: NotRequired[str]
    created_at: str
    updated_at: str


class AddressView(SavedAddress):
    default_shipping: bool
    default_billing: bool


class AddressBook(TypedDict):
    addresses: list[AddressView]


class Card(TypedDict):
    """A saved payment method as the gateway described it: never a card number."""

    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    created_at: str


class CardList(TypedDict):
    payment_methods: list[Card]


class BlockingItem(TypedDict):
    kind: Literal["order", "return"]
    id: str
    status: str


class Account(TypedDict):
    """Everything in a customer's partition, read at once."""

    profile: Profile | None
    preferences: Preferences | None
    addresses: list[SavedAddress]
    cards: list[Card]


def profile_view(customer_id: str, email: str, account: Account) -> ProfileView:
    profile = account["profile"]
    prefs = account["preferences"] or default_preferences()
    return {
        "customer_id": customer_id, "email": email, "name": profile.get("name") if profile else None,
        "locale": prefs["locale"], "phone": prefs["phone"], "marketing_consent": prefs["email"]["marketing"],
        "marketing_consent_at": prefs["marketing_consent_at"],
        "default_shipping_address_id": profile.get("default_shipping_address_id") if profile else None,
        "default_billing_address_id": profile.get("default_billing_address_id") if profile else None,
        "created_at": profile.get("created_at") if profile else None,
        "updated_at": max(filter(None, [profile.get("updated_at") if profile else None, prefs["updated_at"]]),
                          default=None),
    }


def updated_preferences(current: Preferences | None, *, locale: str | None, phone: str | None, marketing: bool,
                        now: datetime) -> Preferences:
    """The preferences after a profile update: locale, phone and marketing consent (kept with the time it was
    first given until withdrawn); the order-update choices stay as they were."""
    before = current or default_preferences()
    consent_at = (before["marketing_consent_at"] or iso(now)) if marketing else None
    return {**before, "locale": locale, "phone": phone, "email": {**before["email"], "marketing": marketing},
            "marketing_consent_at": consent_at, "updated_at": iso(now)}


def address_views(account: Account) -> list[AddressView]:
    profile = account["profile"]
    shipping = profile.get("default_shipping_address_id") if profile else None
    billing = profile.get("default_billing_address_id") if profile else None
    views = [AddressView(**saved, default_shipping=saved["address_id"] == shipping,
                         default_billing=saved["address_id"] == billing) for saved in account["addresses"]]
    return sorted(views, key=lambda v: (not v["default_shipping"], v["created_at"]))


def blocking(orders: list[Order], returns: list[Any]) -> list[BlockingItem]:
    """What stops an erasure: orders still in progress and returns not yet settled."""
    found: list[BlockingItem] = [{"kind": "order", "id": o["order_id"], "status": str(o["status"])}
                                 for o in orders if o["status"] in IN_PROGRESS]
    found += [{"kind": "return", "id": r["return_id"], "status": str(r["status"])}
              for r in returns if r["status"] in RETURN_IN_PROGRESS]
    return found


def pseudonym(customer_id: str) -> str:
    """What replaces the customer id on kept records: stable (a retried erasure agrees), not reversible."""
    return "erased-" + hashlib.sha256(customer_id.encode()).hexdigest()[:20]


def postal_prefix(postal_code: str) -> str:
    """The part of a postal code kept for accounting (tax region): the first three characters."""
    return postal_code.replace(" ", "")[:3]


def anonymized_address(address: Address) -> Address:
    """Name, street lines and city replaced; country, region and the postal prefix kept."""
    kept: Address = {"name": ERASED, "line1": ERASED, "city": ERASED,
                     "postal_code": postal_prefix(address["postal_code"]), "country": address["country"]}
    if address.get("region"):
        kept["region"] = address["region"]
    return kept


def anonymized_order_fields(order: Order) -> tuple[dict[str, Any], list[str]]:
    """``(sets, removes)`` that anonymize an order: who and where replaced, what and how much kept (amounts,
    SKUs, dates, the gateway's payment ids for chargebacks and refunds)."""
    sets: dict[str, Any] = {
        "customer_id": pseudonym(order["customer_id"]),
        "shipping_address": anonymized_address(order["shipping_address"]),
        "billing_address": anonymized_address(order["billing_address"]),
        "contact": {"email": ERASED, **({"sms_opt_in": order["contact"]["sms_opt_in"]}
                                        if "sms_opt_in" in order["contact"] else {})},
        "erased": True,
    }
    if order.get("notifications"):
        sets["notifications"] = {key: {**record, "to": ERASED} for key, record in order["notifications"].items()}
    removes = [path for path in ("request_hash", "payment.token", "payment.customer", "payment.payment_method_id")
               if _has(order, path)]
    return sets, removes


def anonymized_return_fields(record: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    sets: dict[str, Any] = {"customer_id": pseudonym(record["customer_id"])}
    lines = record.get("lines") or []
    if any(line.get("note") for line in lines):
        sets["lines"] = [{**line, "note": ERASED} if line.get("note") else line for line in lines]
    removes = ["request_hash"] if "request_hash" in record else []
    return sets, removes


def _has(data: Any, path: str) -> bool:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


#: Fields of a stored return that are the workflow's, not the customer's.
_RETURN_INTERNAL = frozenset({"task_token", "park_task_token", "request_hash", "technical_hold", "created_key",
                              "reminders"})


def exported_return(record: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(record).items() if k not in _RETURN_INTERNAL}


def notification_history(orders: list[Order]) -> list[dict[str, Any]]:
    """Every message we sent (or decided not to send) about the customer's orders, oldest first."""
    found = [{"order_id": order["order_id"], **record} for order in orders
             for record in (order.get("notifications") or {}).values()]
    return sorted(found, key=lambda r: str(r.get("at", "")))


class ExportDocument(TypedDict):
    format: int
    exported_at: str
    customer: ProfileView
    preferences: Preferences
    addresses: list[SavedAddress]
    payment_methods: list[Card]
    orders: list[dict[str, Any]]
    returns: list[dict[str, Any]]
    notifications: list[dict[str, Any]]


class ExportLink(TypedDict):
    download_url: str
    expires_at: str
    size_bytes: int


class ErasureReport(TypedDict):
    customer_id: str
    erased_at: str
    orders_anonymized: int
    returns_anonymized: int
    payment_methods_detached: int
    items_deleted: int
    user_deleted: bool
    confirmation_sent: bool
