"""The ops page's reading of CloudWatch dashboard bodies (local/ops_page): widgets in the dashboard's grid, metric
rows with their shorthands, statistics and simple metric math over the shipped datapoints, text widgets' markdown
escaped, the rest named and left undrawn; and the deployer putting a template's dashboard into moto for it."""

import json
from datetime import UTC, datetime, timedelta

import boto3
from moto import mock_aws

from local.deployer import Deployer
from local.ops_page import OpsPage
from local.ops_page.dashboards import NOT_EVALUATED, MemoryStore, MotoStore, markdown, parse_rows, render_dashboard

END = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
START = END - timedelta(hours=3)
T = END.timestamp()


def store_with_orders():
    store = MemoryStore()
    for minutes_ago in (170, 100, 12, 11, 3):
        store.add("OMS", "OrdersPlaced", {"service": "place_order"}, T - minutes_ago * 60, 1)
    # the same name under another dimension set is another metric
    store.add("OMS", "OrdersPlaced", {"service": "place_order", "currency": "USD"}, T - 60, 100)
    for value in range(1, 11):  # 1..10 minutes
        store.add("OMS", "PlaceToShipMinutes", {"service": "order_facts"}, T - 300, value)
    store.add("OMS", "DeliveriesOnTime", {"service": "order_facts"}, T - 600, 3)
    store.add("OMS", "DeliveriesLate", {"service": "order_facts"}, T - 600, 1)
    for reason, count in (("changed_mind", 2), ("too_slow", 1)):
        for _ in range(count):
            store.add("OMS", "OrdersCancelled", {"service": "order_facts", "reason": reason}, T - 900, 1)
    return store


def metric(title, metrics, view="timeSeries", x=0, y=0, **props):
    return {"type": "metric", "x": x, "y": y, "width": 6, "height": 6,
            "properties": {"title": title, "view": view, "metrics": metrics, **props}}


def render(*widgets, store=None):
    body = json.dumps({"widgets": list(widgets)})
    return render_dashboard(body, store or store_with_orders(), START, END, name="OMS-business")["widgets"]


def series(widget):
    return {s["label"]: s for s in widget["series"]}


def test_shorthands_repeat_the_previous_row_and_rows_get_ids():
    rows = parse_rows([
        ["AWS/Lambda", "Errors", "FunctionName", "a", {"stat": "Sum"}],
        [".", "Throttles", ".", "."],
        ["...", "b"],
        [{"expression": "m1 + m2", "label": "both"}],
    ], default_stat="Average", default_period=60)
    assert [(r.id, r.namespace, r.name, r.dimensions, r.stat) for r in rows[:3]] == [
        ("m1", "AWS/Lambda", "Errors", (("FunctionName", "a"),), "Sum"),
        ("m2", "AWS/Lambda", "Throttles", (("FunctionName", "a"),), "Average"),
        ("m3", "AWS/Lambda", "Throttles", (("FunctionName", "b"),), "Average"),
    ]
    assert (rows[3].id, rows[3].expression, rows[3].label, rows[3].period) == ("e4", "m1 + m2", "both", 60)


def test_a_time_series_per_period_with_the_range_total_and_a_single_value_over_the_range():
    placed = ["OMS", "OrdersPlaced", "service", "place_order", {"stat": "Sum", "label": "Orders placed"}]
    chart, single, latest = render(
        metric("Orders placed per 5 minutes", [placed], x=6),
        metric("Orders placed in the range", [placed], view="singleValue", setPeriodToTimeRange=True),
        metric("Orders placed, latest 5 minutes", [placed], view="singleValue", x=12),
    )
    line = series(chart)["Orders placed"]
    # three periods of 5 minutes had orders (12 and 11 minutes ago share one); exact dimensions only
    assert [value for _, value in line["points"]] == [1, 1, 2, 1]
    assert line["points"][-1][0] == (T - 300) * 1000  # periods start on the clock's 5 minutes
    assert line["value"] == 5
    assert series(single)["Orders placed"]["value"] == 5
    assert series(latest)["Orders placed"]["value"] == 1


def test_statistics_percentiles_and_what_cannot_be_computed():
    [widget] = render(metric("Place to ship", [
        ["OMS", "PlaceToShipMinutes", "service", "order_facts", {"stat": "p50", "label": "p50"}],
        ["OMS", "PlaceToShipMinutes", "service", "order_facts", {"stat": "p90", "label": "p90"}],
        ["OMS", "PlaceToShipMinutes", "service", "order_facts", {"stat": "Average", "label": "avg"}],
        ["OMS", "PlaceToShipMinutes", "service", "order_facts", {"stat": "SampleCount", "label": "n"}],
        ["OMS", "PlaceToShipMinutes", "service", "order_facts", {"stat": "tm90", "label": "trimmed"}],
    ]))
    found = {label: s["value"] for label, s in series(widget).items()}
    assert found == {"p50": 5, "p90": 9, "avg": 5.5, "n": 10, "trimmed": None}
    assert widget["notes"] == ["statistic tm90 not available locally"]


