"""Who may call what, for every route of the OpenAPI document, on the local stack.

- no token: 401 on every secured route (and never a 5xx on a public one);
- a customer: 403 on every ``/admin/*`` route;
- customer B, on customer A's resources (order, return, address, saved card) and A's own ``/customers/me``
  data: 404 on every route naming one, nothing of A's in B's listings or export; A's things unchanged.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.client import ADDRESS, Api

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
ROUTES = [(method.upper(), path, spec) for path, methods in DOCUMENT["paths"].items()
          for method, spec in methods.items()]


@pytest.fixture(scope="module")
def api(local_stack):
    return Api(local_stack)


@pytest.fixture(scope="module")
def a_and_b(api):
    """Customer A with an order (delivered, with a return), an address and a saved card; customer B."""
    a = api.stack.token(f"matrix-a-{uuid.uuid4().hex[:6]}@example.com")
    b = api.stack.token(f"matrix-b-{uuid.uuid4().hex[:6]}@example.com")
    sku = api.product()
    order_id = api.place(a, sku).json()["order_id"]
    api.deliver(a, order_id)
    rma = api.call("POST", f"/orders/{order_id}/returns", a,
                   json={"lines": [{"sku": sku, "quantity": 1, "reason": "SIZE_OR_FIT"}]},
                   headers={"Idempotency-Key": uuid.uuid4().hex}).json()["return_id"]
    address = api.call("POST", "/customers/me/addresses", a, json={"address": ADDRESS}).json()["address_id"]
    card = api.call("POST", "/customers/me/payment-methods", a, json={"token": "tok_visa"}).json()
    return {"a": a, "b": b, "ids": {"order_id": order_id, "return_id": rma, "address_id": address,
                                    "payment_method_id": card["payment_method_id"], "sku": sku}}


def _path(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x"), path)


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, spec in ROUTES if spec.get("security")])
def test_no_token_is_401(api, method, path):
    answer = api.call(method, _path(path, {}), json={})
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in ROUTES if p.startswith("/admin/")])
def test_a_customer_is_403_on_every_ops_route(api, a_and_b, method, path):
    answer = api.call(method, _path(path, a_and_b["ids"]), a_and_b["b"], json={},
                      headers={"Idempotency-Key": uuid.uuid4().hex})
    assert answer.status_code == 403, answer.text


OWNED = [(m, p) for m, p, _ in ROUTES if not p.startswith("/admin/") and re.search(
    r"\{(order_id|return_id|address_id|payment_method_id)\}", p)]


@pytest.mark.parametrize(("method", "path"), OWNED)
def test_customer_b_gets_404_on_customer_a_s_resources(api, a_and_b, method, path):
    ids = a_and_b["ids"]
    # Valid bodies: B must be refused for whose the resource is, not for what was sent.
    bodies: dict[str, Any] = {
        "/customers/me/addresses/{address_id}": {"address": ADDRESS},
        "/orders/{order_id}/cancel": {"reason": "CHANGED_MIND"},
        "/orders/{order_id}/payment": {"token": "tok_visa"},
        "/orders/{order_id}/returns": {"lines": [{"sku": ids["sku"], "quantity": 1, "reason": "SIZE_OR_FIT"}]},
        "/orders/{order_id}/returns/{return_id}/parcel": {"carrier": "UPS", "tracking_number": "1ZMATRIX01"},
    }
    answer = api.call(method, _path(path, ids), a_and_b["b"], json=bodies.get(path) if method != "GET" else None,
                      headers={"Idempotency-Key": uuid.uuid4().hex})
    assert answer.status_code == 404, f"{method} {path}: {answer.status_code} {answer.text}"


def test_customer_b_s_own_listings_hold_nothing_of_a_s(api, a_and_b):
    b, ids = a_and_b["b"], a_and_b["ids"]
    assert api.call("GET", "/orders", b).json()["orders"] == []
    assert api.call("GET", "/customers/me/addresses", b).json()["addresses"] == []
    assert api.call("GET", "/customers/me/payment-methods", b).json()["payment_methods"] == []
    export = api.call("GET", "/customers/me/export", b).json()
    assert all(not export[k] for k in ("addresses", "payment_methods", "orders", "returns", "notifications"))
    text = json.dumps(export)
    assert all(value not in text for value in ids.values())
    sku = ids["sku"]
    assert api.place(b, sku, shipping_address=None, shipping_address_id=ids["address_id"]).status_code == 422
    assert api.place(b, sku, payment={"payment_method_id": ids["payment_method_id"]}).status_code == 422
    # A's things are all still there after B's attempts.
    a = a_and_b["a"]
    assert api.call("GET", f"/orders/{ids['order_id']}", a).status_code == 200
    assert api.call("GET", f"/orders/{ids['order_id']}/returns/{ids['return_id']}", a).json()["status"] != "CANCELLED"
    assert [x["address_id"] for x in api.call("GET", "/customers/me/addresses", a).json()["addresses"]] == [
        ids["address_id"]]
    assert [c["payment_method_id"] for c in api.call("GET", "/customers/me/payment-methods", a).json()[
        "payment_methods"]] == [ids["payment_method_id"]]
