"""The capacity model (bench/capacity/model.py) over a small made-up demand and the real quotas.json."""

import json
import math
from pathlib import Path

import pytest

from bench.capacity import meter
from bench.capacity.keys import can_be_shared, key_pattern
from bench.capacity.model import (
    MIX,
    Load,
    bottlenecks,
    components,
    cost_per_thousand,
    mix,
    report,
    scenario,
    shard_advice,
)
from bench.capacity.record import expectations, guarded

ROOT = Path(__file__).resolve().parents[2]
QUOTAS = json.loads((ROOT / "bench" / "capacity" / "quotas.json").read_text())


def _row(kind, table, key, scope, units, index=None, op="UpdateItem"):
    return {"kind": kind, "table": table, "index": index, "key": key, "scope": scope, "op": op,
            "requests": 1.0, "units": units}


def _scenario(transitions=10.0, stock_wcu=2.0, pending_wcu=2.0, emails=3.0):
    return {
        "requests": {"dynamodb:UpdateItem": 10.0, "states:StartExecution": 1.0, "states:SendTaskSuccess": 1.0,
                     "ses:SendEmail": emails, "sns:Publish(SMS)": 1.0, "sns:CheckIfPhoneNumberIsOptedOut": 1.0,
                     "secretsmanager:GetSecretValue": 1.0},
        "capacity": [_row("write", "Orders", "<order>", "per-order", 40.0),
                     _row("write", "Orders", "PENDING", "shared", pending_wcu, index="by_status"),
                     _row("write", "Inventory", "<sku>", "per-sku", stock_wcu, op="TransactWriteItems"),
                     _row("read", "Inventory", "<sku>", "per-sku", 1.5, op="Query"),
                     _row("write", "Kpis", "day", "shared", 4.0, op="TransactWriteItems")],
        "transitions": {"standard": transitions, "express": 0.0, "standard_executions": 1.0,
                        "express_executions": 0.0},
        "lambda": {"PlaceOrder": {"invocations": 1.0, "ms_per_invocation": 900.0},
                   "Payment": {"invocations": 3.0, "ms_per_invocation": 500.0}},
        "api": {"POST /orders": 1.0, "POST /admin/orders/{order_id}/shipments": 1.0,
                "POST /webhooks/tracking/easypost": 1.0},
        "messages": {"email": emails, "sms": 1.0, "sns_publish": 0.0, "sqs_send": 0.0},
    }


def _demand(**scenarios):
    return {"recorded": "2026-12-03", "scenarios": scenarios or {"happy": _scenario()}}


def _component(found, prefix):
    return next(c for c in found if c.name.startswith(prefix))


def test_the_mix_weights_sum_to_one_and_average_the_scenarios():
    assert math.isclose(sum(MIX.values()), 1.0)
    order = mix(_demand(happy=_scenario(transitions=10), declined=_scenario(transitions=4)))
    expected = (MIX["happy"] * 10 + MIX["declined"] * 4) / (MIX["happy"] + MIX["declined"])
    assert math.isclose(order.standard_transitions, expected)
    assert math.isclose(order.write_units, 48.0)


def test_demand_scales_with_the_rate_and_the_headroom_is_limit_over_demand():
    order = scenario(_scenario(transitions=10))
    found = components(order, QUOTAS, Load(100))
    transitions = _component(found, "Step Functions: StateTransition")
    assert transitions.demand == 1000 and transitions.limit == 1500
    assert math.isclose(transitions.headroom, 1.5) and math.isclose(transitions.saturates_at, 150)
    doubled = _component(components(order, QUOTAS, Load(200)), "Step Functions: StateTransition")
    assert doubled.demand == 2000


def test_a_shared_key_is_one_partition_at_any_load_and_a_sku_key_only_when_the_sale_is_on_one_sku():
    order = scenario(_scenario(pending_wcu=9.0, stock_wcu=2.0))
    steady = components(order, QUOTAS, Load(1000, hot_sku_share=0.01))
    pending = _component(steady, "DynamoDB partition: Orders index by_status key PENDING")
    assert pending.demand == 9000 and pending.limit == 1000 and not pending.adjustable
    stock = _component(steady, "DynamoDB partition: Inventory key <sku>")
    assert math.isclose(stock.demand, 1000 * 0.01 * (2.0 + 1.5 / 3))  # reads count a third of a write
    one_sku = _component(components(order, QUOTAS, Load(1000, one_sku=True)), "DynamoDB partition: Inventory")
    assert math.isclose(one_sku.demand, 1000 * 2.5)


def test_stock_shards_divide_the_hot_sku_row_and_the_advice_sizes_them():
    order = scenario(_scenario(stock_wcu=2.0))
    one = _component(components(order, QUOTAS, Load(5000, one_sku=True, shards=1)), "DynamoDB partition: Inventory")
    ten = _component(components(order, QUOTAS, Load(5000, one_sku=True, shards=10)), "DynamoDB partition: Inventory")
    assert math.isclose(one.demand, 10 * ten.demand) and "one of 10 shards" in ten.name
    advice = shard_advice(_demand(), 5000)
    # 2 write units + 1.5 read units (= 0.5 write units) per order; 800 units/s a shard -> 320 orders/s -> 16 shards
    assert "needs 16 shards" in advice and "320 orders/s" in advice


