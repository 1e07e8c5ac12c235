"""Email addresses we no longer send to (a permanent bounce or a complaint), keyed by the lower-cased address."""

from __future__ import annotations

from typing import Any, cast

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import from_item, is_conditional_failure, to_item
from oms.adapters.pagination import CursorCodec
from oms.domain.suppression import Suppression

LISTING = "suppressions"


class SuppressionsRepository:
    def __init__(self, table_name: str, cursors: CursorCodec | None = None) -> None:
        self.table = table_name
        self.cursors = cursors
        self.ddb = client("dynamodb")

    def get(self, email: str) -> Suppression | None:
        item = self.ddb.get_item(TableName=self.table, Key={"email": {"S": email.lower()}}).get("Item")
        return cast(Suppression, from_item(item)) if item else None

    def suppress(self, suppression: Suppression) -> bool:
        """Record ``suppression``; False when the address was already suppressed (the first record stays)."""
        try:
            self.ddb.put_item(TableName=self.table, Item=to_item(dict(suppression)),
                              ConditionExpression="attribute_not_exists(email)")
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def remove(self, email: str) -> Suppression | None:
        """Delete the suppression; returns what was removed, None if the address was not suppressed."""
        response = self.ddb.delete_item(TableName=self.table, Key={"email": {"S": email.lower()}},
                                        ReturnValues="ALL_OLD")
        old = response.get("Attributes")
        return cast(Suppression, from_item(old)) if old else None

    def page(self, limit: int, cursor: str | None) -> tuple[list[Suppression], str | None]:
        """A page of the list (DynamoDB order) and the cursor of the next one."""
        assert self.cursors is not None, "listing needs the cursor codec"
        after = self.cursors.decode(LISTING, cursor)
        params: dict[str, Any] = {"TableName": self.table, "Limit": limit}
        if after:
            params["ExclusiveStartKey"] = {"email": {"S": after}}
        response = self.ddb.scan(**params)
        items = [cast(Suppression, from_item(item)) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey", {}).get("email", {}).get("S")
        return items, self.cursors.encode(LISTING, last)
