"""Workflow steps of the payment function: authorize, re-authorize, capture, void. Each is idempotent, and every
authorization ends voided or captured: the intent (with the gateway's idempotency key) is recorded in the order's
payment ledger before the gateway is called, so compensation asks the gateway when the order does not know
whether a hold was placed, and a retried call resolves to one ledger entry.

A cancellation with a fee (``cancellation.fee``) is settled by capturing the fee instead of voiding: a partial
capture releases the rest of the hold.
"""

import contextlib
from datetime import datetime, timedelta
from typing import Any

from oms.adapters.orders_repo import Change, OrdersRepository, TransitionRejected
from oms.adapters.payment_gateway import PaymentGateway
from oms.domain.errors import PaymentDeclined, PaymentGatewayError, TransientError
from oms.domain.ledger import entry_id
from oms.domain.ledger import in_order as ledger_in_order
from oms.domain.money import format_minor
from oms.domain.order import Order, WaitPlan, iso, timeline_entry
from oms.domain.status import PaymentStatus
from oms.logic import ledger
from oms.logic.clock import now

PaymentResult = dict[str, Any]


#: The authorization of an order with nothing to charge (a replacement its return's credit covers): no gateway call
#: captures, voids or renews it.
NO_CHARGE = "no-charge"


def authorization_key(order_id: str) -> str:
    return f"{order_id}:authorize"


def authorize(order_id: str, orders: OrdersRepository, gateway: PaymentGateway) -> PaymentResult:
    order = orders.require(order_id)
    if order["payment_status"] != PaymentStatus.PENDING:
        return {"payment_status": order["payment_status"]}
    if order["total"] == 0:  # an exchange whose credit covers it: nothing to hold at the gateway
        change = Change(payment_status=PaymentStatus.AUTHORIZED,
                        sets={"payment.authorization_id": NO_CHARGE, "payment.authorized_at": iso(now())},
                        events=[timeline_entry(now(), "payment_authorized",
                                               "Nothing to charge: your return's credit covers this order.")])
        return {"payment_status": _apply(orders, order_id, change)["payment_status"]}
    key = authorization_key(order_id)
    if order["payment"].get("authorization_key") != key:
        # The intent first: if the gateway answers and we crash before recording it, void finds the hold.
        order = orders.apply(order_id, Change(
            sets={"payment.authorization_key": key, "payment.authorization_requested_at": iso(now()),
                  **ledger.recording(order, "AUTHORIZE", order["total"], key)},
            expect={"payment_status": PaymentStatus.PENDING.value},
        ))
    authorization_id = ledger.call(orders, order, "AUTHORIZE", order["total"], key, lambda: gateway.authorize(
        token=order["payment"]["token"], amount=order["total"], currency=order["currency"], idempotency_key=key,
        customer=order["payment"].get("customer")))
    return {"payment_status": _record_authorization(orders, order, authorization_id)["payment_status"]}


def _record_authorization(orders: OrdersRepository, order: Order, authorization_id: str) -> Order:
    amount = format_minor(order["total"], order["currency"])
    change = Change(
        payment_status=PaymentStatus.AUTHORIZED,
        sets={"payment.authorization_id": authorization_id, "payment.authorized_at": iso(now()),
              **ledger.succeeded(authorization_key(order["order_id"]), authorization_id)},
        events=[timeline_entry(now(), "payment_authorized", f"Payment of {amount} authorized.")],
    )
    return _apply(orders, order["order_id"], change)


def plan_wait(order_id: str, wait: str, policy_hours: int | None, hold_hours: int,
              orders: OrdersRepository) -> PaymentResult:
    """How long the ``wait`` step may wait this time: what is left of its policy (``policy_hours`` in all; None:
    until the order's backorder deadline), or until the payment hold needs renewing, whichever comes first
    (``renew``: that timeout means "renew the hold, then plan again"). What is left is kept on the order in the
    workflow's own time: each renewal consumes the wait it ended (``reauthorize``), so renewals never stretch the
    policy."""
    order = orders.require(order_id)
    previous = order.get("wait_plans", {}).get(wait)
    if previous:
        remaining = previous["remaining"]
    elif policy_hours is not None:
        remaining = policy_hours * 3600
    else:
        remaining = _seconds(_parse(order["backorder"]["deadline"]) - now()) if "backorder" in order else 1
    number = previous["plan"] + 1 if previous else 1
    renew_at = renewal_due(order, hold_hours)
    renew_in = _seconds(renew_at - now()) if renew_at is not None else None
    renew = renew_in is not None and renew_in < remaining
    seconds = renew_in if renew and renew_in is not None else max(1, remaining)
    plan: WaitPlan = {"remaining": remaining, "planned": seconds, "plan": number, "renewed": False}
    sets: dict[str, Any] = ({f"wait_plans.{wait}": plan} if "wait_plans" in order
                            else {"wait_plans": {wait: plan}})
    orders.apply(order_id, Change(sets=sets))
    return {"seconds": seconds, "renew": renew, "plan": number, "remaining": remaining}


