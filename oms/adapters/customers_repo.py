"""Customers in DynamoDB: one partition per customer (``customer_id``), one item per kind (``item``):
``preferences``, ``profile``, ``address#<id>`` and ``card#<payment method id>``.

The profile item holds the counters that bound the address book and the saved cards, and the default address
ids: each add or removal changes the counter in the same transaction as the item, conditionally, so two
concurrent requests cannot pass a limit or leave a default pointing at a deleted address.
"""

from __future__ import annotations

from typing import Any, cast

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import Update, from_item, is_conditional_failure, query_all, to_item
from oms.domain.customers import MAX_ADDRESSES, MAX_CARDS, Account, Card, Profile, SavedAddress
from oms.domain.errors import LimitReached, NotFound
from oms.domain.preferences import Preferences, default_preferences

PREFERENCES = "preferences"
PROFILE = "profile"
ADDRESS = "address#"
CARD = "card#"
ERASURE = "erasure"


class CustomersRepository:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    # -- reads ---------------------------------------------------------------------------------------------

    def preferences(self, customer_id: str) -> Preferences | None:
        """The saved preferences, or None when the customer never saved any."""
        item = self.ddb.get_item(TableName=self.table, Key=_key(customer_id, PREFERENCES),
                                 ConsistentRead=True).get("Item")
        return _preferences(from_item(item)) if item else None

    def account(self, customer_id: str) -> Account:
        """The whole partition in one query (profile, preferences, addresses, cards)."""
        account: Account = {"profile": None, "preferences": None, "addresses": [], "cards": []}
        for data in self.items(customer_id):
            kind = data.pop("item")
            data.pop("customer_id", None)
            if kind == PROFILE:
                account["profile"] = cast(Profile, data)
            elif kind == PREFERENCES:
                account["preferences"] = _preferences(data)
            elif kind.startswith(ADDRESS):
                account["addresses"].append(_address(data))
            elif kind.startswith(CARD):
                account["cards"].append(cast(Card, data))
        return account

    def items(self, customer_id: str) -> list[dict[str, Any]]:
        """Every item of the customer's partition, as stored."""
        return query_all(self.ddb, TableName=self.table, KeyConditionExpression="customer_id = :c",
                         ExpressionAttributeValues={":c": {"S": customer_id}}, ConsistentRead=True)

    def address(self, customer_id: str, address_id: str) -> SavedAddress | None:
        item = self.ddb.get_item(TableName=self.table, Key=_key(customer_id, ADDRESS + address_id),
                                 ConsistentRead=True).get("Item")
        return _address(_plain(item)) if item else None

    def card(self, customer_id: str, payment_method_id: str) -> Card | None:
        item = self.ddb.get_item(TableName=self.table, Key=_key(customer_id, CARD + payment_method_id),
                                 ConsistentRead=True).get("Item")
        return cast(Card, _plain(item)) if item else None

    def profile(self, customer_id: str) -> Profile | None:
        item = self.ddb.get_item(TableName=self.table, Key=_key(customer_id, PROFILE),
                                 ConsistentRead=True).get("Item")
        return cast(Profile, _plain(item)) if item else None

    # -- writes --------------------------------------------------------------------------------------------

    def save_preferences(self, customer_id: str, preferences: Preferences) -> None:
        item = {"customer_id": customer_id, "item": PREFERENCES, **preferences}
        self.ddb.put_item(TableName=self.table, Item=to_item(item))

    def save_profile(self, customer_id: str, name: str | None, preferences: Preferences, now: str) -> None:
        """The name (on the profile item, created if new) and the preferences, in one transaction."""
        update = Update().set("updated_at", now)
        update.sets.append(f"{update.name('created_at')} = if_not_exists({update.name('created_at')}, "
                           f"{update.value(now)})")
        if name is None:
            update.remove("name")
        else:
            update.set("name", name)
        self.ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": self.table, "Key": _key(customer_id, PROFILE), **update.params()}},
            {"Put": {"TableName": self.table,
                     "Item": to_item({"customer_id": customer_id, "item": PREFERENCES, **preferences})}},
        ])

    def add_address(self, customer_id: str, saved: SavedAddress, *, default_shipping: bool,
                    default_billing: bool) -> None:
        """Store a new address; the first one becomes both defaults. ``LimitReached`` when the book is full."""
        profile = self._counted(customer_id, "address_count", +1, MAX_ADDRESSES, saved["created_at"])
        address_id = saved["address_id"]
        for flag, attribute in ((default_shipping, "default_shipping_address_id"),
                                (default_billing, "default_billing_address_id")):
            if flag:
                profile.set(attribute, address_id)
            else:
                name = profile.name(attribute)
                profile.sets.append(f"{name} = if_not_exists({name}, {profile.value(address_id)})")
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": _key(customer_id, PROFILE), **profile.params()}},
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(customer_id)",
                         "Item": to_item({"customer_id": customer_id, "item": ADDRESS + address_id, **saved})}},
            ])
        except ClientError as error:
            if is_conditional_failure(error):
                raise LimitReached(f"the address book is full ({MAX_ADDRESSES} addresses); delete one first") \
                    from error
            raise

    def replace_address(self, customer_id: str, saved: SavedAddress, *, default_shipping: bool | None,
                        default_billing: bool | None) -> None:
        """Replace an address (``NotFound`` if it is gone); a default flag true makes it that default, false
        clears it if it was, None leaves it."""
        address_id = saved["address_id"]
        profile = Update().set("updated_at", saved["updated_at"])
        for flag, attribute in ((default_shipping, "default_shipping_address_id"),
                                (default_billing, "default_billing_address_id")):
            if flag:
                profile.set(attribute, address_id)
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "ConditionExpression": "attribute_exists(customer_id)",
                     "Item": to_item({"customer_id": customer_id, "item": ADDRESS + address_id, **saved})}},
            {"Update": {"TableName": self.table, "Key": _key(customer_id, PROFILE), **profile.params()}},
        ]
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as error:
            if is_conditional_failure(error):
                raise NotFound(f"address {address_id} not found") from error
            raise
        for flag, attribute in ((default_shipping, "default_shipping_address_id"),
                                (default_billing, "default_billing_address_id")):
            if flag is False:
                self._clear_default(customer_id, attribute, address_id)

    def delete_address(self, customer_id: str, address_id: str, now: str) -> None:
        """Delete an address (``NotFound`` if it is not there); a default that pointed at it is cleared."""
        if not self._remove(customer_id, ADDRESS + address_id, "address_count", now):
            raise NotFound(f"address {address_id} not found")
        for attribute in ("default_shipping_address_id", "default_billing_address_id"):
            self._clear_default(customer_id, attribute, address_id)

    def _clear_default(self, customer_id: str, attribute: str, address_id: str) -> None:
        try:
            self.ddb.update_item(TableName=self.table, Key=_key(customer_id, PROFILE),
                                 UpdateExpression="REMOVE #a", ConditionExpression="#a = :id",
                                 ExpressionAttributeNames={"#a": attribute},
                                 ExpressionAttributeValues={":id": {"S": address_id}})
        except ClientError as error:
            if not is_conditional_failure(error):
                raise  # not this address's default: nothing to clear

    def set_gateway_customer(self, customer_id: str, gateway_customer: str, now: str) -> None:
        update = Update().set("gateway_customer", gateway_customer).set("updated_at", now)
        update.sets.append(f"{update.name('created_at')} = if_not_exists({update.name('created_at')}, "
                           f"{update.value(now)})")
        self.ddb.update_item(TableName=self.table, Key=_key(customer_id, PROFILE), **update.params())

    def add_card(self, customer_id: str, card: Card) -> bool:
        """Store a saved card; False if it was already saved (a repeated request). ``LimitReached`` when full."""
        profile = self._counted(customer_id, "card_count", +1, MAX_CARDS, card["created_at"])
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": _key(customer_id, PROFILE), **profile.params()}},
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(customer_id)",
                         "Item": to_item({"customer_id": customer_id, "item": CARD + card["payment_method_id"],
                                          **card})}},
            ])
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            if self.card(customer_id, card["payment_method_id"]) is not None:
                return False
            raise LimitReached(f"{MAX_CARDS} payment methods are saved already; remove one first") from error
        return True

    def delete_card(self, customer_id: str, payment_method_id: str, now: str) -> bool:
        """Forget a saved card; False if it was not there."""
        return self._remove(customer_id, CARD + payment_method_id, "card_count", now)

    def _remove(self, customer_id: str, item: str, counter: str, now: str) -> bool:
        """Delete ``item`` and count it off the profile's ``counter``, together; False if it was not there."""
        profile = Update().increment(counter, -1).set("updated_at", now)
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Delete": {"TableName": self.table, "Key": _key(customer_id, item),
                            "ConditionExpression": "attribute_exists(customer_id)"}},
                {"Update": {"TableName": self.table, "Key": _key(customer_id, PROFILE), **profile.params()}},
            ])
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def erase(self, customer_id: str) -> int:
        """Delete every item of the customer's partition; how many there were."""
        keys = [_key(customer_id, data["item"]) for data in self.items(customer_id)]
        for start in range(0, len(keys), 25):
            pending = [{"DeleteRequest": {"Key": key}} for key in keys[start:start + 25]]
            while pending:
                response = self.ddb.batch_write_item(RequestItems={self.table: pending})
                pending = response.get("UnprocessedItems", {}).get(self.table, [])
        return len(keys)

    def record_erasure(self, pseudonym: str, *, at: str, by: str, reason: str, counts: dict[str, int]) -> None:
        """The erasure's audit record (item ``erasure``) in the pseudonym's partition, no personal data: when it
        was first asked for, by whom and why (each run's), and what it did (the counts of every run added)."""
        update = Update().set("last_run_at", at).set("by", by).set("reason", reason).increment("runs", 1)
        update.sets.append(f"{update.name('erased_at')} = if_not_exists({update.name('erased_at')}, "
                           f"{update.value(at)})")
        for name, count in counts.items():
            update.increment(name, count)
        self.ddb.update_item(TableName=self.table, Key=_key(pseudonym, ERASURE), **update.params())

    def erasure(self, pseudonym: str) -> dict[str, Any] | None:
        """The audit record of an erasure, if there was one."""
        item = self.ddb.get_item(TableName=self.table, Key=_key(pseudonym, ERASURE), ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def _counted(self, customer_id: str, counter: str, by: int, limit: int, now: str) -> Update:
        update = Update().increment(counter, by).set("updated_at", now)
        update.sets.append(f"{update.name('created_at')} = if_not_exists({update.name('created_at')}, "
                           f"{update.value(now)})")
        name = update.name(counter)
        update.require(f"attribute_not_exists({name}) OR {name} < :limit", limit=limit)
        return update


def _key(customer_id: str, item: str) -> dict[str, dict[str, str]]:
    return {"customer_id": {"S": customer_id}, "item": {"S": item}}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    data = from_item(item)
    data.pop("customer_id", None)
    data.pop("item", None)
    return data


def _address(data: dict[str, Any]) -> SavedAddress:
    return cast(SavedAddress, {"label": None, **data})  # DynamoDB keeps no nulls


def _preferences(data: dict[str, Any]) -> Preferences:
    data = {k: v for k, v in data.items() if k not in ("customer_id", "item")}
    return cast(Preferences, {**default_preferences(), **data})  # DynamoDB keeps no nulls
