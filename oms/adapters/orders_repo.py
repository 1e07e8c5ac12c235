"""Orders in DynamoDB. Every status change is a conditional write checked against the status model."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import Update, from_item, is_conditional_failure, query_all, query_each, to_item
from oms.adapters.pagination import CursorCodec
from oms.domain.customers import ERASED
from oms.domain.errors import Conflict, NotFound
from oms.domain.order import NotificationRecord, Order, TimelineEntry, iso
from oms.domain.status import FulfillmentStatus, OrderStatus, PaymentStatus, ReturnStatus, allowed_sources

Page = tuple[list[Order], str | None]


class TransitionRejected(Conflict):
    """The conditional write failed: the order is not in a state this change may follow."""

    def __init__(self, order: Order) -> None:
        super().__init__(f"order {order['order_id']} is {order['status']}")
        self.order = order


@dataclass
class Change:
    """One atomic change to an order (or a return); ``apply`` turns it into a conditional UpdateItem."""

    status: OrderStatus | ReturnStatus | None = None
    payment_status: PaymentStatus | None = None
    fulfillment_status: FulfillmentStatus | None = None
    status_detail: str | None = None
    events: list[TimelineEntry] = field(default_factory=list)
    sets: dict[str, Any] = field(default_factory=dict)
    removes: list[str] = field(default_factory=list)
    increments: dict[str | tuple[str, ...], int] = field(default_factory=dict)  # path += n, atomically
    # Extra conditions: path == value, path IN values, attribute_not_exists(path)
    expect: dict[str, Any] = field(default_factory=dict)
    expect_in: dict[str, list[str]] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)

    def to_update(self, now: datetime, key: str = "order_id") -> Update:
        update = Update().require(f"attribute_exists({key})")
        for attribute, new in (
            ("status", self.status),
            ("payment_status", self.payment_status),
            ("fulfillment_status", self.fulfillment_status),
        ):
            if new is not None:
                update.set(attribute, new.value)
                update.require_in(attribute, sorted(s.value for s in allowed_sources(new)))
        if self.status_detail is not None:
            update.set("status_detail", self.status_detail)
        for path, value in self.sets.items():
            update.set(path, value)
        for counter, by in self.increments.items():
            update.increment(counter, by)
        for path in self.removes:
            update.remove(path)
        if self.events:
            update.append("timeline", self.events)
        update.set("updated_at", iso(now))
        for path, value in self.expect.items():
            update.require(f"{update.name(path)} = :expected", expected=value)
        for path, values in self.expect_in.items():
            update.require_in(path, values)
        for path in self.absent:
            update.require(f"attribute_not_exists({update.name(path)})")
        return update


@dataclass
class Note:
    """Bookkeeping kept on an order or a return that is not a step (e.g. which alerts ops were sent): no status,
    timeline or ``updated_at`` change, so the stuck-order finder, which reads ``updated_at``, is not fooled. Written
    only while every condition holds."""

    sets: dict[str, Any] = field(default_factory=dict)
    removes: list[str] = field(default_factory=list)
    expect: dict[str, Any] = field(default_factory=dict)  # path == value
    present: list[str] = field(default_factory=list)  # attribute_exists(path)
    absent: list[str] = field(default_factory=list)  # attribute_not_exists(path)

    def write(self, ddb: Any, table: str, key: str, value: str) -> bool:
        """One conditional UpdateItem; False when the item is gone or a condition failed (it moved on)."""
        update = Update()
        update.require(f"attribute_exists({update.name(key)})")
        for path, new in self.sets.items():
            update.set(path, new)
        for path in self.removes:
            update.remove(path)
        for path, expected in self.expect.items():
            update.require(f"{update.name(path)} = :expected", expected=expected)
        for path in self.present:
            update.require(f"attribute_exists({update.name(path)})")
        for path in self.absent:
            update.require(f"attribute_not_exists({update.name(path)})")
        try:
            ddb.update_item(TableName=table, Key={key: {"S": value}}, **update.params())
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True


class OrdersRepository:
    def __init__(self, table_name: str, shipments_table: str | None = None,
                 cursors: CursorCodec | None = None) -> None:
        self.table = table_name
        self.shipments_table = shipments_table
        self.cursors = cursors
        self.ddb = client("dynamodb")

    def create(self, order: Order) -> Order | None:
        """Store a new order. None when stored; when an order with this id exists, that order (read in the
        same request: the failed condition returns the item)."""
        try:
            self.ddb.put_item(
                TableName=self.table, Item=to_item(dict(order)), ConditionExpression="attribute_not_exists(order_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            existing = error.response.get("Item")
            return _order(from_item(existing)) if existing else self.require(order["order_id"])
        return None

    def get(self, order_id: str) -> Order | None:
        response = self.ddb.get_item(TableName=self.table, Key={"order_id": {"S": order_id}}, ConsistentRead=True)
        return _order(from_item(response["Item"])) if "Item" in response else None

    def require(self, order_id: str) -> Order:
        order = self.get(order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        return order

    def _query(self, index: str, key: str, value: str, limit: int, cursor: str | None, *,
               statuses: list[str] | None = None, after: str | None = None, before: str | None = None) -> Page:
        """A page of an index, newest first. ``statuses`` filters; ``after``/``before`` bound ``created_key``
        (``after <= created_key < before``). A filtered page is filled by reading on (at most 10 reads); its
        cursor is the last order returned, so the next page starts right after it."""
        assert self.cursors is not None, "listing needs a cursor codec"
        # A cursor belongs to its listing and its time range (a start key outside the range is refused by
        # DynamoDB): another range's cursor fails the MAC, a 422 naming ``cursor``.
        listing = f"{index}:{value}" + (f":{after or ''}:{before or ''}" if after or before else "")
        names = {"#k": key, **({"#t": "created_key"} if after or before else {})}
        values: dict[str, Any] = {":v": {"S": value}}
        condition = "#k = :v"
        if after and before:
            condition += " AND #t BETWEEN :after AND :before"
        elif after:
            condition += " AND #t >= :after"
        elif before:
            condition += " AND #t <= :before"
        if after:
            values[":after"] = {"S": after}
        if before:
            values[":before"] = {"S": before}
        params: dict[str, Any] = {
            "TableName": self.table, "IndexName": index, "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values, "ScanIndexForward": False,
            "Limit": limit,
        }
        if statuses:
            names["#s"] = "status"
            values.update({f":s{i}": {"S": s} for i, s in enumerate(statuses)})
            params["FilterExpression"] = f"#s IN ({', '.join(f':s{i}' for i in range(len(statuses)))})"
        start = self.cursors.decode(listing, cursor)
        if start:
            params["ExclusiveStartKey"] = {
                key: {"S": value}, "created_key": {"S": start}, "order_id": {"S": start.rsplit("#", 1)[-1]},
            }
        orders: list[Order] = []
        last: dict[str, Any] | None = None
        for _ in range(10 if statuses else 1):
            response = self.ddb.query(**params)
            orders += [_order(from_item(item)) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if len(orders) >= limit or not last:
                break
            params["ExclusiveStartKey"] = last
        if len(orders) > limit:
            orders = orders[:limit]
        if len(orders) == limit and statuses:
            next_key: str | None = orders[-1]["created_key"]
        else:
            next_key = last["created_key"]["S"] if last else None
        return orders, self.cursors.encode(listing, next_key)

    def list_for_customer(self, customer_id: str, limit: int, cursor: str | None, *,
                          statuses: list[str] | None = None, after: str | None = None,
                          before: str | None = None) -> Page:
        """A customer's orders, newest first, optionally in some statuses and placed in a time range."""
        return self._query("by_customer", "customer_id", customer_id, limit, cursor, statuses=statuses,
                           after=after, before=before)

    def all_for_customer(self, customer_id: str) -> list[Order]:
        """Every order of a customer, newest first (an export or an erasure reads them all)."""
        return [_order(item) for item in query_all(
            self.ddb, TableName=self.table, IndexName="by_customer", KeyConditionExpression="customer_id = :c",
            ExpressionAttributeValues={":c": {"S": customer_id}}, ScanIndexForward=False)]

    def list_in_status(self, status: OrderStatus, limit: int, cursor: str | None) -> Page:
        """Orders in one status, newest first (the ops queues)."""
        return self._query("by_status", "status", status.value, limit, cursor)

    def pending_before(self, created_before: str, limit: int) -> list[Order]:
        """PENDING orders placed before ``created_before`` (ISO-8601), oldest first."""
        response = self.ddb.query(
            TableName=self.table, IndexName="by_status", Limit=limit, ScanIndexForward=True,
            KeyConditionExpression="#s = :pending AND created_key < :before",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":pending": {"S": OrderStatus.PENDING.value}, ":before": {"S": created_before}},
        )
        return [_order(from_item(item)) for item in response.get("Items", [])]

    def placed_between(self, first_day: str, last_day: str) -> Iterator[str]:
        """The ids of the orders placed from ``first_day`` to ``last_day`` (YYYY-MM-DD, inclusive), in any
        status: one ``by_status`` Query per status, reading only the ids."""
        for status in OrderStatus:
            params: dict[str, Any] = dict(
                TableName=self.table, IndexName="by_status", ProjectionExpression="order_id",
                KeyConditionExpression="#s = :s AND created_key BETWEEN :a AND :b",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": status.value}, ":a": {"S": first_day},
                                           ":b": {"S": last_day + "~"}})
            while True:
                response = self.ddb.query(**params)
                yield from (item["order_id"]["S"] for item in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    break
                params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def each_in_status(self, status: OrderStatus, *, updated_before: str | None = None,
                       or_parked: bool = False) -> Iterator[Order]:
        """Every order in ``status``, oldest first, read page by page. ``updated_before`` (ISO-8601) keeps the orders
        without a step since then (``updated_at``), ``or_parked`` also those parked by a technical failure: a filter,
        so the query still reads (and is billed for) every order in the status."""
        names, values = {"#s": "status"}, {":s": {"S": status.value}}
        params: dict[str, Any] = {"TableName": self.table, "IndexName": "by_status", "ScanIndexForward": True,
                                  "KeyConditionExpression": "#s = :s", "ExpressionAttributeNames": names,
                                  "ExpressionAttributeValues": values}
        filters = []
        if updated_before is not None:
            names["#u"], values[":u"] = "updated_at", {"S": updated_before}
            filters.append("#u < :u")
        if or_parked:
            names["#h"] = "technical_hold"
            filters.append("attribute_exists(#h)")
        if filters:
            params["FilterExpression"] = " OR ".join(filters)
        yield from (_order(item) for item in query_each(self.ddb, **params))

    def note(self, order_id: str, note: Note) -> bool:
        """Write ``note`` (not a step: ``updated_at`` stays); False when a condition failed or there is no order."""
        return note.write(self.ddb, self.table, "order_id", order_id)

    def apply(self, order_id: str, change: Change) -> Order:
        """Apply ``change`` atomically; raises ``TransitionRejected`` (with the current order) if the
        order is not in a state the change may follow, ``NotFound`` if there is no such order."""
        params = change.to_update(datetime.now(UTC)).params()
        try:
            response = self.ddb.update_item(
                TableName=self.table, Key={"order_id": {"S": order_id}}, ReturnValues="ALL_NEW", **params
            )
        except ClientError as error:
            if is_conditional_failure(error):
                raise TransitionRejected(self.require(order_id)) from error
            raise
        return _order(from_item(response["Attributes"]))

    def record_notification(self, order_id: str, key: str, record: NotificationRecord,
                            note: TimelineEntry | None = None) -> None:
        """Keep ``record`` as the outcome of message ``key`` (``<event>#<channel>``), with ``note`` on the
        timeline. No status condition: a message's outcome is recorded whatever the order became meanwhile; on an
        order anonymized meanwhile (its customer erased), without the address it went to."""
        def nested(kept: dict[str, Any], open_order: bool) -> Update:
            update = Update().require("attribute_exists(order_id)")
            if open_order:
                update.require("attribute_not_exists(erased)")
            update.sets.append(f"{update.name(('notifications', key))} = {update.value(kept)}")
            return update

        def whole_map(kept: dict[str, Any], open_order: bool) -> Update:
            # An order stored before messages were recorded has no map yet: create it with this first record.
            update = Update().require("attribute_exists(order_id)").require("attribute_not_exists(notifications)")
            if open_order:
                update.require("attribute_not_exists(erased)")
            return update.set("notifications", {key: kept})

        for kept, open_order in ((dict(record), True), ({**record, "to": ERASED}, False)):
            for update in (nested(kept, open_order), whole_map(kept, open_order), nested(kept, open_order)):
                if note:
                    update.append("timeline", [note])
                try:
                    self.ddb.update_item(TableName=self.table, Key={"order_id": {"S": order_id}},
                                         **update.params())
                    return
                except ClientError as error:
                    code = error.response.get("Error", {}).get("Code")
                    if code != "ValidationException" and not is_conditional_failure(error):
                        raise
        raise NotFound(f"order {order_id} not found")

    def mark_notification(self, order_id: str, key: str, status: str, reason: str,
                          note: TimelineEntry | None = None) -> bool:
        """Set the outcome of a message already recorded (SES reported it bounced); False if there is none."""
        update = Update()
        path = update.name(("notifications", key))
        update.require(f"attribute_exists({path})")
        update.sets.append(f"{path}.{update.name('status')} = {update.value(status)}")
        update.sets.append(f"{path}.{update.name('reason')} = {update.value(reason)}")
        if note:
            update.append("timeline", [note])
        try:
            self.ddb.update_item(TableName=self.table, Key={"order_id": {"S": order_id}}, **update.params())
        except ClientError as error:
            if is_conditional_failure(error) or error.response.get("Error", {}).get("Code") == "ValidationException":
                return False
            raise
        return True

    def transaction_item(self, order_id: str, change: Change) -> dict[str, Any]:
        """``change`` as one element of a TransactWriteItems call."""
        params = change.to_update(datetime.now(UTC)).params()
        return {"Update": {"TableName": self.table, "Key": {"order_id": {"S": order_id}}, **params}}

    def record_shipment(self, order_id: str, change: Change, tracking_number: str, carrier: str) -> None:
        """Apply ``change`` and register the tracking number in one transaction."""
        assert self.shipments_table, "shipments table not configured"
        lookup = {"tracking_number": tracking_number, "order_id": order_id, "carrier": carrier}
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    self.transaction_item(order_id, change),
                    {
                        "Put": {
                            "TableName": self.shipments_table,
                            "Item": to_item(lookup),
                            "ConditionExpression": "attribute_not_exists(tracking_number)",
                        }
                    },
                ]
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            reasons = error.response.get("CancellationReasons", [])
            if len(reasons) > 1 and reasons[1].get("Code") == "ConditionalCheckFailed":
                raise Conflict(f"tracking_number {tracking_number} is already used by another shipment") from error
            raise TransitionRejected(self.require(order_id)) from error

    def shipment_lookup_item(self, tracking_number: str, order_id: str, carrier: str) -> dict[str, Any]:
        """The tracking number's registration, as one element of a transaction (fails if the number is taken)."""
        assert self.shipments_table, "shipments table not configured"
        lookup = {"tracking_number": tracking_number, "order_id": order_id, "carrier": carrier}
        return {"Put": {"TableName": self.shipments_table, "Item": to_item(lookup),
                        "ConditionExpression": "attribute_not_exists(tracking_number)"}}

    def order_for_tracking(self, tracking_number: str) -> str | None:
        lookup = self.tracking_lookup(tracking_number)
        return str(lookup["order_id"]) if lookup else None

    def tracking_lookup(self, tracking_number: str) -> dict[str, Any] | None:
        """What a tracking number belongs to: ``order_id``, and ``return_id`` for a parcel coming back."""
        assert self.shipments_table, "shipments table not configured"
        response = self.ddb.get_item(
            TableName=self.shipments_table, Key={"tracking_number": {"S": tracking_number}}
        )
        return from_item(response["Item"]) if "Item" in response else None

    def register_return_parcel(self, tracking_number: str, order_id: str, return_id: str, carrier: str) -> bool:
        """Register a return parcel's tracking number; False if the number is already registered (to this return
        or anything else: the caller tells which)."""
        assert self.shipments_table, "shipments table not configured"
        lookup = {"tracking_number": tracking_number, "order_id": order_id, "return_id": return_id, "carrier": carrier}
        try:
            self.ddb.put_item(TableName=self.shipments_table, Item=to_item(lookup),
                              ConditionExpression="attribute_not_exists(tracking_number)")
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            return False
        return True


def _order(item: dict[str, Any]) -> Order:
    return cast(Order, item)
