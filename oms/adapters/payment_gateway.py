"""Payment gateways. Only tokens and the gateway's ids ever reach us: no card data (PCI scope stays minimal).

``SandboxGateway`` is the built-in gateway for local runs and test deployments. It follows Stripe's documented
behaviour (https://docs.stripe.com/testing, https://docs.stripe.com/payments/place-a-hold-on-a-payment-method):
``tok_visa``/``tok_mastercard`` (and the other brand tokens) authorize, ``tok_chargeDeclined*`` decline with
Stripe's decline codes, and ``tok_chargeDeclinedProcessingError`` fails with ``processing_error``. An authorization
is a PaymentIntent with ``capture_method=manual``: ``requires_capture`` until it is captured (``succeeded``) or
canceled (``canceled``). Like a Stripe request with an Idempotency-Key, repeating a call with the same key returns
the same result (ids derive from the key), and the gateway remembers its authorizations (the sandbox ledger, a
DynamoDB table), so a caller that lost an answer can ask what happened. Refunds follow Stripe's: partial refunds,
never more than what remains of the charge, the same key answering the same refund.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, Protocol, TypedDict

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import from_item, is_conditional_failure, to_item
from oms.domain.errors import PaymentDeclined, PaymentGatewayError

AuthorizationStatus = Literal["requires_capture", "succeeded", "canceled"]


class Authorization(TypedDict):
    authorization_id: str
    status: AuthorizationStatus
    amount: int


class PaymentGateway(Protocol):
    def authorize(self, *, token: str, amount: int, currency: str, idempotency_key: str) -> str:
        """Place a hold for ``amount``; returns the authorization id. Raises PaymentDeclined/PaymentGatewayError."""
        ...

    def capture(self, *, authorization_id: str, amount: int, idempotency_key: str, final: bool = True) -> str:
        """Capture (part of) an authorization; returns the capture id. ``final`` releases the rest of the hold;
        otherwise the hold stays for later captures (a split order's parcels: Stripe's multicapture)."""
        ...

    def void(self, *, authorization_id: str, idempotency_key: str) -> None:
        """Release an uncaptured authorization."""
        ...

    def reauthorize(self, *, authorization_id: str, amount: int, currency: str, idempotency_key: str) -> str:
        """A fresh hold on the same payment method as ``authorization_id`` (whose hold is about to lapse); returns
        the new authorization id. The caller voids the old one. Raises PaymentDeclined/PaymentGatewayError."""
        ...

    def refund(self, *, capture_id: str, amount: int, idempotency_key: str) -> str:
        """Refund ``amount`` (minor units) of a capture; returns the refund id. The same key returns the same
        refund. Raises PaymentDeclined (e.g. more than what remains refundable) or PaymentGatewayError."""
        ...

    def find_authorization(self, idempotency_key: str) -> Authorization | None:
        """The authorization an ``authorize`` with this key created, if it did (Stripe: search by metadata)."""
        ...


APPROVING_TOKENS = frozenset({
    "tok_visa", "tok_visa_debit", "tok_mastercard", "tok_mastercard_debit", "tok_mastercard_prepaid",
    "tok_amex", "tok_discover", "tok_diners", "tok_jcb", "tok_unionpay",
})
DECLINE_CODES = {
    "tok_chargeDeclined": "generic_decline",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "tok_chargeDeclinedFraudulent": "fraudulent",
    "tok_chargeDeclinedIncorrectCvc": "incorrect_cvc",
    "tok_chargeDeclinedExpiredCard": "expired_card",
    "tok_visa_chargeDeclinedLostCard": "lost_card",
    "tok_visa_chargeDeclinedStolenCard": "stolen_card",
}
TRANSIENT_CODES = {"tok_chargeDeclinedProcessingError": "processing_error"}
#: Sandbox only (Stripe has no such token): authorizes, but a re-authorization before capture is declined
#: (``expired_card``), as when a card expires while an order waits longer than its hold.
REAUTHORIZATION_DECLINED = "tok_sandbox_reauthorizationDeclined"


def _id(prefix: str, key: str) -> str:
    return f"{prefix}_sandbox_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class SandboxGateway:
    """Stripe's test-mode behaviour, with its payment intents, charges and refunds in a ledger table
    (``SANDBOX_LEDGER_TABLE``, keyed by the object's id)."""

    def __init__(self, ledger_table: str) -> None:
        self.table = ledger_table
        self.ddb = client("dynamodb")

    def authorize(self, *, token: str, amount: int, currency: str, idempotency_key: str) -> str:
        if token in TRANSIENT_CODES:
            raise PaymentGatewayError(TRANSIENT_CODES[token])
        if token in DECLINE_CODES:
            raise PaymentDeclined(DECLINE_CODES[token], "Your card was declined.")
        if token not in APPROVING_TOKENS and token != REAUTHORIZATION_DECLINED:
            raise PaymentDeclined("invalid_token", f"No such token: {token!r}")
        return self._hold(token, amount, currency, idempotency_key)

    def _hold(self, token: str, amount: int, currency: str, idempotency_key: str) -> str:
        if amount <= 0:
            raise PaymentDeclined("invalid_amount", "Amount must be positive")
        authorization_id = _id("pi", idempotency_key)
        record = {"authorization_id": authorization_id, "idempotency_key": idempotency_key, "amount": amount,
                  "currency": currency, "status": "requires_capture", "token": token,
                  "created_at": datetime.now(UTC).isoformat()}
        self._put_once(record)  # the same key again answers the same authorization, as Stripe's idempotency does
        return authorization_id

    def reauthorize(self, *, authorization_id: str, amount: int, currency: str, idempotency_key: str) -> str:
        old = self._get(authorization_id)
        if old is None:
            raise PaymentGatewayError(f"No such payment intent: {authorization_id}")
        if old.get("token") == REAUTHORIZATION_DECLINED:
            raise PaymentDeclined("expired_card", "Your card has expired.")
        return self._hold(str(old.get("token", "tok_visa")), amount, currency, idempotency_key)

    def capture(self, *, authorization_id: str, amount: int, idempotency_key: str, final: bool = True) -> str:
        """Stripe's manual capture with multicapture: each capture adds to the intent's one charge; a final one
        (or a capture of everything left) ends the hold. The same key again answers the same charge."""
        intent = self._get(authorization_id)
        if intent is None:
            raise PaymentGatewayError(f"No such payment intent: {authorization_id}")
        capture_id = _id("ch", authorization_id)
        if idempotency_key in intent.get("capture_keys", []):
            return capture_id
        if intent["status"] != "requires_capture":
            raise PaymentDeclined("payment_intent_unexpected_state",
                                  f"{authorization_id} is {intent['status']}, cannot be captured")
        captured = int(intent.get("captured_amount", 0))
        capturable = int(intent["amount"]) - captured
        if amount < 1 or amount > capturable:
            raise PaymentDeclined("amount_too_large", f"amount_to_capture {amount} is above the {capturable} "
                                                      "capturable")
        done = final or amount == capturable
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": {"authorization_id": {"S": authorization_id}},
                            "UpdateExpression": "SET captured_amount = :new, capture_id = :charge, #s = :status, "
                                                "capture_keys = list_append(if_not_exists(capture_keys, :none), "
                                                ":key)",
                            "ConditionExpression": "#s = :capturable AND (attribute_not_exists(captured_amount) "
                                                   "OR captured_amount = :old)",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":new": {"N": str(captured + amount)}, ":old": {"N": str(captured)},
                                ":charge": {"S": capture_id}, ":none": {"L": []},
                                ":key": {"L": [{"S": idempotency_key}]},
                                ":status": {"S": "succeeded" if done else "requires_capture"},
                                ":capturable": {"S": "requires_capture"}}}},
                {"Put": {"TableName": self.table, "Item": to_item({
                    "authorization_id": capture_id, "payment_intent": authorization_id,
                    "amount": captured + amount, "refunded": 0, "status": "succeeded"})}},
            ])
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            raise PaymentGatewayError("lock_timeout: the payment intent changed concurrently; retry") from None
        return capture_id

    def void(self, *, authorization_id: str, idempotency_key: str) -> None:
        """Release the hold; an intent a parcel already captured part of keeps that charge (``succeeded``)."""
        intent = self._get(authorization_id)
        partly = intent is not None and int(intent.get("captured_amount", 0)) > 0
        self._transition(authorization_id, "succeeded" if partly else "canceled", {})

    def refund(self, *, capture_id: str, amount: int, idempotency_key: str) -> str:
        """Stripe's refund rules: a positive amount, at most what remains of the charge; the same key, the same
        refund (a repeat with another amount is Stripe's ``idempotency_error``)."""
        refund_id = _id("re", idempotency_key)
        existing = self._get(refund_id)
        if existing is not None:
            if existing["amount"] != amount or existing["charge"] != capture_id:
                raise PaymentDeclined("idempotency_error", "Keys for idempotent requests can only be used with "
                                                           "the same parameters they were first used with.")
            return refund_id
        charge = self._get(capture_id)
        if charge is None:
            raise PaymentDeclined("resource_missing", f"No such charge: {capture_id!r}")
        if amount <= 0:
            raise PaymentDeclined("parameter_invalid_integer", "amount must be positive")
        remaining = charge["amount"] - charge["refunded"]
        if amount > remaining:
            raise PaymentDeclined("amount_too_large", f"Refund amount ({amount}) is greater than unrefunded amount "
                                                      f"on charge ({remaining})")
        record = {"authorization_id": refund_id, "charge": capture_id, "amount": amount, "status": "succeeded",
                  "created_at": datetime.now(UTC).isoformat()}
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": {"authorization_id": {"S": capture_id}},
                            "UpdateExpression": "SET refunded = :new", "ConditionExpression": "refunded = :old",
                            "ExpressionAttributeValues": {":new": {"N": str(charge["refunded"] + amount)},
                                                          ":old": {"N": str(charge["refunded"])}}}},
                {"Put": {"TableName": self.table, "Item": to_item(record),
                         "ConditionExpression": "attribute_not_exists(authorization_id)"}},
            ])
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            raise PaymentGatewayError("lock_timeout: the charge changed concurrently; retry") from None
        return refund_id

    def find_authorization(self, idempotency_key: str) -> Authorization | None:
        found = self._get(_id("pi", idempotency_key))
        if found is None:
            return None
        return {"authorization_id": found["authorization_id"], "status": found["status"], "amount": found["amount"]}

    def ledger(self) -> list[dict[str, Any]]:
        """Every payment intent the sandbox holds (what a test checks nothing leaked against)."""
        return [item for item in self.objects() if item["authorization_id"].startswith("pi_")]

    def objects(self) -> list[dict[str, Any]]:
        """Every payment intent, charge and refund."""
        pages = self.ddb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True)
        return [from_item(item) for page in pages for item in page.get("Items", [])]

    def _put_once(self, record: dict[str, Any]) -> None:
        try:
            self.ddb.put_item(TableName=self.table, Item=to_item(record),
                              ConditionExpression="attribute_not_exists(authorization_id)")
        except ClientError as error:
            if not is_conditional_failure(error):
                raise

    def _get(self, authorization_id: str) -> dict[str, Any] | None:
        response = self.ddb.get_item(TableName=self.table, Key={"authorization_id": {"S": authorization_id}},
                                     ConsistentRead=True)
        return from_item(response["Item"]) if "Item" in response else None

    def _transition(self, authorization_id: str, to: AuthorizationStatus, extra: dict[str, Any]) -> None:
        """requires_capture -> ``to``; repeating it is a no-op; any other move is the gateway's refusal."""
        names = {"#s": "status", **{f"#{k}": k for k in extra}}
        values = {":from": {"S": "requires_capture"}, ":to": {"S": to},
                  **{f":{k}": to_item({k: v})[k] for k, v in extra.items()}}
        sets = ", ".join(["#s = :to", *(f"#{k} = :{k}" for k in extra)])
        try:
            self.ddb.update_item(TableName=self.table, Key={"authorization_id": {"S": authorization_id}},
                                 UpdateExpression=f"SET {sets}", ConditionExpression="#s = :from",
                                 ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            current = self._get(authorization_id)
            if current is None:
                raise PaymentGatewayError(f"No such payment intent: {authorization_id}") from None
            if current["status"] != to:
                raise PaymentDeclined("payment_intent_unexpected_state",
                                      f"{authorization_id} is {current['status']}, cannot become {to}") from None


@cache
def _sandbox(table: str) -> SandboxGateway:
    return SandboxGateway(table)


def gateway_for(name: str, sandbox_ledger_table: str | None) -> PaymentGateway:
    if name == "sandbox":
        if not sandbox_ledger_table:
            raise ValueError("the sandbox gateway needs SANDBOX_LEDGER_TABLE")
        return _sandbox(sandbox_ledger_table)
    if name == "stripe":
        from oms.adapters.stripe_gateway import stripe_gateway_from_env  # the Stripe SDK only where it is used

        return stripe_gateway_from_env()
    raise ValueError(f"unknown PAYMENT_GATEWAY {name!r} (supported: sandbox, stripe)")
