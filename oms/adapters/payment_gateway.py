"""Payment gateways. Only tokens and the gateway's ids ever reach us: no card data (PCI scope stays minimal).

``SandboxGateway`` is the built-in gateway for local runs and test deployments. It follows Stripe's
documented test tokens (https://docs.stripe.com/testing): ``tok_visa``/``tok_mastercard`` (and the other
brand tokens) authorize, ``tok_chargeDeclined*`` decline with Stripe's decline codes, and
``tok_chargeDeclinedProcessingError`` fails with ``processing_error``, which is retryable. Like a Stripe
request with an Idempotency-Key, repeating a call with the same key returns the same result: ids are
derived from the key.
"""

import hashlib
from typing import Protocol

from oms.domain.errors import PaymentDeclined, PaymentGatewayError


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
    def authorize(self, *, token: str, amount: int, currency: str, idempotency_key: str) -> str:
        if token in TRANSIENT_CODES:
            raise PaymentGatewayError(TRANSIENT_CODES[token])
        if token in DECLINE_CODES:
            raise PaymentDeclined(DECLINE_CODES[token], "Your card was declined.")
        if token not in APPROVING_TOKENS:
            raise PaymentDeclined("invalid_token", f"No such token: {token!r}")
        if amount <= 0:
            raise PaymentDeclined("invalid_amount", "Amount must be positive")
        return _id("pi", idempotency_key)

    def capture(self, *, authorization_id: str, amount: int, idempotency_key: str) -> str:
        return _id("ch", idempotency_key)

    def void(self, *, authorization_id: str, idempotency_key: str) -> None:
        return None


def gateway_for(name: str) -> PaymentGateway:
    if name == "sandbox":
        return SandboxGateway()
    raise ValueError(f"unknown PAYMENT_GATEWAY {name!r} (supported: sandbox)")
