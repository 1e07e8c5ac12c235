"""The API resolver's guard: hostile or malformed requests get a 4xx naming the field, before any route runs."""

import base64
import json
from typing import Any

import pytest

from oms.api.resolver import KIB, MAX_DEPTH, ApiResolver
from oms.domain.models import ProductRequest


def _app(audience: str = "customer", limit: int = 16 * KIB) -> ApiResolver:
    app = ApiResolver(audience=audience, max_body_bytes=limit)  # type: ignore[arg-type]

    @app.put("/things/<sku>")
    def put_thing(sku: str, product: ProductRequest) -> dict[str, Any]:
        return {"sku": sku, "price": product.price}

    @app.get("/things/<sku>")
    def get_thing(sku: str) -> dict[str, Any]:
        return {"sku": sku}

    return app


def _event(body: bytes | str | None = None, *, method: str = "PUT", groups: str | None = None,
           content_type: str | None = "application/json", b64: bool = False, sub: str | None = "c1") -> dict[str, Any]:
    headers = {"Content-Type": content_type} if content_type else {}
    raw = body.decode("latin-1") if isinstance(body, bytes) and not b64 else body
    if b64 and isinstance(body, bytes):
        raw = base64.b64encode(body).decode()
    claims = {"sub": sub, **({"cognito:groups": groups} if groups else {})} if sub else None
    return {
        "resource": "/things/{sku}", "path": "/things/MUG", "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": {"sku": "MUG"}, "stageVariables": None,
        "body": raw, "isBase64Encoded": b64,
        "requestContext": {"requestId": "r1", "resourcePath": "/things/{sku}", "httpMethod": method, "stage": "v1",
                           "path": "/v1/things/MUG", "identity": {"sourceIp": "127.0.0.1"},
                           "authorizer": {"claims": claims} if claims else None},
    }


def _answer(app: ApiResolver, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = app.resolve(event, None)
    return response["statusCode"], json.loads(response["body"])


GOOD = json.dumps({"name": "Mug", "price": 1250, "currency": "USD"})


def test_a_good_request_reaches_the_route():
    assert _answer(_app(), _event(GOOD)) == (200, {"sku": "MUG", "price": 1250})


@pytest.mark.parametrize(("event", "status", "code", "field"), [
    (_event(b"\xff\xfe{}", b64=True), 400, "invalid_body", "body"),
    (_event('{"name": '), 400, "invalid_body", "body"),
    (_event("[" * 7_000 + "]" * 7_000), 400, "invalid_body", "body"),  # RecursionError in json
    (_event("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)), 400, "invalid_body", "body"),
    (_event('{"price": ' + "9" * 5000 + "}"), 400, "invalid_body", "body"),
    (_event("not base64!!", b64=True), 400, "invalid_body", "body"),
    (_event(GOOD, content_type="multipart/form-data"), 415, "unsupported_media_type", "Content-Type"),
    (_event("a=1", content_type="application/x-www-form-urlencoded"), 415, "unsupported_media_type",
     "Content-Type"),
    (_event(json.dumps({"name": "x" * 20 * KIB})), 413, "payload_too_large", "body"),
])
def test_malformed_bodies_are_refused_before_the_route(event, status, code, field):
    answer_status, body = _answer(_app(), event)
    assert (answer_status, body["code"]) == (status, code)
    assert body["errors"][0]["field"] == field
    assert body["message"]


@pytest.mark.parametrize(("patch", "field"), [
    ({"price": "1250"}, "price"),  # a string is not a number
    ({"price": 1250.0}, "price"),
    ({"price": True}, "price"),
    ({"price": 10**39}, "price"),  # more digits than DynamoDB stores
    ({"price": -1}, "price"),
    ({"name": "bad\u0000name"}, "name"),
])
def test_values_are_strict_and_bounded(patch, field):
    status, body = _answer(_app(), _event(json.dumps({**json.loads(GOOD), **patch})))
    assert status == 422 and body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == [field]


def test_json_without_a_content_type_is_accepted():
    assert _answer(_app(), _event(GOOD, content_type=None))[0] == 200
    assert _answer(_app(), _event(GOOD, content_type="application/json; charset=utf-8"))[0] == 200


def test_callers_without_claims_get_401_and_customers_get_403_on_ops_functions():
    assert _answer(_app(), _event(GOOD, sub=None)) == (401, {"code": "unauthorized",
                                                            "message": "Sign in: send a Cognito ID token"})
    status, body = _answer(_app("ops"), _event(GOOD))
    assert (status, body["code"]) == (403, "forbidden")
    assert _answer(_app("ops"), _event(GOOD, groups="ops"))[0] == 200
    assert _answer(_app("public"), _event(GOOD, sub=None))[0] == 200


def test_an_invalid_path_is_a_404_on_reads_and_a_422_on_a_put():
    app = ApiResolver(audience="customer")

    from typing import Annotated

    from aws_lambda_powertools.event_handler.openapi.params import Path

    sku = Annotated[str, Path(pattern=r"^[A-Z]+$")]

    @app.get("/things/<sku>")
    def read(sku: sku) -> dict[str, Any]:
        return {"sku": sku}

    @app.put("/things/<sku>")
    def write(sku: sku) -> dict[str, Any]:
        return {"sku": sku}

    event = _event(None, method="GET")
    event["path"], event["pathParameters"] = "/things/b-a-d", {"sku": "b-a-d"}
    status, body = _answer(app, event)
    assert (status, body["code"]) == (404, "not_found")
    event["httpMethod"] = "PUT"
    status, body = _answer(app, event)
    assert (status, body["errors"][0]["field"]) == (422, "sku")
