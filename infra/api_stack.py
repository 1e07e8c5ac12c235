"""OmsApi: Cognito user pool, REST API (stage v1) and the API functions, secrets, 5XX alarm.

API Gateway's own answers (401, 403, 404 for an unknown route, a missing header, 413, 429, 5xx) are gateway
responses in the OMS error body ``{"code", "message"}``, so a client parses one error shape whatever answered;
a throttled request's 429 carries ``Retry-After``.

Throttling (``apiThrottling``, docs/deploying.md#throttling): every route is in a class (``route_class``) and each
method gets its class's rate and burst as the stage's method settings, so a flood of one route (a flash sale on
``POST /orders``) is refused on that route while webhooks, admin and reads keep their own buckets. With
``storefrontApiKeys`` the storefront's authorized routes need an API key, and a usage plan limits each key.
"""

from __future__ import annotations

from email.utils import formataddr
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.alarms import Severity, alarm_on
from infra.config import OmsConfig, Throttle
from infra.data_stack import DataStack
from infra.functions import API_TIMEOUT, PowertoolsFunction, function_factory
from infra.messaging_stack import PUBLIC_URL_PARAMETER, MessagingStack
from infra.nag import acknowledge, acknowledge_kms_data_keys, acknowledge_table_indexes
from infra.returns_stack import ReturnsStack
from infra.workflow_stack import WorkflowStack

#: (function name, method, path, cognito authorizer?) — the API's complete route table.
ROUTES: list[tuple[str, str, str, bool]] = [
    ("place_order", "POST", "/orders", True),
    ("get_order", "GET", "/orders", True),
    ("get_order", "GET", "/orders/{order_id}", True),
    ("order_changes", "POST", "/orders/{order_id}/cancel", True),
    ("order_changes", "POST", "/orders/{order_id}/payment", True),
    ("admin", "PUT", "/admin/products/{sku}", True),
    ("admin", "PUT", "/admin/inventory/{sku}", True),
    ("admin", "GET", "/admin/inventory/{sku}", True),
    ("admin", "POST", "/admin/inventory/{sku}/receipts", True),
    ("admin", "GET", "/admin/inventory/{sku}/movements", True),
    ("admin", "GET", "/admin/warehouses/{warehouse}/queue", True),
    ("admin", "GET", "/admin/orders", True),
    ("admin", "POST", "/admin/orders/{order_id}/review", True),
    ("admin", "POST", "/admin/orders/{order_id}/shipments", True),
    ("admin", "POST", "/admin/orders/{order_id}/retry", True),
    ("admin", "POST", "/admin/orders/{order_id}/cancel", True),
    ("admin", "POST", "/admin/orders/{order_id}/picking", True),
    ("admin", "POST", "/admin/orders/{order_id}/refunds", True),
    ("admin", "GET", "/admin/orders/{order_id}/payments", True),
    ("admin", "GET", "/admin/suppressions", True),
    ("admin", "DELETE", "/admin/suppressions/{email}", True),
    ("returns", "GET", "/returns/policy", False),
    ("returns", "POST", "/orders/{order_id}/returns", True),
    ("returns", "GET", "/orders/{order_id}/returns", True),
    ("returns", "GET", "/orders/{order_id}/returns/{return_id}", True),
    ("returns", "POST", "/orders/{order_id}/returns/{return_id}/cancel", True),
    ("returns", "POST", "/orders/{order_id}/returns/{return_id}/parcel", True),
    ("returns_admin", "GET", "/admin/returns", True),
    ("returns_admin", "GET", "/admin/returns/{return_id}", True),
    ("returns_admin", "POST", "/admin/returns/{return_id}/review", True),
    ("returns_admin", "POST", "/admin/returns/{return_id}/receive", True),
    ("returns_admin", "POST", "/admin/returns/{return_id}/retry", True),
    ("customers", "GET", "/customers/me", True),
    ("customers", "PUT", "/customers/me", True),
    ("customers", "DELETE", "/customers/me", True),
    ("customers", "GET", "/customers/me/preferences", True),
    ("customers", "PUT", "/customers/me/preferences", True),
    ("customers", "GET", "/customers/me/addresses", True),
    ("customers", "POST", "/customers/me/addresses", True),
    ("customers", "PUT", "/customers/me/addresses/{address_id}", True),
    ("customers", "DELETE", "/customers/me/addresses/{address_id}", True),
    ("customers", "GET", "/customers/me/payment-methods", True),
    ("customers", "POST", "/customers/me/payment-methods", True),
    ("customers", "DELETE", "/customers/me/payment-methods/{payment_method_id}", True),
    ("customers", "GET", "/customers/me/export", True),
    ("customers_admin", "POST", "/admin/customers/{customer_id}/erase", True),
    ("reports", "GET", "/admin/reports/kpis", True),
    ("get_order", "GET", "/orders/{order_id}/tracking", True),
    ("track", "GET", "/track/{token}", False),
    ("tracking_webhook", "POST", "/webhooks/tracking/easypost", False),
    ("tracking_webhook", "POST", "/webhooks/tracking/aftership", False),
    ("tracking_webhook", "POST", "/webhooks/tracking/generic", False),
]
#: Why a route has no Cognito authorizer (the cdk-nag acknowledgement of each).
PUBLIC_ROUTES = {
    "webhook": "Carrier webhook: a carrier cannot present a Cognito token; the tracking_webhook Lambda verifies the "
               "source's HMAC signature with its secret in Secrets Manager.",
    "/track/{token}": "The tracking page of a shipped email's link: the token is signed (HMAC) and expires; it "
                      "shows no address, email or price.",
    "/returns/policy": "The return policy is public (storefronts show it before sign-in); it holds no customer data.",
}
#: Route classes a storefront integration calls (with ``storefrontApiKeys``, its authorized routes need a key).
STOREFRONT_CLASSES = ("placement", "storefrontReads", "storefrontWrites")


