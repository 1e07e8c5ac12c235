"""The two CloudWatch dashboards (stack OmsMonitoring) and the alarms' routing and runbooks, read from the
session's synthesized templates (one synth for the whole session, tests/infra/conftest.py)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

from infra.alarms import AlarmRouting, Severity
from infra.api_stack import ROUTES
from infra.config import DEFAULT_CONTEXT, REPO_ROOT, ConfigError, OmsConfig
from infra.monitoring_stack import BUSINESS_DASHBOARD, HEALTH_DASHBOARD
from tests.infra.conftest import Synthesized

RUNBOOK = REPO_ROOT / "docs" / "operating.md"
RUNBOOK_BASE_URL = str(DEFAULT_CONTEXT["runbookBaseUrl"])
#: The alarms that wake someone up (their runbook sections); every other alarm opens a ticket.
PAGING = {"order-workflow-executions-failed", "return-workflow-executions-failed", "payment-gateway-errors",
          "api-5xx", "notifications-dead-letter-queue", "tracking-events-dead-letter-queue",
          "mail-feedback-dead-letter-queue"}

# -- helpers -----------------------------------------------------------------------------------------------------


def github_slug(heading: str, seen: Counter[str] | None = None) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped (letters, digits, spaces,
    hyphens and underscores kept), spaces to hyphens; the n-th repeat of a slug gets ``-n``."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
    if seen is None:
        return slug
    count = seen[slug]
    seen[slug] += 1
    return f"{slug}-{count}" if count else slug


def runbook_sections() -> dict[str, str]:
    """docs/operating.md's headings by anchor, each with its text up to the next heading."""
    sections: dict[str, str] = {}
    seen: Counter[str] = Counter()
    anchor = ""
    in_code = False
    for line in RUNBOOK.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else re.match(r"#{1,6} (.+)", line)
        if match:
            anchor = github_slug(match.group(1), seen)
            sections[anchor] = ""
        elif anchor:
            sections[anchor] += line + "\n"
    return sections


def dashboard(s: Synthesized, name: str) -> dict[str, Any]:
    """The dashboard's body, parsed: each CloudFormation expression in it (a Ref, an imported name) becomes the
    JSON of the expression, in a string."""
    (resource,) = [r for r in s.resources("OmsMonitoring", "AWS::CloudWatch::Dashboard").values()
                   if r["Properties"]["DashboardName"] == name]
    parts = resource["Properties"]["DashboardBody"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else json.dumps(p).replace('"', "'") for p in parts)
    return dict(json.loads(text))