def renewal_due(order: Order, hold_hours: int) -> datetime | None:
    """When the current hold should be renewed: a seventh of its lifetime before it lapses (a day of Stripe's
    seven). None while there is no authorized hold."""
    at = order["payment"].get("authorized_at") or order["payment"].get("authorization_requested_at")
    if order["payment_status"] != PaymentStatus.AUTHORIZED or not at or \
            order["payment"].get("authorization_id") == NO_CHARGE:
        return None
    lifetime = timedelta(hours=hold_hours)
    return _parse(at) + lifetime - lifetime / 7


def _parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds()))


def reauthorize(order_id: str, orders: OrdersRepository, gateway: PaymentGateway, wait: str | None = None,
                plan: int | None = None) -> PaymentResult:
    """The hold is about to lapse while the order still waits: place a fresh one (on the customer's new payment
    method if they gave one), then release the old one. A decline is raised (``PaymentDeclined``): the workflow
    holds the order for the customer's new payment."""
    order = orders.require(order_id)
    if order["payment_status"] != PaymentStatus.AUTHORIZED:
        return {"payment_status": order["payment_status"]}
    planned = order.get("wait_plans", {}).get(wait or "")
    if planned is not None and planned["plan"] == plan and planned["renewed"]:
        return {"payment_status": order["payment_status"], "renewed": "already"}  # a retried step
    old = _authorization(order)
    count = order["payment"].get("reauthorizations", 0) + 1
    key = _renewal_key(order)
    token = order["payment"]["token"]
    if order["payment"].get("token_replaced"):
        def place() -> str:
            return gateway.authorize(token=token, amount=order["total"], currency=order["currency"],
                                     idempotency_key=key, customer=order["payment"].get("customer"))
    else:
        def place() -> str:
            return gateway.reauthorize(authorization_id=old, amount=order["total"], currency=order["currency"],
                                       idempotency_key=key)
    new = ledger.call(orders, order, "REAUTHORIZE", order["total"], key, place)
    amount = format_minor(order["total"], order["currency"])
    sets = {"payment.authorization_id": new, "payment.authorized_at": iso(now()),
            "payment.reauthorizations": count, "payment.token_replaced": False, **ledger.succeeded(key, new)}
    if planned is not None and planned["plan"] == plan and not planned["renewed"]:
        # The wait that ended for this renewal ran all its planned time: the policy has that much less left.
        sets[f"wait_plans.{wait}.remaining"] = planned["remaining"] - planned["planned"]
        sets[f"wait_plans.{wait}.renewed"] = True
    order = orders.apply(order_id, Change(
        sets=sets,
        expect={"payment.authorization_id": old},
        events=[timeline_entry(now(), "payment_reauthorized",
                               f"Payment hold of {amount} renewed while the order waits.")],
    ))
    _void_superseded(orders, order, gateway, old, count)
    return {"payment_status": order["payment_status"], "reauthorizations": count}


def _renewal_key(order: Order) -> str:
    """A call whose outcome is unknown (PENDING) is retried with its key; after a decline the next attempt (on
    the customer's new payment method) is a new call with a new key."""
    renewals = [e for e in order.get("ledger", {}).values() if e["operation"] == "REAUTHORIZE"]
    unresolved = next((e for e in renewals if e["status"] == "PENDING"), None)
    if unresolved is not None:
        return unresolved["idempotency_key"]
    return f"{order['order_id']}:reauthorize:{len(renewals) + 1}"


