"""Request models of the public API (pydantic; unknown fields are rejected)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from oms.domain.countries import ISO_3166_ALPHA2
from oms.domain.money import CURRENCY_EXPONENTS

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_LINES = 25


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_currency(value: str) -> str:
    if value not in CURRENCY_EXPONENTS:
        raise ValueError(f"unsupported currency {value!r}; use an ISO-4217 code such as USD or EUR")
    return value


class Address(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    line1: Annotated[str, Field(min_length=1, max_length=200)]
    line2: Annotated[str | None, Field(max_length=200)] = None
    city: Annotated[str, Field(min_length=1, max_length=100)]
    region: Annotated[str | None, Field(max_length=100)] = None
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    country: Annotated[str, Field(min_length=2, max_length=2, description="ISO-3166 alpha-2")]

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        if value not in ISO_3166_ALPHA2:
            raise ValueError(f"unknown country code {value!r}; use ISO-3166 alpha-2 such as US or DE")
        return value


class OrderLineRequest(StrictModel):
    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    quantity: Annotated[int, Field(ge=1, le=1000)]


class PaymentRequest(StrictModel):
    token: Annotated[str, Field(min_length=1, max_length=255, description="A payment-gateway token")]


class Contact(StrictModel):
    email: EmailStr
    phone: Annotated[str | None, Field(pattern=r"^\+[1-9]\d{6,14}$", description="E.164")] = None


class PlaceOrderRequest(StrictModel):
    currency: str
    lines: Annotated[list[OrderLineRequest], Field(min_length=1, max_length=MAX_LINES)]
    shipping_address: Address
    billing_address: Address | None = None
    shipping_method: Literal["standard", "express"]
    payment: PaymentRequest
    contact: Contact
    locale: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en-US"

    _currency = field_validator("currency")(_check_currency)

    @model_validator(mode="after")
    def _unique_skus(self) -> "PlaceOrderRequest":
        seen: set[str] = set()
        for line in self.lines:
            if line.sku in seen:
                raise ValueError(f"lines: sku {line.sku!r} appears more than once; combine the quantities")
            seen.add(line.sku)
        return self


class ProductRequest(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    price: Annotated[int, Field(ge=0, description="Minor units of currency")]
    currency: str
    category: Annotated[str | None, Field(max_length=100)] = None
    weight_grams: Annotated[int | None, Field(ge=0)] = None

    _currency = field_validator("currency")(_check_currency)


class InventoryRequest(StrictModel):
    warehouse: Annotated[str, Field(min_length=1, max_length=64)]
    on_hand: Annotated[int, Field(ge=0)]


class ReviewRequest(StrictModel):
    decision: Literal["approve", "reject"]
    note: Annotated[str, Field(max_length=1000)] = ""

    @model_validator(mode="after")
    def _reject_needs_note(self) -> "ReviewRequest":
        if self.decision == "reject" and not self.note:
            raise ValueError("note: a rejection needs a note (it is kept on the order's timeline)")
        return self


class ShipmentRequest(StrictModel):
    carrier: Annotated[str, Field(min_length=1, max_length=64)]
    tracking_number: Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