def test_simple_metric_math_is_evaluated_and_the_rest_is_named():
    [rate, cancelled, other] = render(
        metric("On-time rate", [
            [{"expression": "100 * onTime / (onTime + late)", "label": "On time (%)", "period": 86400}],
            ["OMS", "DeliveriesOnTime", "service", "order_facts", {"id": "onTime", "visible": False, "stat": "Sum"}],
            ["OMS", "DeliveriesLate", "service", "order_facts", {"id": "late", "visible": False, "stat": "Sum"}],
        ]),
        metric("Cancellations by reason", [[{
            "expression": "SEARCH('{OMS,reason,service} MetricName=\"OrdersCancelled\" service=\"order_facts\"', "
                          "'Sum', 3600)", "label": "${PROP('Dim.reason')}"}]], x=6),
        metric("Not here", [[{"expression": "RATE(m1)", "label": "rate"}],
                            ["OMS", "OrdersPlaced", "service", "place_order", {"visible": False}]], x=12),
    )
    assert [(s["label"], s["value"]) for s in rate["series"]] == [("On time (%)", 75)]
    assert {label: s["value"] for label, s in series(cancelled).items()} == {"changed_mind": 2, "too_slow": 1}
    assert other["notes"] == [NOT_EVALUATED] and series(other)["rate"]["value"] is None


def test_widgets_come_in_the_grid_order_and_only_metric_and_text_widgets_are_drawn():
    widgets = render(
        {"type": "alarm", "x": 12, "y": 6, "width": 12, "height": 3, "properties": {"title": "Alarms", "alarms": []}},
        {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
         "properties": {"markdown": "# OMS <b>business</b>\n* [runbook](https://example.com/a)\n"
                                    "* [bad](javascript:void)"}},
        metric("First row", [], x=0, y=2),
        {"type": "log", "properties": {"title": "Placed without a position"}},
    )
    assert [(w["type"], w["title"], w["x"], w["y"]) for w in widgets] == [
        ("text", "", 0, 0), ("metric", "First row", 0, 2), ("log", "Placed without a position", 6, 2),
        ("alarm", "Alarms", 12, 6)]
    assert widgets[0]["html"] == (
        '<h1>OMS &lt;b&gt;business&lt;/b&gt;</h1><ul><li><a href="https://example.com/a" target="_blank" '
        'rel="noopener noreferrer">runbook</a></li><li>bad</li></ul>')
    assert widgets[3]["note"] == "not rendered locally"


def test_markdown_tables_and_inline_code_are_escaped():
    assert markdown("| a | b |\n|---|---|\n| `<x>` | **y** |") == (
        "<table><tr><th>a</th><th>b</th></tr><tr><td><code>&lt;x&gt;</code></td><td><strong>y</strong></td></tr>"
        "</table>")


@mock_aws
def test_the_deployer_puts_the_templates_dashboard_into_cloudwatch_and_the_page_draws_it():
    session = boto3.Session(region_name="us-east-1")
    template = {"Resources": {
        "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "notifications-dlq"}},
        "Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
            "DashboardName": "OMS-health",
            "DashboardBody": {"Fn::Join": ["", [
                '{"widgets":[{"type":"metric","x":0,"y":0,"width":12,"height":6,"properties":{"view":"timeSeries",'
                '"title":"DLQ depth","region":"', {"Ref": "AWS::Region"}, '","metrics":[["AWS/SQS",'
                '"ApproximateNumberOfMessagesVisible","QueueName","', {"Fn::GetAtt": ["Dlq", "QueueName"]},
                '",{"stat":"Maximum"}]]}}]}']]}}},
    }}
    Deployer(session).deploy_stack("OmsMonitoring", template)
    cloudwatch = session.client("cloudwatch")
    body = json.loads(cloudwatch.get_dashboard(DashboardName="OMS-health")["DashboardBody"])
    assert body["widgets"][0]["properties"]["metrics"][0][3] == "notifications-dlq"
    assert body["widgets"][0]["properties"]["region"] == "us-east-1"

    cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=[{
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": "notifications-dlq"}], "Values": [1, 2], "Unit": "Count"}])
    store = MotoStore("123456789012", "us-east-1")
    page = OpsPage(cloudwatch, store, mint_token=lambda: "token", refresh=store.refresh)
    status, headers, data = page.dashboards({"range": ["1h"]})
    assert status == 200
    [board] = json.loads(data)["dashboards"]
    assert board["name"] == "OMS-health"
    assert [(w["title"], w["series"][0]["value"]) for w in board["widgets"]] == [("DLQ depth", 2)]
    assert page.dashboards({"range": ["forever"]})[0] == 400
    status, headers, html = page.page({})
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"<script>" in html and b"src=" not in html  # self-contained: no script or style from elsewhere
