"""Typed settings per function, read from the environment variables the CDK app sets.

The CDK app is the only place a setting has a default (``cdk.json`` / ``infra/config.py``): a missing or
malformed variable here is a deployment error, reported with its name, never papered over with a second default.
A test checks that every function's environment in the synthesized template parses into its settings class
and carries no variable the class does not read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Self, get_args, get_type_hints


class SettingsError(RuntimeError):
    """A required environment variable is missing or malformed."""


class Settings:
    """Each annotated field is read from the upper-cased variable of its name (``orders_table`` <- ``ORDERS_TABLE``);
    an optional field (``str | None``) may be absent, any other must be set.

    Plain classes rather than dataclasses: a dataclass compiles its methods when the module is imported, and
    every function imports this module during its cold start.
    """

    def __init__(self, **values: Any) -> None:
        object.__setattr__(self, "_values", values)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("settings are read-only")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._values!r})"  # type: ignore[attr-defined]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field, kind in get_type_hints(cls).items():
            name = field.upper()
            raw = env.get(name, "")
            optional = type(None) in get_args(kind)
            if raw == "" and not optional:
                raise SettingsError(f"environment variable {name} is not set")
            base = next((a for a in get_args(kind) if a is not type(None)), kind) if optional else kind
            values[field] = _convert(name, raw, base) if raw else None
        return cls(**values)

    @classmethod
    def variables(cls) -> set[str]:
        return {field.upper() for field in get_type_hints(cls)}

    @classmethod
    def required(cls) -> set[str]:
        return {field.upper() for field, kind in get_type_hints(cls).items() if type(None) not in get_args(kind)}


def _convert(name: str, raw: str, kind: Any) -> Any:
    try:
        if kind is int:
            return int(raw)
        if kind is Decimal:
            return Decimal(raw)
        if kind == tuple[str, ...]:
            items = tuple(item.strip() for item in raw.split(",") if item.strip())
            if not items:
                raise ValueError("empty list")
            return items
    except (ValueError, InvalidOperation) as exc:
        raise SettingsError(f"environment variable {name}={raw!r} is not a valid {kind}: {exc}") from None
    return raw


class PlaceOrderSettings(Settings):
    orders_table: str
    customers_table: str  # the customer's preferred locale
    catalog_table: str
    inventory_table: str
    state_machine_arn: str
    warehouses: tuple[str, ...]


class GetOrderSettings(Settings):
    orders_table: str
    cursor_secret_arn: str


class AdminSettings(Settings):
    orders_table: str
    catalog_table: str
    inventory_table: str
    movements_table: str
    backorders_table: str
    ops_alerts_topic_arn: str  # low-stock alerts
    shipments_table: str
    warehouses: tuple[str, ...]
    cursor_secret_arn: str
    cancellation_policy: str
    notifications_queue_url: str
    payment_gateway: str  # refunds
    sandbox_ledger_table: str | None
    stripe_secret_arn: str | None
    suppressions_table: str
    tracking_events_table: str  # carrier events parked until their shipment is recorded
    tracking_queue_url: str
    # The retention policy's periods (validated at synth); absent: the inbox's defaults (30 days, 24 hours).
    tracking_body_ttl_seconds: int | None
    tracking_park_ttl_seconds: int | None


class OrderChangesSettings(Settings):
    orders_table: str
    cancellation_policy: str  # the policy document (JSON), validated when the CDK app synthesized it
    customers_table: str  # a saved card given for an order on hold for payment


class TrackingWebhookSettings(Settings):
    tracking_events_table: str
    tracking_queue_url: str
    webhook_secrets_arn: str  # EasyPost's (key "easypost", and "easypost_previous" during a rotation)
    aftership_secret_arn: str  # {"current": ..., "previous": ...}
    generic_secret_arn: str  # {"current": ..., "previous": ...}
    # The retention policy's periods (validated at synth); absent: the inbox's defaults (30 days, 24 hours).
    tracking_body_ttl_seconds: int | None
    tracking_park_ttl_seconds: int | None


class TrackingEventsSettings(Settings):
    orders_table: str
    shipments_table: str
    tracking_events_table: str
    notifications_queue_url: str
    ops_alerts_topic_arn: str
    returns_table: str  # a return parcel's events move its return
    return_policy: str
    # The retention policy's periods (validated at synth); absent: the inbox's defaults (30 days, 24 hours).
    tracking_body_ttl_seconds: int | None
    tracking_park_ttl_seconds: int | None


class TrackSettings(Settings):
    orders_table: str
    tracking_link_secret_arn: str


class PaymentSettings(Settings):
    orders_table: str
    payment_gateway: str
    sandbox_ledger_table: str | None  # set when payment_gateway is "sandbox"
    stripe_secret_arn: str | None  # set when payment_gateway is "stripe"
    authorization_hold_hours: int  # how long a card authorization lasts at the gateway


class InventorySettings(Settings):
    orders_table: str
    inventory_table: str
    movements_table: str
    backorders_table: str
    catalog_table: str  # low-stock thresholds
    warehouse_locations: tuple[str, ...]  # name:COUNTRY:REGION, validated at synth
    backorder_limit_days: int  # past the first ETA, a backordered order waiting for goods is cancelled
    notifications_queue_url: str
    ops_alerts_topic_arn: str


class FraudSettings(Settings):
    orders_table: str
    fraud_threshold: int
    review_amount: Decimal
    ops_alerts_topic_arn: str
    notifications_queue_url: str  # the customer's "order held" email


class FulfillmentSettings(Settings):
    orders_table: str
    notifications_queue_url: str


class OrderStatusSettings(Settings):
    orders_table: str
    notifications_queue_url: str
    ops_alerts_topic_arn: str
    payment_gateway: str  # a return's replacement that will not ship: its credit is refunded
    sandbox_ledger_table: str | None
    stripe_secret_arn: str | None


class NotifySettings(Settings):
    orders_table: str
    returns_table: str  # a return's messages show the return
    return_policy: str  # ... and the return address
    idempotency_table: str
    customers_table: str
    suppressions_table: str
    sender_email: str
    configuration_set: str | None  # SES configuration set that reports bounces and complaints
    notification_policy: str  # JSON, validated at synth
    shop_name: str
    support_email: str
    support_url: str | None
    tracking_link_secret_arn: str  # signs the tracking page links in emails
    public_url_parameter: str  # SSM parameter holding the API's public URL (links point there)
    notification_record_ttl_seconds: int | None  # retention policy: how long a message's idempotency record lives


class MailFeedbackSettings(Settings):
    orders_table: str
    suppressions_table: str


class CustomersSettings(Settings):
    customers_table: str
    orders_table: str | None  # the routes below need these; the preferences routes only the table above
    returns_table: str | None
    suppressions_table: str | None
    cursor_secret_arn: str | None
    payment_gateway: str | None  # saved cards: the gateway's customer and payment methods
    sandbox_ledger_table: str | None
    stripe_secret_arn: str | None
    user_pool_id: str | None  # re-checking a password, deleting the user
    user_pool_client_id: str | None
    exports_bucket: str | None  # exports larger than export_inline_bytes are downloaded from here
    export_inline_bytes: int | None
    sender_email: str | None  # the final confirmation of an erasure
    configuration_set: str | None
    shop_name: str | None
    support_email: str | None
    support_url: str | None


class CustomersAdminSettings(CustomersSettings):
    """Ops' erasure of a verified request: the same adapters as the customer's own."""


class SweeperSettings(Settings):
    orders_table: str
    state_machine_arn: str
    pending_alarm_seconds: int


class EscalationsSettings(Settings):
    """The escalation engine: SLA reminders and escalations, default review decisions, stuck orders."""

    orders_table: str
    returns_table: str
    escalation_policy: str  # the validated policy document (compact JSON)
    return_policy: str  # a default decision on a return goes through the return review (ship-by date, emails)
    notifications_queue_url: str  # the customer's message about a return decided by the policy
    ops_alerts_topic_arn: str  # reminders
    escalation_topic_arn: str  # escalations, default actions, stuck orders


class OrderFactsSettings(Settings):
    """The KPI projection: reads orders and their returns, writes the projection."""

    orders_table: str
    returns_table: str
    kpis_table: str


class ReportsSettings(Settings):
    kpis_table: str


class ReturnsSettings(Settings):
    """The customer's return routes."""

    orders_table: str
    returns_table: str
    catalog_table: str  # categories, and the price of an exchange's other SKU
    inventory_table: str  # an exchange's replacement must be in stock
    return_policy: str  # the policy document (JSON), validated at synth
    return_state_machine_arn: str
    shipments_table: str  # return parcels' tracking numbers


