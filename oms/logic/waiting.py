"""What every wait step (review, fulfillment, a technical hold before shipment) does before it waits: it stores
its task token only while the order carries no cancellation. A cancellation recorded between two steps, when
there was no token to fail, is found here, and the step ends with ``OrderCancelled`` (the workflow compensates).
"""

from oms.adapters.orders_repo import Change
from oms.domain.errors import OrderCancelled
from oms.domain.order import Order
from oms.domain.status import TERMINAL_ORDER_STATUSES


def unless_cancelled(change: Change) -> Change:
    change.absent.append("cancellation")
    return change


def raise_if_cancelled(order: Order) -> None:
    """``OrderCancelled`` for an open order with a cancellation (a closed one is not this wait's business)."""
    if "cancellation" in order and order["status"] not in TERMINAL_ORDER_STATUSES:
        raise OrderCancelled(f"order {order['order_id']} was cancelled by {order['cancellation']['by']}")
