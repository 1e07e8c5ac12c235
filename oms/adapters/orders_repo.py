"""Orders in DynamoDB. Every status change is a conditional write checked against the status model.

The table's indexes (docs/architecture.md, "Indexes of the orders table") all project only their keys: a listing
reads the keys from the index and the orders themselves with BatchGetItem, so an order's many updates never
rewrite an index entry unless a key attribute changes.

- ``by_customer`` (``customer_id``, ``created_key``): a customer's history; written once per order.
- ``ops_queue`` (``ops_queue`` = ``<status>#<shard>``, ``created_key``): sparse, write-sharded; the attribute is
  present only while the order is in one of ``OPS_STATUSES`` and is set or removed in the same write that moves
  the status. ``<shard>`` is a stable hash of the order id mod ``OPS_SHARDS``, so no index key value takes more
  than 1/``OPS_SHARDS`` of the orders passing through a status; a listing queries every shard and merges.
- ``by_day`` (``placed_day`` = ``<YYYY-MM-DD>#<shard>``, ``created_key``): the orders placed on a day (the KPI
  rebuild); written once, at creation.
"""

import hashlib
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import Update, batch_get, from_item, is_conditional_failure, query_all, query_each, to_item
from oms.adapters.pagination import CursorCodec
from oms.domain.customers import ERASED
from oms.domain.errors import Conflict, NotFound, ValidationFailed
from oms.domain.order import NotificationRecord, Order, TimelineEntry, iso
from oms.domain.status import FulfillmentStatus, OrderStatus, PaymentStatus, ReturnStatus, allowed_sources

Page = tuple[list[Order], str | None]

#: The statuses ops work on, each an ops queue: PENDING (the sweeper, stuck orders), ON_HOLD (reviews, payment
#: updates, technical holds), BACKORDERED (the backorder gauge, stuck orders), PROCESSING and PARTIALLY_SHIPPED
#: (the warehouses' pick queues, stuck orders), SHIPPED (stuck parcels). DELIVERED, CANCELLED, REJECTED,
#: PARTIALLY_RETURNED and RETURNED leave the index: nobody lists them by status (a customer's history, the KPI
#: report and the returns' own queue cover them).
OPS_STATUSES: tuple[OrderStatus, ...] = (
    OrderStatus.PENDING, OrderStatus.ON_HOLD, OrderStatus.BACKORDERED, OrderStatus.PROCESSING,
    OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED,
)
#: Shards per ops queue. 16 keeps each index key value far below a partition's 1,000 write units/s: at 1,000
#: orders/s, 2 index writes per order per status (in, out) are 125 write units/s per shard (625 at 5,000 orders/s).
#: A listing page costs one Query per shard. Changing it needs a backfill of ``ops_queue`` (cursors stay valid).
OPS_SHARDS = 16
#: Shards per placement day of ``by_day`` (written once per order: 1,000 orders/s are 63 write units/s a shard).
DAY_SHARDS = 16
BATCH = 100  # BatchGetItem's limit


def shard_of(order_id: str, shards: int) -> int:
    """A stable shard for an order: the same on every write and in every process (not Python's ``hash``)."""
    return int.from_bytes(hashlib.sha256(order_id.encode()).digest()[:4], "big") % shards


def ops_queue(status: str, order_id: str) -> str | None:
    """The order's ``ops_queue`` key in ``status``; None when the status is not an ops queue (leave the index)."""
    return f"{status}#{shard_of(order_id, OPS_SHARDS)}" if status in OPS_STATUSES else None


def placed_day(order: Mapping[str, Any]) -> str:
    return f"{str(order['created_at'])[:10]}#{shard_of(str(order['order_id']), DAY_SHARDS)}"


def index_keys(order: Mapping[str, Any]) -> dict[str, str]:
    """The index attributes a stored order carries besides its own fields (``create`` writes them; so must anything
    else that puts an order item, e.g. a backfill)."""
    queue = ops_queue(str(order["status"]), str(order["order_id"]))
    return {"placed_day": placed_day(order), **({"ops_queue": queue} if queue else {})}