def _void_superseded(orders: OrdersRepository, order: Order, gateway: PaymentGateway, authorization_id: str,
                     count: int) -> None:
    """Release the hold a re-authorization replaced (it would lapse anyway; releasing it frees the funds now)."""
    key = f"{order['order_id']}:void-superseded:{count}"
    try:
        ledger.call(orders, order, "VOID", order["total"], key, lambda: gateway.void(
            authorization_id=authorization_id, idempotency_key=key))
    except PaymentDeclined:
        return  # already released or lapsed at the gateway: nothing is held
    orders.apply(order["order_id"], Change(sets=ledger.succeeded(key, authorization_id)))


def capture(order_id: str, orders: OrdersRepository, gateway: PaymentGateway) -> PaymentResult:
    """Every parcel has left: capture what the order still owes (the total, less what parcels of a split order
    captured when they shipped; only the shipped parcels' shares when the rest was cancelled) and release the rest
    of the hold."""
    order = orders.require(order_id)
    if order["payment_status"] == PaymentStatus.CAPTURED:
        return {"payment_status": order["payment_status"]}
    order = _settle_parcel_captures(orders, order, gateway)
    captured = order.get("amount_captured", 0)
    amount = order.get("capture_due", order["total"]) - captured
    if amount <= 0:
        return {"payment_status": _release_rest(orders, order, gateway)["payment_status"]}
    sentence = "Payment of {amount} charged." if not captured else "The rest of the payment, {amount}, charged."
    return {"payment_status": _capture(orders, order, gateway, amount, "payment_captured",
                                       sentence)["payment_status"]}


def _settle_parcel_captures(orders: OrdersRepository, order: Order, gateway: PaymentGateway) -> Order:
    """A parcel's capture whose answer was lost (its ledger entry still ``PENDING``) is asked again with its own
    key before the last capture, so the provider's answer decides: captured then, captured now, or refused (then the
    last capture takes its share). An error that persists fails the step, which the workflow retries."""
    prefix = f"{order['order_id']}:capture:"
    for entry in ledger_in_order(order.get("ledger", {}).values()):
        if entry["operation"] == "CAPTURE" and entry["status"] == "PENDING" and \
                entry["idempotency_key"].startswith(prefix):
            number = entry["idempotency_key"][len(prefix):]
            with contextlib.suppress(PaymentDeclined):
                order = _capture(orders, order, gateway, entry["amount"], "payment_captured",
                                 f"Payment of {{amount}} charged for the parcel {number}.",
                                 key=entry["idempotency_key"], final=False)
            order = orders.require(order["order_id"])
    return order


def _capture(orders: OrdersRepository, order: Order, gateway: PaymentGateway, amount: int, event: str,
             sentence: str, *, key: str | None = None, final: bool = True) -> Order:
    """Capture ``amount`` of the hold (``final``: and release the rest of it). ``amount_captured`` grows by it
    exactly once, however often the step is retried: the write expects the ledger entry still ``PENDING``."""
    key = key or f"{order['order_id']}:capture"
    authorization_id = _authorization(order)
    capture_id = ledger.call(orders, order, "CAPTURE", amount, key, lambda: gateway.capture(
        authorization_id=authorization_id, amount=amount, idempotency_key=key, final=final))
    change = Change(
        payment_status=PaymentStatus.CAPTURED if final else None,
        sets={"payment.capture_id": capture_id, **ledger.succeeded(key, capture_id)},
        increments={"amount_captured": amount},
        expect={f"ledger.{entry_id(key)}.status": "PENDING"},
        events=[timeline_entry(now(), event, sentence.format(amount=format_minor(amount, order["currency"])))],
    )
    try:
        return orders.apply(order["order_id"], change)
    except TransitionRejected as rejected:
        recorded = rejected.order.get("ledger", {}).get(entry_id(key))
        if recorded is not None and recorded["status"] == "SUCCEEDED":
            return rejected.order  # a concurrent duplicate recorded it
        raise


