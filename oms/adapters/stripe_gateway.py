"""The Stripe payment gateway (``PAYMENT_GATEWAY=stripe``): the ``PaymentGateway`` protocol on Stripe's
PaymentIntents API, through the official SDK (``stripe`` 16, imported on first use, never at module import).

How each operation maps to Stripe (https://docs.stripe.com/payments/place-a-hold-on-a-payment-method):

- ``authorize``: one ``POST /v1/payment_intents`` with ``confirm=true``, ``capture_method=manual`` and the
  storefront's card token as ``payment_method_data[type]=card`` + ``payment_method_data[card][token]`` (the token
  becomes a PaymentMethod; this is the PaymentMethod API's documented ``card[token]`` "backwards compatibility" form,
  which the PaymentIntents reference and the SDK's types do not list, but integrations commonly use; the fallback is
  ``POST /v1/payment_methods`` with ``card[token]`` first). ``payment_method_types=[card]``: no automatic payment
  methods, so nothing can redirect and no ``return_url`` is needed. The answer is a PaymentIntent in
  ``requires_capture``: the hold. ``metadata[oms_idempotency_key]`` carries our key so ``find_authorization`` can
  look the hold up. ``error_on_requires_action=true``: the OMS cannot show a 3-D Secure challenge, so a card that
  asks for one is declined (``authentication_required``) instead of left waiting.
- ``capture``: ``POST /v1/payment_intents/:id/capture`` with ``amount_to_capture`` (less than the hold is a partial
  capture; Stripe releases the rest). Returns the charge (``latest_charge``), which ``refund`` refunds.
- ``void``: ``POST /v1/payment_intents/:id/cancel``; an intent already ``canceled`` counts as released.
- ``refund``: ``POST /v1/refunds`` for the charge. Stripe refuses more than what remains unrefunded.
- ``find_authorization``: ``GET /v1/payment_intents/search`` on the metadata. Search is eventually consistent
  (Stripe: usually under a minute, up to an hour in an outage), so when it finds nothing the intents created in the
  last hour are also listed (strongly consistent) and filtered on the metadata.

Re-authorization (a hold about to lapse: 7 days for most card brands, 5 for a Visa merchant-initiated one). Stripe
has no "extend" call for online card payments (its ``requires_reauthorization`` is Terminal's; extended
authorizations need an eligible account and merchant category), so a renewal is a new PaymentIntent, confirmed
off-session, on the same PaymentMethod. Stripe allows a PaymentMethod to be used again only once it is attached to a
Customer ("The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment ... It
may not be used again"), and attaching it after a payment is allowed when that payment was made with
``setup_future_usage``. The choice here:

- ``authorize`` sets ``setup_future_usage=off_session`` (no Customer: one request on the hot path, and Stripe
  optimizes the card for a later merchant-initiated payment; in the EEA/UK this can make the first payment ask for
  authentication more often, which ``error_on_requires_action`` turns into a decline);
- ``reauthorize`` creates a Customer only when one is needed (``POST /v1/customers``), attaches the PaymentMethod
  to it (``POST /v1/payment_methods/:id/attach``) and confirms a new manual-capture PaymentIntent with
  ``customer``, ``payment_method`` and ``off_session=true``; a card that now wants authentication is declined
  (``authentication_required``), like any other decline. The caller voids the old hold.

Saved cards (https://docs.stripe.com/api/customers/create, https://docs.stripe.com/api/payment_methods/create,
https://docs.stripe.com/api/payment_methods/attach, https://docs.stripe.com/api/payment_methods/detach):

- ``create_customer``: ``POST /v1/customers`` with only ``metadata[oms_customer_id]`` (no email, no name).
- ``save_card``: ``POST /v1/payment_methods`` (``type=card``, ``card[token]``; skipped for a ``pm_`` id), then
  ``POST /v1/payment_methods/:id/attach``, with the keys ``<key>:payment_method`` and ``<key>:attach``, so a retry
  with the same key answers the same PaymentMethod. Stripe's declining test cards cannot be attached to a Customer:
  the attach answers the decline (``card_declined``, with its decline code) and the card stays unsaved;
  ``tok_chargeCustomerFail`` attaches and declines when charged (https://docs.stripe.com/testing). Stripe
  recommends a SetupIntent for cards that will be charged later; a plain attach does not optimize the card for
  future use, so later declines are a little more likely.
- ``authorize(customer=...)``: the PaymentIntent takes ``customer`` and ``payment_method`` (no
  ``payment_method_data``, no ``setup_future_usage``: the card is already saved). Stripe refuses a PaymentMethod the
  Customer does not have, another Customer's or one detached since ("The customer does not have a payment method
  with the ID ..."; a detached one "may not be used again"): a ``PaymentDeclined``. ``reauthorize`` finds the card
  already attached and reuses its Customer (and is refused the same way once the card is detached).
- ``detach_card``: ``POST /v1/payment_methods/:id/detach``. Stripe answers an error for a PaymentMethod that is not
  attached ("... not attached to a customer so detachment is impossible", no error code) or unknown
  (``resource_missing``); the gateway reads the PaymentMethod to tell those (done) from a real failure.
- ``delete_customer``: ``DELETE /v1/customers/:id`` (https://docs.stripe.com/api/customers/delete), answered
  ``{"id": ..., "object": "customer", "deleted": true}``. Stripe deletes permanently: it cancels the Customer's
  subscriptions, removes its card details (its PaymentMethods are detached and cannot be used again) and refuses
  any further operation on it ("No such customer", ``resource_missing``); a retrieve still answers the
  ``deleted`` stub, without the metadata that held our customer id. A second delete, or an unknown id, answers
  404 ``resource_missing``, which counts as done, so a retry (the SDK's, after a lost answer, or the caller's)
  succeeds. No Idempotency-Key: Stripe ignores it on DELETE (the SDK sends none for v1).

Idempotency: every mutating request carries a Stripe ``Idempotency-Key``: the caller's key, so a retry of the step
(and the SDK's own retries, which reuse the key) gets Stripe's saved answer instead of a second PaymentIntent or
refund; the re-authorization's extra requests add ``:customer`` / ``:attach``. Stripe saves the first answer for a
key whatever it was, errors included (keys may be pruned after 24 hours, after which the key runs the request
anew), and answers a key reused with other parameters with an ``idempotency_error``.

Errors: a card error is ``PaymentDeclined(decline_code or code, message)``, except ``processing_error``, which is
a ``PaymentGatewayError``; but Stripe replays it to every retry with the same key (and the token is used up), so
for ``authorize`` the workflow's retries only delay the refusal. An invalid request (refund over
what remains, capture of a canceled intent, a key reused with other parameters) is ``PaymentDeclined`` with Stripe's
code. Rate limits, connection errors, timeouts, Stripe's 5xx and a rejected API key are ``PaymentGatewayError``.
Messages are Stripe's, with card tokens and API keys masked, plus the request id to find the call in the Dashboard.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

from oms.adapters.payment_gateway import Authorization, AuthorizationStatus, SavedCard
from oms.domain.errors import PaymentDeclined, PaymentGatewayError

#: The PaymentIntent metadata key that holds the caller's idempotency key (what ``find_authorization`` searches).
METADATA_KEY = "oms_idempotency_key"
#: The metadata key that names the PaymentIntent a re-authorization replaced.
REAUTHORIZES_KEY = "oms_reauthorizes"
#: The Customer metadata key that holds our customer id (``create_customer``'s ``reference``).
CUSTOMER_KEY = "oms_customer_id"
_STATUSES: dict[str, AuthorizationStatus] = {
    "requires_capture": "requires_capture", "succeeded": "succeeded", "canceled": "canceled",
}
_PREFERENCE = ("requires_capture", "succeeded", "canceled")
#: How far back ``find_authorization`` lists intents when search has not caught up yet, and how many pages at most.
_RECENT_SECONDS = 3600
_RECENT_PAGES = 3
_SECRETS = re.compile(r"\b(tok|sk_live|sk_test|rk_live|rk_test)_[A-Za-z0-9_]+")


class StripeGateway:
    """Stripe PaymentIntents with manual capture. ``api_base`` points the SDK elsewhere (a test double); each
    gateway has its own ``StripeClient``, so two gateways share no SDK state (no module globals are set)."""

    def __init__(self, api_key: str, api_base: str | None = None, *, max_network_retries: int = 1,
                 timeout: float | tuple[float, float] = (2.0, 8.0)) -> None:
        import stripe  # here, not at module import: only the Stripe gateway pays for the SDK

        self._errors = stripe
        # One SDK retry of a failed connection, a timeout, a 409 or a 5xx (same Idempotency-Key), each attempt
        # connecting within 2 s and answering within 8 s: at most about 21 s, inside the functions' 30 s.
        self._client: Any = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        self._v1: Any = self._client.v1

    def authorize(self, *, token: str, amount: int, currency: str, idempotency_key: str,
                  customer: str | None = None) -> str:
        """A one-time card token (``payment_method_data``, set up for a later re-authorization), or with
        ``customer`` a PaymentMethod saved for that Customer (``customer`` + ``payment_method``)."""
        card: dict[str, Any] = (
            {"payment_method_data": {"type": "card", "card": {"token": token}}, "setup_future_usage": "off_session"}
            if customer is None else {"customer": customer, "payment_method": token})
        intent = self._call(self._v1.payment_intents.create, {
            "amount": amount,
            "currency": currency.lower(),
            "capture_method": "manual",
            "confirm": True,
            "payment_method_types": ["card"],
            **card,
            "error_on_requires_action": True,
            # Split orders capture each parcel's share as it ships (where the card and account allow it).
            "payment_method_options": {"card": {"request_multicapture": "if_available"}},
            "metadata": {METADATA_KEY: idempotency_key},
        }, key=idempotency_key)
        return _held(intent)

    def create_customer(self, *, reference: str, idempotency_key: str) -> str:
        """``POST /v1/customers`` with our customer id in the metadata, nothing else about the person."""
        customer = self._call(self._v1.customers.create, {"metadata": {CUSTOMER_KEY: reference}},
                              key=idempotency_key)
        return str(customer.id)

    def save_card(self, *, customer: str, token: str, idempotency_key: str) -> SavedCard:
        """Create the PaymentMethod from the token (unless it is one already), then attach it to ``customer``."""
        method_id = token
        if not token.startswith("pm_"):
            method_id = self._call(self._v1.payment_methods.create, {"type": "card", "card": {"token": token}},
                                   key=f"{idempotency_key}:payment_method").id
        method = self._call(self._v1.payment_methods.attach, method_id, {"customer": customer},
                            key=f"{idempotency_key}:attach")
        card = method.card
        return {"payment_method_id": str(method.id), "brand": str(card.brand), "last4": str(card.last4),
                "exp_month": int(card.exp_month), "exp_year": int(card.exp_year)}

    def detach_card(self, *, payment_method_id: str) -> None:
        """``POST /v1/payment_methods/:id/detach``; one that is unknown or attached to nobody is already done."""
        try:
            self._call(self._v1.payment_methods.detach, payment_method_id, {})
        except PaymentDeclined as refused:
            if refused.code == "resource_missing":
                return
            try:
                method = self._call(self._v1.payment_methods.retrieve, payment_method_id)
            except PaymentDeclined as missing:
                if missing.code == "resource_missing":
                    return
                raise
            if _id_of(method.customer) is not None:
                raise refused

    def delete_customer(self, *, customer: str) -> None:
        """``DELETE /v1/customers/:id``; a customer unknown or deleted already (404 ``resource_missing``) is done,
        unless Stripe says the id exists in the other mode (a test key for a live customer, or the reverse: the
        customer is still there, so the refusal stands)."""
        try:
            self._call(self._v1.customers.delete, customer)
        except PaymentDeclined as refused:
            if refused.code != "resource_missing" or "similar object exists" in refused.message:
                raise

    def capture(self, *, authorization_id: str, amount: int, idempotency_key: str, final: bool = True) -> str:
        params: dict[str, Any] = {"amount_to_capture": amount}
        if not final:
            params["final_capture"] = False  # multicapture: the rest of the hold stays for later parcels
        try:
            intent = self._call(self._v1.payment_intents.capture, authorization_id, params, key=idempotency_key)
        except PaymentDeclined as declined:
            if declined.code != "payment_intent_unexpected_state":
                raise
            intent = self._call(self._v1.payment_intents.retrieve, authorization_id)
            if intent.status != "succeeded":  # canceled: voided, or lapsed before the capture
                raise
        charge = _id_of(intent.latest_charge)
        if charge is None:
            raise PaymentGatewayError(f"captured PaymentIntent {intent.id} has no charge")
        return charge

    def void(self, *, authorization_id: str, idempotency_key: str) -> None:
        try:
            self._call(self._v1.payment_intents.cancel, authorization_id, {}, key=idempotency_key)
        except PaymentDeclined as declined:
            if declined.code != "payment_intent_unexpected_state":
                raise
            if self._call(self._v1.payment_intents.retrieve, authorization_id).status != "canceled":
                raise  # succeeded: captured, there is no hold left to release

    def reauthorize(self, *, authorization_id: str, amount: int, currency: str, idempotency_key: str) -> str:
        old = self._call(self._v1.payment_intents.retrieve, authorization_id, {"expand": ["payment_method"]})
        method = old.payment_method
        if method is None:
            raise PaymentDeclined("payment_method_missing", f"{authorization_id} has no payment method to reuse")
        customer = _id_of(method.customer) or _id_of(old.customer)
        if customer is None:
            customer = self._call(self._v1.customers.create, {
                "metadata": {METADATA_KEY: idempotency_key, REAUTHORIZES_KEY: authorization_id},
            }, key=f"{idempotency_key}:customer").id
            self._call(self._v1.payment_methods.attach, method.id, {"customer": customer},
                       key=f"{idempotency_key}:attach")
        intent = self._call(self._v1.payment_intents.create, {
            "amount": amount,
            "currency": currency.lower(),
            "capture_method": "manual",
            "confirm": True,
            "off_session": True,
            "customer": customer,
            "payment_method": method.id,
            "payment_method_types": ["card"],
            "metadata": {METADATA_KEY: idempotency_key, REAUTHORIZES_KEY: authorization_id},
        }, key=idempotency_key)
        return _held(intent)

    def refund(self, *, capture_id: str, amount: int, idempotency_key: str) -> str:
        refund = self._call(self._v1.refunds.create, {
            "charge": capture_id, "amount": amount, "metadata": {METADATA_KEY: idempotency_key},
        }, key=idempotency_key)
        if refund.status in ("failed", "canceled"):
            raise PaymentDeclined(getattr(refund, "failure_reason", None) or f"refund_{refund.status}",
                                  f"refund {refund.id} {refund.status}")
        return str(refund.id)

    def find_authorization(self, idempotency_key: str) -> Authorization | None:
        escaped = idempotency_key.replace("\\", "\\\\").replace("'", "\\'")
        found = self._call(self._v1.payment_intents.search, {
            "query": f"metadata['{METADATA_KEY}']:'{escaped}'", "limit": 10,
        }).data
        intents = [i for i in found if _metadata(i).get(METADATA_KEY) == idempotency_key and i.status in _STATUSES]
        if not intents:
            intents = self._recent(idempotency_key)
        if not intents:
            return None
        best = min(intents, key=lambda i: _PREFERENCE.index(i.status))
        return {"authorization_id": best.id, "status": _STATUSES[best.status], "amount": int(best.amount)}

    def _recent(self, idempotency_key: str) -> list[Any]:
        """The last hour's intents with this key (read-after-write consistent, unlike search)."""
        params: dict[str, Any] = {"created": {"gte": int(time.time()) - _RECENT_SECONDS}, "limit": 100}
        matches: list[Any] = []
        for _ in range(_RECENT_PAGES):
            page = self._call(self._v1.payment_intents.list, params)
            matches += [i for i in page.data
                        if _metadata(i).get(METADATA_KEY) == idempotency_key and i.status in _STATUSES]
            if not page.has_more or not page.data:
                break
            params = {**params, "starting_after": page.data[-1].id}
        return matches

    def _call(self, method: Callable[..., Any], *args: Any, key: str | None = None) -> Any:
        """Call the SDK; Stripe's errors become the domain's (refusal or transient)."""
        errors = self._errors
        try:
            return method(*args, options={"idempotency_key": key}) if key else method(*args)
        except errors.CardError as error:
            detail = _detail(error)
            code = str(detail.get("code") or "card_declined")
            if code == "processing_error" or detail.get("decline_code") == "processing_error":
                raise PaymentGatewayError(_message(error, code)) from None
            raise PaymentDeclined(str(detail.get("decline_code") or code), _message(error)) from None
        except errors.IdempotencyError as error:
            raise PaymentDeclined("idempotency_error", _message(error)) from None
        except errors.RateLimitError as error:
            raise PaymentGatewayError(_message(error, "rate_limit")) from None
        except errors.InvalidRequestError as error:
            detail = _detail(error)
            # Stripe's "Refund amount ... is greater than unrefunded amount on charge" comes without a code.
            code = detail.get("code") or ("amount_too_large" if detail.get("param") == "amount"
                                          else "invalid_request_error")
            raise PaymentDeclined(str(code), _message(error)) from None
        except errors.StripeError as error:  # connection, timeout, 5xx, authentication, permission
            raise PaymentGatewayError(_message(error, type(error).__name__)) from None


