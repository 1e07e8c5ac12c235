"""API throttling by route class: the stage's method settings, the 429's Retry-After, storefront API keys, and
settings that fail synth naming themselves."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigateway
from aws_cdk.assertions import Template

from infra.api_stack import ROUTES, needs_api_key, route_class, storefront_usage_plan
from infra.app import create_app
from infra.config import DEFAULT_CONTEXT, ROUTE_CLASSES, ConfigError, OmsConfig, Throttle
from local.deployer import Deployment, Resource
from local.gateway import Throttles
from tests.infra.conftest import Synthesized

DEFAULTS = DEFAULT_CONTEXT["apiThrottling"]


def _stage(synthesized: Synthesized) -> dict[str, Any]:
    (stage,) = synthesized.resources("OmsApi", "AWS::ApiGateway::Stage").values()
    return dict(stage["Properties"])


def _settings(synthesized: Synthesized) -> dict[tuple[str, str], tuple[int, int]]:
    return {(s["ResourcePath"], s["HttpMethod"]): (s["ThrottlingRateLimit"], s["ThrottlingBurstLimit"])
            for s in _stage(synthesized)["MethodSettings"]}


def test_every_route_is_in_a_class_and_each_class_has_routes() -> None:
    classes = {(method, path): route_class(method, path) for _, method, path, _ in ROUTES}
    assert classes[("POST", "/orders")] == "placement"
    assert classes[("GET", "/orders/{order_id}")] == classes[("GET", "/track/{token}")] == "storefrontReads"
    assert classes[("GET", "/returns/policy")] == classes[("GET", "/customers/me")] == "storefrontReads"
    assert classes[("POST", "/orders/{order_id}/cancel")] == classes[("PUT", "/customers/me")] == "storefrontWrites"
    assert classes[("POST", "/admin/orders/{order_id}/shipments")] == "admin"
    assert classes[("POST", "/webhooks/tracking/easypost")] == "webhooks"
    assert set(classes.values()) == set(ROUTE_CLASSES) - {"default"}  # today no route falls to the default


def test_each_method_has_its_class_limits_and_the_stage_default_covers_the_rest(synthesized: Synthesized) -> None:
    settings = _settings(synthesized)
    assert settings[("/*", "*")] == (DEFAULTS["default"]["rate"], DEFAULTS["default"]["burst"])
    for _, method, path, _ in ROUTES:
        limits = DEFAULTS[route_class(method, path)]
        assert settings[("/" + path.replace("/", "~1"), method)] == (limits["rate"], limits["burst"]), (method, path)
    assert len(settings) == len(ROUTES) + 1
    assert settings[("/~1orders", "POST")] == (2000, 1000)
    assert settings[("/~1webhooks~1tracking~1easypost", "POST")] == (2500, 1250)


def test_the_defaults_fit_the_default_account_quota() -> None:
    """The busiest method of each class flooded at once stays within 10,000 requests/s and a 5,000 burst (API
    Gateway's default account quota in us-east-1), so a flood of one class leaves the others their share."""
    busiest = [DEFAULTS[name] for name in ("placement", "storefrontReads", "admin", "webhooks", "storefrontWrites")]
    assert sum(limits["rate"] for limits in busiest) <= 10_000
    assert sum(limits["burst"] for limits in busiest) <= 5_000
    assert DEFAULTS["placement"]["rate"] >= 1_000  # the 1,000 orders/s target, with headroom for a step


def test_the_local_gateway_reads_the_same_limits_from_the_template(synthesized: Synthesized) -> None:
    """local/gateway.py throttles each route with its class limits, from the synthesized stage."""
    api_id = "api"
    stage = _stage(synthesized) | {"RestApiId": api_id}
    deployment = Deployment(stacks={"OmsApi": {"Stage": Resource("Stage", "AWS::ApiGateway::Stage", "v1", {},
                                                                 stage)}})
    throttles = Throttles(deployment)
    for _, method, path, _ in ROUTES:
        limits = DEFAULTS[route_class(method, path)]
        assert throttles.limits(api_id, path, method) == (limits["rate"], limits["burst"]), (method, path)
    assert throttles.limits(api_id, "/not/classified", "GET") == (100, 200)


def test_a_throttled_answer_says_when_to_retry(synthesized: Synthesized) -> None:
    responses = {r["Properties"]["ResponseType"]: r["Properties"]
                 for r in synthesized.resources("OmsApi", "AWS::ApiGateway::GatewayResponse").values()}
    throttled = responses["THROTTLED"]
    assert throttled["StatusCode"] == "429"
    assert throttled["ResponseParameters"] == {"gatewayresponse.header.Retry-After": "'1'"}
    assert json.loads(throttled["ResponseTemplates"]["application/json"].replace(
        "$context.error.messageString", '"Too Many Requests"'))["code"] == "throttled"
    assert responses["QUOTA_EXCEEDED"]["StatusCode"] == "429"


def test_no_api_keys_or_usage_plan_by_default(synthesized: Synthesized) -> None:
    for type_ in ("AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlanKey"):
        assert not synthesized.resources("OmsApi", type_), type_
    methods = synthesized.resources("OmsApi", "AWS::ApiGateway::Method").values()
    assert not any(m["Properties"].get("ApiKeyRequired") for m in methods)


def test_storefront_api_keys_get_a_usage_plan_with_per_key_limits() -> None:
    """The usage plan the API builds with ``storefrontApiKeys`` (on a one-route API: a full synth takes ~30 s)."""
    config = OmsConfig.from_mapping({"storefrontApiKeys": "web,partner-x",
                                     "storefrontKeyLimits": json.dumps({"placementRate": 800})})
    stack = cdk.Stack(cdk.App(), "KeyedApi")
    api = apigateway.RestApi(stack, "Api", deploy_options=apigateway.StageOptions(stage_name="v1"))
    placement = api.root.add_resource("orders").add_method("POST", apigateway.MockIntegration(),
                                                           api_key_required=True)
    storefront_usage_plan(api, placement, config)
    template = Template.from_stack(stack)
    (plan,) = template.find_resources("AWS::ApiGateway::UsagePlan").values()
    props = plan["Properties"]
    assert props["Throttle"] == {"RateLimit": 2000, "BurstLimit": 1000}
    assert props["Quota"] == {"Limit": 100_000_000, "Period": "DAY"}
    (api_stage,) = props["ApiStages"]
    assert api_stage["Throttle"] == {"/orders/POST": {"RateLimit": 800, "BurstLimit": 500}}
    keys = template.find_resources("AWS::ApiGateway::ApiKey")
    assert sorted(k["Properties"]["Name"] for k in keys.values()) == ["oms-partner-x", "oms-web"]
    assert len(template.find_resources("AWS::ApiGateway::UsagePlanKey")) == 2


def test_with_keys_only_the_storefronts_authorized_routes_need_one() -> None:
    keyed = {(method, path) for _, method, path, authorized in ROUTES if needs_api_key(method, path, authorized)}
    assert ("POST", "/orders") in keyed and ("GET", "/orders/{order_id}") in keyed
    assert ("PUT", "/customers/me") in keyed
    # The tracking page an email links to, the public return policy, ops and carriers: no key.
    assert not {("GET", "/track/{token}"), ("GET", "/returns/policy"), ("POST", "/webhooks/tracking/easypost"),
                ("POST", "/admin/orders/{order_id}/shipments")} & keyed


def test_a_partial_override_keeps_the_other_classes_defaults() -> None:
    config = OmsConfig.from_mapping({"apiThrottling": '{"placement": {"rate": 3000}}'})  # as `-c` passes it
    assert config.api_throttling["placement"] == Throttle(rate=3000, burst=1000)
    assert config.api_throttling["webhooks"] == Throttle(rate=2500, burst=1250)
    assert config.storefront_api_keys == ()


@pytest.mark.parametrize(("context", "named"), [
    ({"apiThrottling": {"placement": {"rate": 0}}}, "'apiThrottling.placement.rate' must be positive"),
    ({"apiThrottling": {"admin": {"burst": "lots"}}}, "'apiThrottling.admin.burst' must be an integer"),
    ({"apiThrottling": {"checkout": {"rate": 10}}}, "unknown route class 'checkout'"),
    ({"apiThrottling": {"webhooks": {"rate": 10, "brust": 5}}}, "'apiThrottling.webhooks': unknown field 'brust'"),
    ({"apiThrottling": "{placement"}, "'apiThrottling' must be a JSON object"),
    ({"storefrontApiKeys": "web,bad name"}, "'storefrontApiKeys': 'bad name' is not a name"),
    ({"storefrontApiKeys": "web,Web"}, "'storefrontApiKeys' names a storefront twice"),
    ({"storefrontKeyLimits": {"placementRate": 5000}}, "placementRate and placementBurst must not exceed"),
    ({"storefrontKeyLimits": {"dailyQuota": -1}}, "'storefrontKeyLimits.dailyQuota' must be positive"),
])
def test_a_bad_setting_fails_synth_naming_it(context: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")):
        create_app(context)