def route_class(http_method: str, path: str) -> str:
    """The throttling class of a route (a key of ``apiThrottling``)."""
    if path.startswith("/webhooks/"):
        return "webhooks"
    if path.startswith("/admin/"):
        return "admin"
    if (http_method, path) == ("POST", "/orders"):
        return "placement"
    if path.startswith(("/orders", "/track/", "/returns/", "/customers/")):
        return "storefrontReads" if http_method == "GET" else "storefrontWrites"
    return "default"


def method_throttling(throttling: dict[str, Throttle]) -> dict[str, apigateway.MethodDeploymentOptions]:
    """The stage's method settings: every classified route's rate and burst (``default`` is the stage's own)."""
    options = {}
    for _, http_method, path, _ in ROUTES:
        name = route_class(http_method, path)
        if name != "default":
            limits = throttling[name]
            options[f"{path}/{http_method}"] = apigateway.MethodDeploymentOptions(
                throttling_rate_limit=limits.rate, throttling_burst_limit=limits.burst)
    return options


def needs_api_key(http_method: str, path: str, authorized: bool) -> bool:
    """With ``storefrontApiKeys``: the storefront's authorized routes (public ones, such as the tracking page an
    email links to, and ops' and carriers' routes need none)."""
    return authorized and route_class(http_method, path) in STOREFRONT_CLASSES


def storefront_usage_plan(api: apigateway.RestApi, placement: apigateway.Method,
                          config: OmsConfig) -> apigateway.UsagePlan:
    """One API key per storefront integration in one usage plan: each key's requests/s over the storefront routes,
    its share of POST /orders (``placement``), and a daily quota, so one integration cannot use the whole budget."""
    limits = config.storefront_key_limits
    plan = api.add_usage_plan(
        "StorefrontUsagePlan",
        name="oms-storefronts",
        description="Per storefront API key: storefront routes' rate, POST /orders' share, daily quota",
        throttle=apigateway.ThrottleSettings(rate_limit=limits.total.rate, burst_limit=limits.total.burst),
        quota=apigateway.QuotaSettings(limit=limits.daily_quota, period=apigateway.Period.DAY),
        api_stages=[apigateway.UsagePlanPerApiStage(
            api=api, stage=api.deployment_stage,
            throttle=[apigateway.ThrottlingPerMethod(method=placement, throttle=apigateway.ThrottleSettings(
                rate_limit=limits.placement.rate, burst_limit=limits.placement.burst))],
        )],
    )
    for name in config.storefront_api_keys:
        key = api.add_api_key(f"StorefrontKey{name.title().replace('-', '')}", api_key_name=f"oms-{name}",
                              description=f"OMS storefront integration '{name}'")
        plan.add_api_key(key)
    return plan