def _held(intent: Any) -> str:
    """The id of a PaymentIntent that holds the funds; any other outcome is the gateway's answer."""
    if intent.status == "requires_capture":
        return str(intent.id)
    if intent.status == "processing":
        raise PaymentGatewayError(f"PaymentIntent {intent.id} is still processing")
    raise PaymentDeclined(f"payment_intent_{intent.status}", f"PaymentIntent {intent.id} is {intent.status}")


def _id_of(value: Any) -> str | None:
    """An id, whether the API answered it as a string or as an expanded object."""
    if value is None or isinstance(value, str):
        return value
    return str(value.id)


def _metadata(stripe_object: Any) -> dict[str, Any]:
    metadata = getattr(stripe_object, "metadata", None)
    return metadata.to_dict() if metadata is not None else {}


def _detail(error: Any) -> dict[str, Any]:
    body = error.json_body if isinstance(error.json_body, dict) else {}
    detail = body.get("error")
    return detail if isinstance(detail, dict) else {}


def _message(error: Any, prefix: str | None = None) -> str:
    text = _SECRETS.sub(lambda m: f"{m.group(1)}_***", str(error.user_message or "").strip())
    if error.request_id:
        text = f"{text} (request {error.request_id})"
    return f"{prefix}: {text}" if prefix else text


