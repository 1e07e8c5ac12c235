"""Customer messages for an order event: one delivery per channel (email, SMS when the order has a phone).

Each (order, event, channel) is sent once: the notify function makes every delivery idempotent on that key, so a
failing SMS is retried alone and never repeats the email, and a redelivered or redriven message sends nothing twice.
"""

from typing import Literal, TypedDict

from oms.adapters.mailer import Mailer
from oms.domain.messages import Message, render
from oms.domain.order import Order

Channel = Literal["email", "sms"]


class Delivery(TypedDict):
    order_id: str
    event: str  # with its occurrence for events that repeat (``payment_refunded:<entry>``)
    channel: Channel
    to: str


def deliveries(order: Order, event: str, ref: str = "") -> list[Delivery]:
    """The messages one event of ``order`` sends, one per channel."""
    occurrence = f"{event}:{ref}" if ref else event
    planned: list[Delivery] = [{"order_id": order["order_id"], "event": occurrence, "channel": "email",
                                "to": order["contact"]["email"]}]
    phone = order["contact"].get("phone")
    if phone:
        planned.append({"order_id": order["order_id"], "event": occurrence, "channel": "sms", "to": phone})
    return planned


def send(delivery: Delivery, message: Message, mailer: Mailer) -> str:
    """Send one delivery; returns the provider's message id."""
    if delivery["channel"] == "email":
        return mailer.email(delivery["to"], message)
    return mailer.sms(delivery["to"], message)


def message_for(order: Order, event: str, ref: str = "") -> Message:
    return render(event, order, ref)
