"""Typed view of the CDK context settings the OMS app reads.

Defaults live in ``DEFAULT_CONTEXT`` (``cdk.json`` repeats them so ``cdk synth -c key=value`` works);
values given on the command line arrive as strings, so every setting is coerced and validated here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constructs import IConstruct

if TYPE_CHECKING:
    from oms.domain.retention import RetentionPolicy

REPO_ROOT = Path(__file__).resolve().parent.parent

# The newest Python runtime aws-cdk-lib 2.275 knows (cdk-nag AwsSolutions-L1 requires the newest of the family).
# The Powertools public layer is published per runtime, so the layer name follows this value.
PYTHON_RUNTIME = "python3.14"

DEFAULT_CONTEXT: dict[str, Any] = {
    "senderEmail": "orders@example.com",
    "warehouses": "wh-east,wh-west",
    # Where each warehouse ships from (name:COUNTRY:REGION): allocation prefers the nearest to the destination.
    "warehouseLocations": "wh-east:US:NJ,wh-west:US:CA",
    # A backordered order whose goods have not come this many days past their first expected date is cancelled.
    "backorderLimitDays": 30,
    "reviewAmount": "1000.00",
    "fraudThreshold": "60",
    "reviewTimeoutHours": 168,
    "fulfillmentTimeoutHours": 336,
    # A parked order (a technical failure after the retries) waits this long for ops, then is compensated.
    "technicalHoldTimeoutHours": 72,
    # A PENDING order older than this has lost its workflow or is stuck: the sweeper starts it and alarms.
    "pendingAlarmMinutes": 5,
    "paymentGateway": "sandbox",
    # With paymentGateway=stripe: the ARN of the Secrets Manager secret holding the Stripe secret key.
    "stripeSecretArn": "",
    # Card authorizations lapse (Stripe: 7 days online); an order still waiting renews its hold a seventh of this
    # before it lapses. A renewed (merchant-initiated) Visa hold lasts less: lower this for Visa-heavy shops.
    "authorizationHoldHours": 168,
    # A renewal of the hold was declined: how long the order waits for the customer's new payment method.
    "paymentUpdateHours": 72,
    # The cancellation policy document (versioned data; validated here, at synth).
    "cancellationPolicy": "policies/cancellation.json",
    # The return policy document (versioned data; validated here, at synth; shown at GET /returns/policy).
    "returnPolicy": "policies/returns.json",
    # Which events email or text whom (versioned data; validated here, with every template it needs).
    "notificationPolicy": "policies/notifications.json",
    # How long data kept only for a while lives: DynamoDB TTLs, the exports' lifecycle (versioned data; validated here).
    "retentionPolicy": "policies/retention.json",
    # SLAs of held orders and return reviews (reminder, escalation, default action) and when an order is stuck
    # (versioned data; validated here, hard limits against the workflows' own timeouts).
    "escalationPolicy": "policies/escalation.json",
    # How customer messages sign off and where they send customers for help.
    "shopName": "OMS Demo Shop",
    "supportEmail": "help@shop.example",
    "supportUrl": "",
    # The public base URL links in emails point to (a custom domain mapped to the API); default: the API's URL.
    "publicUrl": "",
    # AWSLambdaPowertoolsPythonV3-python314-x86_64:<version>; 27 is the version the Powertools docs
    # list for the python314 layer. Override with -c powertoolsLayerVersion=N to follow a newer release.
    "powertoolsLayerVersion": 27,
    "logLevel": "INFO",
    # X-Ray tracing of functions and the workflow. Off saves each function's cold start the X-Ray SDK.
    "tracing": True,
    # What the order workflows log to CloudWatch Logs: ERROR without execution data in production (docs/deploying.md);
    # ALL includes every state's input and output (personal data) for a short investigation.
    "workflowLogLevel": "ERROR",
    # Alarms: each alarm's description ends with this URL + "#<its section>" (docs/operating.md, as published).
    "runbookBaseUrl": "https://github.com/your-org/oms/blob/main/docs/operating.md",
    # Optional e-mail subscriptions of the two alarm topics (empty: none; subscribe a pager's endpoint by hand).
    "pagingEmail": "",
    "ticketEmail": "",
    # API Gateway throttling by route class (docs/deploying.md#throttling): each method of a class gets its own
    # token bucket, ``rate`` requests/s refilling ``burst`` tokens; ``default`` covers a route in no class.
    "apiThrottling": {
        "placement": {"rate": 2000, "burst": 1000},
        "storefrontReads": {"rate": 1500, "burst": 750},
        "storefrontWrites": {"rate": 200, "burst": 100},
        "admin": {"rate": 1500, "burst": 750},
        "webhooks": {"rate": 2500, "burst": 1250},
        "default": {"rate": 100, "burst": 200},
    },
    # Storefront API keys (comma-separated integration names; empty: none, no key needed): each gets an API key in
    # one usage plan with the per-key limits below, and the storefront's authorized routes then require a key.
    "storefrontApiKeys": "",
    "storefrontKeyLimits": {"rate": 2000, "burst": 1000, "placementRate": 1000, "placementBurst": 500,
                            "dailyQuota": 100000000},
}
#: Context keys that were renamed: a deployment still using the old name fails synthesis with a pointer.
RENAMED_CONTEXT = {"fulfilmentTimeoutHours": "fulfillmentTimeoutHours"}

_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
_WORKFLOW_LOG_LEVELS = {"OFF", "ERROR", "FATAL", "ALL"}


class ConfigError(ValueError):
    """A context setting has an unusable value."""


def _int(key: str, value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise ConfigError(f"context {key!r} must be an integer, got {value!r}") from exc
    if number <= 0:
        raise ConfigError(f"context {key!r} must be positive, got {value!r}")
    return number


def _bool(key: str, value: Any) -> bool:
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ConfigError(f"context {key!r} must be true or false, got {value!r}")
    return text == "true"


def _text(key: str, value: Any) -> str:
    text = str(value or "").strip()
    if not text or len(text) > 100:
        raise ConfigError(f"context {key!r} must be 1 to 100 characters, got {value!r}")
    return text


def _email(key: str, value: Any) -> str:
    text = str(value or "").strip()
    if "@" not in text:
        raise ConfigError(f"context {key!r} must be an e-mail address, got {value!r}")
    return text


def _optional_email(key: str, value: Any) -> str:
    """An e-mail address, or empty for none."""
    text = str(value or "").strip()
    return _email(key, text) if text else ""


def _runbook_base_url(value: Any) -> str:
    """The https URL of docs/operating.md as published, without a fragment (alarms append ``#<section>``)."""
    text = str(value or "").strip()
    if not text.startswith("https://") or "#" in text or " " in text:
        raise ConfigError(f"context 'runbookBaseUrl' must be an https URL without '#', got {value!r}")
    return text


def _policy(key: str, kind: str, path: str, load: Callable[[str], Any]) -> Any:
    """Load and validate a policy file (relative to the repository) with ``load``; a bad policy fails synth with
    the field named."""
    from pydantic import ValidationError

    file = Path(path) if Path(path).is_absolute() else REPO_ROOT / path
    try:
        return load(file.read_text())
    except OSError as exc:
        raise ConfigError(f"context {key!r}: cannot read {file}: {exc}") from exc
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"context {key!r}: {file} is not a valid {kind} policy: {exc}") from exc


