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

Saved cards follow Stripe's Customers and PaymentMethods (https://docs.stripe.com/api/payment_methods/attach,
https://docs.stripe.com/api/payment_methods/detach, https://docs.stripe.com/testing): ``create_customer`` is a
Customer, ``save_card`` turns a token into a PaymentMethod attached to it (the brand and last 4 digits of the test
card behind the token), and ``authorize(customer=...)`` holds funds on it. The test cards that decline cannot be
attached to a Customer (the attach is declined with the card's decline code); ``tok_chargeCustomerFail``
(4000 0000 0000 0341) attaches, and then every charge through the Customer is declined. A detached payment method
can be neither used nor attached again. Only the token's name, the brand, the last 4 digits and the expiry are
kept: never a card number.

``delete_customer`` follows Stripe's ``DELETE /v1/customers/:id`` (https://docs.stripe.com/api/customers/delete):
the customer is marked deleted and keeps nothing of ours (its ``reference`` and its idempotency key, which holds our
customer id, are dropped), its payment methods are detached, and any later use of it is refused as Stripe refuses
it (``resource_missing``, "No such customer"). The customer item lists the payment methods attached to it
(``payment_methods``, a string set added to in the same transaction that saves a card, on the condition that the
customer is not deleted), so the delete finds them without a scan, and a card saved concurrently with the delete
is either detached by it or refused.
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


class SavedCard(TypedDict):
    """A card saved at the gateway for one customer: what a storefront may show ("Visa ending 4242, 12/29")."""

    payment_method_id: str
    brand: str  # "visa", "mastercard", "amex", ... as Stripe names them
    last4: str
    exp_month: int
    exp_year: int


class PaymentGateway(Protocol):
    def authorize(self, *, token: str, amount: int, currency: str, idempotency_key: str,
                  customer: str | None = None) -> str:
        """Place a hold for ``amount``; returns the authorization id. Raises PaymentDeclined/PaymentGatewayError.

        Without ``customer``, ``token`` is the storefront's one-time card token. With ``customer`` (an id from
        ``create_customer``), ``token`` is a saved payment method id (``save_card``) attached to that customer; one
        attached to another customer, or detached, is refused (PaymentDeclined)."""
        ...

    def create_customer(self, *, reference: str, idempotency_key: str) -> str:
        """The gateway's customer object for one of our customers (``reference`` = our customer id, kept in the
        gateway's metadata; no email or name is sent). Returns its id (cus_...). Same key -> same customer."""
        ...

    def save_card(self, *, customer: str, token: str, idempotency_key: str) -> SavedCard:
        """Turn a gateway token (tok_... or an existing unattached pm_...) into a payment method attached to
        ``customer``. Raises PaymentDeclined (invalid token, a card Stripe declines on attach) or
        PaymentGatewayError (transient). Same key -> same payment method."""
        ...

    def detach_card(self, *, payment_method_id: str) -> None:
        """Detach from its customer; detaching one already detached or unknown is not an error (idempotent).
        A detached payment method can no longer be used for a payment."""
        ...

    def delete_customer(self, *, customer: str) -> None:
        """Delete the gateway's customer object (Stripe: DELETE /v1/customers/{id}, which also detaches its payment
        methods); deleting one already deleted or unknown is not an error (idempotent)."""
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
#: Stripe's "decline after attaching" card (4000 0000 0000 0341): it authorizes and attaches to a Customer, and
#: then every charge through the Customer is declined (``generic_decline``).
CUSTOMER_FAIL = "tok_chargeCustomerFail"
#: token -> (brand, last4) of the test card behind it (https://docs.stripe.com/testing#cards).
CARDS = {
    "tok_visa": ("visa", "4242"), "tok_visa_debit": ("visa", "5556"), "tok_mastercard": ("mastercard", "4444"),
    "tok_mastercard_debit": ("mastercard", "8210"), "tok_mastercard_prepaid": ("mastercard", "5100"),
    "tok_amex": ("amex", "8431"), "tok_discover": ("discover", "1117"), "tok_diners": ("diners", "0004"),
    "tok_jcb": ("jcb", "0505"), "tok_unionpay": ("unionpay", "0005"), CUSTOMER_FAIL: ("visa", "0341"),
    REAUTHORIZATION_DECLINED: ("visa", "4242"),
}
#: Test cards take any future expiry: the sandbox saves them as expiring in December, three years from now.
CARD_EXPIRY_YEARS = 3
_DECLINED = "Your card was declined."
_REUSED_KEY = ("Keys for idempotent requests can only be used with the same parameters they were first used "
               "with.")
_NOT_REUSABLE = ("The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, "
                 "shared with a connected account without Customer attachment, or was detached from a Customer. It "
                 "may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer "
                 "first.")


def _id(prefix: str, key: str) -> str:
    return f"{prefix}_sandbox_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def _saved(method: dict[str, Any]) -> SavedCard:
    return {"payment_method_id": str(method["authorization_id"]), "brand": str(method["brand"]),
            "last4": str(method["last4"]), "exp_month": int(method["exp_month"]),
            "exp_year": int(method["exp_year"])}


class SandboxGateway:
    """Stripe's test-mode behaviour, with its payment intents, charges, refunds, customers and payment methods in a
    ledger table (``SANDBOX_LEDGER_TABLE``, keyed by the object's id)."""

    def __init__(self, ledger_table: str) -> None:
        self.table = ledger_table
        self.ddb = client("dynamodb")

    def authorize(self, *, token: str, amount: int, currency: str, idempotency_key: str,
                  customer: str | None = None) -> str:
        if customer is not None:
            return self._authorize_saved(token, customer, amount, currency, idempotency_key)
        if token in TRANSIENT_CODES:
            raise PaymentGatewayError(TRANSIENT_CODES[token])
        if token in DECLINE_CODES:
            raise PaymentDeclined(DECLINE_CODES[token], _DECLINED)
        if token not in APPROVING_TOKENS and token not in (REAUTHORIZATION_DECLINED, CUSTOMER_FAIL):
            raise PaymentDeclined("invalid_token", f"No such token: {token!r}")
        return self._hold(token, amount, currency, idempotency_key)

    def _authorize_saved(self, payment_method_id: str, customer: str, amount: int, currency: str,
                         idempotency_key: str) -> str:
        """A PaymentIntent with ``customer`` and ``payment_method``: Stripe refuses a payment method the customer
        does not have (another customer's, or a detached one), then the card answers as its token does."""
        existing = self._get(_id("pi", idempotency_key))
        if existing is not None:  # Stripe's replay of the first answer for the key
            return str(existing["authorization_id"])
        self._customer(customer)
        method = self._payment_method(payment_method_id)
        if method.get("customer") != customer:
            raise PaymentDeclined("resource_missing", f"The customer does not have a payment method with the ID "
                                                      f"{payment_method_id}. The payment method must be attached "
                                                      "to the customer.")
        token = str(method["token"])
        if token in TRANSIENT_CODES:
            raise PaymentGatewayError(TRANSIENT_CODES[token])
        if token in DECLINE_CODES:  # such a card is refused at save_card; kept for completeness
            raise PaymentDeclined(DECLINE_CODES[token], _DECLINED)
        if token == CUSTOMER_FAIL:
            raise PaymentDeclined("generic_decline", _DECLINED)
        return self._hold(token, amount, currency, idempotency_key,
                          {"customer": customer, "payment_method": payment_method_id})

    def _hold(self, token: str, amount: int, currency: str, idempotency_key: str,
              saved: dict[str, str] | None = None) -> str:
        if amount <= 0:
            raise PaymentDeclined("invalid_amount", "Amount must be positive")
        authorization_id = _id("pi", idempotency_key)
        record = {"authorization_id": authorization_id, "idempotency_key": idempotency_key, "amount": amount,
                  "currency": currency, "status": "requires_capture", "token": token,
                  "created_at": datetime.now(UTC).isoformat(), **(saved or {})}
        self._put_once(record)  # the same key again answers the same authorization, as Stripe's idempotency does
        return authorization_id

    def reauthorize(self, *, authorization_id: str, amount: int, currency: str, idempotency_key: str) -> str:
        """A new hold on the same card. Like the Stripe gateway's, it charges the card through a Customer (a saved
        card's own, or the one Stripe's gateway attaches a one-time card to), so ``tok_chargeCustomerFail`` is
        declined here, and a saved card detached since is refused."""
        old = self._get(authorization_id)
        if old is None:
            raise PaymentGatewayError(f"No such payment intent: {authorization_id}")
        token = str(old.get("token", "tok_visa"))
        if token == REAUTHORIZATION_DECLINED:
            raise PaymentDeclined("expired_card", "Your card has expired.")
        if old.get("payment_method") and old.get("customer"):
            return self._authorize_saved(str(old["payment_method"]), str(old["customer"]), amount, currency,
                                         idempotency_key)
        if token == CUSTOMER_FAIL:
            raise PaymentDeclined("generic_decline", _DECLINED)
        return self._hold(token, amount, currency, idempotency_key)

    def create_customer(self, *, reference: str, idempotency_key: str) -> str:
        """A Customer (``cus_sandbox_...``, from the key) that remembers only ``reference``. The same key with
        another reference is Stripe's ``idempotency_error``; the key of a customer deleted since answers
        ``resource_missing`` (its id names a deleted customer)."""
        customer_id = _id("cus", idempotency_key)
        self._put_once({"authorization_id": customer_id, "object": "customer", "reference": reference,
                        "idempotency_key": idempotency_key, "created_at": datetime.now(UTC).isoformat()})
        if self._customer(customer_id).get("reference") != reference:
            raise PaymentDeclined("idempotency_error", _REUSED_KEY)
        return customer_id

    def save_card(self, *, customer: str, token: str, idempotency_key: str) -> SavedCard:
        """Stripe's create-then-attach: a test token becomes a PaymentMethod (``pm_sandbox_...``, from the key)
        attached to ``customer``. A card that declines is refused at the attach, as Stripe refuses it, and nothing
        is saved. An existing ``pm_`` id is attached as it is (one already attached to ``customer`` is answered
        as it is; another customer's, or a detached one, is refused)."""
        if token.startswith("pm_"):
            return self._attach(self._payment_method(token), customer)
        payment_method_id = _id("pm", idempotency_key)
        existing = self._get(payment_method_id)
        if existing is None:
            self._customer(customer)
            if token in TRANSIENT_CODES:
                raise PaymentGatewayError(f"{TRANSIENT_CODES[token]}: An error occurred while processing your "
                                          "card. Try again in a little bit.")
            if token in DECLINE_CODES:
                raise PaymentDeclined(DECLINE_CODES[token], _DECLINED)
            if token not in CARDS:
                raise PaymentDeclined("resource_missing", "No such token (not one of Stripe's test tokens)")
            brand, last4 = CARDS[token]
            now = datetime.now(UTC)
            self._create_attached({"authorization_id": payment_method_id, "object": "payment_method",
                                   "idempotency_key": idempotency_key, "token": token, "brand": brand,
                                   "last4": last4, "exp_month": 12, "exp_year": now.year + CARD_EXPIRY_YEARS,
                                   "customer": customer, "saved_for": customer, "created_at": now.isoformat()})
            existing = self._get(payment_method_id)
        if existing is None or existing.get("token") != token or existing.get("saved_for") != customer:
            raise PaymentDeclined("idempotency_error", _REUSED_KEY)
        return _saved(existing)  # the same key again: Stripe's replay of the first answer

    def _create_attached(self, method: dict[str, Any]) -> None:
        """Put the new payment method and add it to its customer's ``payment_methods``, in one transaction that
        requires the customer not to be deleted (so ``delete_customer`` either finds it or it is refused). A
        payment method already there (the same key, concurrently) is left as it is, for the caller to check."""
        payment_method_id, customer = str(method["authorization_id"]), str(method["customer"])
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": to_item(method),
                         "ConditionExpression": "attribute_not_exists(authorization_id)"}},
                {"Update": {"TableName": self.table, "Key": {"authorization_id": {"S": customer}},
                            "UpdateExpression": "ADD #pms :pm",
                            "ConditionExpression": "#o = :customer AND attribute_not_exists(#deleted)",
                            "ExpressionAttributeNames": {"#pms": "payment_methods", "#o": "object",
                                                         "#deleted": "deleted"},
                            "ExpressionAttributeValues": {":pm": {"SS": [payment_method_id]},
                                                          ":customer": {"S": "customer"}}}},
            ])
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            if self._get(payment_method_id) is not None:
                return  # saved already under the key: the caller answers it (or refuses another token)
            self._customer(customer)  # deleted meanwhile: Stripe's "No such customer"
            raise PaymentGatewayError("lock_timeout: the customer changed concurrently; retry") from None

    def _attach(self, method: dict[str, Any], customer: str) -> SavedCard:
        self._customer(customer)
        if method.get("customer") == customer:
            return _saved(method)  # attaching again to the same customer changes nothing
        if method.get("customer") is not None:
            raise PaymentDeclined("invalid_request_error", "The payment method you provided has already been "
                                                           "attached to a customer.")
        raise PaymentDeclined("invalid_request_error", _NOT_REUSABLE)  # detached: never attached again

    def detach_card(self, *, payment_method_id: str) -> None:
        """Stripe's detach: the payment method stays, attached to nobody, and is refused for payments."""
        method = self._get(payment_method_id) if payment_method_id.startswith("pm_") else None
        if method is None or method.get("object") != "payment_method" or method.get("customer") is None:
            return
        self.ddb.update_item(TableName=self.table, Key={"authorization_id": {"S": payment_method_id}},
                             UpdateExpression="REMOVE customer SET detached_at = :now",
                             ExpressionAttributeValues={":now": {"S": datetime.now(UTC).isoformat()}})

    def delete_customer(self, *, customer: str) -> None:
        """Stripe's delete: the customer stays, marked deleted, without our reference (nor the idempotency key,
        which names our customer); its payment methods are detached, and using it is refused from then on. An
        unknown customer, or one deleted already, is done (Stripe answers ``resource_missing``). Deleting it again
        detaches whatever a delete interrupted before it finished left attached."""
        if not customer.startswith("cus_"):
            return
        try:
            response = self.ddb.update_item(
                TableName=self.table, Key={"authorization_id": {"S": customer}},
                UpdateExpression="SET #deleted = :yes, deleted_at = if_not_exists(deleted_at, :now) "
                                 "REMOVE #reference, idempotency_key",
                ConditionExpression="#o = :customer",
                ExpressionAttributeNames={"#deleted": "deleted", "#reference": "reference", "#o": "object"},
                ExpressionAttributeValues={":yes": {"BOOL": True}, ":now": {"S": datetime.now(UTC).isoformat()},
                                           ":customer": {"S": "customer"}},
                ReturnValues="ALL_NEW")
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            return  # no such customer: nothing to delete
        for payment_method_id in sorted(response["Attributes"].get("payment_methods", {}).get("SS", [])):
            self.detach_card(payment_method_id=payment_method_id)

    def _customer(self, customer_id: str) -> dict[str, Any]:
        """The customer, unless unknown or deleted (Stripe answers both with "No such customer")."""
        found = self._get(customer_id) if customer_id.startswith("cus_") else None
        if found is None or found.get("object") != "customer" or found.get("deleted"):
            raise PaymentDeclined("resource_missing", f"No such customer: '{customer_id}'")
        return found

    def _payment_method(self, payment_method_id: str) -> dict[str, Any]:
        found = self._get(payment_method_id) if payment_method_id.startswith("pm_") else None
        if found is None or found.get("object") != "payment_method":
            shown = f": '{payment_method_id}'" if payment_method_id.startswith("pm_") else ""
            raise PaymentDeclined("resource_missing", f"No such PaymentMethod{shown}")
        return found

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
        """Every payment intent, charge, refund, customer and payment method."""
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
