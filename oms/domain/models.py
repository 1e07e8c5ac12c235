"""Request models of the public API (pydantic).

Strict: unknown fields are refused, and a JSON string is never accepted where a number is expected (``"1"`` is
not ``1``). Every number has an upper bound, so no input can overflow what DynamoDB stores (38 digits).
"""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from oms.domain.countries import ISO_3166_ALPHA2
from oms.domain.money import SUPPORTED_CURRENCIES
from oms.domain.reasons import CustomerReason, OpsReason, ReturnReason

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_LINES = 25
MAX_QUANTITY = 1000
#: The highest price and stock count the catalog takes (minor units / units).
MAX_PRICE = 10**10
MAX_ON_HAND = 10**7
#: No control characters in free text (they end up in emails, labels and logs).
TEXT = r"^[^\x00-\x1f\x7f]*$"
ADDRESS_ID_PATTERN = r"^adr_[0-9a-z]{20}$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


def _check_currency(value: str) -> str:
    if value not in SUPPORTED_CURRENCIES:
        raise ValueError(f"unsupported currency {value!r}; use an ISO-4217 code such as USD or EUR")
    return value


def _check_email(value: str) -> str:
    # Imported on first use: email_validator compiles its RFC grammar at import (~30 ms of cold start).
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None


def _check_locale(value: str) -> str:
    from oms.domain.locales import normalize

    return normalize(value)


Currency = Annotated[str, AfterValidator(_check_currency),
                     Field(description="ISO-4217 code", json_schema_extra={"enum": sorted(SUPPORTED_CURRENCIES)})]
Text = Annotated[str, Field(pattern=TEXT)]
Email = Annotated[str, Field(max_length=254, json_schema_extra={"format": "email"}), AfterValidator(_check_email)]
Locale = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z]{2})?$", max_length=6,
                              description="A language and country CLDR knows, e.g. de-DE (normalized to that form)"),
                   AfterValidator(_check_locale)]
#: Digits with the usual separators; validated and normalized to E.164 with ``phonenumbers`` by the model using it.
Phone = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()./-]+$",
                             description="International format, e.g. +4915112345678 (normalized to E.164); a "
                                         "national number is read in the country of the address or locale")]


def _normalized_phone(value: str | None, region: str | None, field: str) -> str | None:
    from oms.domain.phones import to_e164

    if value is None:
        return None
    try:
        return to_e164(value, region)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None


class AddressRequest(StrictModel):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    line1: Annotated[Text, Field(min_length=1, max_length=200)]
    line2: Annotated[Text | None, Field(max_length=200)] = None
    city: Annotated[Text, Field(min_length=1, max_length=100)]
    region: Annotated[Text | None, Field(max_length=100)] = None
    postal_code: Annotated[Text, Field(min_length=1, max_length=20)]
    country: Annotated[str, Field(min_length=2, max_length=2, description="ISO-3166 alpha-2",
                                  json_schema_extra={"enum": sorted(ISO_3166_ALPHA2)})]

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        if value not in ISO_3166_ALPHA2:
            raise ValueError(f"unknown country code {value!r}; use ISO-3166 alpha-2 such as US or DE")
        return value


class OrderLineRequest(StrictModel):
    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


GatewayToken = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_-]+$",
                                    description="A payment-gateway token, e.g. tok_visa")]
PaymentMethodId = Annotated[str, Field(min_length=3, max_length=255, pattern=r"^pm_[A-Za-z0-9_]+$",
                                       description="A saved payment method (GET /customers/me/payment-methods)")]


class PaymentRequest(StrictModel):
    """Either a one-off gateway ``token`` or a saved ``payment_method_id``: exactly one."""

    token: GatewayToken | None = None
    payment_method_id: PaymentMethodId | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "PaymentRequest":
        if (self.token is None) == (self.payment_method_id is None):
            raise ValueError("token: give either token or payment_method_id, not both or neither")
        return self


class ContactRequest(StrictModel):
    email: Email
    phone: Phone | None = None
    sms_opt_in: Annotated[bool, Field(description="Text this order's updates to the phone (off unless the customer "
                                                  "opted in here or in their preferences)")] = False