def _cancellation_policy(path: str) -> str:
    from oms.domain.cancellation import load_policy

    return str(_policy("cancellationPolicy", "cancellation", path, load_policy).to_json())


def _return_policy(path: str) -> str:
    from oms.domain.return_policy import load_policy

    return str(_policy("returnPolicy", "return", path, load_policy).to_json())


def _notification_policy(path: str) -> str:
    """Load and validate the notification policy, and check every event has a template in every locale it
    requires: a missing template fails synth, not a customer's message."""
    from oms.domain.notification_policy import load_policy, missing_templates

    policy = _policy("notificationPolicy", "notification", path, load_policy)
    missing = missing_templates(policy)
    if missing:
        raise ConfigError(f"context 'notificationPolicy': templates missing under oms/templates/messages: {missing}")
    return str(policy.to_json())


def _retention_policy(path: str) -> str:
    from oms.domain.retention import load_policy

    return str(_policy("retentionPolicy", "retention", path, load_policy).to_json())


def _escalation_policy(path: str, review_timeout_hours: int, return_policy: str) -> str:
    """Load and validate the escalation policy; a hard limit the workflow's own timeout would always beat (the order
    workflow's review timeout, the return policy's review limit) fails synth too."""
    from oms.domain.escalation import load_policy
    from oms.domain.return_policy import load_policy as load_return_policy

    policy = _policy("escalationPolicy", "escalation", path, load_policy)
    problems = policy.beyond_workflow_limits(
        review_timeout_minutes=review_timeout_hours * 60,
        return_review_limit_minutes=load_return_policy(return_policy).review_limit_hours * 60)
    if problems:
        raise ConfigError(f"context 'escalationPolicy': {'; '.join(problems)}")
    return str(policy.to_json())


