"""DynamoDB parity of the local stack: concurrent TransactWriteItems against moto's threaded server are serializable.

moto 5.2.5 rolls a cancelled transaction back by restoring a deep copy of the table taken before it, so writes
that other threads committed meanwhile vanish (and the copy itself can fail with a 500 when the table changes
under it); ``moto_patches.serialize_dynamodb`` makes each request atomic, as DynamoDB does.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from local import moto_patches
from local.stack import FAKE_CREDENTIALS

REGION = "us-east-1"
THREADS = 8
ROUNDS = 30  # per thread; every other round is a transaction that is cancelled
SWITCH_INTERVAL = 0.001  # the server's threads share this process's GIL; shorter slices interleave them more often


@pytest.fixture(scope="module")
def endpoint():
    moto_patches.serialize_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def client(endpoint: str):
    config = Config(retries={"total_max_attempts": 1}, max_pool_connections=THREADS)
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION, config=config, **FAKE_CREDENTIALS)


def make_table(endpoint: str) -> str:
    ddb = client(endpoint)
    table = f"parity-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    ddb.put_item(TableName=table, Item={"pk": {"S": "counter"}, "n": {"N": "0"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "gate"}, "open": {"BOOL": False}})
    return table


@contextlib.contextmanager
def busy_switching(interval: float = SWITCH_INTERVAL):
    """Let the GIL switch threads every ``interval`` s instead of 5 ms, so requests interleave as under real load."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def hammer(endpoint: str, table: str, threads: int = THREADS, rounds: int = ROUNDS) -> dict[str, int]:
    """Run ``threads`` x ``rounds`` transactions at once; return what the clients saw and what the table holds."""
    increment = {"Update": {"TableName": table, "Key": {"pk": {"S": "counter"}},
                            "UpdateExpression": "SET n = n + :one", "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}}
    closed_gate = {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "gate"}},
                                      "ConditionExpression": "#open = :yes",
                                      "ExpressionAttributeNames": {"#open": "open"},
                                      "ExpressionAttributeValues": {":yes": {"BOOL": True}}}}
    start = threading.Barrier(threads)

    def worker(w: int, ddb) -> tuple[int, int, int]:
        ok = cancelled = errors = 0
        start.wait()
        for i in range(rounds):
            receipt = {"Put": {"TableName": table, "Item": {"pk": {"S": f"receipt-{w}-{i}"}}}}
            # even rounds succeed (counter + 1 and a receipt); odd ones are cancelled by the gate after their
            # increment was applied, and must leave no trace
            items = [increment, receipt] if i % 2 == 0 else [increment, closed_gate]
            try:
                ddb.transact_write_items(TransactItems=items)
            except ddb.exceptions.TransactionCanceledException as e:
                reasons = [r["Code"] for r in e.response["CancellationReasons"]]
                assert i % 2 and reasons == ["None", "ConditionalCheckFailed"], (i, reasons)
                cancelled += 1
            except ClientError as e:  # moto as shipped: 500 when another request mutates the table mid deep-copy
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] >= 500, e
                errors += 1
            else:
                assert i % 2 == 0, "a transaction on a closed gate succeeded"
                ok += 1
        return ok, cancelled, errors

    clients = [client(endpoint) for _ in range(threads)]
    with busy_switching(), ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(worker, range(threads), clients))
    ddb = clients[0]
    counter = ddb.get_item(TableName=table, Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]
    pages = ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    receipts = sum(1 for page in pages for item in page["Items"] if item["pk"]["S"].startswith("receipt-"))
    return {"ok": sum(r[0] for r in results), "cancelled": sum(r[1] for r in results),
            "server_errors": sum(r[2] for r in results), "counter": int(counter["n"]["N"]), "receipts": receipts}


@pytest.fixture
def table(endpoint):
    name = make_table(endpoint)
    yield name
    client(endpoint).delete_table(TableName=name)


def test_concurrent_transactions_lose_no_committed_write(endpoint, table):
    seen = hammer(endpoint, table)
    assert seen["counter"] == seen["ok"], seen  # no committed increment lost, no cancelled one kept
    assert seen["receipts"] == seen["ok"], seen  # no committed item lost
    half = THREADS * ROUNDS // 2
    assert seen == {"ok": half, "cancelled": half, "server_errors": 0, "counter": half, "receipts": half}


def test_serialize_dynamodb_is_idempotent():
    from moto.dynamodb.responses import DynamoHandler

    moto_patches.serialize_dynamodb()
    wrapped = DynamoHandler.call_action
    moto_patches.serialize_dynamodb()
    assert DynamoHandler.call_action is wrapped
    assert "dynamodb" in moto_patches._installed