class PlaceOrderRequest(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "currency": "USD",
        "lines": [{"sku": "MUG-LOGO", "quantity": 2}],
        "shipping_address": {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield",
                             "postal_code": "12345", "country": "US"},
        "shipping_method": "standard",
        "payment": {"token": "tok_visa"},
        "contact": {"email": "ann@example.com", "phone": "+12015550123"},
    }]})

    currency: Currency
    lines: Annotated[list[OrderLineRequest], Field(min_length=1, max_length=MAX_LINES)]
    shipping_address: AddressRequest | None = None
    shipping_address_id: Annotated[str | None, Field(pattern=ADDRESS_ID_PATTERN, description=(
        "A saved address (GET /customers/me/addresses) instead of `shipping_address`"))] = None
    billing_address: AddressRequest | None = None
    billing_address_id: Annotated[str | None, Field(pattern=ADDRESS_ID_PATTERN, description=(
        "A saved address instead of `billing_address` (default: the shipping address)"))] = None
    shipping_method: Literal["standard", "express"]
    payment: PaymentRequest
    contact: ContactRequest
    locale: Annotated[Locale | None, Field(description="The customer's messages are written in it; default: the "
                                                      "customer's preferred locale, else Accept-Language, else "
                                                      "en-US")] = None

    @model_validator(mode="after")
    def _one_address(self) -> "PlaceOrderRequest":
        if (self.shipping_address is None) == (self.shipping_address_id is None):
            raise ValueError("shipping_address: give either shipping_address or shipping_address_id")
        if self.billing_address is not None and self.billing_address_id is not None:
            raise ValueError("billing_address: give billing_address or billing_address_id, not both")
        return self

    @model_validator(mode="after")
    def _phone_in_e164(self) -> "PlaceOrderRequest":
        # With a saved address the country is known only once it is read: the order's placement normalizes then.
        if self.shipping_address is not None:
            self.contact.phone = _normalized_phone(self.contact.phone, self.shipping_address.country,
                                                   "contact.phone")
        return self

    @model_validator(mode="after")
    def _unique_skus(self) -> "PlaceOrderRequest":
        seen: set[str] = set()
        for line in self.lines:
            if line.sku in seen:
                raise ValueError(f"lines: sku {line.sku!r} appears more than once; combine the quantities")
            seen.add(line.sku)
        return self


def _check_date(value: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar date (YYYY-MM-DD)") from None


IsoDate = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", json_schema_extra={"format": "date"}),
                    AfterValidator(_check_date)]
WarehouseName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class ProductRequest(StrictModel):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    price: Annotated[int, Field(ge=0, le=MAX_PRICE, description="Minor units of currency")]
    currency: Currency
    category: Annotated[Text | None, Field(max_length=100)] = None
    weight_grams: Annotated[int | None, Field(ge=0, le=10**6)] = None
    backorderable: Annotated[bool, Field(description="Accept orders beyond the shelves, promised from incoming "
                                                     "goods (PUT /admin/inventory/{sku} with incoming)")] = False
    low_stock_threshold: Annotated[int | None, Field(
        ge=1, le=MAX_ON_HAND, description="Alert ops once when a warehouse's available units drop below it")] = None


class IncomingRequest(StrictModel):
    quantity: Annotated[int, Field(ge=1, le=MAX_ON_HAND)]
    eta: Annotated[IsoDate, Field(description="When the goods are expected at the warehouse")]


class InventoryRequest(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"warehouse": "wh-east", "on_hand": 10, "incoming": [{"quantity": 50, "eta": "2026-12-18"}]}]})

    warehouse: WarehouseName
    on_hand: Annotated[int, Field(ge=0, le=MAX_ON_HAND)]
    incoming: Annotated[list[IncomingRequest] | None, Field(
        max_length=50, description="Every expected arrival at this warehouse (replaces the list); left out: "
                                   "unchanged")] = None
    shards: Annotated[int | None, Field(
        ge=1, le=64, description="Split this warehouse's stock of the SKU into this many shards (a hot SKU: "
                                 "each shard takes about 1,000 write units/s); 1: one row; left out: unchanged. "
                                 "The units are spread evenly over the shards.")] = None


class ReceiptRequest(StrictModel):
    warehouse: WarehouseName
    quantity: Annotated[int, Field(ge=1, le=MAX_ON_HAND)]


class ReviewRequest(StrictModel):
    decision: Literal["approve", "reject"]
    note: Annotated[Text, Field(max_length=1000)] = ""

    @model_validator(mode="after")
    def _reject_needs_note(self) -> "ReviewRequest":
        if self.decision == "reject" and not self.note:
            raise ValueError("note: a rejection needs a note (it is kept on the order's timeline)")
        return self


