"""The local API Gateway throttles per method as the template's stage says, and answers 64 concurrent clients.

The gateway is the real class over a tiny template (the shape CDK synthesizes: a stage's MethodSettings, a THROTTLED
gateway response with ``Retry-After``); the Lambda behind it is a stub answering 200, so no moto is needed.
"""

import http.client
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from local.deployer import Deployment, Resource
from local.gateway import Gateway, Throttles, TokenBucket

API = "api0123456"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:OmsApi-Stub"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FUNCTION}/invocations"


def _deployment(placement: tuple[int, int] = (2, 3)) -> Deployment:
    """/orders (POST: placement), /orders/{order_id} (GET: no setting of its own: the stage's default) and
    /webhooks/tracking (POST), with the method settings CDK writes (``~1`` for ``/``)."""
    resources: dict[str, Resource] = {
        "Api": Resource("Api", "AWS::ApiGateway::RestApi", API, {"RootResourceId": "root"}, {"Name": "OmsApi"}),
        "Orders": Resource("Orders", "AWS::ApiGateway::Resource", "orders", {}, {"ParentId": "root",
                                                                                  "PathPart": "orders"}),
        "Order": Resource("Order", "AWS::ApiGateway::Resource", "order", {}, {"ParentId": "orders",
                                                                               "PathPart": "{order_id}"}),
        "Hooks": Resource("Hooks", "AWS::ApiGateway::Resource", "hooks", {}, {"ParentId": "root",
                                                                              "PathPart": "webhooks"}),
        "Hook": Resource("Hook", "AWS::ApiGateway::Resource", "hook", {}, {"ParentId": "hooks",
                                                                           "PathPart": "tracking"}),
        "Stage": Resource("Stage", "AWS::ApiGateway::Stage", "v1", {}, {
            "RestApiId": API, "StageName": "v1",
            "MethodSettings": [
                {"HttpMethod": "*", "ResourcePath": "/*", "ThrottlingRateLimit": 1000, "ThrottlingBurstLimit": 500,
                 "MetricsEnabled": True, "DataTraceEnabled": False},
                {"HttpMethod": "POST", "ResourcePath": "/~1orders", "ThrottlingRateLimit": placement[0],
                 "ThrottlingBurstLimit": placement[1], "DataTraceEnabled": False},
                {"HttpMethod": "POST", "ResourcePath": "/~1webhooks~1tracking", "ThrottlingRateLimit": 2500,
                 "ThrottlingBurstLimit": 1250},
            ]}),
        "Throttled": Resource("Throttled", "AWS::ApiGateway::GatewayResponse", "t", {}, {
            "ResponseType": "THROTTLED", "StatusCode": "429", "RestApiId": API,
            "ResponseParameters": {"gatewayresponse.header.Retry-After": "'1'"},
            "ResponseTemplates": {"application/json": '{"code":"throttled","message":$context.error.messageString}'},
        }),
    }
    for lid, (method, parent) in {"PlaceOrder": ("POST", "orders"), "GetOrder": ("GET", "order"),
                                  "Webhook": ("POST", "hook")}.items():
        resources[lid] = Resource(lid, "AWS::ApiGateway::Method", lid, {}, {
            "HttpMethod": method, "ResourceId": parent, "RestApiId": API, "AuthorizationType": "NONE",
            "Integration": {"Type": "AWS_PROXY", "Uri": URI}})
    return Deployment(stacks={"OmsApi": resources})


