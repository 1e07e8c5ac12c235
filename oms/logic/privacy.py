"""A customer's data rights: export everything we hold (GDPR art. 15 and 20), erase it (art. 17).

Erasure order, chosen so that any step can fail and the whole can be run again (by the customer while they can
still sign in, else by ops with ``POST /admin/customers/{id}/erase``):
1. refuse (409, listing them) while an order or a return is in progress;
2. detach saved cards at the gateway and delete its customer object;
3. anonymize returns, then orders (conditionally on still naming the customer; returns first, since they are
   found through the customer's orders);
4. drop the email's suppression; 5. delete the customer's partition and write the audit record;
6. delete the Cognito user (signed out everywhere);
7. send the final confirmation to the address read in step 1.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oms.adapters.customers_repo import CustomersRepository
from oms.adapters.identity import Identity
from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.payment_gateway import PaymentGateway
from oms.adapters.returns_repo import ReturnsRepository, ReturnTransitionRejected
from oms.adapters.suppressions_repo import SuppressionsRepository
from oms.domain.customers import (
    Account,
    ErasureReport,
    anonymized_order_fields,
    anonymized_return_fields,
    blocking,
    exported_return,
    notification_history,
    profile_view,
    pseudonym,
)
from oms.domain.errors import ErasureBlocked, NotFound
from oms.domain.order import Order, iso, public_view
from oms.domain.preferences import default_preferences

EXPORT_FORMAT = 1


@dataclass
class Holdings:
    """What a privacy request works on (the adapters)."""

    customers: CustomersRepository
    orders: OrdersRepository
    returns: ReturnsRepository


def export(customer_id: str, email: str, held: Holdings, now: datetime) -> dict[str, Any]:
    """Everything we hold about the customer, as one JSON document."""
    account = held.customers.account(customer_id)
    orders = held.orders.all_for_customer(customer_id)
    returns = [r for order in orders for r in held.returns.for_order(order["order_id"])]
    return {
        "format": EXPORT_FORMAT,
        "exported_at": iso(now),
        "customer": profile_view(customer_id, email, account),
        "preferences": account["preferences"] or default_preferences(),
        "addresses": account["addresses"],
        "payment_methods": account["cards"],
        "orders": [public_view(order) for order in orders],
        "returns": [exported_return(r) for r in returns],
        "notifications": notification_history(orders),
    }


@dataclass(frozen=True)
class Farewell:
    """Who gets the final confirmation (read before anything is erased)."""

    email: str | None
    locale: str
    name: str | None
    orders_kept: int


def erase(customer_id: str, held: Holdings, identity: Identity, gateway: PaymentGateway,
          suppressions: SuppressionsRepository, now: datetime, send_confirmation: Callable[[Farewell], bool], *,
          by: str = "customer", reason: str = "the customer's own request") -> ErasureReport:
    """Erase the customer (the module's steps); ``send_confirmation(farewell)`` sends the last email and answers
    whether it went. ``ErasureBlocked`` while something is in progress, ``NotFound`` for an id that never was a
    customer's."""
    orders = held.orders.all_for_customer(customer_id)
    returns = [r for order in orders for r in held.returns.for_order(order["order_id"])]
    in_progress = blocking(orders, returns)
    if in_progress:
        raise ErasureBlocked(in_progress)
    account = held.customers.account(customer_id)
    farewell = _farewell(customer_id, account, orders, identity)
    if farewell.email is None and not orders and not any(account.values()) \
            and held.customers.erasure(pseudonym(customer_id)) is None:
        raise NotFound(f"no customer {customer_id}")  # an erased customer has an audit record
    detached = _forget_at_gateway(account, gateway)
    for record in returns:
        sets, removes = anonymized_return_fields(dict(record))
        with suppress(ReturnTransitionRejected):  # already anonymized by an earlier run
            held.returns.apply(record["return_id"], Change(sets=sets, removes=removes,
                                                           expect={"customer_id": customer_id}))
    for order in orders:
        _anonymize_order(held.orders, order)
    for address in {farewell.email, *(o["contact"]["email"] for o in orders)} - {None}:
        suppressions.remove(str(address))
    deleted = held.customers.erase(customer_id)
    # The audit record, under the pseudonym the kept orders carry: who erased, when, why; no personal data.
    held.customers.record_erasure(pseudonym(customer_id), at=iso(now), by=by, reason=reason, counts={
        "orders_anonymized": len(orders), "returns_anonymized": len(returns), "payment_methods_detached": detached})
    user_deleted = identity.delete(customer_id)
    sent = farewell.email is not None and send_confirmation(farewell)
    return {"customer_id": customer_id, "erased_at": iso(now), "orders_anonymized": len(orders),
            "returns_anonymized": len(returns), "payment_methods_detached": detached, "items_deleted": deleted,
            "user_deleted": user_deleted, "confirmation_sent": sent}


def _farewell(customer_id: str, account: Account, orders: list[Order], identity: Identity) -> Farewell:
    """Where and how the confirmation goes, read before anything is erased."""
    email = identity.email(customer_id) or next((o["contact"]["email"] for o in orders), None)
    locale = (account["preferences"] or default_preferences())["locale"] or next(
        (o["locale"] for o in orders), "en-US")
    name = account["profile"].get("name") if account["profile"] else None
    return Farewell(email=email, locale=locale, name=name, orders_kept=len(orders))


def _forget_at_gateway(account: Account, gateway: PaymentGateway) -> int:
    """Detach the saved cards and delete the gateway's customer (its metadata holds our id); how many cards."""
    for card in account["cards"]:
        gateway.detach_card(payment_method_id=card["payment_method_id"])
    profile = account["profile"]
    if profile and profile.get("gateway_customer"):
        gateway.delete_customer(customer=profile["gateway_customer"])
    return len(account["cards"])


def _anonymize_order(orders: OrdersRepository, order: Order) -> None:
    sets, removes = anonymized_order_fields(order)
    with suppress(TransitionRejected):  # already anonymized by an earlier run
        orders.apply(order["order_id"], Change(sets=sets, removes=removes,
                                               expect={"customer_id": order["customer_id"]}))
