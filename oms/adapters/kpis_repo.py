"""The KPI projection table: each order's last contribution, and each placement day's totals.

- ``pk = "order#<order_id>", sk = "fact"``: the order's placement ``day``, its ``contribution`` (a map of
  counters, ``oms.domain.kpis``) and ``revision`` (counts the writes: the optimistic lock).
- ``pk = "day", sk = "<YYYY-MM-DD>"``: one number attribute per counter, the sum over that day's orders.

A report reads the days of its range with one Query (at most 366 items), whatever the number of orders.
"""

from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import from_item, query_all, to_value

DAYS = "day"


class FactChanged(Exception):
    """Another writer moved the order's fact since it was read: read again and recompute."""


class KpiRepository:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def fact(self, order_id: str) -> tuple[str | None, dict[str, int], int]:
        """The order's placement day, last contribution and revision (None, {}, 0 when never projected)."""
        item = self.ddb.get_item(TableName=self.table, Key=_fact_key(order_id), ConsistentRead=True).get("Item")
        if item is None:
            return None, {}, 0
        data = from_item(item)
        return str(data["day"]), {k: int(v) for k, v in data.get("contribution", {}).items()}, int(data["revision"])

    def record(self, order_id: str, day: str, contribution: dict[str, int], revision: int,
               delta: dict[str, int]) -> None:
        """Store the order's new contribution and add ``delta`` to its day, together or not at all."""
        condition = "attribute_not_exists(pk)" if revision == 0 else "revision = :r"
        fact: dict[str, Any] = {
            "TableName": self.table,
            "Item": {**_fact_key(order_id), "day": {"S": day}, "revision": {"N": str(revision + 1)},
                     "contribution": to_value(contribution)},
            "ConditionExpression": condition,
        }
        if revision:
            fact["ExpressionAttributeValues"] = {":r": {"N": str(revision)}}
        items: list[dict[str, Any]] = [{"Put": fact}]
        if delta:
            names = {f"#c{n}": key for n, key in enumerate(sorted(delta))}
            items.append({"Update": {
                "TableName": self.table, "Key": {"pk": {"S": DAYS}, "sk": {"S": day}},
                "UpdateExpression": "ADD " + ", ".join(f"{name} :v{name[2:]}" for name in names),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {f":v{name[2:]}": {"N": str(delta[key])} for name, key in names.items()},
            }})
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                raise FactChanged(order_id) from error
            raise

    def days(self, first: str, last: str) -> dict[str, dict[str, int]]:
        """Each day's totals from ``first`` to ``last`` (inclusive); days without orders are absent."""
        items = query_all(self.ddb, TableName=self.table, KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                          ExpressionAttributeValues={":p": {"S": DAYS}, ":a": {"S": first}, ":b": {"S": last}})
        out: dict[str, dict[str, int]] = {}
        for data in items:
            day = str(data.pop("sk"))
            data.pop("pk", None)
            out[day] = {k: int(v) for k, v in data.items()}
        return out


def _fact_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"order#{order_id}"}, "sk": {"S": "fact"}}
