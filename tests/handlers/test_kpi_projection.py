"""The KPI projection on moto: the Orders and Returns streams' real records through order_facts, then
GET /admin/reports/kpis, against figures counted by hand (tests/unit/test_kpis.py); the totals' family items in
their write shards."""

import json
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from oms.adapters.ddb import from_item, to_item
from oms.adapters.orders_repo import index_keys
from oms.domain import kpis
from tests.handlers.conftest import api_event, call
from tests.unit.test_kpis import DAY1, check_seeded_report, order, ret, seeded, seeded_rows

RANGE = {"from": "2026-11-01", "to": "2026-11-03"}


class Streams:
    """Reads a table's stream after the last record read, as Lambda's poller does, as Lambda events."""

    def __init__(self, table_name: str) -> None:
        ddb = boto3.client("dynamodb")
        self.arn = ddb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        # botocore would send a request naming a stream ARN to the account's endpoint, which moto does not serve.
        self.client = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
        self.shard = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.after: str | None = None

    def batch(self) -> dict[str, Any]:
        where = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.after} if self.after
                 else {"ShardIteratorType": "TRIM_HORIZON"})
        iterator = self.client.get_shard_iterator(StreamArn=self.arn, ShardId=self.shard, **where)["ShardIterator"]
        records = self.client.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        if records:
            self.after = records[-1]["dynamodb"]["SequenceNumber"]
        for r in records:
            r["dynamodb"]["ApproximateCreationDateTime"] = 0
            r["eventSourceARN"] = self.arn
        return {"Records": records}


@pytest.fixture
def projection(stack, context):
    facts, reports = stack.handler("order_facts"), stack.handler("reports")
    orders = Streams(stack.env("order_facts", "ORDERS_TABLE"))
    returns = Streams(stack.env("order_facts", "RETURNS_TABLE"))

    class Projection:
        ddb = boto3.client("dynamodb")
        orders_table = stack.env("order_facts", "ORDERS_TABLE")
        returns_table = stack.env("order_facts", "RETURNS_TABLE")
        kpis_table = stack.env("order_facts", "KPIS_TABLE")

        def put(self, item: dict[str, Any], table: str) -> None:
            self.ddb.put_item(TableName=table, Item=to_item(item))

        def seed(self) -> None:
            for o, rs in seeded_rows():
                self.put({**o, **index_keys(o)}, self.orders_table)  # as OrdersRepository.create stores it
                for r in rs:
                    self.put({**r, "created_key": f"x#{r['return_id']}"}, self.returns_table)

        def run(self, event: dict[str, Any]) -> list[str]:
            return [f["itemIdentifier"] for f in facts.handler(event, context)["batchItemFailures"]]

        def drain(self) -> list[str]:
            return self.run(orders.batch()) + self.run(returns.batch())

        def report(self, query: dict[str, str] = RANGE) -> tuple[int, Any]:
            return call(reports, api_event("GET", "/admin/reports/kpis", "/admin/reports/kpis", groups="ops",
                                           query=query), context)

        def facts_handler(self) -> Any:
            return facts

        def totals(self) -> dict[tuple[str, str], dict[str, int]]:
            """The totals' items by (pk, sk)."""
            items = [from_item(i) for i in self.ddb.scan(TableName=self.kpis_table)["Items"]]
            return {(str(i.pop("pk")), str(i.pop("sk"))): {k: int(v) for k, v in i.items()}
                    for i in items if str(i["pk"]).startswith("day")}

        def orders(self) -> int:
            """Orders counted in the sharded totals."""
            return sum(v.get("orders", 0) for (pk, sk), v in self.totals().items() if pk.startswith("day#"))

    return Projection()


def test_the_route_agrees_with_hand_counted_figures_and_a_redelivery_changes_nothing(projection):
    projection.seed()
    order_batch = Streams(projection.orders_table).batch()
    assert projection.run(order_batch) == []
    assert projection.drain() == []
    status, body = projection.report()
    assert status == 200, body
    check_seeded_report(body)
    # The report is the sum of the family items, each in its orders' shard.
    shards = {f"day#{kpis.shard(o['order_id'])}" for o, _ in seeded_rows()}
    summed: dict[str, Counter[str]] = {}
    for (pk, sk), attributes in projection.totals().items():
        assert pk in shards, pk
        day, _, family = sk.partition("#")
        summed.setdefault(day, Counter()).update(kpis.counters(family, attributes))
    assert summed == seeded()
    # At-least-once delivery: the same records again, and out of order, write nothing (the report reads these).
    before = projection.totals()
    order_batch["Records"].reverse()
    assert projection.run(order_batch) == []
    assert projection.totals() == before