#: Routes API Gateway refuses (400) without an ``Idempotency-Key`` header.
IDEMPOTENT_ROUTES = {("POST", "/orders"), ("POST", "/orders/{order_id}/cancel"),
                     ("POST", "/admin/orders/{order_id}/refunds"), ("POST", "/admin/inventory/{sku}/receipts"),
                     ("POST", "/orders/{order_id}/returns")}


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: OmsConfig,
        data: DataStack,
        messaging: MessagingStack,
        workflow: WorkflowStack,
        returns: ReturnsStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._build_auth(config, messaging)

        self.webhook_secrets = secretsmanager.Secret(
            self,
            "WebhookSecrets",
            description="OMS webhook signing secrets (JSON; key 'easypost' = EasyPost webhook HMAC secret)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}", generate_string_key="easypost", exclude_punctuation=True
            ),
        )
        acknowledge(
            self.webhook_secrets,
            "SMG4",
            "The EasyPost webhook secret is issued by EasyPost and can only be rotated in their dashboard; "
            "ops rotate it there and update this secret by hand (docs/deploying.md).",
        )

        # One secret per source that our side generates: {"current": ..., "previous": ...} (both accepted while a
        # secret rotates; docs/operating.md). EasyPost's is above, with its original key.
        self.source_secrets = {}
        for source, label in (("aftership", "AfterShip"), ("generic", "generic carrier")):
            source_secret = secretsmanager.Secret(
                self, f"{label.title().replace(' ', '')}WebhookSecret",
                description=f"OMS {label} webhook signing secret (JSON: current, previous)",
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template="{}", generate_string_key="current", exclude_punctuation=True),
            )
            acknowledge(source_secret, "SMG4", f"The {label} secret is shared with the sender; ops rotate it with "
                                               "the two-secret procedure in docs/operating.md.")
            self.source_secrets[source] = source_secret

        self.cursor_secret = secretsmanager.Secret(
            self,
            "CursorSecret",
            description="OMS pagination cursor signing key (HMAC-SHA256)",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        )
        acknowledge(
            self.cursor_secret,
            "SMG4",
            "The key only signs pagination cursors; rotating it invalidates cursors in flight, so it is rotated "
            "by hand (docs/operating.md) rather than on a schedule.",
        )

        state_machine = workflow.state_machine

        function = function_factory(self, config, API_TIMEOUT, messaging.alarms)

        place_order = function(
            "place_order",
            "PlaceOrder",
            {
                "ORDERS_TABLE": data.orders.table_name,
                "CATALOG_TABLE": data.catalog.table_name,
                "INVENTORY_TABLE": data.inventory.table_name,
                "STATE_MACHINE_ARN": state_machine.state_machine_arn,
                "WAREHOUSES": config.warehouses_csv,
                "CUSTOMERS_TABLE": data.customers.table_name,
            },
        )
        data.catalog.grant_read_data(place_order.function)
        data.customers.grant_read_data(place_order.function)  # the preferred locale
        data.inventory.grant_read_data(place_order.function)
        # PutItem with ReturnValuesOnConditionCheckFailure reads the existing order: read and write.
        data.orders.grant_read_write_data(place_order.function)
        acknowledge_table_indexes(place_order.role, data.orders)
        state_machine.grant_start_execution(place_order.function)

        get_order = function("get_order", "GetOrder", {
            "ORDERS_TABLE": data.orders.table_name, "CURSOR_SECRET_ARN": self.cursor_secret.secret_arn,
        })
        data.orders.grant_read_data(get_order.function)
        acknowledge_table_indexes(get_order.role, data.orders)
        self.cursor_secret.grant_read(get_order.function)

        order_changes = function("order_changes", "OrderChanges", {
            "ORDERS_TABLE": data.orders.table_name, "CANCELLATION_POLICY": config.cancellation_policy,
            "CUSTOMERS_TABLE": data.customers.table_name,
        })
        data.orders.grant_read_write_data(order_changes.function)
        data.customers.grant_read_data(order_changes.function)  # a saved card for an order on hold for payment
        acknowledge_table_indexes(order_changes.role, data.orders)
        state_machine.grant_task_response(order_changes.function)

        admin = function(
            "admin",
            "Admin",
            {
                "ORDERS_TABLE": data.orders.table_name,
                "CATALOG_TABLE": data.catalog.table_name,
                "INVENTORY_TABLE": data.inventory.table_name,
                "MOVEMENTS_TABLE": data.movements.table_name,
                "BACKORDERS_TABLE": data.backorders.table_name,
                "OPS_ALERTS_TOPIC_ARN": messaging.ops_alerts.topic_arn,
                "SHIPMENTS_TABLE": data.shipments.table_name,
                "WAREHOUSES": config.warehouses_csv,
                "CURSOR_SECRET_ARN": self.cursor_secret.secret_arn,
                "CANCELLATION_POLICY": config.cancellation_policy,
                "NOTIFICATIONS_QUEUE_URL": messaging.notifications.queue_url,
                "SUPPRESSIONS_TABLE": data.suppressions.table_name,
                "TRACKING_EVENTS_TABLE": data.tracking_events.table_name,
                "TRACKING_QUEUE_URL": messaging.tracking_queue.queue_url,
                "TRACKING_BODY_TTL_SECONDS": str(config.retention.tracking_body_seconds),
                "TRACKING_PARK_TTL_SECONDS": str(config.retention.parked_event_seconds),
                **workflow.gateway_environment,
            },
        )
        messaging.tracking_queue.grant_send_messages(admin.function)  # parked carrier events, once shipped
        for table in (data.catalog, data.inventory, data.movements, data.backorders, data.orders, data.shipments,
                      data.suppressions, data.tracking_events):
            table.grant_read_write_data(admin.function)
        messaging.ops_alerts.grant_publish(admin.function)  # low-stock alerts
        acknowledge_kms_data_keys(admin.role)
        acknowledge_table_indexes(admin.role, data.orders)
        state_machine.grant_task_response(admin.function)
        self.cursor_secret.grant_read(admin.function)
        messaging.notifications.grant_send_messages(admin.function)
        workflow.grant_gateway(admin.function)  # refunds

        webhook = function(
            "tracking_webhook",
            "TrackingWebhook",
            {
                "TRACKING_EVENTS_TABLE": data.tracking_events.table_name,
                "TRACKING_QUEUE_URL": messaging.tracking_queue.queue_url,
                "TRACKING_BODY_TTL_SECONDS": str(config.retention.tracking_body_seconds),
                "TRACKING_PARK_TTL_SECONDS": str(config.retention.parked_event_seconds),
                "WEBHOOK_SECRETS_ARN": self.webhook_secrets.secret_arn,
                "AFTERSHIP_SECRET_ARN": self.source_secrets["aftership"].secret_arn,
                "GENERIC_SECRET_ARN": self.source_secrets["generic"].secret_arn,
            },
        )
        # Verify, store (deduplicated by event id), queue: processing is tracking_events' (OmsMessaging).
        data.tracking_events.grant_read_write_data(webhook.function)
        messaging.tracking_queue.grant_send_messages(webhook.function)
        for source_secret in (self.webhook_secrets, *self.source_secrets.values()):
            source_secret.grant_read(webhook.function)

        track = function("track", "Track", {
            "ORDERS_TABLE": data.orders.table_name,
            "TRACKING_LINK_SECRET_ARN": messaging.tracking_link_secret.secret_arn,
        })
        data.orders.grant_read_data(track.function)
        acknowledge_table_indexes(track.role, data.orders)
        messaging.tracking_link_secret.grant_read(track.function)

        account_functions = self._accounts(config, data, messaging, workflow, returns)

        # KPIs: one Query of the projection's day items (OmsOps keeps it from the order and return streams).
        reports = function("reports", "Reports", {"KPIS_TABLE": data.kpis.table_name})
        data.kpis.grant_read_data(reports.function)

        return_functions = self._returns(config, data, messaging, workflow, returns)
        self.functions = {pf.name: pf for pf in (place_order, get_order, order_changes, admin, webhook, track,
                                                 reports, *account_functions, *return_functions)}
        self._build_api(config)
        # Where links in emails point (the tracking page): the shop's own domain if configured, else the API.
        ssm.StringParameter(self, "PublicUrl", parameter_name=PUBLIC_URL_PARAMETER,
                            string_value=config.public_url or self.api.url,
                            description="OMS: the public base URL of the API (links in customer emails)")

        alarm_on(self, "Api5xxAlarm", "The OMS API returned 5XX responses",
                 self.api.metric_server_error(period=Duration.minutes(5), statistic="Sum"), messaging.alarm_routing,
                 severity=Severity.PAGE, runbook="api-5xx")

        CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.user_pool_client.user_pool_client_id)

    def _returns(self, config: OmsConfig, data: DataStack, messaging: MessagingStack, workflow: WorkflowStack,
                 returns: ReturnsStack) -> tuple[PowertoolsFunction, PowertoolsFunction]:
        """The customer's return routes and ops' (the return workflow is OmsReturns')."""
        function = function_factory(self, config, API_TIMEOUT, messaging.alarms)
        machine = returns.state_machine
        customer = function("returns", "Returns", {
            "ORDERS_TABLE": data.orders.table_name, "RETURNS_TABLE": data.returns.table_name,
            "CATALOG_TABLE": data.catalog.table_name, "INVENTORY_TABLE": data.inventory.table_name,
            "RETURN_POLICY": config.return_policy, "RETURN_STATE_MACHINE_ARN": machine.state_machine_arn,
            "SHIPMENTS_TABLE": data.shipments.table_name,
        })
        # The return and the order's units held by returns are written in one transaction.
        for table in (data.orders, data.returns, data.shipments):
            table.grant_read_write_data(customer.function)
        for table in (data.catalog, data.inventory):
            table.grant_read_data(customer.function)
        acknowledge_table_indexes(customer.role, data.orders, data.returns)
        machine.grant_start_execution(customer.function)
        machine.grant_task_response(customer.function)  # a cancellation ends the return's wait

        ops = function("returns_admin", "ReturnsAdmin", {
            "ORDERS_TABLE": data.orders.table_name, "RETURNS_TABLE": data.returns.table_name,
            "INVENTORY_TABLE": data.inventory.table_name, "MOVEMENTS_TABLE": data.movements.table_name,
            "BACKORDERS_TABLE": data.backorders.table_name, "CATALOG_TABLE": data.catalog.table_name,
            "WAREHOUSES": config.warehouses_csv, "RETURN_POLICY": config.return_policy,
            "CURSOR_SECRET_ARN": self.cursor_secret.secret_arn,
            "NOTIFICATIONS_QUEUE_URL": messaging.notifications.queue_url,
            "OPS_ALERTS_TOPIC_ARN": messaging.ops_alerts.topic_arn,
            "STATE_MACHINE_ARN": workflow.state_machine.state_machine_arn,
        })
        for table in (data.orders, data.returns, data.inventory, data.movements, data.backorders):
            table.grant_read_write_data(ops.function)
        data.catalog.grant_read_data(ops.function)
        acknowledge_table_indexes(ops.role, data.orders, data.returns)
        self.cursor_secret.grant_read(ops.function)
        messaging.notifications.grant_send_messages(ops.function)
        messaging.ops_alerts.grant_publish(ops.function)
        acknowledge_kms_data_keys(ops.role)
        machine.grant_task_response(ops.function)
        workflow.state_machine.grant_task_response(ops.function)  # orders served by restocked units resume
        return customer, ops

    def _accounts(self, config: OmsConfig, data: DataStack, messaging: MessagingStack, workflow: WorkflowStack,
                  returns: ReturnsStack) -> tuple[PowertoolsFunction, PowertoolsFunction]:
        """The customer's account routes (profile, addresses, cards, export, deletion) and ops' erasure."""
        function = function_factory(self, config, API_TIMEOUT, messaging.alarms)
        self.exports = s3.Bucket(
            self, "Exports",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(config.retention.data_exports_days))],
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=False,
        )
        acknowledge(self.exports, "S1", "The bucket only holds customers' own data exports for a day (lifecycle "
                                        "rule); every read is a presigned link the customer asked for, and "
                                        "CloudTrail data events are the audit trail if a shop wants one.")
        environment = {
            "CUSTOMERS_TABLE": data.customers.table_name, "ORDERS_TABLE": data.orders.table_name,
            "RETURNS_TABLE": data.returns.table_name, "SUPPRESSIONS_TABLE": data.suppressions.table_name,
            "CURSOR_SECRET_ARN": self.cursor_secret.secret_arn,
            "USER_POOL_ID": self.user_pool.user_pool_id,
            "USER_POOL_CLIENT_ID": self.user_pool_client.user_pool_client_id,
            "EXPORTS_BUCKET": self.exports.bucket_name,
            "SENDER_EMAIL": config.sender_email,
            "CONFIGURATION_SET": messaging.configuration_set.configuration_set_name,
            "SHOP_NAME": config.shop_name, "SUPPORT_EMAIL": config.support_email,
            **({"SUPPORT_URL": config.support_url} if config.support_url else {}),
            **workflow.gateway_environment,
        }
        customer = function("customers", "Customers", environment)
        ops = function("customers_admin", "CustomersAdmin", environment)
        for pf in (customer, ops):
            fn = pf.function
            # Erasure anonymizes orders and returns, drops the address's suppression, erases the partition.
            for table in (data.customers, data.orders, data.returns, data.suppressions):
                table.grant_read_write_data(fn)
            acknowledge_table_indexes(pf.role, data.orders, data.returns)
            self.cursor_secret.grant_read(fn)
            workflow.grant_gateway(fn)  # saved cards: the gateway's customer, attach and detach
            # Write an export and presign its download: objects under exports/ only, no listing or deleting.
            fn.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject", "s3:GetObject"],
                                                      resources=[self.exports.arn_for_objects("exports/*")]))
            acknowledge(pf.role, "IAM5", "Each export is a new object under exports/ (a random name): the "
                                         "function writes and presigns objects there, and nothing else.",
                        f"Resource::<{self.get_logical_id(self.exports.node.default_child)}.Arn>/exports/*")
            messaging.grant_send_email(fn)  # the erasure's confirmation
            self.user_pool.grant(fn, "cognito-idp:ListUsers", "cognito-idp:AdminUserGlobalSignOut",
                                 "cognito-idp:AdminDeleteUser")
        return customer, ops

    def _build_auth(self, config: OmsConfig, messaging: MessagingStack) -> None:
        function = function_factory(self, config, API_TIMEOUT, messaging.alarms)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            self_sign_up_enabled=True,
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            user_verification=cognito.UserVerificationConfig(email_style=cognito.VerificationEmailStyle.CODE),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True),
                locale=cognito.StandardAttribute(required=False, mutable=True),
                given_name=cognito.StandardAttribute(required=False, mutable=True),
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Codes and resets are mailed by SES as the shop (Cognito's own mailer sends 50 a day at most), worded
        # by the custom-message trigger in the customer's locale. (``UserPoolEmail.with_ses`` needs a literal
        # region; this app is region-agnostic, so the SES identity's ARN is built from the stack's.)
        pool = self.user_pool.node.default_child
        assert isinstance(pool, cognito.CfnUserPool)
        pool.email_configuration = cognito.CfnUserPool.EmailConfigurationProperty(
            email_sending_account="DEVELOPER", from_=formataddr((config.shop_name, config.sender_email)),
            configuration_set=messaging.configuration_set.configuration_set_name,  # bounces are suppressed too
            source_arn=self.format_arn(service="ses", resource="identity", resource_name=config.sender_email))
        messages = function("cognito_messages", "CognitoMessages", {
            "SHOP_NAME": config.shop_name, "SUPPORT_EMAIL": config.support_email,
            **({"SUPPORT_URL": config.support_url} if config.support_url else {}),
        })
        self.user_pool.add_trigger(cognito.UserPoolOperation.CUSTOM_MESSAGE, messages.function)
        self.cognito_messages = messages
        acknowledge(
            self.user_pool,
            "COG2",
            "Storefront customers self sign up; MFA (TOTP) is optional for them. Requiring MFA for the ops "
            "group is tracked on the privacy/security roadmap item.",
        )
        acknowledge(
            self.user_pool,
            "COG8",
            "Threat protection needs the Cognito Plus feature plan (per-MAU cost); deferred to the "
            "privacy/security roadmap item.",
        )
        self.user_pool_client = self.user_pool.add_client(
            "StorefrontClient",
            generate_secret=False,
            prevent_user_existence_errors=True,
            # user_srp for the storefront; user_password + admin_user_password because the local CLI (and
            # ops tooling running with IAM credentials) mints tokens with ADMIN_USER_PASSWORD_AUTH.
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True, admin_user_password=True),
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            enable_token_revocation=True,
        )
        cognito.CfnUserPoolGroup(
            self,
            "OpsGroup",
            user_pool_id=self.user_pool.user_pool_id,
            group_name="ops",
            description="Operations staff: admin API (products, inventory, reviews, shipments)",
        )

    def _build_api(self, config: OmsConfig) -> None:
        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api = apigateway.RestApi(
            self,
            "Api",
            description="OMS storefront, ops and carrier webhook API",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=apigateway.StageOptions(
                stage_name="v1",
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                tracing_enabled=True,
                metrics_enabled=True,
                # Routes in no class: the stage's default; every classified route: its class's own bucket.
                throttling_rate_limit=config.api_throttling["default"].rate,
                throttling_burst_limit=config.api_throttling["default"].burst,
                method_options=method_throttling(config.api_throttling),
            ),
        )
        acknowledge(
            self.api,
            "APIG3",
            "AWS WAF on the API is deferred to the privacy/security roadmap item; the stage is throttled "
            "and every route except the HMAC-verified webhook needs a Cognito token.",
        )
        acknowledge(
            self.api,
            "APIG6",
            "Execution logging needs the account-wide API Gateway CloudWatch role (AWS::ApiGateway::Account), "
            "a per-region singleton this app does not own; the v1 stage has JSON access logs and X-Ray.",
        )
        self._gateway_responses()
        authorizer = apigateway.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[self.user_pool])
        validator = apigateway.RequestValidator(
            self,
            "RequestValidator",
            rest_api=self.api,
            validate_request_parameters=True,
            validate_request_body=True,
        )
        integrations: dict[str, apigateway.LambdaIntegration] = {}
        keyed = bool(config.storefront_api_keys)
        placement: apigateway.Method | None = None

        def integration(fn: lambda_.IFunction, name: str) -> apigateway.LambdaIntegration:
            if name not in integrations:
                integrations[name] = apigateway.LambdaIntegration(fn, allow_test_invoke=False)
            return integrations[name]

        for name, http_method, path, authorized in ROUTES:
            resource = self.api.root.resource_for_path(path)
            options: dict[str, Any] = {}
            if authorized:
                options.update(authorizer=authorizer, authorization_type=apigateway.AuthorizationType.COGNITO)
            if (http_method, path) in IDEMPOTENT_ROUTES:
                options.update(
                    request_parameters={"method.request.header.Idempotency-Key": True},
                    request_validator=validator,
                )
            if keyed and needs_api_key(http_method, path, authorized):
                options.update(api_key_required=True)
            method = resource.add_method(http_method, integration(self.functions[name].function, name), **options)
            if (http_method, path) == ("POST", "/orders"):
                placement = method
            if not authorized:
                reason = PUBLIC_ROUTES.get(path, PUBLIC_ROUTES["webhook"])
                acknowledge(method, "APIG4", reason)
                acknowledge(method, "COG4", reason)
        if keyed:
            assert placement is not None
            storefront_usage_plan(self.api, placement, config)

    def _gateway_responses(self) -> None:
        """API Gateway's own answers in the OMS error body (``$context.error.messageString`` is a quoted string)."""
        for response_type, status, code, message in GATEWAY_RESPONSES:
            self.api.add_gateway_response(
                f"{code.title().replace('_', '')}Response",
                type=response_type,
                status_code=status,
                templates={"application/json": f'{{"code":"{code}","message":{message}}}'},
                response_headers=GATEWAY_RESPONSE_HEADERS.get(code),
            )


