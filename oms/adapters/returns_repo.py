"""Returns in DynamoDB (the ``Returns`` table). Every status change is a conditional write checked against the
status model, like orders; a new return is written in one transaction with its Idempotency-Key claim and the
order's ``return_quantities`` (so two requests cannot both return the last unit)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import from_item, is_conditional_failure, query_all, query_each, to_item
from oms.adapters.orders_repo import Change, Note, OrdersRepository
from oms.adapters.pagination import CursorCodec
from oms.domain.errors import Conflict, NotFound
from oms.domain.returns import ReturnRecord
from oms.domain.status import ReturnStatus


class ClaimTaken(Conflict):
    """The Idempotency-Key already created a return: ``claim`` is its record (``return_id``, ``request_hash``)."""

    def __init__(self, claim: dict[str, Any]) -> None:
        super().__init__("this Idempotency-Key already created a return")
        self.claim = claim


class RmaTaken(Conflict):
    """The RMA number drawn is in use: draw another."""


class OrderMoved(Conflict):
    """The order changed since it was read (another return, a carrier event): read and decide again."""


class ReturnTransitionRejected(Conflict):
    def __init__(self, record: ReturnRecord) -> None:
        super().__init__(f"return {record['return_id']} is {record['status']}")
        self.record = record


def claim_id(order_id: str, key_digest: str) -> str:
    """The claim item of an Idempotency-Key (in the same table; it has no status, so no index lists it)."""
    return f"KEY#{order_id}#{key_digest}"


class ReturnsRepository:
    def __init__(self, table_name: str, cursors: CursorCodec | None = None) -> None:
        self.table = table_name
        self.cursors = cursors
        self.ddb = client("dynamodb")

    def create(self, record: ReturnRecord, claim: str, orders: OrdersRepository, order_change: Change) -> None:
        """Write the claim, the return and the order's change together, or nothing."""
        items = [
            {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(return_id)",
                     "Item": to_item({"return_id": claim, "points_to": record["return_id"],
                                      "request_hash": record["request_hash"]})}},
            {"Put": {"TableName": self.table, "Item": to_item(dict(record)),
                     "ConditionExpression": "attribute_not_exists(return_id)"}},
            orders.transaction_item(record["order_id"], order_change),
        ]
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            reasons = _failed_conditions(error)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                taken = self.claim(claim)
                if taken is not None:
                    raise ClaimTaken(taken) from error
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise RmaTaken() from error
            raise OrderMoved() from error

    def claim(self, key: str) -> dict[str, Any] | None:
        """An Idempotency-Key's claim (``points_to``: the return it created, ``request_hash``), or None."""
        return self._item(key)

    def _item(self, key: str) -> dict[str, Any] | None:
        response = self.ddb.get_item(TableName=self.table, Key={"return_id": {"S": key}}, ConsistentRead=True)
        return from_item(response["Item"]) if "Item" in response else None

    def get(self, return_id: str) -> ReturnRecord | None:
        item = self._item(return_id)
        return cast(ReturnRecord, item) if item is not None and "status" in item else None

    def require(self, return_id: str) -> ReturnRecord:
        record = self.get(return_id)
        if record is None:
            raise NotFound(f"return {return_id} not found")
        return record

    def for_order(self, order_id: str) -> list[ReturnRecord]:
        """The order's returns, oldest first."""
        return [cast(ReturnRecord, item) for item in query_all(
            self.ddb, TableName=self.table, IndexName="by_order", KeyConditionExpression="order_id = :o",
            ExpressionAttributeValues={":o": {"S": order_id}}, ScanIndexForward=True)]

    def in_status(self, status: ReturnStatus, limit: int, cursor: str | None) -> tuple[list[ReturnRecord], str | None]:
        """Returns in one status, oldest first (the ops queue), with a signed cursor."""
        assert self.cursors is not None, "listing needs a cursor codec"
        listing = f"returns:{status.value}"
        params: dict[str, Any] = {
            "TableName": self.table, "IndexName": "by_status", "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":s": {"S": status.value}},
            "ScanIndexForward": True, "Limit": limit,
        }
        start = self.cursors.decode(listing, cursor)
        if start:
            params["ExclusiveStartKey"] = {"status": {"S": status.value}, "created_key": {"S": start},
                                           "return_id": {"S": start.rsplit("#", 1)[-1]}}
        response = self.ddb.query(**params)
        last = response.get("LastEvaluatedKey")
        next_cursor = self.cursors.encode(listing, last["created_key"]["S"]) if last else None
        return [cast(ReturnRecord, from_item(item)) for item in response.get("Items", [])], next_cursor

    def each_in_status(self, status: ReturnStatus) -> Iterator[ReturnRecord]:
        """Every return in ``status``, oldest first, read page by page."""
        for item in query_each(self.ddb, TableName=self.table, IndexName="by_status", ScanIndexForward=True,
                               KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": "status"},
                               ExpressionAttributeValues={":s": {"S": status.value}}):
            yield cast(ReturnRecord, item)

    def note(self, return_id: str, note: Note) -> bool:
        """Write ``note`` (not a step: ``updated_at`` stays); False when a condition failed or there is no return."""
        return note.write(self.ddb, self.table, "return_id", return_id)

    def apply(self, return_id: str, change: Change) -> ReturnRecord:
        """Apply ``change`` atomically; ``ReturnTransitionRejected`` (with the current return) if its conditions
        fail, ``NotFound`` if there is no such return."""
        try:
            response = self.ddb.update_item(TableName=self.table, Key={"return_id": {"S": return_id}},
                                            ReturnValues="ALL_NEW", **_params(change))
        except ClientError as error:
            if is_conditional_failure(error):
                raise ReturnTransitionRejected(self.require(return_id)) from error
            raise
        return cast(ReturnRecord, from_item(response["Attributes"]))

    def transaction_item(self, return_id: str, change: Change) -> dict[str, Any]:
        return {"Update": {"TableName": self.table, "Key": {"return_id": {"S": return_id}}, **_params(change)}}

    def transact(self, items: list[dict[str, Any]], return_id: str) -> ReturnRecord:
        """Write ``items`` (the last one this return's change) together; ``ReturnTransitionRejected`` if the
        return's condition failed, ``Conflict`` if another item's did."""
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            reasons = _failed_conditions(error)
            if reasons and reasons[-1] == "ConditionalCheckFailed":
                raise ReturnTransitionRejected(self.require(return_id)) from error
            raise Conflict("the stock or the order changed meanwhile; repeat the request") from error
        return self.require(return_id)


def _params(change: Change) -> dict[str, Any]:
    """A return's change as UpdateItem parameters (status conditions from the same table as orders')."""
    return change.to_update(datetime.now(UTC), key="return_id").params()


def _failed_conditions(error: ClientError) -> list[str | None]:
    """Each transaction item's cancellation code (``ConditionalCheckFailed`` for the ones whose condition failed)."""
    return [r.get("Code") for r in error.response.get("CancellationReasons", [])]
