"""The signed-in customer's own account: profile, preferences, address book, saved payment methods, the export of
everything we hold, and deleting the account."""

import json
import time
from datetime import timedelta
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.customers.deps import AccountDeps
from oms import observability
from oms.api.resolver import KIB, ApiResolver
from oms.api.responses import no_content, responses
from oms.domain.customers import (
    RECENT_SIGN_IN_SECONDS,
    AddressBook,
    AddressView,
    Card,
    CardList,
    ErasureReport,
    ExportDocument,
    ExportLink,
    ProfileView,
)
from oms.domain.errors import ReauthenticationRequired
from oms.domain.models import (
    ADDRESS_ID_PATTERN,
    DeleteAccountRequest,
    PaymentMethodRequest,
    PreferencesRequest,
    ProfileRequest,
    SavedAddressRequest,
)
from oms.domain.preferences import Preferences
from oms.logic import accounts, preferences
from oms.logic.clock import now
from oms.settings import CustomersSettings

logger = observability.logger()
tracer = observability.tracer()
app = ApiResolver(audience="customer", max_body_bytes=16 * KIB)
ME: list[dict[str, list[str]]] = [{"cognito": []}]
ADDRESS_HEADERS = {"Location": {"description": "The address's URL", "required": True, "schema": {"type": "string"}}}
DOWNLOAD_HEADERS = {"Location": {"description": "A presigned download link (15 minutes)", "required": True,
                                 "schema": {"type": "string"}}}
AddressId = Annotated[str, Path(pattern=ADDRESS_ID_PATTERN, description="e.g. adr_0f3c...")]
PaymentMethodId = Annotated[str, Path(pattern=r"^pm_[A-Za-z0-9_]{1,250}$", description="e.g. pm_1Q...")]


@cache
def _deps() -> AccountDeps:
    return AccountDeps(CustomersSettings.from_env())


def _no_content() -> Response[Any]:
    """204: no body, and no Content-Type claiming one."""
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body=None, content_type=None)


def _json(status: HTTPStatus, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body,
                    headers=headers)


# -- profile -----------------------------------------------------------------------------------------------------

@app.get("/customers/me", summary="The signed-in customer's profile", security=ME,
         description="Name, default locale, phone and marketing consent (with the time it was given), and the "
                     "default address ids. `email` is the sign-in address (changed through Cognito).",
         responses=responses(200, ProfileView, "The profile", 401))
@tracer.capture_method
def read_profile() -> Any:
    who = app.caller
    return accounts.read_profile(who.user_id, who.email, _deps().customers)


@app.put("/customers/me", summary="Replace the signed-in customer's profile", security=ME,
         description="The whole document: a field left out takes its default. `phone` is normalized to E.164 "
                     "(a national number is read in the locale's country). Locale, phone and marketing consent "
                     "are the same values `GET /customers/me/preferences` shows.",
         responses=responses(200, ProfileView, "The saved profile", 400, 401, 413, 415, 422))
@tracer.capture_method
def save_profile(request: ProfileRequest) -> Any:
    who = app.caller
    saved = accounts.save_profile(who.user_id, who.email, request, _deps().customers, now())
    logger.info("profile saved", extra={"locale": saved["locale"], "marketing": saved["marketing_consent"]})
    return saved


@app.delete("/customers/me", summary="Delete the account", security=ME,
            description="Erases the profile, addresses, saved payment methods (detached at the gateway) and "
                        "preferences, anonymizes past orders and returns (amounts, SKUs, dates, country and postal "
                        "prefix are kept for accounting), deletes the sign-in and emails a confirmation. Send "
                        "`password` unless the ID token is from a sign-in in the last 5 minutes (else 403 "
                        "`reauthentication_required`). Orders or returns still in progress: 409 "
                        "`erasure_blocked`, listing them in `blocking`.",
            responses=responses(200, ErasureReport, "Erased", 400, 401, 403, 409, 413, 415, 422))
@tracer.capture_method
def delete_account(request: Annotated[DeleteAccountRequest | None, Body()] = None) -> Any:
    who = app.caller
    deps = _deps()
    password = request.password if request else None
    if password is None and not who.signed_in_within(RECENT_SIGN_IN_SECONDS, time.time()):
        raise ReauthenticationRequired("enter your password again (or sign in again) to delete the account")
    if password is not None and not deps.identity.password_matches(who.email, password):
        raise ReauthenticationRequired("the password is not right")  # checked whenever given
    from oms.logic import privacy  # only a deletion needs it

    at = now()
    report = privacy.erase(who.user_id, deps.holdings, deps.identity, deps.gateway, deps.suppressions, at,
                           lambda farewell: deps.send_farewell(farewell, at))
    logger.info("account erased", extra={k: v for k, v in report.items() if k != "customer_id"})
    return report


# -- preferences -------------------------------------------------------------------------------------------------

@app.get("/customers/me/preferences", summary="How the signed-in customer wants to hear from us", security=ME,
         description="The defaults (`updated_at` null) until the customer saves their own.",
         responses=responses(200, Preferences, "The preferences", 401))
@tracer.capture_method
def read_preferences() -> Any:
    return preferences.read(app.caller.user_id, _deps().customers)


@app.put("/customers/me/preferences", summary="Replace the signed-in customer's preferences", security=ME,
         description="The whole document; a field left out takes its default. `phone` is normalized to E.164. "
                     "SMS order updates take effect for orders placed before the change too (the latest word "
                     "wins); marketing consent keeps the time it was given.",
         responses=responses(200, Preferences, "The saved preferences", 400, 401, 413, 415, 422))
@tracer.capture_method
def save_preferences(request: PreferencesRequest) -> Any:
    saved = preferences.save(app.caller.user_id, request, _deps().customers, now())
    logger.info("preferences saved", extra={"sms": saved["sms"]["order_updates"], "locale": saved["locale"]})
    return saved