def stripe_gateway_from_env() -> StripeGateway:
    """The gateway the payment function uses: the secret key from Secrets Manager (``STRIPE_SECRET_ARN``; the
    secret's value is the key itself), optionally another API host (``STRIPE_API_BASE``). The secret is re-read at
    most every 5 minutes (``oms.adapters.secrets``), so a rotated key is picked up without a deployment; the gateway
    for a key is kept for the warm function."""
    arn = os.environ.get("STRIPE_SECRET_ARN")
    if not arn:
        raise ValueError("the Stripe gateway needs STRIPE_SECRET_ARN (the secret that holds the Stripe secret key)")
    from oms.adapters.aws import is_transient
    from oms.adapters.secrets import secret

    try:
        api_key = str(secret(arn)).strip()
    except Exception as error:
        if is_transient(error):
            raise PaymentGatewayError(f"could not read the Stripe secret key: {type(error).__name__}") from None
        raise
    api_base = os.environ.get("STRIPE_API_BASE") or None
    gateway = _gateways.get((api_key, api_base))
    if gateway is None:
        _gateways.clear()  # a rotated key replaces the old gateway
        gateway = _gateways[(api_key, api_base)] = StripeGateway(api_key, api_base)
    return gateway


_gateways: dict[tuple[str, str | None], StripeGateway] = {}
