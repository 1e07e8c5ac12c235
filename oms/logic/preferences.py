"""Reading and saving a customer's communication preferences."""

from __future__ import annotations

from datetime import datetime

from oms.adapters.customers_repo import CustomersRepository
from oms.domain.models import PreferencesRequest
from oms.domain.preferences import Preferences, default_preferences, updated


def read(customer_id: str, customers: CustomersRepository) -> Preferences:
    """The saved preferences, or the defaults (``updated_at`` null) for a customer who never saved any."""
    return customers.preferences(customer_id) or default_preferences()


def save(customer_id: str, request: PreferencesRequest, customers: CustomersRepository, now: datetime) -> Preferences:
    """Replace the preferences with ``request`` (a field left out takes its default)."""
    preferences = updated(customers.preferences(customer_id), request, now)
    customers.save_preferences(customer_id, preferences)
    return preferences
