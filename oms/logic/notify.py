"""Send the customer message for one order event."""

from typing import Any

from oms.adapters.mailer import Mailer
from oms.adapters.orders_repo import OrdersRepository
from oms.domain.messages import render


def send_notification(order_id: str, event: str, orders: OrdersRepository, mailer: Mailer) -> dict[str, Any]:
    order = orders.require(order_id)
    message = render(event, order)
    sent = {"email": mailer.email(order["contact"]["email"], message)}
    phone = order["contact"].get("phone")
    if phone:
        sent["sms"] = mailer.sms(phone, message)
    return sent
