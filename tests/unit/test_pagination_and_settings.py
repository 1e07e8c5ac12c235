"""Signed cursors, typed settings and log redaction: plain Python, no AWS."""

import base64
import json
from decimal import Decimal

import pytest

from oms.adapters.pagination import CursorCodec
from oms.domain.errors import ValidationFailed
from oms.observability import MASK, _NoTracer, redact, tracer
from oms.settings import FraudSettings, PlaceOrderSettings, SettingsError

CREATED_KEY = "2026-12-01T10:00:00.000Z#ord_0123456789abcdef01234567"


@pytest.fixture
def codec():
    return CursorCodec(lambda: b"k" * 64)


def test_a_cursor_round_trips_and_shows_no_customer(codec):
    cursor = codec.encode("by_customer:cust-42", CREATED_KEY)
    assert codec.decode("by_customer:cust-42", cursor) == CREATED_KEY
    assert b"cust-42" not in base64.urlsafe_b64decode(cursor + "==")
    assert codec.encode("by_customer:cust-42", None) is None and codec.decode("x", None) is None


@pytest.mark.parametrize("forged", [
    base64.urlsafe_b64encode(json.dumps({"x": {"S": "y"}}).encode()).decode(),  # the old cursor format
    "not-base64-%%%",
    "",
    "AQ",
])
def test_forged_cursors_are_refused_naming_the_field(codec, forged):
    if not forged:
        assert codec.decode("by_status:ON_HOLD", forged) is None
        return
    with pytest.raises(ValidationFailed) as refused:
        codec.decode("by_status:ON_HOLD", forged)
    assert refused.value.field == "cursor"


def test_a_cursor_is_bound_to_its_listing_and_its_key(codec):
    cursor = codec.encode("by_customer:ann", CREATED_KEY)
    with pytest.raises(ValidationFailed):
        codec.decode("by_customer:eve", cursor)  # another customer's listing
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=="))
    raw[-1] ^= 1  # one bit of the sort key changed
    with pytest.raises(ValidationFailed):
        codec.decode("by_customer:ann", base64.urlsafe_b64encode(bytes(raw)).decode())
    with pytest.raises(ValidationFailed):
        CursorCodec(lambda: b"another key").decode("by_customer:ann", cursor)


def test_settings_are_typed_and_have_no_defaults():
    env = {"ORDERS_TABLE": "o", "FRAUD_THRESHOLD": "60", "REVIEW_AMOUNT": "1000.00", "OPS_ALERTS_TOPIC_ARN": "t",
           "NOTIFICATIONS_QUEUE_URL": "q"}
    settings = FraudSettings.from_env(env)
    assert (settings.fraud_threshold, settings.review_amount) == (60, Decimal("1000.00"))
    with pytest.raises(SettingsError, match="FRAUD_THRESHOLD"):
        FraudSettings.from_env({**env, "FRAUD_THRESHOLD": "sixty"})
    with pytest.raises(SettingsError, match="OPS_ALERTS_TOPIC_ARN is not set"):
        FraudSettings.from_env({k: v for k, v in env.items() if k != "OPS_ALERTS_TOPIC_ARN"})
    place = PlaceOrderSettings.from_env({"ORDERS_TABLE": "o", "CATALOG_TABLE": "c", "INVENTORY_TABLE": "i",
                                         "STATE_MACHINE_ARN": "arn", "WAREHOUSES": " wh-east, wh-west ,",
                                         "CUSTOMERS_TABLE": "cu"})
    assert place.warehouses == ("wh-east", "wh-west")


def test_logs_never_carry_tokens_or_personal_data():
    record = {"message": "order for ann@example.com placed", "order_id": "ord_1",
              "event": {"task_token": "AAAA", "payment": {"token": "tok_visa"},
                        "contact": {"email": "ann@example.com"}, "lines": [{"sku": "MUG", "name": "Mug"}]}}
    clean = redact(record)
    text = json.dumps(clean)
    for secret in ("AAAA", "tok_visa", "ann@example.com"):
        assert secret not in text
    assert clean["order_id"] == "ord_1" and clean["event"]["lines"][0] == {"sku": "MUG", "name": MASK}


def test_no_xray_sdk_when_tracing_is_disabled(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert isinstance(tracer(), _NoTracer)