def widgets_by_title(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    titled = [w for w in body["widgets"] if w["properties"].get("title")]
    by_title = {w["properties"]["title"]: w for w in titled}
    return by_title


def metric_names(widget: dict[str, Any]) -> set[str]:
    """The metric names of a widget's metrics, and the names a SEARCH or math expression of it mentions."""
    names: set[str] = set()
    for metric in widget["properties"].get("metrics", []):
        names.update(part for part in metric[1:2] if isinstance(part, str) and part != ".")
        options = metric[-1] if metric and isinstance(metric[-1], dict) else {}
        names.update(re.findall(r'MetricName="([^"]+)"', options.get("expression", "")))
    return names


def dimensions(metric: list[Any]) -> dict[str, str]:
    """``[namespace, name, dim, value, ..., options]`` -> ``{dim: value}``."""
    values = metric[2:-1] if isinstance(metric[-1], dict) else metric[2:]
    return dict(zip(values[::2], values[1::2], strict=True))


def labels(widget: dict[str, Any]) -> list[str]:
    return [m[-1].get("label", "") for m in widget["properties"].get("metrics", []) if isinstance(m[-1], dict)]


# -- dashboards --------------------------------------------------------------------------------------------------


def test_both_dashboards_are_in_the_monitoring_stack(synthesized: Synthesized) -> None:
    names = {r["Properties"]["DashboardName"]
             for r in synthesized.all_resources("AWS::CloudWatch::Dashboard").values()}
    assert names == {BUSINESS_DASHBOARD, HEALTH_DASHBOARD} == {"OMS-business", "OMS-health"}
    for name in names:
        assert len(dashboard(synthesized, name)["widgets"]) <= 500  # CloudWatch's limit per dashboard


BUSINESS = {
    "Orders placed in the dashboard's time range": {"OrdersPlaced"},
    "Orders placed per 5 minutes": {"OrdersPlaced"},
    "Revenue per hour by currency (major units)": {"Revenue"},
    "Orders entering each status per 5 minutes": {"OrderStatusEntered"},
    "Held orders: queue depth and oldest wait (minutes)": {"HeldOrders", "OldestHeldMinutes"},
    "Backorders waiting for stock": {"BackordersWaiting"},
    "Return reviews: queue depth and oldest wait (minutes)": {"ReturnReviewsWaiting", "OldestReturnReviewMinutes"},
    "Cancellations per hour by reason": {"OrdersCancelled"},
    "Returns per hour by reason": {"ReturnsByReason"},
    "Payment declines per hour by decline code": {"PaymentDeclines"},
    "Place to ship time (minutes, p50 and p90 per hour)": {"PlaceToShipMinutes"},
    "Ship to deliver time (minutes, p50 and p90 per hour)": {"ShipToDeliverMinutes"},
    "On-time delivery rate per day (%)": {"DeliveriesOnTime", "DeliveriesLate"},
    "Email notifications: sent, skipped, failed": {"Notifications"},
    "SMS notifications: sent, skipped, failed": {"Notifications"},
    "SLA reminders, escalations, default actions, stuck orders": {"SlaReminders", "SlaEscalations",
                                                                   "SlaDefaultActions", "StuckOrdersFound"},
}


def test_business_dashboard_has_every_required_widget(synthesized: Synthesized) -> None:
    widgets = widgets_by_title(dashboard(synthesized, BUSINESS_DASHBOARD))
    for title, metrics in BUSINESS.items():
        assert title in widgets, f"OMS-business has no widget {title!r}"
        assert metric_names(widgets[title]) >= metrics, title
    for metric in widgets["Orders placed per 5 minutes"]["properties"]["metrics"]:
        assert metric[:4] == ["OMS", "OrdersPlaced", "service", "place_order"]
    assert widgets["Orders placed in the dashboard's time range"]["properties"]["view"] == "singleValue"
    # Closed sets are explicit metrics: every status, every currency the shop accepts, every channel and outcome.
    assert len(labels(widgets["Orders entering each status per 5 minutes"])) == 11
    assert "USD" in labels(widgets["Revenue per hour by currency (major units)"])
    email = widgets["Email notifications: sent, skipped, failed"]["properties"]["metrics"]
    assert [dimensions(m) for m in email] == [{"service": "notify", "channel": "email", "outcome": outcome}
                                              for outcome in ("SENT", "SKIPPED", "FAILED")]
    # Percentiles and the on-time rate.
    place_to_ship = widgets["Place to ship time (minutes, p50 and p90 per hour)"]["properties"]["metrics"]
    assert [m[-1]["stat"] for m in place_to_ship] == ["p50", "p90"]
    (rate, *_) = widgets["On-time delivery rate per day (%)"]["properties"]["metrics"]
    assert rate[0]["expression"] == "100 * onTime / (onTime + late)"
    # Open sets (decline codes, cancellation reasons) are SEARCH expressions over the dimension.
    (declines,) = widgets["Payment declines per hour by decline code"]["properties"]["metrics"]
    assert declines[0]["expression"].startswith("SEARCH('{OMS,code,service} MetricName=\"PaymentDeclines\"")


HEALTH = {
    "API requests, 4XX and 5XX, all routes (per 5 minutes)": {"Count", "4XXError", "5XXError"},
    "Workflow executions failed or timed out (per 5 minutes)": {"ExecutionsFailed", "ExecutionsTimedOut"},
    "Dead-letter queue depth (messages)": {"ApproximateNumberOfMessagesVisible"},
    "Payment gateway errors (per 5 minutes)": {"PaymentGatewayErrors"},
    "Function errors, every function (per 5 minutes)": {"Errors"},
    "Function throttles, every function (per 5 minutes)": {"Throttles"},
    "Function duration p99, every function (ms)": {"Duration"},
    "Function concurrent executions, every function (max)": {"ConcurrentExecutions"},
    "API requests per route: storefront": {"Count"},
    "API 4XX per route: ops (/admin)": {"4XXError"},
    "API 5XX per route: carrier webhooks": {"5XXError"},
    "API latency p50 (ms) per route: storefront": {"Latency"},
    "API latency p99 (ms) per route: storefront": {"Latency"},
    "DynamoDB consumed read capacity per table (RCU per 5 minutes)": {"ConsumedReadCapacityUnits"},
    "DynamoDB consumed write capacity per table (WCU per 5 minutes)": {"ConsumedWriteCapacityUnits"},
    "DynamoDB read throttle events per table": {"ReadThrottleEvents"},
    "DynamoDB write throttle events per table": {"WriteThrottleEvents"},
    "SES bounce rate (%)": {"Reputation.BounceRate"},
    "SES complaint rate (%)": {"Reputation.ComplaintRate"},
    # cdk-monitoring-constructs' sections (each under a header naming its resource).
    "Executions": {"ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"},
    "Duration": {"ExecutionTime"},
    "DLQ: Message Count": {"ApproximateNumberOfMessagesVisible"},
    "Invocations": {"Invocations", "Throttles", "ConcurrentExecutions"},
}


def test_health_dashboard_has_every_required_widget(synthesized: Synthesized) -> None:
    body = dashboard(synthesized, HEALTH_DASHBOARD)
    widgets = widgets_by_title(body)
    for title, metrics in HEALTH.items():
        # (The library's titles repeat, one per resource: one of them must show the metrics.)
        assert any(metric_names(w) >= metrics for w in body["widgets"] if w["properties"].get("title") == title), \
            f"OMS-health has no widget {title!r} with {sorted(metrics)}"
    everything = {name for w in body["widgets"] for name in metric_names(w)}
    assert {"LambdaFunctionRunTime", "ExecutionTime", "Latency"} <= everything  # step and execution durations
    p99 = widgets["Function duration p99, every function (ms)"]["properties"]["metrics"]
    assert {m[-1]["stat"] for m in p99} == {"p99"}
    # Every route of the API has its line in the per-route graphs.
    routed = {label for w in body["widgets"] if w["properties"].get("title", "").startswith("API requests per route")
              for label in labels(w)}
    assert {f"{method} {path}" for _, method, path, _ in ROUTES} <= routed
    # A line per table in the capacity and throttle graphs.
    tables = synthesized.all_resources("AWS::DynamoDB::Table")
    for title in ("DynamoDB consumed read capacity per table (RCU per 5 minutes)",
                  "DynamoDB write throttle events per table"):
        assert len(labels(widgets[title])) == len(tables), title
    # Each state machine's executions, and each dead-letter queue's depth.
    machines = synthesized.all_resources("AWS::StepFunctions::StateMachine")
    assert len([w for w in body["widgets"] if w["properties"].get("title") == "Executions"
                and "ExecutionsStarted" in metric_names(w)]) == len(machines) == 4  # two workflows, two stretches
    dlq_alarms = [a for a in synthesized.all_resources("AWS::CloudWatch::Alarm").values()
                  if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"]
    assert len(labels(widgets["Dead-letter queue depth (messages)"])) == len(dlq_alarms)


def test_every_function_is_on_the_health_dashboard(synthesized: Synthesized) -> None:
    body = dashboard(synthesized, HEALTH_DASHBOARD)
    text = json.dumps(body)
    widgets = widgets_by_title(body)
    headers = "\n".join(w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text")
    functions = synthesized.all_resources("AWS::Lambda::Function")
    assert len(functions) >= 21
    for key, fn in functions.items():
        stack, logical_id = key.split("/")
        name = fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        # The function itself (its name, imported from its stack), its own section, its line in each summary.
        assert f"'{stack}:ExportsOutputRef{logical_id}" in text, f"{name} ({key}) is not on OMS-health"
        assert f"### Lambda Function **[{name}]" in headers, name
        for title in ("Function errors, every function (per 5 minutes)",
                      "Function throttles, every function (per 5 minutes)",
                      "Function duration p99, every function (ms)",
                      "Function concurrent executions, every function (max)"):
            assert name in labels(widgets[title]), (name, title)


# -- alarms ------------------------------------------------------------------------------------------------------


def test_github_slugs() -> None:
    seen: Counter[str] = Counter()
    assert github_slug("API 5XX", seen) == "api-5xx"
    assert github_slug("Stale PENDING orders", seen) == "stale-pending-orders"
    assert github_slug("Orders parked (`OrdersParked` > 0)", seen) == "orders-parked-ordersparked--0"
    assert github_slug("API 5XX", seen) == "api-5xx-1"


def test_every_alarm_links_its_runbook_and_notifies_the_topic_of_its_severity(synthesized: Synthesized) -> None:
    topics = synthesized.resources("OmsMessaging", "AWS::SNS::Topic")
    by_name = {t["Properties"]["DisplayName"]: lid for lid, t in topics.items()}
    paging, tickets = by_name["OMS alarms (paging)"], by_name["OMS alarms (tickets)"]
    sections = runbook_sections()
    alarms = synthesized.all_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 30
    used: set[str] = set()
    for key, alarm in alarms.items():
        props = alarm["Properties"]
        match = re.fullmatch(r"(.+)\. Severity: (page|ticket)\. Runbook: (\S+)#([a-z0-9_-]+)",
                             props["AlarmDescription"])
        assert match, f"{key}: the description does not end with its severity and runbook link"
        _, severity, base_url, anchor = match.groups()
        assert base_url == RUNBOOK_BASE_URL
        assert anchor in sections, f"{key}: docs/operating.md has no heading whose anchor is {anchor!r}"
        used.add(anchor)
        assert severity == ("page" if anchor in PAGING else "ticket"), key
        # The section says the same, and the alarm notifies exactly the topic of its severity.
        assert sections[anchor].lstrip().startswith("**Pages.**" if severity == "page" else "**Ticket"), anchor
        (action,) = props["AlarmActions"]
        assert json.dumps(action).count(paging if severity == "page" else tickets) == 1, key
        assert json.dumps(action).count(tickets if severity == "page" else paging) == 0, key
        # What matters at night pages, whatever its section is called.
        if props.get("MetricName") in ("ExecutionsFailed", "5XXError", "PaymentGatewayErrors"):
            assert severity == "page", key
    assert used >= PAGING
    assert {"payment-gateway-errors", "ses-bounce-rate", "ses-complaint-rate", "function-errors"} <= used


def test_alarm_settings_are_validated() -> None:
    config = OmsConfig.from_mapping({"pagingEmail": " oncall@shop.example ", "ticketEmail": ""})
    assert (config.paging_email, config.ticket_email) == ("oncall@shop.example", "")
    assert OmsConfig.from_mapping({}).runbook_base_url == RUNBOOK_BASE_URL
    for bad in ({"pagingEmail": "oncall"}, {"runbookBaseUrl": "http://example.com/ops.md"},
                {"runbookBaseUrl": "https://example.com/ops.md#alarms"}):
        with pytest.raises(ConfigError):
            OmsConfig.from_mapping(bad)


def test_a_routing_without_a_paging_topic_cannot_page() -> None:
    routing = AlarmRouting(tickets=object(), runbook_base_url="https://x/ops.md")  # type: ignore[arg-type]
    assert routing.topic(Severity.TICKET) is routing.tickets
    assert routing.runbook_url("api-5xx") == "https://x/ops.md#api-5xx"
    with pytest.raises(ValueError, match="no paging topic"):
        routing.topic(Severity.PAGE)
