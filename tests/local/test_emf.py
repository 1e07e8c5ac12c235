"""EMF -> CloudWatch metrics on the local stack (local/emf.py): the EMF documents Powertools writes become
PutMetricData calls as CloudWatch Logs makes them, read from the growing function logs a line at a time."""

import json
from datetime import UTC, datetime

import boto3
from moto import mock_aws

from local.emf import EmfShipper, LogFollower, batches, parse_emf
from local.ops_page.dashboards import MotoStore, statistic

#: What Powertools Metrics prints for ``add_metric("OrdersPlaced", Count, 1)`` in service place_order.
POWERTOOLS_LINE = ('{"_aws":{"Timestamp":1796297766837,"CloudWatchMetrics":[{"Namespace":"OMS","Dimensions":'
                   '[["service"]],"Metrics":[{"Name":"OrdersPlaced","Unit":"Count"}]}]},"service":"place_order",'
                   '"OrdersPlaced":[1.0]}')


def emf(metrics, dimensions=(("service",),), namespace="OMS", timestamp=1796297766837, **members):
    return json.dumps({"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [
        {"Namespace": namespace, "Dimensions": [list(d) for d in dimensions],
         "Metrics": [{"Name": name, "Unit": unit} for name, unit in metrics]}]}, **members})


def test_a_powertools_line_is_one_metric_with_its_dimensions_unit_and_time():
    [datum] = parse_emf(POWERTOOLS_LINE)
    assert (datum.namespace, datum.name, datum.dimensions, datum.values, datum.unit) == (
        "OMS", "OrdersPlaced", (("service", "place_order"),), (1.0,), "Count")
    assert datum.timestamp == datetime.fromtimestamp(1796297766.837, UTC)


def test_every_dimension_set_and_every_value_of_a_list():
    line = emf([("Revenue", "None"), ("PlaceToShipMinutes", "Count")],
               dimensions=(("service",), ("service", "currency")), service="order_facts", currency="EUR",
               Revenue=12.5, PlaceToShipMinutes=[30, 45, 60])
    found = {(d.name, d.dimensions): d.values for d in parse_emf(line)}
    assert found == {
        ("Revenue", (("service", "order_facts"),)): (12.5,),
        ("Revenue", (("service", "order_facts"), ("currency", "EUR"))): (12.5,),
        ("PlaceToShipMinutes", (("service", "order_facts"),)): (30.0, 45.0, 60.0),
        ("PlaceToShipMinutes", (("service", "order_facts"), ("currency", "EUR"))): (30.0, 45.0, 60.0),
    }


def test_what_is_not_an_emf_metric_is_left_out():
    assert parse_emf('{"level":"INFO","message":"order placed","service":"place_order"}') == []
    assert parse_emf("START RequestId: 1 Version: $LATEST") == []
    assert parse_emf('{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [') == []  # cut short
    # a dimension the document does not carry drops that dimension set; a non-number drops the metric
    line = emf([("A", "Count"), ("B", "Count")], dimensions=(("service",), ("missing",)), service="s", A=1, B="x")
    assert [(d.name, d.dimensions) for d in parse_emf(line)] == [("A", (("service", "s"),))]
    # no dimensions at all is a metric without dimensions
    [bare] = parse_emf(emf([("C", "Count")], dimensions=(), C=2))
    assert bare.dimensions == () and bare.values == (2.0,)


def test_the_follower_reads_only_appended_complete_lines(tmp_path):
    old = tmp_path / "place_order.log"
    old.write_text(POWERTOOLS_LINE + "\n")  # logged before this stack started
    follower = LogFollower(tmp_path)
    assert list(follower.read()) == []
    with open(old, "a") as f:
        f.write("START RequestId: 2\n" + POWERTOOLS_LINE[:40])  # the EMF line is half written
    assert list(follower.read()) == [b"START RequestId: 2"]
    with open(old, "a") as f:
        f.write(POWERTOOLS_LINE[40:] + "\n")
    assert list(follower.read()) == [POWERTOOLS_LINE.encode()]
    (tmp_path / "notify.log").write_text("END RequestId: 3\n")  # a function's first invocation
    assert list(follower.read()) == [b"END RequestId: 3"]
    assert list(follower.read()) == []


def test_batches_respect_put_metric_data_limits():
    data = parse_emf(emf([("PlaceToShipMinutes", "Count")], service="s", PlaceToShipMinutes=list(range(400))))
    assert [len(d.values) for d in data] == [150, 150, 100]
    many = [d for _ in range(1100) for d in parse_emf(POWERTOOLS_LINE)]
    assert [len(items) for _, items in batches(many)] == [1000, 100]


@mock_aws
def test_the_shipper_puts_the_logged_and_recorded_metrics_into_cloudwatch(tmp_path):
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    shipper = EmfShipper(tmp_path, cloudwatch)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    (tmp_path / "place_order.log").write_text("\n".join(
        [emf([("OrdersPlaced", "Count")], service="place_order", OrdersPlaced=[1.0], timestamp=now_ms)] * 3) + "\n")
    shipper.lambda_invocation("OmsApi-PlaceOrder", 120.0, errored=False)
    shipper.lambda_invocation("OmsApi-PlaceOrder", 80.0, errored=True)
    shipper.api_request("Api", "v1", "/orders", "POST", 201, 150.0)
    shipper.api_request("Api", "v1", None, "GET", 403, 2.0)  # an unknown route: no per-route dimensions
    assert shipper.poll() > 0

    # what CloudWatch holds, matched as CloudWatch matches a metric: exactly these dimensions
    store = MotoStore("123456789012", "us-east-1")
    store.refresh()

    def total(namespace, name, stat="Sum", **dims):
        return statistic(stat, store.samples(namespace, name, frozenset(dims.items())))

    assert total("OMS", "OrdersPlaced", service="place_order") == 3
    assert total("AWS/Lambda", "Invocations", FunctionName="OmsApi-PlaceOrder") == 2
    assert total("AWS/Lambda", "Invocations") == 2  # the account's
    assert total("AWS/Lambda", "Errors", FunctionName="OmsApi-PlaceOrder") == 1
    assert total("AWS/Lambda", "Duration", "Maximum", FunctionName="OmsApi-PlaceOrder") == 120
    assert total("AWS/ApiGateway", "Count", ApiName="Api") == 2
    assert total("AWS/ApiGateway", "Count", ApiName="Api", Stage="v1") == 2
    assert total("AWS/ApiGateway", "Count", ApiName="Api", Method="POST", Resource="/orders", Stage="v1") == 1
    assert total("AWS/ApiGateway", "4XXError", ApiName="Api", Method="POST", Resource="/orders", Stage="v1") == 0
    assert total("AWS/ApiGateway", "4XXError", ApiName="Api", Stage="v1") == 1
    assert total("AWS/ApiGateway", "Latency", "Maximum", ApiName="Api") == 150
    assert shipper.poll() == 0  # nothing new