# -- address book ------------------------------------------------------------------------------------------------

@app.get("/customers/me/addresses", summary="The signed-in customer's address book", security=ME,
         description="The default shipping address first, then oldest first.",
         responses=responses(200, AddressBook, "The addresses", 401))
@tracer.capture_method
def list_addresses() -> Any:
    return accounts.list_addresses(app.caller.user_id, _deps().customers)


@app.post("/customers/me/addresses", summary="Add an address", security=ME,
          description="Up to 20 (409 `limit_reached` beyond). The first address becomes the default for shipping "
                      "and billing; `default_shipping`/`default_billing` true moves a default to it. "
                      "`POST /orders` can then name it as `shipping_address_id`.",
          responses=responses(201, AddressView, "The new address", 400, 401, 409, 413, 415, 422,
                              headers=ADDRESS_HEADERS))
@tracer.capture_method
def add_address(request: SavedAddressRequest) -> Response[Any]:
    saved = accounts.add_address(app.caller.user_id, request, _deps().customers, now())
    return _json(HTTPStatus.CREATED, saved, {"Location": f"/customers/me/addresses/{saved['address_id']}"})


@app.put("/customers/me/addresses/<address_id>", summary="Replace an address", security=ME,
         description="The whole address. `default_shipping`/`default_billing`: true makes it that default, false "
                     "stops it being the default, null leaves it as is. Orders placed before keep their copy.",
         responses=responses(200, AddressView, "The saved address", 400, 401, 404, 413, 415, 422))
@tracer.capture_method
def replace_address(address_id: AddressId, request: SavedAddressRequest) -> Any:
    return accounts.replace_address(app.caller.user_id, address_id, request, _deps().customers, now())


@app.delete("/customers/me/addresses/<address_id>", summary="Delete an address", security=ME,
            description="A default that pointed at it is cleared. Orders placed with it keep their copy.",
            responses=no_content("Deleted", 401, 404))
@tracer.capture_method
def delete_address(address_id: AddressId) -> Response[Any]:
    accounts.delete_address(app.caller.user_id, address_id, _deps().customers, now())
    return _no_content()


# -- saved payment methods ---------------------------------------------------------------------------------------

@app.get("/customers/me/payment-methods", summary="The signed-in customer's saved payment methods", security=ME,
         description="Brand, last four digits and expiry only: no card data is ever stored. Newest first.",
         responses=responses(200, CardList, "The payment methods", 401))
@tracer.capture_method
def list_payment_methods() -> Any:
    return accounts.list_cards(app.caller.user_id, _deps().customers)


@app.post("/customers/me/payment-methods", summary="Save a payment method", security=ME,
          description="`token` from the storefront's card form (Stripe.js); the card is attached to the "
                      "customer's object at the gateway (Stripe `Customer` + `PaymentMethod` attach). Saving the "
                      "same token again answers 200 with the same method. A token the gateway refuses (an unknown "
                      "token, a card declined when attached): 422 naming `token` with the gateway's code. Up to "
                      "10 (409 `limit_reached`). "
                      "`POST /orders` can then pay with `{\"payment\": {\"payment_method_id\": ...}}`.",
          responses={**responses(201, Card, "Saved", 400, 401, 409, 413, 415, 422),
                     **responses(200, Card, "Already saved: the same payment method")})
@tracer.capture_method
def save_payment_method(request: PaymentMethodRequest) -> Response[Any]:
    card, created = accounts.save_card(app.caller.user_id, request, _deps().customers, _deps().gateway, now())
    logger.info("payment method saved", extra={"brand": card["brand"], "new": created})
    return _json(HTTPStatus.CREATED if created else HTTPStatus.OK, card)


@app.delete("/customers/me/payment-methods/<payment_method_id>", summary="Remove a saved payment method",
            security=ME, description="Detached at the gateway, then forgotten. Orders already placed with it keep "
                                     "their authorization.",
            responses=no_content("Removed", 401, 404))
@tracer.capture_method
def delete_payment_method(payment_method_id: PaymentMethodId) -> Response[Any]:
    accounts.delete_card(app.caller.user_id, payment_method_id, _deps().customers, _deps().gateway, now())
    return _no_content()


# -- export ------------------------------------------------------------------------------------------------------

@app.get("/customers/me/export", summary="Everything we hold about the signed-in customer", security=ME,
         description="One JSON document: profile, preferences, addresses, payment methods (brand, last four, "
                     "expiry), orders, returns and the notifications sent (GDPR articles 15 and 20). A large "
                     "export answers 303 with a `Location` download link valid for 15 minutes instead.",
         responses={**responses(200, ExportDocument, "The export", 401),
                    **responses(303, ExportLink, "The export is large: download it from `Location` (15 minutes)",
                                headers=DOWNLOAD_HEADERS)})
@tracer.capture_method
def export() -> Response[Any]:
    from oms.logic import privacy  # only an export needs it

    who = app.caller
    deps = _deps()
    at = now()
    document = privacy.export(who.user_id, who.email, deps.holdings, at)
    body = json.dumps(document, separators=(",", ":"), default=str).encode()
    logger.info("export", extra={"orders": len(document["orders"]), "bytes": len(body)})
    if len(body) <= deps.inline_bytes:
        return Response(status_code=HTTPStatus.OK.value, content_type=content_types.APPLICATION_JSON,
                        body=body.decode())
    link = deps.exports.publish(who.user_id, body)
    expires = (at + timedelta(seconds=900)).isoformat()
    return _json(HTTPStatus.SEE_OTHER, {"download_url": link, "expires_at": expires, "size_bytes": len(body)},
                 {"Location": link})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
