"""Payment gateways. Only tokens and the gateway's ids ever reach us: no card data (PCI scope stays minimal).

``SandboxGateway`` is the built-in gateway for local runs and test deployments. It follows Stripe's documented
behaviour (https://docs.stripe.com/testing, https://docs.stripe.com/payments/place-a-hold-on-a-payment-method):
``tok_visa``/``tok_mastercard`` (and the other brand tokens) authorize, ``tok_chargeDeclined*`` decline with
Stripe's decline codes, and ``tok_chargeDeclinedProcessingError`` fails with ``processing_error``. An authorization
is a PaymentIntent with ``capture_method=manual``: ``requires_capture`` until it is captured (``succeeded``) or
canceled (``canceled``). Like a Stripe request with an Idempotency-Key, repeating a call with the same key returns
the same result (ids derive from the key), and the gateway remembers its authorizations (the sandbox ledger, a
DynamoDB table), so a caller that lost an answer can ask what happened.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
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

    def capture(self, *, authorization_id: str, amount: int, idempotency_key: str) -> str:
        """Capture (part of) an authorization; returns the capture id."""
        ...

    def void(self, *, authorization_id: str, idempotency_key: str) -> None:
        """Release an uncaptured authorization."""
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


def _id(prefix: str, key: str) -> str:
    return f"{prefix}_sandbox_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class SandboxGateway:
    """Stripe's test-mode behaviour, with its authorizations in a ledger table (``SANDBOX_LEDGER_TABLE``)."""

    def __init__(self, ledger_table: str) -> None:
        self.table = ledger_table
        self.ddb = client("dynamodb")

    def authorize(self, *, token: str, amount: int, currency: str, idempotency_key: str) -> str:
        if token in TRANSIENT_CODES:
            raise PaymentGatewayError(TRANSIENT_CODES[token])
        if token in DECLINE_CODES:
            raise PaymentDeclined(DECLINE_CODES[token], "Your card was declined.")
        if token not in APPROVING_TOKENS:
            raise PaymentDeclined("invalid_token", f"No such token: {token!r}")
        if amount <= 0:
            raise PaymentDeclined("invalid_amount", "Amount must be positive")
        authorization_id = _id("pi", idempotency_key)
        record = {"authorization_id": authorization_id, "idempotency_key": idempotency_key, "amount": amount,
                  "currency": currency, "status": "requires_capture", "created_at": datetime.now(UTC).isoformat()}
        try:  # the same key again answers the same authorization, as Stripe's idempotency does
            self.ddb.put_item(TableName=self.table, Item=to_item(record),
                              ConditionExpression="attribute_not_exists(authorization_id)")
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
        return authorization_id

    def capture(self, *, authorization_id: str, amount: int, idempotency_key: str) -> str:
        capture_id = _id("ch", idempotency_key)
        self._transition(authorization_id, "succeeded", {"captured_amount": amount, "capture_id": capture_id})
        return capture_id

    def void(self, *, authorization_id: str, idempotency_key: str) -> None:
        self._transition(authorization_id, "canceled", {})

    def find_authorization(self, idempotency_key: str) -> Authorization | None:
        found = self._get(_id("pi", idempotency_key))
        if found is None:
            return None
        return {"authorization_id": found["authorization_id"], "status": found["status"], "amount": found["amount"]}

    def ledger(self) -> list[dict[str, Any]]:
        """Every authorization the sandbox holds (what a test checks nothing leaked against)."""
        pages = self.ddb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True)
        return [from_item(item) for page in pages for item in page.get("Items", [])]

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


def gateway_for(name: str, sandbox_ledger_table: str | None) -> PaymentGateway:
    if name == "sandbox":
        if not sandbox_ledger_table:
            raise ValueError("the sandbox gateway needs SANDBOX_LEDGER_TABLE")
        return SandboxGateway(sandbox_ledger_table)
    raise ValueError(f"unknown PAYMENT_GATEWAY {name!r} (supported: sandbox)")