def _warehouse_locations(value: str, warehouses: tuple[str, ...]) -> tuple[str, ...]:
    """``name:COUNTRY:REGION`` for every warehouse, and for no other."""
    from oms.domain.stock import parse_locations

    specs = tuple(spec.strip() for spec in value.split(",") if spec.strip())
    try:
        located = parse_locations(specs)
    except ValueError as exc:
        raise ConfigError(f"context 'warehouseLocations': {exc}") from exc
    names = {w.name for w in located}
    if names != set(warehouses):
        raise ConfigError(f"context 'warehouseLocations' must locate exactly the warehouses {list(warehouses)}; "
                          f"it locates {sorted(names)}")
    return tuple(f"{w.name}:{w.country}:{w.region}" for w in located)


#: The API's route classes, each throttled per method with its own rate and burst (``default``: any other route).
ROUTE_CLASSES = ("placement", "storefrontReads", "storefrontWrites", "admin", "webhooks", "default")
_KEY_LIMITS = ("rate", "burst", "placementRate", "placementBurst", "dailyQuota")


@dataclass(frozen=True)
class Throttle:
    """One API Gateway token bucket: ``rate`` requests/s steady, ``burst`` requests at once."""

    rate: int
    burst: int


@dataclass(frozen=True)
class StorefrontKeyLimits:
    """What one storefront API key may use (a usage plan): all storefront routes together, POST /orders alone,
    and requests a day."""

    total: Throttle
    placement: Throttle
    daily_quota: int