class ReturnsAdminSettings(Settings):
    """Ops' return routes: the review queue, reviews, receipts (stock movements) and retries."""

    orders_table: str
    returns_table: str
    inventory_table: str
    movements_table: str
    backorders_table: str  # restocked units serve waiting orders first
    catalog_table: str
    warehouses: tuple[str, ...]
    return_policy: str
    cursor_secret_arn: str
    notifications_queue_url: str
    ops_alerts_topic_arn: str  # low-stock alerts after a restock
    state_machine_arn: str  # the order workflow (orders served by restocked units resume)


class ReturnStepsSettings(Settings):
    """The return workflow's steps."""

    orders_table: str
    returns_table: str
    return_policy: str
    notifications_queue_url: str
    ops_alerts_topic_arn: str
    state_machine_arn: str  # the order workflow: replacement orders start there
    payment_gateway: str  # refunds
    sandbox_ledger_table: str | None
    stripe_secret_arn: str | None


class CognitoMessagesSettings(Settings):
    """The Cognito custom-message trigger: the shop's name and help, as the notify function has them."""

    shop_name: str
    support_email: str
    support_url: str | None


#: function name (folder under functions/) -> its settings class
BY_FUNCTION: dict[str, type[Settings]] = {
    "place_order": PlaceOrderSettings,
    "get_order": GetOrderSettings,
    "order_changes": OrderChangesSettings,
    "admin": AdminSettings,
    "tracking_webhook": TrackingWebhookSettings,
    "payment": PaymentSettings,
    "inventory": InventorySettings,
    "fraud": FraudSettings,
    "fulfillment": FulfillmentSettings,
    "order_status": OrderStatusSettings,
    "notify": NotifySettings,
    "mail_feedback": MailFeedbackSettings,
    "customers": CustomersSettings,
    "customers_admin": CustomersAdminSettings,
    "cognito_messages": CognitoMessagesSettings,
    "tracking_events": TrackingEventsSettings,
    "track": TrackSettings,
    "sweeper": SweeperSettings,
    "escalations": EscalationsSettings,
    "returns": ReturnsSettings,
    "returns_admin": ReturnsAdminSettings,
    "return_steps": ReturnStepsSettings,
    "order_facts": OrderFactsSettings,
    "reports": ReportsSettings,
}
