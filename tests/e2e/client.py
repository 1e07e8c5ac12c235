"""A small storefront/ops client for the e2e tests: HTTP only, as a storefront would call the API."""

import time
import uuid
from typing import Any

import requests

from oms.domain.easypost import sign

ADDRESS = {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


class Api:
    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.url = stack.api_url
        self.ops = stack.token("ops@example.com", ops=True)

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def product(self, price: int = 1250, on_hand: int = 10, warehouses: tuple[str, ...] = ("wh-east",),
                currency: str = "USD", name: str | None = None) -> str:
        sku = f"E2E-{uuid.uuid4().hex[:8]}"
        answer = self.call("PUT", f"/admin/products/{sku}", self.ops,
                           json={"name": name or f"Thing {sku}", "price": price, "currency": currency})
        assert answer.status_code == 200, answer.text
        for warehouse in warehouses:
            answer = self.call("PUT", f"/admin/inventory/{sku}", self.ops,
                               json={"warehouse": warehouse, "on_hand": on_hand})
            assert answer.status_code == 200, answer.text
        return sku

    def stock(self, sku: str) -> dict[str, Any]:
        return self.call("GET", f"/admin/inventory/{sku}", self.ops).json()

    def place(self, token: str, sku: str, quantity: int = 1, payment: str | dict[str, Any] = "tok_visa",
              key: str | None = None, **extra: Any) -> requests.Response:
        """``payment``: a token, or the whole payment object; an ``extra`` field set to None is left out."""
        body = {"currency": "USD", "lines": [{"sku": sku, "quantity": quantity}], "shipping_address": ADDRESS,
                "shipping_method": "standard",
                "payment": payment if isinstance(payment, dict) else {"token": payment},
                "contact": {"email": "ann@example.com", "phone": "+12015550123", "sms_opt_in": True}}
        for field, value in extra.items():
            if value is None:
                body.pop(field, None)
            else:
                body[field] = value
        return self.call("POST", "/orders", token, json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex})

    def order(self, token: str, order_id: str) -> dict[str, Any]:
        answer = self.call("GET", f"/orders/{order_id}", token)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def wait(self, token: str, order_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            order = self.order(token, order_id)
            if order["status"] in statuses:
                return order
            if time.monotonic() > deadline:
                raise AssertionError(f"order {order_id} is {order['status']}, expected {statuses}: {order}")
            time.sleep(0.2)

    def deliver(self, token: str, order_id: str, delivered_at: str | None = None) -> dict[str, Any]:
        """Ship the PROCESSING order as ops and have the carrier report it delivered; the DELIVERED order."""
        self.wait(token, order_id, "PROCESSING")
        number = f"1Z{uuid.uuid4().hex[:12].upper()}"
        answer = self.call("POST", f"/admin/orders/{order_id}/shipments", self.ops,
                           json={"carrier": "UPS", "tracking_number": number})
        assert answer.status_code == 201, answer.text
        self.wait(token, order_id, "SHIPPED")
        assert self.tracking(number, "delivered", at=delivered_at).status_code == 200
        return self.wait(token, order_id, "DELIVERED")

    def tracking(self, tracking_code: str, status: str, secret: str | None = None,
                 at: str | None = None) -> requests.Response:
        """An EasyPost ``tracker.updated`` webhook for ``tracking_code`` (its checkpoint at ``at``, default now)."""
        import json
        from datetime import UTC, datetime

        at = at or datetime.now(UTC).isoformat()
        body = json.dumps({"object": "Event", "id": f"evt_{uuid.uuid4().hex}", "description": "tracker.updated",
                           "result": {"object": "Tracker", "tracking_code": tracking_code, "status": status,
                                      "carrier": "UPS", "est_delivery_date": None,
                                      "tracking_details": [{"datetime": at, "status": status, "message": status}]}})
        key = secret or self.stack.config["webhook_secrets"]["easypost"]
        return self.call("POST", "/webhooks/tracking/easypost", data=body,
                         headers={"X-Hmac-Signature": sign(body.encode(), key), "Content-Type": "application/json"})
