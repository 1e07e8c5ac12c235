"""Recording gateway calls in the order's payment ledger: ``PENDING`` before the call, the outcome after.

``call`` is the one way the payment code talks to the gateway: it records the intent, runs the call, marks a
refusal ``FAILED`` and leaves a call whose outcome is unknown ``PENDING`` (with the error seen), to be retried with
the same idempotency key, which resolves it to the same entry. The caller records the success together with its
own change of the order (``succeeded``), in one conditional write.
"""

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.domain.errors import PaymentDeclined
from oms.domain.ledger import Operation, entry_id, pending
from oms.domain.order import Order, iso
from oms.logic.clock import now

T = TypeVar("T")


def recording(order: Order, operation: Operation, amount: int, key: str) -> dict[str, Any]:
    """The ``sets`` of a Change that records the call as ``PENDING`` (to write with the caller's own change)."""
    entry = pending(operation, amount, order["currency"], key, iso(now()), len(order.get("ledger", {})))
    eid = entry_id(key)
    return {f"ledger.{eid}": entry} if "ledger" in order else {"ledger": {eid: entry}}


def begin(orders: OrdersRepository, order: Order, operation: Operation, amount: int, key: str) -> Order:
    """Record the call as ``PENDING`` unless it is already recorded (a retry with the same key)."""
    eid = entry_id(key)
    if eid in order.get("ledger", {}):
        return order
    change = Change(sets=recording(order, operation, amount, key),
                    absent=[f"ledger.{eid}"] if "ledger" in order else ["ledger"])
    try:
        return orders.apply(order["order_id"], change)
    except TransitionRejected as rejected:  # a concurrent retry recorded it (or another call created the map)
        if eid in rejected.order.get("ledger", {}):
            return rejected.order
        return begin(orders, rejected.order, operation, amount, key)


def succeeded(key: str, reference: str | None) -> dict[str, Any]:
    """The ``sets`` of a Change that records the call's success."""
    eid = entry_id(key)
    return {f"ledger.{eid}.status": "SUCCEEDED", f"ledger.{eid}.gateway_reference": reference,
            f"ledger.{eid}.error_code": None}


def call(orders: OrdersRepository, order: Order, operation: Operation, amount: int, key: str,
         run: Callable[[], T]) -> T:
    """Record, then run the gateway call. A refusal marks the entry ``FAILED`` and is raised; any other error
    notes its code on the still ``PENDING`` entry and is raised (the caller retries with the same key)."""
    order = begin(orders, order, operation, amount, key)
    eid = entry_id(key)
    try:
        return run()
    except PaymentDeclined as declined:
        _note(orders, order["order_id"], {f"ledger.{eid}.status": "FAILED", f"ledger.{eid}.error_code": declined.code})
        raise
    except Exception as error:
        _note(orders, order["order_id"], {f"ledger.{eid}.error_code": str(error)[:100] or type(error).__name__})
        raise


def _note(orders: OrdersRepository, order_id: str, sets: dict[str, Any]) -> None:
    """Best effort: the gateway's answer matters more than recording why it failed."""
    with contextlib.suppress(Exception):  # the original error is what the caller must see
        orders.apply(order_id, Change(sets=sets))
