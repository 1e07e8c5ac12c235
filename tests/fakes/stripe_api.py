"""An in-process fake of the few Stripe API endpoints the Stripe gateway uses, answering as Stripe's API reference
and test-mode docs describe them, so the real SDK (``stripe``) can be pointed at it.

    with FakeStripe() as fake:
        gateway = StripeGateway(fake.api_key, fake.url)

What it implements (form-encoded requests, as the SDK sends them; JSON answers):

- ``POST /v1/payment_intents`` (create, with ``confirm``; ``payment_method_data[card][token]`` or
  ``payment_method``, ``customer``, ``off_session``, ``setup_future_usage``, ``capture_method``, ``metadata``),
  ``GET /v1/payment_intents/:id`` (``expand[]=payment_method``), ``GET /v1/payment_intents`` (list, ``created``,
  ``limit``, ``starting_after``), ``GET /v1/payment_intents/search`` (``metadata['k']:'v'`` and ``status:'v'``
  clauses joined by ``AND``), ``POST /v1/payment_intents/:id/capture`` (``amount_to_capture``; the rest is
  released), ``POST /v1/payment_intents/:id/cancel``, ``POST /v1/refunds`` (``charge`` or ``payment_intent``,
  ``amount``), ``POST /v1/customers``, ``GET /v1/customers/:id``, ``DELETE /v1/customers/:id``,
  ``POST /v1/payment_methods`` (``type=card``, ``card[token]``), ``GET /v1/payment_methods/:id``,
  ``POST /v1/payment_methods/:id/attach``, ``POST /v1/payment_methods/:id/detach``.
- Deleting a Customer (https://docs.stripe.com/api/customers/delete) answers ``{id, object: "customer",
  deleted: true}`` and replaces the Customer with that stub (its metadata is gone); its PaymentMethods are detached
  (never usable or attachable again). A retrieve answers the stub (Stripe: deleted customers "can still be
  retrieved"); any other use of it (a PaymentIntent's ``customer``, an attach) and a second delete answer 404
  ``resource_missing`` ("No such customer"), as for an id that never existed.
- Test tokens (https://docs.stripe.com/testing): the brand tokens (``tok_visa``, ...) approve;
  ``tok_chargeDeclined*`` and the lost/stolen ones decline with ``card_error`` (HTTP 402) and Stripe's
  ``code``/``decline_code``; ``tok_chargeDeclinedProcessingError`` fails with ``code=processing_error``;
  ``tok_chargeCustomerFail`` approves until it is charged through a Customer. The declining cards cannot be
  attached to a Customer: the attach answers the card's decline (402) and the PaymentMethod stays unattached.
- A PaymentMethod not attached to a Customer is good for one PaymentIntent; it can be attached afterwards only if
  that PaymentIntent had ``setup_future_usage`` (Stripe's rule for reusing payment methods). A detached one can be
  neither used nor attached again. A PaymentIntent with ``customer`` takes only a ``payment_method`` attached to
  that Customer; one attached to a Customer needs that Customer's ``customer``.
- Idempotency (https://docs.stripe.com/api/idempotent_requests): a POST's ``Idempotency-Key`` saves the status and
  body of the first answer once the endpoint has started (errors included); the same key with the same method, path
  and parameters gets that answer again with ``Idempotent-Replayed: true``; with anything else, a 400
  ``idempotency_error``. Keys are per API key.
- Search lags behind writes by ``search_delay`` seconds (Stripe: usually under a minute); the list does not.
- ``Authorization: Bearer <api_key>`` is checked (401 otherwise).

Failure injection, for a path prefix (and optionally a method), ``times`` requests in a row:

- ``fail_next``: answer an error (default a 500 ``api_error``) without running anything (as a failure in front
  of the API would: nothing is saved under the key);
- ``drop_next``: run the request (its answer is saved under its key), then close the connection without answering
  (a lost response);
- ``delay_next``: run the request, then wait ``seconds`` before answering (past the client's timeout).

State is plain dicts (``payment_intents``, ``charges``, ``refunds``, ``customers``, ``payment_methods``) and
``requests``, one ``Request`` per HTTP request received, for tests to assert on. Simplification: a partial capture
or a cancel counts the released part in the charge's ``amount_refunded``, as Stripe reports it, but creates no
refund object.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import string
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

APPROVING_TOKENS = {
    "tok_visa": ("visa", "4242"), "tok_visa_debit": ("visa", "5556"), "tok_mastercard": ("mastercard", "4444"),
    "tok_mastercard_debit": ("mastercard", "8210"), "tok_mastercard_prepaid": ("mastercard", "5100"),
    "tok_amex": ("amex", "8431"), "tok_discover": ("discover", "1117"), "tok_diners": ("diners", "0004"),
    "tok_jcb": ("jcb", "0505"), "tok_unionpay": ("unionpay", "0005"),
    "tok_chargeCustomerFail": ("visa", "0341"),
}
#: token -> (code, decline_code, message), as the test cards decline.
DECLINING_TOKENS = {
    "tok_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "tok_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "tok_chargeDeclinedFraudulent": ("card_declined", "fraudulent", "Your card was declined."),
    "tok_chargeDeclinedIncorrectCvc": ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
    "tok_chargeDeclinedExpiredCard": ("expired_card", "expired_card", "Your card has expired."),
    "tok_visa_chargeDeclinedLostCard": ("card_declined", "lost_card", "Your card was declined."),
    "tok_visa_chargeDeclinedStolenCard": ("card_declined", "stolen_card", "Your card was declined."),
    "tok_chargeDeclinedProcessingError": (
        "processing_error", None, "An error occurred while processing your card. Try again in a little bit."),
}
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
HOLD_SECONDS = 7 * 24 * 3600
MIT_VISA_HOLD_SECONDS = 4 * 24 * 3600 + 18 * 3600  # Visa merchant-initiated: 4 days 18 hours
API_VERSION = "2026-10-28.endive"  # what stripe 16.1.0 sends


class StripeFailure(Exception):
    """An error answer: ``status`` and the ``error`` object; ``saved`` is False for a validation failure (Stripe
    saves no idempotent result for those)."""

    def __init__(self, status: int, error: dict[str, Any], *, saved: bool = True) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error
        self.saved = saved


def invalid(message: str, *, code: str | None = None, param: str | None = None, status: int = 400,
            saved: bool = True, **extra: Any) -> StripeFailure:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return StripeFailure(status, {**error, **extra}, saved=saved)


def missing(kind: str, object_id: str, param: str) -> StripeFailure:
    return invalid(f"No such {kind}: '{object_id}'", code="resource_missing", param=param, status=404)


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    status: int = 0
    replayed: bool = False
    answered: bool = True


@dataclass
class _Fault:
    prefix: str
    method: str | None
    times: int
    kind: str  # "fail" | "drop" | "delay"
    status: int = 500
    error: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Saved:
    method: str
    path: str
    params: list[tuple[str, str]]
    status: int
    body: dict[str, Any]
    request_id: str


def new_id(prefix: str, length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return f"{prefix}_{''.join(secrets.choice(alphabet) for _ in range(length))}"


def nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0]=x`` pairs as nested dicts, where numeric-keyed dicts become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, *rest = re.findall(r"[^\[\]]+|(?<=\[)(?=\])", key) or [key]
        parts = [head, *rest]
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # a[]=x: append
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    converted: dict[str, Any] = _lists(root)
    return converted


def _lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _lists(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _int(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise invalid(f"Missing required param: {name}.", code="parameter_missing", param=name, saved=False)
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid("Invalid integer: " + str(value), code="parameter_invalid_integer", param=name,
                      saved=False) from None
    return number


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def _money(amount: int, currency: str) -> str:
    return f"${amount / 100:.2f}" if currency == "usd" else f"{amount / 100:.2f} {currency.upper()}"


class FakeStripe:
    """The fake API on ``127.0.0.1`` (a free port), served by a thread while the context is open."""

    def __init__(self, api_key: str = "sk_test_fake_oms", *, search_delay: float = 0.0) -> None:
        self.api_key = api_key
        self.search_delay = search_delay
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        #: per PaymentMethod: token, used, set up for future use, detached
        self._pm_state: dict[str, dict[str, Any]] = {}
        self._searchable_at: dict[str, float] = {}
        self._order: list[str] = []  # PaymentIntent ids, oldest first
        self._saved: dict[tuple[str, str], _Saved] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-stripe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- failure injection ------------------------------------------------------------------------------------

    def fail_next(self, path_prefix: str, status: int = 500, *, method: str | None = None, times: int = 1,
                  error_type: str | None = None, code: str | None = None, message: str | None = None) -> None:
        """Answer the next ``times`` matching requests with an error, running nothing (nothing saved)."""
        if error_type is None:
            error_type = "api_error" if status >= 500 else "invalid_request_error"
        if code is None and status == 429:
            code = "rate_limit"
        error: dict[str, Any] = {"type": error_type,
                                 "message": message or ("Too many requests hit the API too quickly." if status == 429
                                                        else "An unknown error occurred")}
        if code:
            error["code"] = code
        with self._lock:
            self._faults.append(_Fault(path_prefix, method, times, "fail", status=status, error=error))

    def drop_next(self, path_prefix: str, *, method: str | None = None, times: int = 1) -> None:
        """Run the next ``times`` matching requests, then close their connections without answering."""
        with self._lock:
            self._faults.append(_Fault(path_prefix, method, times, "drop"))

    def delay_next(self, path_prefix: str, seconds: float, *, method: str | None = None, times: int = 1) -> None:
        """Run the next ``times`` matching requests, then wait ``seconds`` before answering."""
        with self._lock:
            self._faults.append(_Fault(path_prefix, method, times, "delay", seconds=seconds))

    def expire(self, payment_intent_id: str) -> None:
        """What Stripe does to an uncaptured PaymentIntent when its authorization lapses."""
        with self._lock:
            intent = self.payment_intents[payment_intent_id]
            self._cancel(intent, "automatic")

    def posts(self, path_prefix: str = "/v1/") -> list[Request]:
        """The POST requests received under ``path_prefix``."""
        return [r for r in self.requests if r.method == "POST" and r.path.startswith(path_prefix)]

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.prefix) and (fault.method is None or fault.method == method):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # --- requests ---------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, pairs: list[tuple[str, str]], headers: dict[str, str],
               record: Request) -> tuple[int, dict[str, Any], dict[str, str]]:
        """One request: authentication, idempotency, then the endpoint. Returns status, body and extra headers."""
        request_id = new_id("req", 14)
        extra = {"Request-Id": request_id}
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return 401, {"error": {"type": "invalid_request_error", "message": (
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")}}, extra
        api_key = authorization.removeprefix("Bearer ").strip()
        if api_key != self.api_key:
            return 401, {"error": {"type": "invalid_request_error",
                                   "message": f"Invalid API Key provided: {api_key[:8]}****{api_key[-4:]}"}}, extra
        key = headers.get("idempotency-key") if method == "POST" else None
        if key:
            extra["Idempotency-Key"] = key
        with self._lock:
            if key:
                saved = self._saved.get((api_key, key))
                if saved is not None:
                    if (saved.method, saved.path, saved.params) != (method, path, sorted(pairs)):
                        return 400, {"error": {"type": "idempotency_error", "message": (
                            "Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{key}' if you meant to execute a different "
                            "request.")}}, extra
                    record.replayed = True
                    return saved.status, saved.body, {**extra, "Idempotent-Replayed": "true",
                                                      "Original-Request": saved.request_id}
            try:
                status, body = 200, self._route(method, path, nested(pairs))
            except StripeFailure as failure:
                status, body = failure.status, {"error": failure.error}
                if not failure.saved:
                    return status, body, extra
            if key:
                self._saved[(api_key, key)] = _Saved(method, path, sorted(pairs), status, body, request_id)
            return status, body, extra

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            raise invalid(f"Unrecognized request URL ({method}: {path}).", status=404, saved=False)
        parts = parts[1:]
        match method, parts:
            case "POST", ["payment_intents"]:
                return self._create_payment_intent(params)
            case "GET", ["payment_intents"]:
                return self._list_payment_intents(params)
            case "GET", ["payment_intents", "search"]:
                return self._search_payment_intents(params)
            case "GET", ["payment_intents", intent_id]:
                return self._view(self._intent(intent_id), params)
            case "POST", ["payment_intents", intent_id, "capture"]:
                return self._capture(self._intent(intent_id), params)
            case "POST", ["payment_intents", intent_id, "cancel"]:
                intent = self._intent(intent_id)
                if intent["status"] not in CANCELABLE:
                    raise invalid(
                        f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
                        f"PaymentIntent with one of the following statuses may be canceled: {', '.join(CANCELABLE)}.",
                        code="payment_intent_unexpected_state", payment_intent=dict(intent))
                self._cancel(intent, params.get("cancellation_reason"))
                return intent
            case "POST", ["refunds"]:
                return self._create_refund(params)
            case "POST", ["customers"]:
                customer = {"id": new_id("cus", 14), "object": "customer", "created": int(time.time()),
                            "email": params.get("email"), "livemode": False, "metadata": params.get("metadata", {})}
                self.customers[customer["id"]] = customer
                return customer
            case "GET", ["customers", customer_id]:
                found = self.customers.get(customer_id)
                if found is None:
                    raise missing("customer", customer_id, "id")
                return found  # a deleted one too: its stub
            case "DELETE", ["customers", customer_id]:
                return self._delete_customer(customer_id)
            case "POST", ["payment_methods"]:
                return self._create_payment_method(params)
            case "GET", ["payment_methods", method_id]:
                return self._method(method_id)
            case "POST", ["payment_methods", method_id, "attach"]:
                return self._attach(method_id, params)
            case "POST", ["payment_methods", method_id, "detach"]:
                return self._detach(method_id)
        raise invalid(f"Unrecognized request URL ({method}: {path}).", status=404, saved=False)

    def _intent(self, intent_id: str) -> dict[str, Any]:
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise missing("payment_intent", intent_id, "intent")
        return intent

    def _view(self, intent: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        expand = params.get("expand") or []
        view = dict(intent)
        if "payment_method" in expand and intent["payment_method"]:
            view["payment_method"] = self.payment_methods[intent["payment_method"]]
        return view

    # --- PaymentIntents ---------------------------------------------------------------------------------------

    def _create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = _int(params, "amount", required=True)
        assert amount is not None
        if amount < 1:
            raise invalid("This value must be greater than or equal to 1.", code="parameter_invalid_integer",
                          param="amount", saved=False)
        currency = str(params.get("currency") or "")
        if not currency:
            raise invalid("Missing required param: currency.", code="parameter_missing", param="currency",
                          saved=False)
        confirm = _flag(params.get("confirm"))
        off_session = _flag(params.get("off_session"))
        if off_session and not confirm:
            raise invalid("You can only pass in `off_session` when `confirm` is true.", param="off_session",
                          saved=False)
        customer = params.get("customer")
        if customer is not None:
            self._customer(customer, "customer")
        method_id = self._payment_method_for(params, customer)
        now = int(time.time())
        intent: dict[str, Any] = {
            "id": new_id("pi"), "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_received": 0, "canceled_at": None, "cancellation_reason": None,
            "capture_method": params.get("capture_method", "automatic_async"), "confirmation_method": "automatic",
            "created": now, "currency": currency.lower(), "customer": customer,
            "description": params.get("description"),
            "last_payment_error": None, "latest_charge": None, "livemode": False,
            "metadata": params.get("metadata", {}), "payment_method": method_id,
            "payment_method_types": params.get("payment_method_types", ["card"]),
            "setup_future_usage": params.get("setup_future_usage"),
            "status": "requires_confirmation" if method_id else "requires_payment_method",
            "payment_method_options": params.get("payment_method_options") or {},
        }
        intent["client_secret"] = f"{intent['id']}_secret_{new_id('x')[2:]}"
        self.payment_intents[intent["id"]] = intent
        self._order.append(intent["id"])
        self._searchable_at[intent["id"]] = time.monotonic() + self.search_delay
        if confirm:
            if method_id is None:
                raise invalid("You cannot confirm this PaymentIntent because it's missing a payment method.",
                              code="payment_intent_unexpected_state", payment_intent=dict(intent))
            self._confirm(intent, off_session=off_session)
        return intent

    def _payment_method_for(self, params: dict[str, Any], customer: str | None) -> str | None:
        data = params.get("payment_method_data")
        if data is not None:
            if params.get("payment_method"):
                raise invalid("You cannot pass both payment_method and payment_method_data.", saved=False)
            if data.get("type") != "card" or not isinstance(data.get("card"), dict):
                raise invalid("This fake only takes card tokens: payment_method_data[card][token].",
                              param="payment_method_data", saved=False)
            return str(self._new_payment_method(data["card"].get("token", ""),
                                                "payment_method_data[card][token]")["id"])
        method_id = params.get("payment_method")
        if method_id is None:
            return None
        method = self.payment_methods.get(method_id)
        if method is None:
            raise missing("PaymentMethod", method_id, "payment_method")
        if customer is not None and method["customer"] != customer:
            raise invalid(f"The customer does not have a payment method with the ID {method_id}. The payment "
                          "method must be attached to the customer.", code="resource_missing",
                          param="payment_method")
        if method["customer"] is not None and customer is None:
            raise invalid(f"The `payment_method` parameter supplied {method_id} belongs to the Customer "
                          f"{method['customer']}. Please include the Customer in the `customer` parameter on the "
                          "PaymentIntent.", param="payment_method")
        if method["customer"] is None and self._pm_state[method_id]["used"]:
            raise invalid(self._reuse_message(), param="payment_method")
        return str(method_id)

    def _new_payment_method(self, token: Any, param: str) -> dict[str, Any]:
        """A card PaymentMethod from a test token (``card[token]``), attached to nobody."""
        token = str(token or "")
        if token not in APPROVING_TOKENS and token not in DECLINING_TOKENS:
            raise missing("token", token, param)
        brand, last4 = APPROVING_TOKENS.get(token, ("visa", "0002"))
        created_id = new_id("pm")
        method = self.payment_methods[created_id] = {
            "id": created_id, "object": "payment_method", "type": "card", "created": int(time.time()),
            "customer": None, "livemode": False, "metadata": {}, "billing_details": {},
            "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034, "funding": "credit",
                     "country": "US"}}
        self._pm_state[created_id] = {"token": token, "used": False, "future_usage": False, "detached": False}
        return method

    @staticmethod
    def _reuse_message() -> str:
        return ("The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, "
                "shared with a connected account without Customer attachment, or was detached from a Customer. It "
                "may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer "
                "first.")

    def _confirm(self, intent: dict[str, Any], *, off_session: bool) -> None:
        method = self.payment_methods[intent["payment_method"]]
        state = self._pm_state[method["id"]]
        if intent["customer"] is None:
            state["used"] = True
            state["future_usage"] = state["future_usage"] or bool(intent["setup_future_usage"])
        token = state["token"]
        declined = DECLINING_TOKENS.get(token)
        if declined is None and token == "tok_chargeCustomerFail" and intent["customer"] is not None:
            declined = ("card_declined", "generic_decline", "Your card was declined.")
        now = int(time.time())
        hold = MIT_VISA_HOLD_SECONDS if off_session and method["card"]["brand"] == "visa" else HOLD_SECONDS
        charge: dict[str, Any] = {
            "id": new_id("ch"), "object": "charge", "amount": intent["amount"], "amount_captured": 0,
            "amount_refunded": 0, "captured": False, "created": now, "currency": intent["currency"],
            "customer": intent["customer"], "failure_code": None, "failure_message": None, "livemode": False,
            "metadata": {}, "paid": True, "payment_intent": intent["id"], "payment_method": method["id"],
            "payment_method_details": {"type": "card", "card": {
                "brand": method["card"]["brand"], "last4": method["card"]["last4"],
                "capture_before": now + hold}},
            "refunded": False, "status": "succeeded",
        }
        self.charges[charge["id"]] = charge
        intent["latest_charge"] = charge["id"]
        if declined is not None:
            code, decline_code, message = declined
            charge.update(paid=False, status="failed", failure_code=code, failure_message=message)
            error: dict[str, Any] = {"type": "card_error", "code": code, "message": message, "charge": charge["id"],
                                     "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
                                     "payment_method": method}
            if decline_code:
                error["decline_code"] = decline_code
            intent.update(status="requires_payment_method", payment_method=None, last_payment_error=error)
            raise StripeFailure(402, {**error, "payment_intent": dict(intent)})
        if intent["setup_future_usage"] and intent["customer"] is not None:
            method["customer"] = intent["customer"]
        if intent["capture_method"] == "manual":
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
        else:
            charge.update(captured=True, amount_captured=intent["amount"])
            intent.update(status="succeeded", amount_received=intent["amount"])

    def _capture(self, intent: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if intent["status"] != "requires_capture":
            raise invalid(
                f"This PaymentIntent could not be captured because it has a status of {intent['status']}. Only a "
                "PaymentIntent with one of the following statuses may be captured: requires_capture.",
                code="payment_intent_unexpected_state", payment_intent=dict(intent))
        amount = _int(params, "amount_to_capture")
        capturable = intent["amount_capturable"]
        amount = capturable if amount is None else amount
        if amount > capturable or amount < 1:
            raise invalid(f"The amount_to_capture ({amount}) must be a positive integer less than or equal to the "
                          f"amount_capturable ({capturable}).", code="amount_too_large", param="amount_to_capture")
        charge = self.charges[intent["latest_charge"]]
        final = params.get("final_capture") not in ("false", False)
        if not final:
            multicapture = intent["payment_method_options"].get("card", {}).get("request_multicapture")
            if multicapture not in ("if_available",):
                raise invalid("final_capture can only be false for a PaymentIntent that requested multicapture.",
                              param="final_capture")
        received = intent["amount_received"] + amount
        charge.update(captured=True, amount_captured=received)
        if final or amount == capturable:
            charge.update(amount_refunded=charge["amount"] - received)
            intent.update(status="succeeded", amount_received=received, amount_capturable=0)
        else:
            intent.update(amount_received=received, amount_capturable=capturable - amount)
        return intent

    def _cancel(self, intent: dict[str, Any], reason: str | None) -> None:
        if intent["status"] == "requires_capture":
            charge = self.charges[intent["latest_charge"]]
            charge.update(amount_refunded=charge["amount"], refunded=True)
        intent.update(status="canceled", amount_capturable=0, canceled_at=int(time.time()),
                      cancellation_reason=reason)

    def _list_payment_intents(self, params: dict[str, Any]) -> dict[str, Any]:
        limit = min(max(_int(params, "limit") or 10, 1), 100)
        created = params.get("created") or {}
        newest_first = [self.payment_intents[i] for i in reversed(self._order)]
        chosen = [i for i in newest_first if self._created_matches(i["created"], created)
                  and (params.get("customer") is None or i["customer"] == params["customer"])]
        after = params.get("starting_after")
        if after:
            ids = [i["id"] for i in chosen]
            if after not in ids:
                raise missing("payment_intent", after, "starting_after")
            chosen = chosen[ids.index(after) + 1:]
        return {"object": "list", "url": "/v1/payment_intents", "has_more": len(chosen) > limit,
                "data": chosen[:limit]}

    @staticmethod
    def _created_matches(created: int, bounds: Any) -> bool:
        if not isinstance(bounds, dict):
            return bounds is None or created == int(bounds)
        checks = {"gt": created.__gt__, "gte": created.__ge__, "lt": created.__lt__, "lte": created.__le__}
        return all(checks[op](int(value)) for op, value in bounds.items() if op in checks)

    def _search_payment_intents(self, params: dict[str, Any]) -> dict[str, Any]:
        query = str(params.get("query") or "")
        clauses = self._parse_query(query)
        limit = min(max(_int(params, "limit") or 10, 1), 100)
        now = time.monotonic()
        found = [self.payment_intents[i] for i in reversed(self._order) if self._searchable_at[i] <= now]
        for name, value in clauses:
            if name.startswith("metadata:"):
                found = [i for i in found if i["metadata"].get(name.removeprefix("metadata:")) == value]
            else:
                found = [i for i in found if str(i.get(name)) == value]
        return {"object": "search_result", "url": "/v1/payment_intents/search", "has_more": len(found) > limit,
                "next_page": None, "data": found[:limit]}

    @staticmethod
    def _parse_query(query: str) -> list[tuple[str, str]]:
        clause = re.compile(r"\s*(?:metadata\[(?P<q>['\"])(?P<key>.+?)(?P=q)\]|(?P<field>status|currency|customer))"
                            r":'(?P<value>(?:[^'\\]|\\.)*)'\s*")
        clauses: list[tuple[str, str]] = []
        for part in re.split(r"\s+AND\s+", query.strip()):
            matched = clause.fullmatch(part)
            if matched is None:
                raise invalid(f"The query `{query}` is not supported by this fake (metadata['k']:'v' and "
                              "status/currency/customer:'v' clauses joined by AND).", param="query", saved=False)
            value = re.sub(r"\\(.)", r"\1", matched["value"])
            clauses.append((f"metadata:{matched['key']}" if matched["key"] else matched["field"], value))
        return clauses

    # --- refunds, customers, payment methods ------------------------------------------------------------------

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        charge_id, intent_id = params.get("charge"), params.get("payment_intent")
        if not charge_id and not intent_id:
            raise invalid("One of the following params should be provided for this request: payment_intent or "
                          "charge.", code="parameter_missing", saved=False)
        if intent_id:
            intent = self._intent(intent_id)
            if intent["status"] != "succeeded":
                raise invalid(f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                              code="charge_not_refundable", param="payment_intent")
            charge_id = intent["latest_charge"]
        charge = self.charges.get(charge_id or "")
        if charge is None:
            raise missing("charge", str(charge_id), "charge")
        if not charge["captured"] or charge["status"] != "succeeded":
            raise invalid(f"Charge {charge['id']} has not been captured; cancel its PaymentIntent to release it.",
                          code="charge_not_refundable", param="charge")
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded",
                          param="charge")
        amount = _int(params, "amount")
        amount = remaining if amount is None else amount
        if amount < 1:
            raise invalid("Invalid positive integer", code="parameter_invalid_integer", param="amount", saved=False)
        if amount > remaining:  # Stripe sends this one without a code
            raise invalid(f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded amount "
                          f"on charge ({_money(remaining, charge['currency'])})", param="amount")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {"id": new_id("re"), "object": "refund", "amount": amount,
                  "balance_transaction": new_id("txn"), "charge": charge["id"], "created": int(time.time()),
                  "currency": charge["currency"], "metadata": params.get("metadata", {}),
                  "payment_intent": charge["payment_intent"], "reason": params.get("reason"),
                  "status": "succeeded"}
        self.refunds[refund["id"]] = refund
        return refund

    def _create_payment_method(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("type"):
            raise invalid("Missing required param: type.", code="parameter_missing", param="type", saved=False)
        if params["type"] != "card" or not isinstance(params.get("card"), dict):
            raise invalid("This fake only takes card tokens: type=card and card[token].", param="card", saved=False)
        if params.get("customer"):
            raise invalid("You cannot attach a PaymentMethod to a Customer during PaymentMethod creation. Please "
                          "instead create the PaymentMethod and then attach it using the attachment method of the "
                          "PaymentMethods API.", saved=False)
        return self._new_payment_method(params["card"].get("token"), "card[token]")

    def _customer(self, customer_id: str, param: str) -> dict[str, Any]:
        """A Customer that can be used: one unknown or deleted is "No such customer" (404)."""
        customer = self.customers.get(customer_id)
        if customer is None or customer.get("deleted"):
            raise missing("customer", customer_id, param)
        return customer

    def _delete_customer(self, customer_id: str) -> dict[str, Any]:
        """Stripe's permanent delete: the Customer becomes its ``deleted`` stub and its PaymentMethods are
        detached (Stripe would also cancel its subscriptions; the fake has none)."""
        self._customer(customer_id, "id")
        for method in self.payment_methods.values():
            if method["customer"] == customer_id:
                method["customer"] = None
                self._pm_state[method["id"]].update(detached=True, used=True)
        stub = self.customers[customer_id] = {"id": customer_id, "object": "customer", "deleted": True}
        return stub

    def _method(self, method_id: str) -> dict[str, Any]:
        method = self.payment_methods.get(method_id)
        if method is None:
            raise missing("PaymentMethod", method_id, "payment_method")
        return method

    def _attach(self, method_id: str, params: dict[str, Any]) -> dict[str, Any]:
        method = self._method(method_id)
        customer = params.get("customer")
        if not customer:
            raise invalid("Missing required param: customer.", code="parameter_missing", param="customer",
                          saved=False)
        self._customer(customer, "customer")
        state = self._pm_state[method_id]
        declined = DECLINING_TOKENS.get(state["token"])
        if declined is not None:  # Stripe's declining test cards cannot be attached to a Customer
            code, decline_code, message = declined
            error: dict[str, Any] = {"type": "card_error", "code": code, "message": message,
                                     "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
                                     "payment_method": dict(method)}
            if decline_code:
                error["decline_code"] = decline_code
            raise StripeFailure(402, error)
        if method["customer"] == customer:
            return method
        if method["customer"] is not None:
            raise invalid("The payment method you provided has already been attached to a customer.",
                          param="payment_method")
        if state["detached"] or (state["used"] and not state["future_usage"]):
            raise invalid(self._reuse_message(), param="payment_method")
        method["customer"] = customer
        return method

    def _detach(self, method_id: str) -> dict[str, Any]:
        method = self._method(method_id)
        if method["customer"] is None:  # Stripe sends this one without a code
            raise invalid("The payment method you provided is not attached to a customer so detachment is "
                          "impossible.")
        method["customer"] = None
        self._pm_state[method_id].update(detached=True, used=True)
        return method


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout) is expected here


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms wait per answer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        pairs = parse_qsl(split.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = Request(method, split.path, nested(pairs), headers.get("idempotency-key"))
        fake = self.fake
        with fake._lock:
            fake.requests.append(record)
        fault = fake._take_fault(method, split.path)
        if fault is not None and fault.kind == "fail":
            record.status = fault.status
            self._answer(fault.status, {"error": fault.error}, {"Request-Id": new_id("req", 14)})
            return
        status, answer, extra = fake.handle(method, split.path, pairs, headers, record)
        record.status = status
        if fault is not None and fault.kind == "drop":
            record.answered = False
            self.close_connection = True
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        self._answer(status, answer, extra)

    def _answer(self, status: int, body: dict[str, Any], extra: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Stripe-Version", self.headers.get("Stripe-Version") or API_VERSION)
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client gave up waiting