def test_the_first_bottlenecks_are_the_smallest_headrooms():
    found = components(scenario(_scenario()), QUOTAS, Load(1000))
    first = bottlenecks(found)
    assert len(first) == 3
    assert first[0].headroom <= first[1].headroom <= first[2].headroom
    assert all(c.headroom >= first[2].headroom for c in found if c not in first and c.limit and c.demand)
    assert first[0].name.startswith("SES")  # 3,000 emails/s against the sandbox's 1/s
    after = bottlenecks(found, messaging=False)
    assert after[0].name == "API stage/route throttle: stage (all routes)" and not after[0].adjustable  # 3,000/50
    assert after[1].name.startswith("Step Functions: StateTransition")  # 10,000 transitions/s against 1,500


def test_the_api_throttles_come_from_the_template_when_recorded():
    order = scenario(_scenario())
    alone = components(order, QUOTAS, Load(1000), {"api_throttles": [{"kind": "stage", "method": "*", "path": "/*",
                                                                       "rate": 50}]})
    assert _component(alone, "API stage/route throttle: stage (all routes)").demand == 3000
    design = {"api_throttles": [{"kind": "stage", "method": "*", "path": "/*", "rate": 100},
                                {"kind": "stage", "method": "POST", "path": "/orders", "rate": 2000}]}
    found = components(order, QUOTAS, Load(1000), design)
    assert _component(found, "API stage/route throttle: POST /orders").demand == 1000
    other = _component(found, "API stage/route throttle: stage default")
    assert other.demand == 2000 and other.limit == 100  # the shipment and the webhook share the stage default
    fallback = _component(components(order, QUOTAS, Load(1000)), "API stage/route throttle: stage (all routes)")
    assert fallback.demand == 3000 and fallback.limit == 50


def test_cost_per_thousand_orders_at_list_prices():
    cost = cost_per_thousand(scenario(_scenario(transitions=9, emails=3)), QUOTAS, lambda_ms=100)
    assert math.isclose(cost["Step Functions"], 9 * 0.025)
    assert math.isclose(cost["ses"], 0.30)
    assert math.isclose(cost["DynamoDB"], 48 * 0.000625 + 1.5 * 0.000125)
    assert math.isclose(cost["Lambda"], 4 * 0.0002 + 4 * 0.1 * 0.25 * 0.0166667, rel_tol=1e-4)


def test_the_report_names_each_bottleneck_and_whether_it_is_a_quota_to_raise():
    text = report(_demand(), QUOTAS, Load(1000))
    assert "First three bottlenecks:" in text and "AWS quota, raise by request" in text
    assert "DynamoDB partition: Orders index by_status key PENDING" in text
    assert "First three after email and SMS" in text and "API stage/route throttle: stage (all routes)" in text


def test_every_quota_and_price_names_its_source_and_the_date_read():
    for entry in [*QUOTAS["quotas"].values(), *QUOTAS["prices"].values()]:
        assert entry["source"].startswith("https://") and entry["read"] == "2026-12-03"
    assert all("adjustable" in entry for entry in QUOTAS["quotas"].values())


@pytest.mark.parametrize(("value", "size"), [({"S": "héllo"}, 6), ({"N": "12345"}, 4), ({"N": "0"}, 2),
                                             ({"BOOL": True}, 1), ({"L": [{"S": "ab"}]}, 6),
                                             ({"M": {"a": {"S": "b"}}}, 6)])
def test_item_sizes_follow_dynamodbs_rules(value, size):
    assert meter.value_size(value) == size


def test_write_and_read_units_round_up_by_the_kilobyte_and_four():
    assert [meter.write_units(s) for s in (0, 1, 1024, 1025, 3400)] == [1, 1, 1, 2, 4]
    assert meter.read_units(4096, consistent=True) == 1 and meter.read_units(4097, consistent=False) == 1.0


def test_key_patterns_keep_what_every_order_shares():
    assert key_pattern("PENDING", set(), set()) == "PENDING"
    assert key_pattern("day", set(), set()) == "day"
    assert key_pattern("SKU-1#3", {"SKU-1"}, set()) == "<sku>#3"
    assert key_pattern("order#01J9ZABCDEFGHJKMNPQRSTVWXY", set(), {"01J9ZABCDEFGHJKMNPQRSTVWXY"}) == "order#<order>"
    assert key_pattern("2026-12-03", set(), set()) == "<date>"
    assert key_pattern("ord_3a4170ab5193acb77b48474c", set(), set()) == "<order>"
    assert can_be_shared("PENDING") and can_be_shared("day") and can_be_shared("day#2026-12-03")
    assert not can_be_shared("order#ord_3a4170ab5193acb77b48474c") and not can_be_shared(None)


def test_expectations_keep_the_most_any_one_order_needed():
    def one(requests, units, transitions):
        return {"requests": requests, "capacity": [_row("write", "Orders", "<order>", "per-order", units)],
                "transitions": {"standard": transitions}}

    found = expectations([one({"dynamodb:PutItem": 1}, 10, 9),
                          one({"dynamodb:PutItem": 2, "sqs:SendMessage": 1}, 8, 11)])
    assert found == {"requests": {"dynamodb:PutItem": 2, "sqs:SendMessage": 1}, "write_units": {"Orders": 10},
                     "standard_transitions": 11}
    assert guarded(one({"a": 1}, 3, 2))["write_units"] == {"Orders": 3}


def test_the_models_write_shard_counts_are_the_codes() -> None:
    """The model spreads a write-sharded key's load over the shard count the code uses."""
    from bench.capacity.model import WRITE_SHARDS
    from oms.adapters.orders_repo import DAY_SHARDS, OPS_SHARDS
    from oms.domain.kpis import SHARDS

    assert WRITE_SHARDS == {("Orders", "ops_queue"): OPS_SHARDS, ("Orders", "by_day"): DAY_SHARDS,
                            ("Kpis", None): SHARDS}