def test_a_change_later_moves_the_figures(projection):
    projection.put(order(1), projection.orders_table)
    assert projection.drain() == []
    placed = projection.totals()
    shard = f"day#{kpis.shard('ord_1')}"
    assert set(placed) == {(shard, f"{DAY1}#core")}
    # Shipping writes only the items it moves: the core counters and the band of the 90-minute bucket.
    projection.put(order(1, shipped_after=90), projection.orders_table)
    assert projection.drain() == []
    shipped = projection.totals()
    assert {key for key in shipped if shipped[key] != placed.get(key)} == {(shard, f"{DAY1}#core"),
                                                                           (shard, f"{DAY1}#ship_min#1")}
    assert shipped[(shard, f"{DAY1}#ship_min#1")] == {"90": 1}
    projection.put(order(1, shipped_after=90, delivered_after=100), projection.orders_table)
    projection.put({**ret("ord_1", "WRONG_ITEM"), "created_key": "x"}, projection.returns_table)
    assert projection.drain() == []
    _, body = projection.report()
    assert body["orders"] == 1
    assert body["fulfillment_time"] == {"orders": 1, "p50_minutes": 90, "p90_minutes": 90}
    assert body["order_accuracy"] == {"shipped": 1, "accurate": 0, "rate": 0.0}


def test_a_failed_write_reports_the_orders_records_and_the_retry_applies_them(projection, monkeypatch):
    projection.put(order(1), projection.orders_table)
    projection.put(order(2), projection.orders_table)
    batch = Streams(projection.orders_table).batch()
    from oms.adapters import kpis_repo

    original = kpis_repo.KpiRepository.record

    def throttled(self: Any, order_id: str, *args: Any) -> None:
        if order_id == "ord_2":
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
                              "TransactWriteItems")
        original(self, order_id, *args)

    monkeypatch.setattr(kpis_repo.KpiRepository, "record", throttled)
    failed = projection.run(batch)
    assert failed == [batch["Records"][1]["dynamodb"]["SequenceNumber"]]
    assert projection.orders() == 1
    monkeypatch.setattr(kpis_repo.KpiRepository, "record", original)
    assert projection.run(batch) == []
    assert projection.orders() == 2


def test_a_rebuild_recounts_the_range_from_the_orders_and_moves_the_older_layout(projection, context):
    projection.seed()
    for item in projection.ddb.scan(TableName=projection.kpis_table)["Items"]:
        projection.ddb.delete_item(TableName=projection.kpis_table, Key={"pk": item["pk"], "sk": item["sk"]})
    # ord_1 as the layout before shards left it: its fact (no layout) and one item per day, which is not read.
    old = kpis.contributions(*seeded_rows()[0])
    projection.put({"pk": "order#ord_1", "sk": "fact", "day": DAY1, "revision": 3, "contribution": old},
                   projection.kpis_table)
    projection.put({"pk": "day", "sk": DAY1, **old}, projection.kpis_table)
    assert list(projection.totals()) == [("day", DAY1)]
    result = projection.facts_handler().handler({"rebuild": {"from": "2026-11-01", "to": "2026-11-03"}}, context)
    assert result == {"orders": 10, "changed": 10}
    check_seeded_report(projection.report()[1])


def test_a_bad_range_is_422_naming_the_field(projection):
    for query, field in [
        ({"from": "2026-11-03", "to": "2026-11-01"}, "from"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-03-01"}, "to"),
        ({"from": "yesterday", "to": "2026-03-01"}, "from"),
        ({"to": "2026-03-01"}, "from"),
    ]:
        status, body = projection.report(query)
        assert status == 422, (query, body)
        assert field in json.dumps(body), (query, body)
