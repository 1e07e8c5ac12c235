"""The local API Gateway over the fixture app, with moto as a real server (module-scoped)."""

import json
import time

import boto3
import pytest
import requests
from joserfc import jwk, jwt
from moto.utilities.utils import load_resource

from local.cli import get_token
from local.stack import LocalStack
from tests.local.conftest import FIXTURE_APP


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = LocalStack(aws_port=0, api_port=0, state_dir=tmp_path_factory.mktemp("oms"), app=FIXTURE_APP)
    s.start()
    yield s
    s.stop()
    from local.lambda_runner import uninstall

    uninstall()


@pytest.fixture(scope="module")
def config(stack):
    return stack.config()


def _sign(claims, key=None):
    key = key or jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    return jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, key)


def _claims(config, **overrides):
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{config['user_pool_id']}",
        "sub": "abc", "aud": config["user_pool_client_id"], "token_use": "id",
        "iat": now, "exp": now + 600, "email": "x@example.com",
    }
    claims.update(overrides)
    return claims


def test_good_token_reaches_the_function_with_claims(config):
    token = get_token(config, "ops@example.com", ops=True)
    resp = requests.get(f"{config['api_url']}/items/42?x=1", headers={"Authorization": f"Bearer {token}"},
                        timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["resource"] == "/items/{item_id}" and body["path"] == "/items/42"
    assert body["pathParameters"] == {"item_id": "42"}
    assert body["claims"]["cognito:groups"] == "ops"  # a string, as API Gateway passes claims
    assert body["claims"]["email"] == "ops@example.com" and body["claims"]["token_use"] == "id"
    assert resp.headers["x-amzn-RequestId"]


@pytest.mark.parametrize("case", ["missing", "garbage", "expired", "forged", "wrong_client", "access_token",
                                  "other_pool"])
def test_bad_tokens_get_401(config, case):
    if case == "missing":
        headers = {}
    elif case == "garbage":
        headers = {"Authorization": "Bearer not-a-jwt"}
    elif case == "expired":
        headers = {"Authorization": _sign(_claims(config, exp=int(time.time()) - 60))}
    elif case == "forged":
        headers = {"Authorization": _sign(_claims(config), jwk.RSAKey.generate_key(2048))}
    elif case == "wrong_client":
        headers = {"Authorization": _sign(_claims(config, aud="someotherclient"))}
    elif case == "access_token":
        headers = {"Authorization": _sign(_claims(config, token_use="access"))}
    else:
        headers = {"Authorization": _sign(_claims(config, iss="https://cognito-idp.us-east-1.amazonaws.com/x_y"))}
    resp = requests.get(f"{config['api_url']}/items", headers=headers, timeout=30)
    # The template's gateway response for UNAUTHORIZED, as API Gateway renders it.
    assert resp.status_code == 401 and resp.json() == {"code": "unauthorized", "message": "Unauthorized"}


def test_self_signed_good_token_is_accepted(config):
    resp = requests.get(f"{config['api_url']}/items", headers={"Authorization": _sign(_claims(config))},
                        timeout=30)
    assert resp.status_code == 200


def test_required_header_unknown_route_and_public_route(config):
    token = get_token(config, "user@example.com")
    auth = {"Authorization": f"Bearer {token}"}
    resp = requests.post(f"{config['api_url']}/items", json={}, headers=auth, timeout=30)
    assert resp.status_code == 400
    assert resp.json() == {"message": "Missing required request parameters: [Idempotency-Key]"}
    resp = requests.post(f"{config['api_url']}/items", json={}, headers={**auth, "Idempotency-Key": "k"}, timeout=30)
    assert resp.status_code == 200
    resp = requests.get(f"{config['api_url']}/nowhere", timeout=30)
    assert resp.status_code == 404  # the template's MISSING_AUTHENTICATION_TOKEN response changes the status
    assert resp.json() == {"code": "not_found", "request": resp.headers["x-amzn-RequestId"]}
    resp = requests.post(f"{config['api_url']}/public", data="hello", timeout=30)
    assert resp.status_code == 200 and resp.json()["claims"] is None


def test_concurrent_requests(config):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda i: requests.post(f"{config['api_url']}/public", timeout=60).status_code,
                              range(12)))
    assert codes == [200] * 12


def test_64_clients_connecting_at_once_are_all_served(config):
    """The listen backlog takes a burst of connections; none is reset."""
    import threading

    start = threading.Barrier(64)

    def call(_: int) -> int:
        start.wait()
        return requests.get(f"{config['api_url']}/_local/health", timeout=60).status_code

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(64) as pool:
        assert list(pool.map(call, range(64))) == [200] * 64


def test_sqs_poller_deletes_successes_and_dead_letters_failures(stack, config):
    dep = stack.deployment
    sqs = boto3.client("sqs", endpoint_url=config["aws_endpoint_url"], region_name="us-east-1")
    jobs = next(r for r in dep.resources("AWS::SQS::Queue") if not r.logical_id.startswith("JobsDlq"))
    dlq = next(r for r in dep.resources("AWS::SQS::Queue") if r.logical_id.startswith("JobsDlq"))
    sqs.send_message(QueueUrl=jobs.ref, MessageBody=json.dumps({"fail": False}))
    sqs.send_message(QueueUrl=jobs.ref, MessageBody=json.dumps({"fail": True}))
    deadline = time.time() + 30
    moved = []
    while time.time() < deadline and not moved:
        moved = sqs.receive_message(QueueUrl=dlq.ref, MaxNumberOfMessages=10).get("Messages", [])
        time.sleep(0.5)
    assert [json.loads(m["Body"]) for m in moved] == [{"fail": True}]
    attrs = sqs.get_queue_attributes(QueueUrl=jobs.ref, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_outbox_route(config, stack):
    ses = boto3.client("ses", endpoint_url=config["aws_endpoint_url"], region_name="us-east-1")
    ses.send_email(Source="orders@example.com", Destination={"ToAddresses": ["c@example.com"]},
                   Message={"Subject": {"Data": "Order ord_1"},
                            "Body": {"Text": {"Data": "text ord_1"}, "Html": {"Data": "<p>ord_1</p>"}}})
    sns = boto3.client("sns", endpoint_url=config["aws_endpoint_url"], region_name="us-east-1")
    sns.publish(PhoneNumber="+15555550100", Message="Order ord_1 shipped")
    out = requests.get(f"{config['api_url']}/_local/outbox", timeout=30).json()
    [mail] = [m for m in out["email"] if m["subject"] == "Order ord_1"]
    assert mail["to"] == ["c@example.com"] and mail["text"] == "text ord_1" and mail["html"] == "<p>ord_1</p>"
    assert mail["timestamp"]
    assert any(s["to"] == "+15555550100" and "ord_1" in s["text"] for s in out["sms"])
