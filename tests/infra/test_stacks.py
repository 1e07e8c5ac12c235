"""Tables, functions, queues, API routes, auth and the secret, read from the synthesized templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.app import STACK_IDS
from oms.settings import BY_FUNCTION
from tests.infra.conftest import Synthesized

RUNTIME_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_TRACE_DISABLED", "LOG_LEVEL",
               "PYDANTIC_DISABLE_PLUGINS"}
FUNCTION_STACK = {
    "place_order": "OmsApi",
    "get_order": "OmsApi",
    "admin": "OmsApi",
    "tracking_webhook": "OmsApi",
    "payment": "OmsWorkflow",
    "inventory": "OmsWorkflow",
    "fraud": "OmsWorkflow",
    "fulfillment": "OmsWorkflow",
    "order_status": "OmsWorkflow",
    "notify": "OmsMessaging",
    "order_changes": "OmsApi",
    "sweeper": "OmsWorkflow",
    "customers": "OmsApi",
    "mail_feedback": "OmsMessaging",
    "tracking_events": "OmsMessaging",
    "track": "OmsApi",
    "returns": "OmsApi",
    "returns_admin": "OmsApi",
    "return_steps": "OmsReturns",
    "customers_admin": "OmsApi",
    "cognito_messages": "OmsApi",
    "order_facts": "OmsOps",
    "reports": "OmsApi",
    "escalations": "OmsOps",
}
ROUTES = {
    ("POST", "/orders"): ("place_order", True),
    ("GET", "/orders"): ("get_order", True),
    ("GET", "/orders/{order_id}"): ("get_order", True),
    ("POST", "/orders/{order_id}/cancel"): ("order_changes", True),
    ("POST", "/orders/{order_id}/payment"): ("order_changes", True),
    ("PUT", "/admin/products/{sku}"): ("admin", True),
    ("PUT", "/admin/inventory/{sku}"): ("admin", True),
    ("GET", "/admin/inventory/{sku}"): ("admin", True),
    ("POST", "/admin/inventory/{sku}/receipts"): ("admin", True),
    ("GET", "/admin/inventory/{sku}/movements"): ("admin", True),
    ("GET", "/admin/warehouses/{warehouse}/queue"): ("admin", True),
    ("GET", "/admin/orders"): ("admin", True),
    ("POST", "/admin/orders/{order_id}/review"): ("admin", True),
    ("POST", "/admin/orders/{order_id}/shipments"): ("admin", True),
    ("POST", "/admin/orders/{order_id}/retry"): ("admin", True),
    ("POST", "/admin/orders/{order_id}/cancel"): ("admin", True),
    ("POST", "/admin/orders/{order_id}/picking"): ("admin", True),
    ("POST", "/admin/orders/{order_id}/refunds"): ("admin", True),
    ("GET", "/admin/orders/{order_id}/payments"): ("admin", True),
    ("GET", "/admin/suppressions"): ("admin", True),
    ("DELETE", "/admin/suppressions/{email}"): ("admin", True),
    ("GET", "/customers/me"): ("customers", True),
    ("PUT", "/customers/me"): ("customers", True),
    ("DELETE", "/customers/me"): ("customers", True),
    ("GET", "/customers/me/preferences"): ("customers", True),
    ("PUT", "/customers/me/preferences"): ("customers", True),
    ("GET", "/customers/me/addresses"): ("customers", True),
    ("POST", "/customers/me/addresses"): ("customers", True),
    ("PUT", "/customers/me/addresses/{address_id}"): ("customers", True),
    ("DELETE", "/customers/me/addresses/{address_id}"): ("customers", True),
    ("GET", "/customers/me/payment-methods"): ("customers", True),
    ("POST", "/customers/me/payment-methods"): ("customers", True),
    ("DELETE", "/customers/me/payment-methods/{payment_method_id}"): ("customers", True),
    ("GET", "/customers/me/export"): ("customers", True),
    ("POST", "/admin/customers/{customer_id}/erase"): ("customers_admin", True),
    ("GET", "/admin/reports/kpis"): ("reports", True),
    ("GET", "/orders/{order_id}/tracking"): ("get_order", True),
    ("GET", "/track/{token}"): ("track", False),
    ("GET", "/returns/policy"): ("returns", False),
    ("POST", "/orders/{order_id}/returns"): ("returns", True),
    ("GET", "/orders/{order_id}/returns"): ("returns", True),
    ("GET", "/orders/{order_id}/returns/{return_id}"): ("returns", True),
    ("POST", "/orders/{order_id}/returns/{return_id}/cancel"): ("returns", True),
    ("POST", "/orders/{order_id}/returns/{return_id}/parcel"): ("returns", True),
    ("GET", "/admin/returns"): ("returns_admin", True),
    ("GET", "/admin/returns/{return_id}"): ("returns_admin", True),
    ("POST", "/admin/returns/{return_id}/review"): ("returns_admin", True),
    ("POST", "/admin/returns/{return_id}/receive"): ("returns_admin", True),
    ("POST", "/admin/returns/{return_id}/retry"): ("returns_admin", True),
    ("POST", "/webhooks/tracking/easypost"): ("tracking_webhook", False),
    ("POST", "/webhooks/tracking/aftership"): ("tracking_webhook", False),
    ("POST", "/webhooks/tracking/generic"): ("tracking_webhook", False),
}


def _functions(s: Synthesized) -> dict[str, tuple[str, dict[str, Any]]]:
    found = {}
    for stack in STACK_IDS:
        for logical_id, fn in s.resources(stack, "AWS::Lambda::Function").items():
            name = fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
            found[name] = (stack, fn | {"LogicalId": logical_id})
    return found


def _tables_by_keys(s: Synthesized) -> dict[tuple[str, ...], dict[str, Any]]:
    return {
        tuple(k["AttributeName"] for k in t["Properties"]["KeySchema"]): t["Properties"]
        for t in s.resources("OmsData", "AWS::DynamoDB::Table").values()
    }


# -- stacks ----------------------------------------------------------------------------------------


def test_stacks_in_dependency_order(synthesized: Synthesized) -> None:
    assert synthesized.stack_order == list(STACK_IDS)


def test_no_custom_resources(synthesized: Synthesized) -> None:
    for stack, template in synthesized.templates.items():
        types = {r["Type"] for r in template["Resources"].values()}
        assert not any(t.startswith("Custom::") or t == "AWS::CloudFormation::CustomResource" for t in types), stack


# -- data ------------------------------------------------------------------------------------------


def test_tables(synthesized: Synthesized) -> None:
    tables = synthesized.resources("OmsData", "AWS::DynamoDB::Table")
    assert len(tables) == 12
    for table in tables.values():
        props = table["Properties"]
        assert table["DeletionPolicy"] == "Retain"
        assert table["UpdateReplacePolicy"] == "Retain"
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["DeletionProtectionEnabled"] is True
        assert "TableName" not in props

    by_keys = _tables_by_keys(synthesized)
    assert set(by_keys) == {("order_id",), ("sku",), ("sku", "warehouse"), ("sku", "movement_id"),
                            ("queue", "created_key"), ("tracking_number",), ("id",), ("customer_id", "item"),
                            ("email",), ("pk", "sk"), ("return_id",)}
    returns = by_keys[("return_id",)]
    # The KPI projection follows both (OmsOps).
    for streamed in (returns, by_keys[("order_id",)]):
        assert streamed["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in returns["GlobalSecondaryIndexes"]} \
        == {"by_order": ["order_id", "created_key"], "by_status": ["status", "created_key"]}
    orders = by_keys[("order_id",)]
    indexes = {i["IndexName"]: i for i in orders["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by_customer", "ops_queue", "by_day"}
    for name, pk in (("by_customer", "customer_id"), ("ops_queue", "ops_queue"), ("by_day", "placed_day")):
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": pk, "KeyType": "HASH"},
            {"AttributeName": "created_key", "KeyType": "RANGE"},
        ]
        assert indexes[name]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert {a["AttributeName"]: a["AttributeType"] for a in orders["AttributeDefinitions"]} == {
        "order_id": "S",
        "customer_id": "S",
        "ops_queue": "S",
        "placed_day": "S",
        "created_key": "S",
    }
    assert by_keys[("sku", "warehouse")]["KeySchema"] == [
        {"AttributeName": "sku", "KeyType": "HASH"},
        {"AttributeName": "warehouse", "KeyType": "RANGE"},
    ]
    assert by_keys[("id",)]["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    indexed = (("order_id",), ("return_id",))
    assert all("GlobalSecondaryIndexes" not in t for keys, t in by_keys.items() if keys not in indexed)
    tracking = [t for t in synthesized.resources("OmsData", "AWS::DynamoDB::Table") if t.startswith("TrackingEvents")]
    assert synthesized.resources("OmsData", "AWS::DynamoDB::Table")[tracking[0]]["Properties"][
        "TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


# -- functions -------------------------------------------------------------------------------------


def test_functions(synthesized: Synthesized) -> None:
    functions = _functions(synthesized)
    assert set(functions) == set(BY_FUNCTION)
    for name, (stack, fn) in functions.items():
        props = fn["Properties"]
        assert stack == FUNCTION_STACK[name]
        assert props["Handler"] == f"functions.{name}.handler.handler"
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["x86_64"]
        assert props["MemorySize"] == 256
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert "LogGroup" in props["LoggingConfig"]
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "OMS"
        assert env["LOG_LEVEL"] == "INFO"
        assert env["POWERTOOLS_TRACE_DISABLED"] == "false"
        # Exactly the variables the function's settings class reads, and they parse (no second default).
        settings = BY_FUNCTION[name]
        assert settings.required() <= set(env) - RUNTIME_ENV <= settings.variables()
        BY_FUNCTION[name].from_env({k: v if isinstance(v, str) else "placeholder" for k, v in env.items()})
        (powertools,) = [layer for layer in props["Layers"] if "Fn::Join" in layer]
        (dependencies,) = [layer for layer in props["Layers"] if "Ref" in layer]
        joined = "".join(p if isinstance(p, str) else "${" + p["Ref"] + "}" for p in powertools["Fn::Join"][1])
        assert joined.startswith(
            "arn:aws:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-x86_64:"
        )
        layer = synthesized.resources(stack, "AWS::Lambda::LayerVersion")[dependencies["Ref"]]
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.14"]
        expected_timeout = {"escalations": 120}.get(name) or {
            "OmsApi": 28, "OmsWorkflow": 30, "OmsReturns": 30, "OmsOps": 30, "OmsMessaging": 60}[stack]
        assert props["Timeout"] == expected_timeout
    assert functions["payment"][1]["Properties"]["Environment"]["Variables"]["PAYMENT_GATEWAY"] == "sandbox"
    assert functions["admin"][1]["Properties"]["Environment"]["Variables"]["WAREHOUSES"] == "wh-east,wh-west"
    notify_env = functions["notify"][1]["Properties"]["Environment"]["Variables"]
    assert notify_env["SENDER_EMAIL"] == "orders@example.com"
    policy = json.loads(notify_env["NOTIFICATION_POLICY"])  # validated at synth, shipped as data
    assert policy["events"]["order_confirmed"] == {"email": "always", "sms": True}
    assert notify_env["CONFIGURATION_SET"] == {"Ref": next(iter(synthesized.resources(
        "OmsMessaging", "AWS::SES::ConfigurationSet")))}


def test_the_dependencies_layer_carries_what_lambda_does_not_provide() -> None:
    from infra.functions import layer_requirements

    names = {req.split("==")[0].lower() for req in layer_requirements()}
    assert {"jinja2", "babel", "phonenumbers", "stripe", "email-validator"} <= names
    assert not names & {"boto3", "aws-lambda-powertools[tracer]", "aws-lambda-powertools", "pydantic"}


def test_function_log_groups_have_retention(synthesized: Synthesized) -> None:
    for key, group in synthesized.all_resources("AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] > 0, key


def _policy_statements(s: Synthesized, stack: str, function_logical_prefix: str) -> list[dict[str, Any]]:
    policies = [
        p
        for k, p in s.resources(stack, "AWS::IAM::Policy").items()
        if k.startswith(f"{function_logical_prefix}RoleDefaultPolicy")
    ]
    assert len(policies) == 1
    return policies[0]["Properties"]["PolicyDocument"]["Statement"]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    actions: set[str] = set()
    for st in statements:
        a = st["Action"]
        actions.update([a] if isinstance(a, str) else a)
    return actions


def test_least_privilege_examples(synthesized: Synthesized) -> None:
    get_order = _actions(_policy_statements(synthesized, "OmsApi", "GetOrder"))
    assert not any(a in get_order for a in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"))
    assert "dynamodb:GetItem" in get_order and "dynamodb:Query" in get_order

    place = _actions(_policy_statements(synthesized, "OmsApi", "PlaceOrder"))
    assert "states:StartExecution" in place
    assert "states:SendTaskSuccess" not in place

    admin = _actions(_policy_statements(synthesized, "OmsApi", "Admin"))
    assert {"states:SendTaskSuccess", "states:SendTaskFailure"} <= admin
    assert "states:StartExecution" not in admin

    webhook = _actions(_policy_statements(synthesized, "OmsApi", "TrackingWebhook"))
    assert {"secretsmanager:GetSecretValue", "sqs:SendMessage"} <= webhook

    notify = _policy_statements(synthesized, "OmsMessaging", "Notify")
    assert {"ses:SendEmail", "ses:SendRawEmail", "sns:Publish"} <= _actions(notify)
    sms = [st for st in notify if st["Action"] == "sns:Publish"]
    assert sms == [{"Action": "sns:Publish", "Effect": "Allow", "NotResource": "arn:aws:sns:*:*:*"}]

    fraud = _actions(_policy_statements(synthesized, "OmsWorkflow", "Fraud"))
    assert "sns:Publish" in fraud and "dynamodb:PutItem" in fraud


# -- messaging -------------------------------------------------------------------------------------


def test_queues_dlq_and_event_source(synthesized: Synthesized) -> None:
    queues = synthesized.resources("OmsMessaging", "AWS::SQS::Queue")
    assert len(queues) == 6  # notifications, SES feedback and tracking events, each with its DLQ
    mains = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    assert len(mains) == 3
    for queue in mains:
        dlq_id = queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * 60
        assert queues[dlq_id]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    main = next(q for lid, q in queues.items() if q in mains and lid.startswith("Notifications"))
    for q in queues.values():
        assert q["Properties"]["SqsManagedSseEnabled"] is True
    policies = synthesized.resources("OmsMessaging", "AWS::SQS::QueuePolicy")
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for st in statements)
        # Besides TLS, only the feedback topic may send (SNS -> SQS, scoped to the topic's ARN).
        for st in statements:
            if st["Effect"] == "Allow":
                assert st["Principal"] == {"Service": "sns.amazonaws.com"} and "aws:SourceArn" in st["Condition"][
                    "ArnEquals"]

    mappings = synthesized.resources("OmsMessaging", "AWS::Lambda::EventSourceMapping").values()
    props = next(m["Properties"] for m in mappings if m["Properties"]["BatchSize"] == 1)
    assert props["BatchSize"] == 1  # a failing message never takes innocent neighbours to the DLQ
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [next(k for k, q in queues.items() if q is main), "Arn"]}


def test_topics_identity_and_alarms(synthesized: Synthesized) -> None:
    topics = synthesized.resources("OmsMessaging", "AWS::SNS::Topic")
    by_name = {t["Properties"]["DisplayName"]: lid for lid, t in topics.items()}
    assert set(by_name) == {"OMS order alerts", "OMS alarms (tickets)", "OMS alarms (paging)",
                            "OMS SES bounces and complaints"}
    for topic in topics.values():
        assert "KmsMasterKeyId" in topic["Properties"]
    (identity,) = synthesized.resources("OmsMessaging", "AWS::SES::EmailIdentity").values()
    assert identity["Properties"]["EmailIdentity"] == "orders@example.com"
    # Bounces and complaints: configuration set -> the feedback topic -> a queue (raw delivery).
    (destination,) = synthesized.resources("OmsMessaging", "AWS::SES::ConfigurationSetEventDestination").values()
    event_destination = destination["Properties"]["EventDestination"]
    assert sorted(event_destination["MatchingEventTypes"]) == ["bounce", "complaint"]
    assert event_destination["SnsDestination"]["TopicARN"] == {"Ref": by_name["OMS SES bounces and complaints"]}
    (subscription,) = synthesized.resources("OmsMessaging", "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "sqs" and subscription["Properties"]["RawMessageDelivery"]
    alarms = synthesized.all_resources("AWS::CloudWatch::Alarm").values()
    metrics = {a["Properties"].get("MetricName") for a in alarms}
    assert {"ApproximateNumberOfMessagesVisible", "ExecutionsFailed", "5XXError", "Errors", "OrdersParked",
            "TechnicalCompensations", "StalePendingOrders", "WorkflowsStartedBySweeper", "OrderAlertsFailed"} <= metrics
    for alarm in alarms:
        # Alarms go to an alarm topic (paging or tickets), never to the order-alerts topic; their runbook links and
        # severities: tests/infra/test_dashboards.py.
        (action,) = alarm["Properties"]["AlarmActions"]
        assert sum(json.dumps(action).count(by_name[t]) for t in ("OMS alarms (tickets)", "OMS alarms (paging)")) == 1


# -- api -------------------------------------------------------------------------------------------


def _paths(s: Synthesized) -> dict[str, str]:
    resources = s.resources("OmsApi", "AWS::ApiGateway::Resource")
    root = next(iter(s.resources("OmsApi", "AWS::ApiGateway::RestApi")))

    def path(logical_id: str) -> str:
        if logical_id == root:
            return ""
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"]
        parent_id = root if "Fn::GetAtt" in parent else parent["Ref"]
        return f"{path(parent_id)}/{props['PathPart']}"

    return {logical_id: path(logical_id) for logical_id in resources}


def test_api_routes_and_authorizer(synthesized: Synthesized) -> None:
    paths = _paths(synthesized)
    functions = {fn["LogicalId"]: name for name, (_, fn) in _functions(synthesized).items()}
    (authorizer_id,) = synthesized.resources("OmsApi", "AWS::ApiGateway::Authorizer")
    routes = {}
    for method in synthesized.resources("OmsApi", "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        key = (props["HttpMethod"], paths[props["ResourceId"]["Ref"]])
        integration = props["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        uri_parts = integration["Uri"]["Fn::Join"][1]
        fn_id = next(p["Fn::GetAtt"][0] for p in uri_parts if isinstance(p, dict) and "Fn::GetAtt" in p)
        authorized = props["AuthorizationType"] == "COGNITO_USER_POOLS"
        if authorized:
            assert props["AuthorizerId"] == {"Ref": authorizer_id}
        else:
            assert props["AuthorizationType"] == "NONE" and "AuthorizerId" not in props
        routes[key] = (functions[fn_id], authorized)
    assert routes == ROUTES


def test_placement_cancellation_and_refunds_require_an_idempotency_key(synthesized: Synthesized) -> None:
    paths = _paths(synthesized)
    required = {
        (m["Properties"]["HttpMethod"], paths[m["Properties"]["ResourceId"]["Ref"]]): m["Properties"]
        for m in synthesized.resources("OmsApi", "AWS::ApiGateway::Method").values()
        if m["Properties"].get("RequestParameters") == {"method.request.header.Idempotency-Key": True}
    }
    assert set(required) == {("POST", "/orders"), ("POST", "/orders/{order_id}/cancel"),
                             ("POST", "/admin/orders/{order_id}/refunds"), ("POST", "/admin/inventory/{sku}/receipts"),
                             ("POST", "/orders/{order_id}/returns")}
    validators = synthesized.resources("OmsApi", "AWS::ApiGateway::RequestValidator")
    for method in required.values():
        validator = validators[method["RequestValidatorId"]["Ref"]]
        assert validator["Properties"]["ValidateRequestParameters"] is True


def test_stage_and_auth(synthesized: Synthesized) -> None:
    (stage,) = synthesized.resources("OmsApi", "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "v1"
    assert props["TracingEnabled"] is True
    assert "DestinationArn" in props["AccessLogSetting"]
    settings = next(s for s in props["MethodSettings"] if s["ResourcePath"] == "/*")  # per-route: test_throttling
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0

    (pool,) = synthesized.resources("OmsApi", "AWS::Cognito::UserPool").values()
    assert pool["Properties"]["UsernameAttributes"] == ["email"]
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert pool["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    (client,) = synthesized.resources("OmsApi", "AWS::Cognito::UserPoolClient").values()
    assert client["Properties"]["GenerateSecret"] is False
    assert set(client["Properties"]["ExplicitAuthFlows"]) == {
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    (group,) = synthesized.resources("OmsApi", "AWS::Cognito::UserPoolGroup").values()
    assert group["Properties"]["GroupName"] == "ops"


def test_secrets(synthesized: Synthesized) -> None:
    secrets = synthesized.resources("OmsApi", "AWS::SecretsManager::Secret")
    secret_id = next(k for k in secrets if k.startswith("WebhookSecrets"))
    generate = secrets[secret_id]["Properties"]["GenerateSecretString"]
    assert generate == {"ExcludePunctuation": True, "GenerateStringKey": "easypost", "SecretStringTemplate": "{}"}
    (_, webhook) = _functions(synthesized)["tracking_webhook"]
    assert webhook["Properties"]["Environment"]["Variables"]["WEBHOOK_SECRETS_ARN"] == {"Ref": secret_id}
    cursor_id = next(k for k in secrets if k.startswith("CursorSecret"))
    assert secrets[cursor_id]["Properties"]["GenerateSecretString"] == {"ExcludePunctuation": True,
                                                                       "PasswordLength": 64}
    for name in ("get_order", "admin"):
        variables = _functions(synthesized)[name][1]["Properties"]["Environment"]["Variables"]
        assert variables["CURSOR_SECRET_ARN"] == {"Ref": cursor_id}


def test_gateway_answers_use_the_oms_error_body(synthesized: Synthesized) -> None:
    responses = {r["Properties"]["ResponseType"]: r["Properties"]
                 for r in synthesized.resources("OmsApi", "AWS::ApiGateway::GatewayResponse").values()}
    assert set(responses) >= {"UNAUTHORIZED", "ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN",
                              "BAD_REQUEST_PARAMETERS", "REQUEST_TOO_LARGE", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"}
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    for props in responses.values():
        template = props["ResponseTemplates"]["application/json"]
        body = json.loads(template.replace("$context.error.messageString", '"a message"'))
        assert set(body) == {"code", "message"} and body["code"].islower()


@pytest.mark.parametrize(
    ("stack", "output"),
    [
        ("OmsApi", "ApiUrl"),
        ("OmsApi", "UserPoolId"),
        ("OmsApi", "UserPoolClientId"),
        ("OmsWorkflow", "StateMachineArn"),
    ],
)
def test_outputs(synthesized: Synthesized, stack: str, output: str) -> None:
    assert output in synthesized.templates[stack]["Outputs"]
