import pytest
import requests

pytestmark = pytest.mark.e2e


def test_orders_without_a_token_is_401(local_stack):
    resp = requests.get(f"{local_stack.api_url}/orders", timeout=30)
    assert resp.status_code == 401
    assert resp.json() == {"code": "unauthorized", "message": "Unauthorized"}


def test_orders_with_a_token_is_200(local_stack):
    token = local_stack.token("smoke@example.com")
    resp = requests.get(f"{local_stack.api_url}/orders", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
