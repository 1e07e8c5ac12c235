"""The KPI projection table: each order's last contribution, and each placement day's totals, write-sharded.

- ``pk = "order#<order_id>", sk = "fact"``: the order's placement ``day``, its ``contribution`` (a map of
  counters, ``oms.domain.kpis``), ``revision`` (counts the writes: the optimistic lock) and ``layout`` (which
  layout of the totals the contribution was added to: :data:`LAYOUT`).
- ``pk = "day#<shard>", sk = "<YYYY-MM-DD>#<family>"``: one number attribute per counter of that family, the sum
  over the day's orders of that shard (``kpis.shard``: a stable hash of the order id, ``kpis.SHARDS`` of them).
  Families (``kpis.family``): ``core`` (orders, revenue per currency, statuses, the rates' numerators), ``cancel``,
  ``reject`` and ``return`` (per reason), and a histogram's band of 64 buckets (``ship_min#0`` .. ``#7``,
  ``deliver_min#..``, ``review_min#..``). Every item stays under 1 KB (1 WCU; 2 in the transaction).

A change writes the fact and only the family items its difference moves, in one transaction conditional on the
fact's revision: a retried or repeated change finds the revision moved and writes nothing twice. A report runs one
Query per shard over ``sk BETWEEN "<first>" AND "<last>~"`` and sums: bounded by days x families x shards, never by
orders. The layout before this one (``pk = "day", sk = "<YYYY-MM-DD>"``, one item per day) is not read: a fact of
an older layout counts as nothing counted yet, so the order's next change (or a rebuild of its days) adds its whole
contribution to the new items.
"""

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import from_item, to_value
from oms.domain import kpis

#: The layout of the totals this code writes (1: one ``day`` item per date; 2: families and shards).
LAYOUT = 2
#: Shards read at once by a report.
READERS = 8
_KEYS = frozenset({"pk", "sk"})


class FactChanged(Exception):
    """Another writer moved the order's fact since it was read: read again and recompute."""


class KpiRepository:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def fact(self, order_id: str) -> tuple[str | None, dict[str, int], int]:
        """The order's placement day, last contribution and revision (None, {}, 0 when never projected). A fact
        written for another layout has its revision but no contribution: nothing of it is in these totals."""
        item = self.ddb.get_item(TableName=self.table, Key=_fact_key(order_id), ConsistentRead=True).get("Item")
        if item is None:
            return None, {}, 0
        data = from_item(item)
        contribution = ({k: int(v) for k, v in data.get("contribution", {}).items()}
                        if int(data.get("layout", 1)) == LAYOUT else {})
        return str(data["day"]), contribution, int(data["revision"])

    def record(self, order_id: str, day: str, contribution: dict[str, int], revision: int,
               delta: dict[str, int]) -> None:
        """Store the order's new contribution and add ``delta`` to its day's family items in its shard, together or
        not at all."""
        condition = "attribute_not_exists(pk)" if revision == 0 else "revision = :r"
        fact: dict[str, Any] = {
            "TableName": self.table,
            "Item": {**_fact_key(order_id), "day": {"S": day}, "revision": {"N": str(revision + 1)},
                     "layout": {"N": str(LAYOUT)}, "contribution": to_value(contribution)},
            "ConditionExpression": condition,
        }
        if revision:
            fact["ExpressionAttributeValues"] = {":r": {"N": str(revision)}}
        items: list[dict[str, Any]] = [{"Put": fact}]
        pk = day_key(kpis.shard(order_id))
        for family, increments in sorted(kpis.families(delta).items()):
            names = {f"#c{n}": key for n, key in enumerate(sorted(increments))}
            items.append({"Update": {
                "TableName": self.table, "Key": {"pk": {"S": pk}, "sk": {"S": f"{day}#{family}"}},
                "UpdateExpression": "ADD " + ", ".join(f"{name} :v{name[2:]}" for name in names),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {f":v{name[2:]}": {"N": str(increments[key])}
                                              for name, key in names.items()},
            }})
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                raise FactChanged(order_id) from error
            raise

    def days(self, first: str, last: str) -> dict[str, dict[str, int]]:
        """Each day's totals from ``first`` to ``last`` (inclusive), summed over shards and families; days without
        orders are absent. One Query per shard (:data:`READERS` at a time), summed page by page."""
        out: dict[str, dict[str, int]] = {}
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            for partial in pool.map(lambda n: self._shard_totals(n, first, last), range(kpis.SHARDS)):
                for day, counters in partial.items():
                    _add(out.setdefault(day, {}), counters)
        return out

    def _shard_totals(self, n: int, first: str, last: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        params: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {":p": {"S": day_key(n)}, ":a": {"S": first}, ":b": {"S": f"{last}~"}}}
        while True:
            page = self.ddb.query(**params)
            add_items(out, page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return out
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def add_items(out: dict[str, dict[str, int]], items: Iterable[Mapping[str, Any]]) -> None:
    """Add totals items as DynamoDB returns them (``{"sk": {"S": ...}, "<attribute>": {"N": ...}}``) to each day's
    counters in ``out``: the report's own work, kept to plain dict and int operations."""
    for item in items:
        day, _, family = item["sk"]["S"].partition("#")
        totals = out.setdefault(day, {})
        prefix = "" if family == kpis.CORE else family.split("#")[0] + "#"
        for attribute, value in item.items():
            if attribute not in _KEYS:
                counter = prefix + attribute
                totals[counter] = totals.get(counter, 0) + int(value["N"])


def _add(totals: dict[str, int], counters: Mapping[str, int]) -> None:
    for counter, value in counters.items():
        totals[counter] = totals.get(counter, 0) + value


def day_key(shard: int) -> str:
    return f"day#{shard}"


def _fact_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"order#{order_id}"}, "sk": {"S": "fact"}}