class CancelRequest(StrictModel):
    """A customer cancels their order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "CHANGED_MIND"}]})

    reason: CustomerReason
    note: Annotated[Text | None, Field(max_length=500, description="Required when reason is OTHER")] = None

    @model_validator(mode="after")
    def _other_needs_note(self) -> "CancelRequest":
        if self.reason == "OTHER" and not self.note:
            raise ValueError("note: tell us why when the reason is OTHER")
        return self


class OpsCancelRequest(StrictModel):
    reason: OpsReason
    note: Annotated[Text, Field(min_length=1, max_length=500, description="Why; kept on the order")]
    notify_customer: bool = True


class RefundLineRequest(StrictModel):
    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


class RefundRequest(StrictModel):
    """Either ``amount`` or ``lines``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": 500, "reason": "Goodwill for a late parcel"}]})

    amount: Annotated[int | None, Field(ge=1, le=MAX_PRICE * MAX_QUANTITY * MAX_LINES,
                                        description="Minor units of the order's currency")] = None
    lines: Annotated[list[RefundLineRequest] | None, Field(min_length=1, max_length=MAX_LINES)] = None
    include_shipping: bool = False
    reason: Annotated[Text, Field(min_length=1, max_length=500, description="Kept on the order's timeline")]

    @model_validator(mode="after")
    def _amount_or_lines(self) -> "RefundRequest":
        if (self.amount is None) == (self.lines is None):
            raise ValueError("amount: give either an amount or lines, not both or neither")
        if self.include_shipping and self.lines is None:
            raise ValueError("include_shipping: only with lines (an amount is refunded as given)")
        if self.lines is not None:
            skus = [line.sku for line in self.lines]
            if len(set(skus)) != len(skus):
                raise ValueError("lines: each sku at most once")
        return self


class ShipmentLineRequest(StrictModel):
    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


class ShipmentRequest(StrictModel):
    carrier: Annotated[Text, Field(min_length=1, max_length=64)]
    tracking_number: Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
    warehouse: Annotated[WarehouseName | None, Field(
        description="The warehouse the parcel left from; default: wherever the lines are allocated")] = None
    lines: Annotated[list[ShipmentLineRequest] | None, Field(
        min_length=1, max_length=MAX_LINES,
        description="What is in the parcel; default: everything not shipped yet (from the warehouse, if given)")] = None

    @model_validator(mode="after")
    def _unique_skus(self) -> "ShipmentRequest":
        skus = [line.sku for line in self.lines or []]
        if len(set(skus)) != len(skus):
            raise ValueError("lines: each sku at most once")
        return self


class EmailPreferencesRequest(StrictModel):
    order_updates: Annotated[bool, Field(description="Shipping and delivery news (receipts, refunds and messages "
                                                     "that need an answer are always sent)")] = True
    marketing: Annotated[bool, Field(description="Marketing email; the time consent was given is kept")] = False


class SmsPreferencesRequest(StrictModel):
    order_updates: Annotated[bool, Field(
        description="Text order updates (to the order's phone, else this one)")] = False