class _Lambda:
    """The integration's function: answers 200 at once, or waits at a barrier (requests in flight together)."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.barrier = barrier

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:  # boto3's argument names
        if self.barrier is not None:
            self.barrier.wait(timeout=20)
        body = json.dumps({"path": json.loads(Payload)["path"]})
        return {"Payload": io.BytesIO(json.dumps({"statusCode": 200, "body": body}).encode())}


def _gateway() -> Gateway:
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    gw = Gateway(_deployment(), "http://127.0.0.1:9", session, port=0)
    gw.lambda_client = _Lambda()
    return gw


@pytest.fixture(scope="module")
def gateway():
    gw = _gateway()
    gw.start()
    yield gw
    gw.stop()


def _request(gw: Gateway, method: str, path: str, connection: http.client.HTTPConnection | None = None,
             ) -> tuple[int, dict[str, str], dict[str, Any]]:
    conn = connection or http.client.HTTPConnection(*gw.server.server_address[:2], timeout=30)
    conn.request(method, path, body=b"{}" if method == "POST" else None, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = resp.status, dict(resp.getheaders()), json.loads(resp.read() or b"{}")
    if connection is None:
        conn.close()
    return answer


def test_a_burst_beyond_the_placement_bucket_gets_429_with_retry_after_and_other_routes_pass(gateway):
    conn = http.client.HTTPConnection(*gateway.server.server_address[:2], timeout=30)
    statuses = [_request(gateway, "POST", "/orders", conn)[0] for _ in range(10)]
    # Burst 3, 2 a second: the first three pass, then (within a few ms) every request is refused.
    assert statuses[:3] == [200, 200, 200]
    assert statuses.count(429) >= 6, statuses
    status, headers, body = _request(gateway, "POST", "/orders", conn)
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert body == {"code": "throttled", "message": "Too Many Requests"}
    assert headers["x-amzn-RequestId"]
    # Another class's method and a method on the stage's default keep their own buckets.
    assert [_request(gateway, "POST", "/webhooks/tracking", conn)[0] for _ in range(20)] == [200] * 20
    assert [_request(gateway, "GET", "/orders/o-1", conn)[0] for _ in range(20)] == [200] * 20
    conn.close()


def test_the_bucket_refills_at_the_rate_and_holds_at_most_the_burst():
    now = [100.0]
    throttles = Throttles(_deployment(placement=(2, 3)), clock=lambda: now[0])
    assert throttles.limits(API, "/orders", "POST") == (2.0, 3.0)
    assert throttles.limits(API, "/orders/{order_id}", "GET") == (1000.0, 500.0)  # the stage's default
    assert [throttles.check(API, "/orders", "POST") for _ in range(3)] == [0, 0, 0]
    assert throttles.check(API, "/orders", "POST") == pytest.approx(0.5)  # one token refills in 1/rate s
    now[0] += 0.5
    assert throttles.check(API, "/orders", "POST") == 0
    now[0] += 60  # idle for a minute: still only ``burst`` tokens
    assert [throttles.check(API, "/orders", "POST") for _ in range(4)][-1] > 0
    bucket = TokenBucket(rate=5, burst=0, now=0.0)  # burst 0 still passes the steady rate, one at a time
    assert bucket.take(0.0) == 0 and bucket.take(0.0) > 0 and bucket.take(0.2) == 0


def test_the_limits_are_listed_at_local_throttling(gateway):
    status, _, body = _request(gateway, "GET", "/_local/throttling")
    assert status == 200
    assert body[API]["POST /orders"] == {"rate": 2.0, "burst": 3.0}
    assert body[API]["* /*"] == {"rate": 1000.0, "burst": 500.0}


def test_64_concurrent_clients_all_get_answers(gateway):
    """64 connections opened at once, all 64 requests in the function together: none is reset or lost."""
    gateway.lambda_client = _Lambda(threading.Barrier(64))
    start = threading.Barrier(64)

    def client(i: int) -> int:
        start.wait(timeout=20)  # every client connects at the same moment (the listen backlog)
        return _request(gateway, "GET", f"/orders/o-{i}")[0]

    try:
        with ThreadPoolExecutor(64) as pool:
            statuses = list(pool.map(client, range(64)))
    finally:
        gateway.lambda_client = _Lambda()
    assert statuses == [200] * 64


def test_keep_alive_connections_serve_many_requests(gateway):
    conns = [http.client.HTTPConnection(*gateway.server.server_address[:2], timeout=30) for _ in range(8)]
    for _ in range(25):
        for conn in conns:
            assert _request(gateway, "POST", "/webhooks/tracking", conn)[0] == 200
    for conn in conns:
        conn.close()