def _mapping(key: str, value: Any) -> dict[str, Any]:
    """A context object: a mapping from cdk.json, or its JSON text from ``-c key='{...}'``."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise ConfigError(f"context {key!r} must be a JSON object, got {value!r}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"context {key!r} must be a JSON object, got {value!r}")
    return value


def _api_throttling(value: Any) -> dict[str, Throttle]:
    """Rate and burst of every route class: the given classes over the defaults; an unknown class, field or a
    value that is not a positive integer fails synth naming it."""
    given = _mapping("apiThrottling", value)
    unknown = sorted(set(given) - set(ROUTE_CLASSES))
    if unknown:
        raise ConfigError(f"context 'apiThrottling': unknown route class {unknown[0]!r} (classes: "
                          f"{', '.join(ROUTE_CLASSES)})")
    defaults = DEFAULT_CONTEXT["apiThrottling"]
    throttles = {}
    for name in ROUTE_CLASSES:
        limits = {**defaults[name], **_mapping(f"apiThrottling.{name}", given.get(name, {}))}
        extra = sorted(set(limits) - {"rate", "burst"})
        if extra:
            raise ConfigError(f"context 'apiThrottling.{name}': unknown field {extra[0]!r} (fields: rate, burst)")
        throttles[name] = Throttle(rate=_int(f"apiThrottling.{name}.rate", limits["rate"]),
                                   burst=_int(f"apiThrottling.{name}.burst", limits["burst"]))
    return throttles


def _storefront_key_limits(value: Any) -> StorefrontKeyLimits:
    given = _mapping("storefrontKeyLimits", value)
    extra = sorted(set(given) - set(_KEY_LIMITS))
    if extra:
        raise ConfigError(f"context 'storefrontKeyLimits': unknown field {extra[0]!r} (fields: "
                          f"{', '.join(_KEY_LIMITS)})")
    limits = {**DEFAULT_CONTEXT["storefrontKeyLimits"], **given}
    number = {name: _int(f"storefrontKeyLimits.{name}", limits[name]) for name in _KEY_LIMITS}
    if number["placementRate"] > number["rate"] or number["placementBurst"] > number["burst"]:
        raise ConfigError("context 'storefrontKeyLimits': placementRate and placementBurst must not exceed rate "
                          "and burst (POST /orders is one of the key's storefront routes)")
    return StorefrontKeyLimits(total=Throttle(number["rate"], number["burst"]),
                               placement=Throttle(number["placementRate"], number["placementBurst"]),
                               daily_quota=number["dailyQuota"])


def _storefront_api_keys(value: Any) -> tuple[str, ...]:
    names = tuple(name.strip() for name in str(value or "").split(",") if name.strip())
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}", name):
            raise ConfigError(f"context 'storefrontApiKeys': {name!r} is not a name (letters, digits, '-'; "
                              "at most 40)")
    if len({name.lower() for name in names}) != len(names):
        raise ConfigError(f"context 'storefrontApiKeys' names a storefront twice: {value!r}")
    return names


@dataclass(frozen=True)
class OmsConfig:
    sender_email: str
    warehouses: tuple[str, ...]
    warehouse_locations: tuple[str, ...]
    backorder_limit_days: int
    review_amount: str
    fraud_threshold: str
    review_timeout_hours: int
    fulfillment_timeout_hours: int
    technical_hold_timeout_hours: int
    pending_alarm_minutes: int
    payment_gateway: str
    stripe_secret_arn: str
    authorization_hold_hours: int
    payment_update_hours: int
    cancellation_policy: str  # the validated policy document, compact JSON
    return_policy: str  # the same, for returns
    notification_policy: str  # the same, for messages
    retention_policy: str  # the same, for how long data is kept (read it parsed as ``retention``)
    escalation_policy: str  # the same (compact, without its descriptions), for SLAs and stuck orders
    shop_name: str
    support_email: str
    support_url: str
    public_url: str
    powertools_layer_version: int
    log_level: str
    tracing: bool
    workflow_log_level: str  # ERROR, FATAL, ALL or OFF (Step Functions log levels)
    runbook_base_url: str  # where alarm descriptions link: docs/operating.md as published
    paging_email: str  # the paging topic's e-mail subscription, or ""
    ticket_email: str  # the ticket topic's, or ""
    api_throttling: dict[str, Throttle]  # by route class (ROUTE_CLASSES)
    storefront_api_keys: tuple[str, ...]  # storefront integrations with an API key; empty: no keys
    storefront_key_limits: StorefrontKeyLimits

    @property
    def retention(self) -> RetentionPolicy:
        """The retention policy, parsed (its periods feed TTL environment variables and lifecycle rules)."""
        from oms.domain.retention import load_policy

        return load_policy(self.retention_policy)

    @property
    def warehouses_csv(self) -> str:
        return ",".join(self.warehouses)

    @property
    def warehouse_locations_csv(self) -> str:
        return ",".join(self.warehouse_locations)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> OmsConfig:
        for old, new in RENAMED_CONTEXT.items():
            if values.get(old) is not None:
                raise ConfigError(f"context {old!r} was renamed to {new!r}; use the new name")
        merged = {**DEFAULT_CONTEXT, **{k: v for k, v in values.items() if v is not None}}
        sender = str(merged["senderEmail"]).strip()
        if "@" not in sender:
            raise ConfigError(f"context 'senderEmail' must be an e-mail address, got {sender!r}")
        warehouses = tuple(w.strip() for w in str(merged["warehouses"]).split(",") if w.strip())
        if not warehouses:
            raise ConfigError("context 'warehouses' must list at least one warehouse")
        locations = _warehouse_locations(str(merged["warehouseLocations"]), warehouses)
        backorder_limit_days = _int("backorderLimitDays", merged["backorderLimitDays"])
        if not 1 <= backorder_limit_days <= 365:
            raise ConfigError(f"context 'backorderLimitDays' must be 1 to 365 days, got {backorder_limit_days}")
        try:
            review_amount = Decimal(str(merged["reviewAmount"]))
        except InvalidOperation as exc:
            raise ConfigError(f"context 'reviewAmount' must be a decimal, got {merged['reviewAmount']!r}") from exc
        fraud_threshold = _int("fraudThreshold", merged["fraudThreshold"])
        gateway = str(merged["paymentGateway"]).strip()
        if gateway not in ("sandbox", "stripe"):
            raise ConfigError(f"context 'paymentGateway' must be sandbox or stripe, got {gateway!r}")
        stripe_secret = str(merged["stripeSecretArn"] or "").strip()
        if gateway == "stripe" and not stripe_secret.startswith("arn:"):
            raise ConfigError("context 'stripeSecretArn' must be the ARN of the Secrets Manager secret holding the "
                              "Stripe secret key when paymentGateway is stripe (docs/deploying.md)")
        workflow_log_level = str(merged["workflowLogLevel"]).upper()
        if workflow_log_level not in _WORKFLOW_LOG_LEVELS:
            raise ConfigError(f"context 'workflowLogLevel' must be one of {sorted(_WORKFLOW_LOG_LEVELS)}, "
                              f"got {workflow_log_level!r}")
        log_level = str(merged["logLevel"]).upper()
        if log_level not in _LOG_LEVELS:
            raise ConfigError(f"context 'logLevel' must be one of {sorted(_LOG_LEVELS)}, got {log_level!r}")
        return cls(
            sender_email=sender,
            warehouses=warehouses,
            warehouse_locations=locations,
            backorder_limit_days=backorder_limit_days,
            review_amount=str(review_amount),
            fraud_threshold=str(fraud_threshold),
            review_timeout_hours=_int("reviewTimeoutHours", merged["reviewTimeoutHours"]),
            fulfillment_timeout_hours=_int("fulfillmentTimeoutHours", merged["fulfillmentTimeoutHours"]),
            technical_hold_timeout_hours=_int("technicalHoldTimeoutHours", merged["technicalHoldTimeoutHours"]),
            pending_alarm_minutes=_int("pendingAlarmMinutes", merged["pendingAlarmMinutes"]),
            payment_gateway=gateway,
            stripe_secret_arn=stripe_secret,
            authorization_hold_hours=_int("authorizationHoldHours", merged["authorizationHoldHours"]),
            payment_update_hours=_int("paymentUpdateHours", merged["paymentUpdateHours"]),
            cancellation_policy=_cancellation_policy(str(merged["cancellationPolicy"])),
            return_policy=_return_policy(str(merged["returnPolicy"])),
            notification_policy=_notification_policy(str(merged["notificationPolicy"])),
            retention_policy=_retention_policy(str(merged["retentionPolicy"])),
            escalation_policy=_escalation_policy(str(merged["escalationPolicy"]),
                                                 _int("reviewTimeoutHours", merged["reviewTimeoutHours"]),
                                                 _return_policy(str(merged["returnPolicy"]))),
            shop_name=_text("shopName", merged["shopName"]),
            support_email=_email("supportEmail", merged["supportEmail"]),
            support_url=str(merged["supportUrl"] or "").strip(),
            public_url=str(merged["publicUrl"] or "").strip(),
            powertools_layer_version=_int("powertoolsLayerVersion", merged["powertoolsLayerVersion"]),
            log_level=log_level,
            workflow_log_level=workflow_log_level,
            tracing=_bool("tracing", merged["tracing"]),
            runbook_base_url=_runbook_base_url(merged["runbookBaseUrl"]),
            paging_email=_optional_email("pagingEmail", merged["pagingEmail"]),
            ticket_email=_optional_email("ticketEmail", merged["ticketEmail"]),
            api_throttling=_api_throttling(merged["apiThrottling"]),
            storefront_api_keys=_storefront_api_keys(merged["storefrontApiKeys"]),
            storefront_key_limits=_storefront_key_limits(merged["storefrontKeyLimits"]),
        )

    @classmethod
    def from_node(cls, scope: IConstruct) -> OmsConfig:
        node = scope.node
        return cls.from_mapping({key: node.try_get_context(key) for key in (*DEFAULT_CONTEXT, *RENAMED_CONTEXT)})