class PreferencesRequest(StrictModel):
    """The whole document: a field left out takes its default."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "locale": "de-DE", "email": {"order_updates": True, "marketing": False}, "sms": {"order_updates": False},
        "phone": "+4915112345678"}]})

    locale: Annotated[Locale | None, Field(description="Default for the customer's new orders")] = None
    email: EmailPreferencesRequest = EmailPreferencesRequest()
    sms: SmsPreferencesRequest = SmsPreferencesRequest()
    phone: Phone | None = None

    @model_validator(mode="after")
    def _phone_in_e164(self) -> "PreferencesRequest":
        region = self.locale.split("-")[1] if self.locale and "-" in self.locale else None
        self.phone = _normalized_phone(self.phone, region, "phone")
        return self


class ReturnLineRequest(StrictModel):
    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    reason: ReturnReason
    note: Annotated[Text | None, Field(max_length=500, description="Required when reason is OTHER")] = None

    @model_validator(mode="after")
    def _other_needs_note(self) -> "ReturnLineRequest":
        if self.reason == "OTHER" and not self.note:
            raise ValueError("note: tell us why when the reason is OTHER")
        return self


class ExchangeLineRequest(StrictModel):
    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


class ReturnRequest(StrictModel):
    """A customer returns delivered items for a refund, or exchanges them for others."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"lines": [{"sku": "TSHIRT-M", "quantity": 1, "reason": "SIZE_OR_FIT"}], "resolution": "exchange",
         "exchange_for": [{"sku": "TSHIRT-L", "quantity": 1}]}]})

    lines: Annotated[list[ReturnLineRequest], Field(min_length=1, max_length=MAX_LINES)]
    resolution: Literal["refund", "exchange"] = "refund"
    exchange_for: Annotated[list[ExchangeLineRequest] | None, Field(
        max_length=MAX_LINES, description="What the customer gets instead (resolution exchange): the same SKU at "
                                          "its original price, another at today's catalog price")] = None

    @model_validator(mode="after")
    def _consistent(self) -> "ReturnRequest":
        skus = [line.sku for line in self.lines]
        if len(set(skus)) != len(skus):
            raise ValueError("lines: each sku at most once; combine the quantities")
        if self.resolution == "exchange" and not self.exchange_for:
            raise ValueError("exchange_for: an exchange needs the items wanted instead")
        if self.resolution == "refund" and self.exchange_for:
            raise ValueError("exchange_for: only with resolution exchange")
        wanted = [line.sku for line in self.exchange_for or []]
        if len(set(wanted)) != len(wanted):
            raise ValueError("exchange_for: each sku at most once")
        return self


class ReturnParcelRequest(StrictModel):
    carrier: Annotated[Text, Field(min_length=1, max_length=64)]
    tracking_number: Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


class ReceivedLineRequest(StrictModel):
    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    condition: Literal["RESELLABLE", "DAMAGED"]


class ReceiveRequest(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"lines": [{"sku": "TSHIRT-M", "quantity": 1, "condition": "RESELLABLE"}]}]})

    lines: Annotated[list[ReceivedLineRequest], Field(min_length=1, max_length=MAX_LINES * 2)]
    warehouse: Annotated[WarehouseName | None, Field(
        description="Where the parcel was received; default: the warehouse each item shipped from")] = None


class ProfileRequest(StrictModel):
    """The whole profile: a field left out takes its default (null, no consent)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "Ann Lee", "locale": "en-US", "phone": "+12015550123", "marketing_consent": False}]})

    name: Annotated[Text | None, Field(min_length=1, max_length=200)] = None
    locale: Annotated[Locale | None, Field(description="Default for the customer's messages and new orders")] = None
    phone: Phone | None = None
    marketing_consent: Annotated[bool, Field(description="Marketing email; the time consent was given is kept")] = \
        False

    @model_validator(mode="after")
    def _phone_in_e164(self) -> "ProfileRequest":
        region = self.locale.split("-")[1] if self.locale and "-" in self.locale else None
        self.phone = _normalized_phone(self.phone, region, "phone")
        return self


class SavedAddressRequest(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "label": "Home", "address": {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield",
                                     "postal_code": "12345", "country": "US"},
        "default_shipping": True}]})

    label: Annotated[Text | None, Field(min_length=1, max_length=50, description="e.g. Home, Office")] = None
    address: AddressRequest
    phone: Phone | None = None
    default_shipping: Annotated[bool | None, Field(description=(
        "Make it the default shipping address (true), stop it being the default (false), or leave as is (null); "
        "the first address becomes both defaults"))] = None
    default_billing: Annotated[bool | None, Field(description="The same for the default billing address")] = None

    @model_validator(mode="after")
    def _phone_in_e164(self) -> "SavedAddressRequest":
        self.phone = _normalized_phone(self.phone, self.address.country, "phone")
        return self


class PaymentMethodRequest(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"token": "tok_visa"}]})

    token: Annotated[GatewayToken, Field(description=(
        "A gateway token from the storefront's card form (Stripe.js: a tok_... or an unattached pm_...); the card "
        "number never reaches the OMS"))]


class DeleteAccountRequest(StrictModel):
    password: Annotated[str | None, Field(min_length=1, max_length=256, description=(
        "The account's password; not needed within 5 minutes of signing in"))] = None


class EraseRequest(StrictModel):
    reason: Annotated[Text, Field(min_length=3, max_length=500, description=(
        "How the request was verified, e.g. the ticket of a verified data-subject request"))]
