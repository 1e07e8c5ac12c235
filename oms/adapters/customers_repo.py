"""Customers in DynamoDB: one partition per customer (``customer_id``), one item per kind (``item``); today the
communication preferences (``item = "preferences"``), later the profile, addresses and payment methods."""

from __future__ import annotations

from typing import cast

from oms.adapters.aws import client
from oms.adapters.ddb import from_item, to_item
from oms.domain.preferences import Preferences, default_preferences

PREFERENCES = "preferences"


class CustomersRepository:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def preferences(self, customer_id: str) -> Preferences | None:
        """The saved preferences, or None when the customer never saved any."""
        item = self.ddb.get_item(TableName=self.table, Key=_key(customer_id, PREFERENCES),
                                 ConsistentRead=True).get("Item")
        if not item:
            return None
        data = from_item(item)
        data.pop("customer_id", None)
        data.pop("item", None)
        return cast(Preferences, {**default_preferences(), **data})  # DynamoDB keeps no nulls

    def save_preferences(self, customer_id: str, preferences: Preferences) -> None:
        item = {"customer_id": customer_id, "item": PREFERENCES, **preferences}
        self.ddb.put_item(TableName=self.table, Item=to_item(item))


def _key(customer_id: str, item: str) -> dict[str, dict[str, str]]:
    return {"customer_id": {"S": customer_id}, "item": {"S": item}}