def _release_rest(orders: OrdersRepository, order: Order, gateway: PaymentGateway) -> Order:
    """The shipped parcels captured all they owe: release what is left of the hold and close the payment."""
    key = f"{order['order_id']}:release-rest"
    authorization_id = _authorization(order)
    with contextlib.suppress(PaymentDeclined):  # nothing left to release at the gateway
        if authorization_id == NO_CHARGE:
            raise PaymentDeclined("no_charge")
        ledger.call(orders, order, "VOID", order["total"] - order.get("amount_captured", 0), key,
                    lambda: gateway.void(authorization_id=authorization_id, idempotency_key=key))
    change = Change(payment_status=PaymentStatus.CAPTURED, sets=ledger.succeeded(key, authorization_id),
                    events=[timeline_entry(now(), "payment_hold_released",
                                           "The rest of the payment hold was released.")])
    return _apply(orders, order["order_id"], change)


class ParcelCapture:
    """Each parcel of a split order captures its share when it ships (``final`` false: the hold stays for the
    rest). A refusal or an error leaves it to the last parcel's capture, which takes whatever is still owed."""

    def __init__(self, orders: OrdersRepository, gateway: PaymentGateway) -> None:
        self.orders = orders
        self.gateway = gateway

    def capture_parcel(self, order: Order, tracking_number: str) -> Order:
        shipment = order["shipments"][tracking_number]
        amount = shipment.get("amount", 0)
        key = f"{order['order_id']}:capture:{tracking_number}"
        entry = order.get("ledger", {}).get(entry_id(key))
        if amount <= 0 or order["payment_status"] != PaymentStatus.AUTHORIZED or (
                entry is not None and entry["status"] != "PENDING"):
            return order
        try:
            return _capture(self.orders, order, self.gateway, amount, "payment_captured",
                            f"Payment of {{amount}} charged for the parcel {tracking_number}.", key=key, final=False)
        except (PaymentDeclined, PaymentGatewayError, TransientError, TransitionRejected):
            self.orders.apply(order["order_id"], Change(events=[timeline_entry(
                now(), "parcel_capture_deferred",
                f"The payment for parcel {tracking_number} will be charged with the last parcel.")]))
            return self.orders.require(order["order_id"])


def void(order_id: str, orders: OrdersRepository, gateway: PaymentGateway) -> PaymentResult:
    """Compensation: release an authorization that will not be captured (or, for a cancellation with a fee,
    capture only the fee). When the order never recorded an authorization but one was requested, the gateway is
    asked, so a hold placed just before a failure is released too."""
    order = orders.require(order_id)
    if order["payment_status"] == PaymentStatus.PENDING and "authorization_key" in order["payment"]:
        found = gateway.find_authorization(order["payment"]["authorization_key"])
        if found is not None and found["status"] == "requires_capture":
            order = _record_authorization(orders, order, found["authorization_id"])
    if order["payment_status"] not in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURE_FAILED):
        return {"payment_status": order["payment_status"]}
    fee = order.get("cancellation", {}).get("fee", 0)
    if fee and order["payment_status"] == PaymentStatus.AUTHORIZED:
        settled = _capture(orders, order, gateway, min(fee, order["total"] - order.get("amount_captured", 0)),
                           "cancellation_fee_charged",
                           "Cancellation fee of {amount} charged; the rest of the payment hold was released.")
        return {"payment_status": settled["payment_status"], "fee": fee}
    key = f"{order_id}:void"
    authorization_id = _authorization(order)
    if authorization_id != NO_CHARGE:
        ledger.call(orders, order, "VOID", order["total"], key, lambda: gateway.void(
            authorization_id=authorization_id, idempotency_key=key))
    change = Change(
        payment_status=PaymentStatus.VOIDED,
        sets=ledger.succeeded(key, authorization_id),
        events=[timeline_entry(now(), "payment_voided", "Payment authorization released; you were not charged.")],
    )
    return {"payment_status": _apply(orders, order_id, change)["payment_status"]}


def _authorization(order: Order) -> str:
    authorization_id = order["payment"].get("authorization_id")
    if authorization_id is None:
        raise RuntimeError(f"order {order['order_id']} is {order['payment_status']} without an authorization id")
    return authorization_id


def _apply(orders: OrdersRepository, order_id: str, change: Change) -> Order:
    """Apply; a concurrent duplicate that already reached the same payment status counts as done."""
    try:
        return orders.apply(order_id, change)
    except TransitionRejected as rejected:
        if rejected.order["payment_status"] == change.payment_status:
            return rejected.order
        raise