def merge_shards(pages: Iterable[tuple[list[str], bool]], limit: int, *, newest_first: bool) -> tuple[list[str], bool]:
    """Merge one page of sort keys (``created_key``) per shard, each sorted in the listing's order, into the first
    ``limit`` of the whole listing; and whether anything may follow the last one returned.

    A shard that has more than its page (``True``) knows nothing beyond its last key, so only keys up to the
    furthest such last key are returned: a shard read to its ``limit`` always covers the first ``limit`` keys of
    the merge, and a page DynamoDB cut short (1 MB) is never skipped over. Keys are unique (they end in the id)."""
    keys: list[str] = []
    bound: str | None = None
    more = False
    for shard_keys, shard_more in pages:
        keys.extend(shard_keys)
        if shard_more and shard_keys:
            more = True
            last = shard_keys[-1]
            if bound is None or (last > bound if newest_first else last < bound):
                bound = last
        elif shard_more:
            more = True
    keys.sort(reverse=newest_first)
    if bound is not None:
        keys = [k for k in keys if (k >= bound if newest_first else k <= bound)]
    if len(keys) > limit:
        keys, more = keys[:limit], True
    return keys, more


def _key_id(created_key: str) -> str:
    return created_key.rsplit("#", 1)[-1]


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
        item = {**order, **index_keys(order)}
        try:
            self.ddb.put_item(
                TableName=self.table, Item=to_item(item), ConditionExpression="attribute_not_exists(order_id)",
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

    def _customer_page(self, customer_id: str, limit: int, cursor: str | None, *, statuses: list[str] | None = None,
                       after: str | None = None, before: str | None = None) -> Page:
        """A page of ``by_customer``, newest first. The index holds keys only: the orders are read with eventually
        consistent BatchGetItem (as fresh as the index was; 0.5 read units an order), and ``statuses`` filters them
        (at most 10 index reads fill a filtered page). ``after``/``before`` bound ``created_key``
        (``after <= created_key <= before``). The cursor is the last key read: the next page starts right after it."""
        assert self.cursors is not None, "listing needs a cursor codec"
        # A cursor belongs to its listing and its time range (a start key outside the range is refused by
        # DynamoDB): another range's cursor fails the MAC, a 422 naming ``cursor``.
        listing = f"by_customer:{customer_id}" + (f":{after or ''}:{before or ''}" if after or before else "")
        names = {"#k": "customer_id", **({"#t": "created_key"} if after or before else {})}
        values: dict[str, Any] = {":v": {"S": customer_id}}
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
            "TableName": self.table, "IndexName": "by_customer", "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values, "ScanIndexForward": False,
            "Limit": BATCH if statuses else limit,
        }
        start = self.cursors.decode(listing, cursor)
        if start:
            params["ExclusiveStartKey"] = {"customer_id": {"S": customer_id}, "created_key": {"S": start},
                                           "order_id": {"S": _key_id(start)}}
        orders: list[Order] = []
        position: str | None = None
        more = False
        for _ in range(10 if statuses else 1):
            response = self.ddb.query(**params)
            keys = [item["created_key"]["S"] for item in response.get("Items", [])]
            more = "LastEvaluatedKey" in response
            consumed = 0
            while consumed < len(keys) and len(orders) < limit:
                chunk = keys[consumed:consumed + max(limit - len(orders), 25)]
                found = self._fetch([_key_id(k) for k in chunk], consistent=False)
                for key in chunk:
                    consumed, position = consumed + 1, key
                    order = found.get(_key_id(key))
                    # The index may lag the order (e.g. anonymized meanwhile): the order read decides.
                    if order is not None and order["customer_id"] == customer_id and \
                            (not statuses or order["status"] in statuses):
                        orders.append(order)
                        if len(orders) == limit:
                            break
            more = more or consumed < len(keys)
            if len(orders) >= limit or "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return orders, self.cursors.encode(listing, position if more else None)

    def _fetch(self, order_ids: list[str], *, consistent: bool) -> dict[str, Order]:
        """The orders with these ids (BatchGetItem, 100 a request), by id; ids without an order are left out."""
        keys = [{"order_id": {"S": i}} for i in dict.fromkeys(order_ids)]
        eventually = frozenset() if consistent else frozenset({self.table})
        found = batch_get(self.ddb, {self.table: keys}, eventually=eventually)
        return {order["order_id"]: order for order in map(_order, found[self.table])}

    def _shard_query(self, queue: str, *, newest_first: bool, upper: str | None) -> dict[str, Any]:
        """Query parameters for one ``ops_queue`` shard; ``upper`` bounds ``created_key`` (exclusive)."""
        values: dict[str, Any] = {":q": {"S": queue}}
        condition = "ops_queue = :q"
        if upper is not None:
            condition += " AND created_key < :u"
            values[":u"] = {"S": upper}
        return {"TableName": self.table, "IndexName": "ops_queue", "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values, "ScanIndexForward": not newest_first}

    def _queue_page(self, status: OrderStatus, limit: int, *, newest_first: bool,
                    upper: str | None = None) -> tuple[list[str], bool]:
        """The first ``limit`` keys (``created_key``) of a status's ops queue below ``upper``, merged across its
        shards (one Query of at most ``limit`` keys each), and whether more may follow the last one."""
        pages = []
        for shard in range(OPS_SHARDS):
            params = self._shard_query(f"{status.value}#{shard}", newest_first=newest_first, upper=upper)
            response = self.ddb.query(**params, Limit=limit)
            pages.append(([item["created_key"]["S"] for item in response.get("Items", [])],
                          "LastEvaluatedKey" in response))
        return merge_shards(pages, limit, newest_first=newest_first)

    def _queue_keys(self, status: OrderStatus) -> Iterator[str]:
        """Every key of a status's ops queue, oldest first: the shards read page by page and merged as they go."""
        def shard(queue: str) -> Iterator[str]:
            for item in query_each(self.ddb, **self._shard_query(queue, newest_first=False, upper=None)):
                yield str(item["created_key"])
        return heapq.merge(*(shard(f"{status.value}#{i}") for i in range(OPS_SHARDS)))

    def list_for_customer(self, customer_id: str, limit: int, cursor: str | None, *,
                          statuses: list[str] | None = None, after: str | None = None,
                          before: str | None = None) -> Page:
        """A customer's orders, newest first, optionally in some statuses and placed in a time range."""
        return self._customer_page(customer_id, limit, cursor, statuses=statuses, after=after, before=before)

    def all_for_customer(self, customer_id: str) -> list[Order]:
        """Every order of a customer, newest first (an export or an erasure reads them all)."""
        ids = [str(item["order_id"]) for item in query_all(
            self.ddb, TableName=self.table, IndexName="by_customer", KeyConditionExpression="customer_id = :c",
            ExpressionAttributeValues={":c": {"S": customer_id}}, ScanIndexForward=False)]
        found = self._fetch(ids, consistent=True)
        # The order read decides: one anonymized since the index was written is no longer this customer's.
        return [o for i in ids if (o := found.get(i)) is not None and o["customer_id"] == customer_id]

    def list_in_status(self, status: OrderStatus, limit: int, cursor: str | None) -> Page:
        """Orders in one of ``OPS_STATUSES``, newest first (the ops queues); another status is a
        ``ValidationFailed`` naming ``status``. The cursor is the last key returned: since the shards are merged
        in ``created_key`` order, it is every shard's position at once. An order the index still shows in
        ``status`` but that has moved on (the index is eventually consistent) is left out of the page."""
        assert self.cursors is not None, "listing needs a cursor codec"
        check_listable(status)
        listing = f"ops_queue:{status.value}"
        start = self.cursors.decode(listing, cursor)
        keys, more = self._queue_page(status, limit, newest_first=True, upper=start)
        found = self._fetch([_key_id(k) for k in keys], consistent=True)
        orders = [o for k in keys if (o := found.get(_key_id(k))) is not None and o["status"] == status]
        return orders, self.cursors.encode(listing, keys[-1] if more and keys else None)

    def pending_before(self, created_before: str, limit: int) -> list[Order]:
        """At most ``limit`` orders still PENDING placed before ``created_before`` (ISO-8601), oldest first."""
        keys, _ = self._queue_page(OrderStatus.PENDING, limit, newest_first=False, upper=created_before)
        found = self._fetch([_key_id(k) for k in keys], consistent=True)
        return [o for k in keys if (o := found.get(_key_id(k))) is not None and o["status"] == OrderStatus.PENDING]

    def placed_between(self, first_day: str, last_day: str) -> Iterator[str]:
        """The ids of the orders placed from ``first_day`` to ``last_day`` (YYYY-MM-DD, inclusive), in any
        status: the ``by_day`` index (keys only), one Query per day and shard."""
        day, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
        while day <= last:
            for shard in range(DAY_SHARDS):
                for item in query_each(self.ddb, TableName=self.table, IndexName="by_day",
                                       KeyConditionExpression="placed_day = :d",
                                       ExpressionAttributeValues={":d": {"S": f"{day.isoformat()}#{shard}"}}):
                    yield str(item["order_id"])
            day += timedelta(days=1)

    def each_in_status(self, status: OrderStatus, *, updated_before: str | None = None,
                       or_parked: bool = False) -> Iterator[Order]:
        """Every order in ``status`` (one of ``OPS_STATUSES``), oldest first, read 100 at a time (the keys from the
        index, the orders with eventually consistent BatchGetItem: half the read units of a consistent read).
        ``updated_before`` (ISO-8601) keeps the orders without a step since then (``updated_at``), ``or_parked``
        also those parked by a technical failure."""
        check_listable(status)
        keys = self._queue_keys(status)
        while chunk := [key for _, key in zip(range(BATCH), keys, strict=False)]:
            found = self._fetch([_key_id(k) for k in chunk], consistent=False)
            for key in chunk:
                order = found.get(_key_id(key))
                # Left out: an order that moved on since the index was read, and one the filters do not keep.
                if order is not None and order["status"] == status and _kept(order, updated_before, or_parked):
                    yield order

    def note(self, order_id: str, note: Note) -> bool:
        """Write ``note`` (not a step: ``updated_at`` stays); False when a condition failed or there is no order."""
        return note.write(self.ddb, self.table, "order_id", order_id)

    def apply(self, order_id: str, change: Change) -> Order:
        """Apply ``change`` atomically; raises ``TransitionRejected`` (with the current order) if the
        order is not in a state the change may follow, ``NotFound`` if there is no such order."""
        params = _order_update(order_id, change).params()
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
        params = _order_update(order_id, change).params()
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


def _kept(order: Order, updated_before: str | None, or_parked: bool) -> bool:
    if updated_before is None and not or_parked:
        return True
    return (updated_before is not None and order["updated_at"] < updated_before) or \
        (or_parked and "technical_hold" in order)


def check_listable(status: OrderStatus) -> None:
    """Only the ops queues can be listed by status (``ValidationFailed`` naming ``status`` otherwise)."""
    if status not in OPS_STATUSES:
        raise ValidationFailed("status", f"{status.value} is not an ops queue; orders can be listed in "
                                         f"{', '.join(s.value for s in OPS_STATUSES)}")


def _order_update(order_id: str, change: Change) -> Update:
    """``change`` as an update of order ``order_id``: a change of status also moves the order in the ops index
    (``ops_queue`` set to the new status's queue, or removed when the new status is not one), in the same write."""
    update = change.to_update(datetime.now(UTC))
    status = change.status if change.status is not None else change.sets.get("status")
    if status is not None:
        queue = ops_queue(str(getattr(status, "value", status)), order_id)
        if queue is None:
            update.remove("ops_queue")
        else:
            update.set("ops_queue", queue)
    return update