MESSAGE = "$context.error.messageString"
#: (response type, status, code, message template) of API Gateway's own answers.
GATEWAY_RESPONSES = [
    (apigateway.ResponseType.UNAUTHORIZED, "401", "unauthorized", MESSAGE),
    (apigateway.ResponseType.ACCESS_DENIED, "403", "forbidden", MESSAGE),
    (apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "not_found", '"No such route"'),
    (apigateway.ResponseType.BAD_REQUEST_PARAMETERS, "400", "missing_parameter", MESSAGE),
    (apigateway.ResponseType.REQUEST_TOO_LARGE, "413", "payload_too_large", MESSAGE),
    (apigateway.ResponseType.THROTTLED, "429", "throttled", MESSAGE),
    (apigateway.ResponseType.QUOTA_EXCEEDED, "429", "quota_exceeded", MESSAGE),
    (apigateway.ResponseType.INVALID_API_KEY, "403", "invalid_api_key", MESSAGE),
    (apigateway.ResponseType.DEFAULT_4_XX, None, "bad_request", MESSAGE),
    (apigateway.ResponseType.DEFAULT_5_XX, None, "internal_error", '"Internal server error"'),
]
#: Headers of gateway answers by code (static values are quoted): a throttled client retries after a second, when a
#: token has refilled (a storefront repeats POST /orders with the same Idempotency-Key: never lost, never twice).
GATEWAY_RESPONSE_HEADERS = {"throttled": {"Retry-After": "'1'"}}
