"""The signed-in customer's account: profile, address book and saved payment methods."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, cast

from oms.adapters.customers_repo import CustomersRepository
from oms.domain.customers import (
    AddressBook,
    AddressView,
    Card,
    CardList,
    ProfileView,
    SavedAddress,
    address_views,
    profile_view,
    updated_preferences,
)
from oms.domain.errors import NotFound, PaymentDeclined, ValidationFailed
from oms.domain.models import PaymentMethodRequest, ProfileRequest, SavedAddressRequest
from oms.domain.order import Address, PaymentRecord, iso

if TYPE_CHECKING:
    from oms.adapters.payment_gateway import PaymentGateway


def read_profile(customer_id: str, email: str, customers: CustomersRepository) -> ProfileView:
    return profile_view(customer_id, email, customers.account(customer_id))


def save_profile(customer_id: str, email: str, request: ProfileRequest, customers: CustomersRepository,
                 now: datetime) -> ProfileView:
    """Replace the profile: the name on the profile item; locale, phone and marketing consent on the
    preferences (one source for both routes), in one transaction."""
    preferences = updated_preferences(customers.preferences(customer_id), locale=request.locale,
                                      phone=request.phone, marketing=request.marketing_consent, now=now)
    customers.save_profile(customer_id, request.name, preferences, iso(now))
    return read_profile(customer_id, email, customers)


def list_addresses(customer_id: str, customers: CustomersRepository) -> AddressBook:
    return {"addresses": address_views(customers.account(customer_id))}


def add_address(customer_id: str, request: SavedAddressRequest, customers: CustomersRepository,
                now: datetime) -> AddressView:
    saved = _saved(request, "adr_" + secrets.token_hex(10), iso(now), iso(now))
    customers.add_address(customer_id, saved, default_shipping=bool(request.default_shipping),
                          default_billing=bool(request.default_billing))
    return _view(customer_id, saved["address_id"], customers)


def replace_address(customer_id: str, address_id: str, request: SavedAddressRequest,
                    customers: CustomersRepository, now: datetime) -> AddressView:
    current = customers.address(customer_id, address_id)
    if current is None:
        raise NotFound(f"address {address_id} not found")
    saved = _saved(request, address_id, current["created_at"], iso(now))
    customers.replace_address(customer_id, saved, default_shipping=request.default_shipping,
                              default_billing=request.default_billing)
    return _view(customer_id, address_id, customers)


def delete_address(customer_id: str, address_id: str, customers: CustomersRepository, now: datetime) -> None:
    customers.delete_address(customer_id, address_id, iso(now))


def _saved(request: SavedAddressRequest, address_id: str, created_at: str, updated_at: str) -> SavedAddress:
    saved: SavedAddress = {"address_id": address_id, "label": request.label,
                           "address": cast(Address, request.address.model_dump(exclude_none=True)),
                           "created_at": created_at, "updated_at": updated_at}
    if request.phone:
        saved["phone"] = request.phone
    return saved


def _view(customer_id: str, address_id: str, customers: CustomersRepository) -> AddressView:
    for view in address_views(customers.account(customer_id)):
        if view["address_id"] == address_id:
            return view
    raise NotFound(f"address {address_id} not found")  # deleted by a concurrent request


def list_cards(customer_id: str, customers: CustomersRepository) -> CardList:
    cards = customers.account(customer_id)["cards"]
    return {"payment_methods": sorted(cards, key=lambda c: c["created_at"], reverse=True)}


def save_card(customer_id: str, request: PaymentMethodRequest, customers: CustomersRepository,
              gateway: PaymentGateway, now: datetime) -> tuple[Card, bool]:
    """``(card, created)``: attach the token's card to the customer's gateway customer (created on first use)
    and remember brand, last four and expiry. Saving the same token again answers the same card."""
    profile = customers.profile(customer_id)
    gateway_customer = profile.get("gateway_customer") if profile else None
    if not gateway_customer:
        # The same key for the same customer: a retry (or a race) converges on one gateway customer.
        gateway_customer = gateway.create_customer(reference=customer_id, idempotency_key=f"customer:{customer_id}")
        customers.set_gateway_customer(customer_id, gateway_customer, iso(now))
    digest = hashlib.sha256(f"{customer_id}\x00{request.token}".encode()).hexdigest()[:32]
    try:
        attached = gateway.save_card(customer=gateway_customer, token=request.token,
                                     idempotency_key=f"card:{digest}")
    except PaymentDeclined as declined:
        raise ValidationFailed("token", f"the payment gateway refused it ({declined.code})") from None
    card: Card = {"payment_method_id": attached["payment_method_id"], "brand": attached["brand"],
                  "last4": attached["last4"], "exp_month": attached["exp_month"], "exp_year": attached["exp_year"],
                  "created_at": iso(now)}
    created = customers.add_card(customer_id, card)
    if not created:
        stored = customers.card(customer_id, card["payment_method_id"])
        card = stored or card
    return card, created


def delete_card(customer_id: str, payment_method_id: str, customers: CustomersRepository,
                gateway: PaymentGateway, now: datetime) -> None:
    """Detach the card at the gateway, then forget it (a retry after a crash between the two detaches again,
    which the gateway answers as done)."""
    if customers.card(customer_id, payment_method_id) is None:
        raise NotFound(f"payment method {payment_method_id} not found")
    gateway.detach_card(payment_method_id=payment_method_id)
    customers.delete_card(customer_id, payment_method_id, iso(now))


def saved_card_payment(customer_id: str, payment_method_id: str, customers: CustomersRepository,
                       field: str = "payment.payment_method_id") -> PaymentRecord:
    """What an order records to pay with a saved card of the customer's (``ValidationFailed`` naming ``field``
    when the customer has no such card: another customer's id is simply not in this book)."""
    profile = customers.profile(customer_id)
    gateway_customer = profile.get("gateway_customer") if profile else None
    if customers.card(customer_id, payment_method_id) is None or not gateway_customer:
        raise ValidationFailed(field, "no saved payment method with this id")
    return {"token": payment_method_id, "customer": gateway_customer, "payment_method_id": payment_method_id}
