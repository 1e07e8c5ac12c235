"""Shared steps for handler tests: stock a product as ops and place an order as a customer."""

from typing import Any

from tests.handlers.conftest import api_event, call

ADDRESS = {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


def order_body(sku: str = "MUG", quantity: int = 1, token: str = "tok_visa", **extra: Any) -> dict[str, Any]:
    return {"currency": "USD", "lines": [{"sku": sku, "quantity": quantity}], "shipping_address": ADDRESS,
            "shipping_method": "standard", "payment": {"token": token},
            "contact": {"email": "ann@example.com", "phone": "+12015550123", "sms_opt_in": True}, **extra}


def stock(stack: Any, ctx: Any, sku: str = "MUG", price: int = 1250, on_hand: int = 5,
          warehouse: str = "wh-east") -> None:
    admin = stack.handler("admin")
    status, _ = call(admin, api_event("PUT", f"/admin/products/{sku}", "/admin/products/{sku}", groups="ops",
                                      body={"name": sku.title(), "price": price, "currency": "USD"},
                                      path_params={"sku": sku}), ctx)
    assert status == 200
    status, _ = call(admin, api_event("PUT", f"/admin/inventory/{sku}", "/admin/inventory/{sku}", groups="ops",
                                      body={"warehouse": warehouse, "on_hand": on_hand},
                                      path_params={"sku": sku}), ctx)
    assert status == 200


def inventory(stack: Any, ctx: Any, sku: str = "MUG") -> dict[str, Any]:
    admin = stack.handler("admin")
    status, body = call(admin, api_event("GET", f"/admin/inventory/{sku}", "/admin/inventory/{sku}", groups="ops",
                                         path_params={"sku": sku}), ctx)
    assert status == 200
    return body


def place(stack: Any, ctx: Any, body: dict[str, Any], key: str = "key-1", sub: str = "cust-1") -> tuple[int, Any]:
    module = stack.handler("place_order")
    return call(module, api_event("POST", "/orders", "/orders", body=body, sub=sub,
                                  headers={"Idempotency-Key": key}), ctx)


def step(stack: Any, ctx: Any, function: str, action: str, order_id: str, **extra: Any) -> Any:
    return stack.handler(function).handler({"action": action, "order_id": order_id, **extra}, ctx)


def order(stack: Any, order_id: str) -> dict[str, Any]:
    from oms.adapters.orders_repo import OrdersRepository

    return OrdersRepository(stack.env("payment", "ORDERS_TABLE")).require(order_id)


class NoWorkflow:
    """The workflow's resumption left out: the shipment is recorded as ops do, nothing waits for it."""

    def resume(self, token: str, output: dict[str, Any]) -> None:
        pass


def record_parcel(stack: Any, order_id: str, command: Any, orders: Any = None) -> dict[str, Any]:
    """``record_shipment`` with the admin function's tables (``orders``: another OrdersRepository to use)."""
    from oms.adapters.inventory_repo import InventoryRepository
    from oms.adapters.orders_repo import OrdersRepository
    from oms.logic.fulfillment import record_shipment

    orders = orders or OrdersRepository(stack.env("admin", "ORDERS_TABLE"), stack.env("admin", "SHIPMENTS_TABLE"))
    inventory = InventoryRepository(stack.env("admin", "INVENTORY_TABLE"), stack.env("admin", "MOVEMENTS_TABLE"),
                                    stack.env("admin", "BACKORDERS_TABLE"))
    return dict(record_shipment(order_id, command, orders, inventory, NoWorkflow()))
