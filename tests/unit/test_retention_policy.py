"""The retention policy (data: ``policies/retention.json``, validated at synth): its bounds, the config refusing a bad
file, the tracking inbox writing its TTLs from the policy's periods, the functions reading them from their
environment, and TTL enabled on every table a retention entry governs."""

from __future__ import annotations

import importlib
import json
import re
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from infra.config import DEFAULT_CONTEXT, REPO_ROOT, ConfigError, OmsConfig
from oms.adapters.aws import reset
from oms.adapters.tracking_inbox import KEEP_SECONDS, PARK_SECONDS, TrackingInbox, event_key
from oms.domain.retention import RetentionPolicy, load_policy
from oms.settings import AdminSettings, NotifySettings, TrackingEventsSettings, TrackingWebhookSettings
from tests.infra.conftest import Synthesized, synthesized  # noqa: F401  (the session's synthesized app)

POLICY_FILE = REPO_ROOT / str(DEFAULT_CONTEXT["retentionPolicy"])
POLICY = load_policy(POLICY_FILE.read_text())
#: The DynamoDB tables (logical id prefix in OmsData) a retention entry governs, and their TTL attribute.
GOVERNED_TABLES = {"TrackingEvents": "expires_at", "Idempotency": "expiration"}
#: Functions defined in infra/api_stack.py whose TTL variables are not wired yet (they fall back to the defaults).
WIRING_PENDING: set[str] = set()


def _document(**changes: Any) -> dict[str, Any]:
    return {**json.loads(POLICY_FILE.read_text()), **changes}


# -- the policy --------------------------------------------------------------------------------------------------

def test_the_shipped_policy_loads_with_the_documented_periods() -> None:
    assert POLICY.version
    assert (POLICY.tracking_webhook_bodies_days, POLICY.parked_tracking_events_hours,
            POLICY.notification_records_days, POLICY.data_exports_days) == (30, 24, 30, 1)
    assert POLICY.tracking_body_seconds == 30 * 86400 == KEEP_SECONDS
    assert POLICY.parked_event_seconds == 24 * 3600 == PARK_SECONDS
    assert POLICY.notification_record_seconds == 30 * 86400
    assert load_policy(POLICY.to_json()) == POLICY  # what the config keeps reads back the same
    described = POLICY.descriptions.model_dump()
    assert set(described) == {"tracking_webhook_bodies_days", "parked_tracking_events_hours",
                              "notification_records_days", "data_exports_days"}
    assert all(described.values())


def test_the_periods_default_when_the_file_leaves_them_out() -> None:
    document = {k: v for k, v in _document().items() if not k.endswith(("_days", "_hours"))}
    policy = load_policy(json.dumps(document))
    assert (policy.tracking_webhook_bodies_days, policy.parked_tracking_events_hours,
            policy.notification_records_days, policy.data_exports_days) == (30, 24, 30, 1)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("tracking_webhook_bodies_days", 0, "tracking_webhook_bodies_days must be 1 to 90 days, got 0"),
    ("tracking_webhook_bodies_days", 91, "tracking_webhook_bodies_days must be 1 to 90 days, got 91"),
    ("parked_tracking_events_hours", 0, "parked_tracking_events_hours must be 1 to 168 hours, got 0"),
    ("parked_tracking_events_hours", 169, "parked_tracking_events_hours must be 1 to 168 hours, got 169"),
    ("notification_records_days", 17, "notification_records_days must be 18 to 365 days, got 17"),
    ("notification_records_days", 366, "notification_records_days must be 18 to 365 days, got 366"),
    ("data_exports_days", 0, "data_exports_days must be 1 to 7 days, got 0"),
    ("data_exports_days", 8, "data_exports_days must be 1 to 7 days, got 8"),
    ("data_exports_days", -1, "data_exports_days must be 1 to 7 days, got -1"),
    ("data_exports_days", "1", r"data_exports_days\n.*valid integer"),  # a number, not a string
    ("notification_records_days", 1.5, r"notification_records_days\n.*valid integer"),
    ("tracking_webhook_bodies_days", True, r"tracking_webhook_bodies_days\n.*valid integer"),
    ("version", "", r"version\n.*at least 1 character"),
    ("surprise_days", 3, r"surprise_days\n.*Extra inputs are not permitted"),
])
def test_each_bound_is_refused_naming_the_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_policy(json.dumps(_document(**{field: value})))


def test_the_version_and_every_description_are_required() -> None:
    with pytest.raises(ValidationError, match=r"version\n.*Field required"):
        load_policy(json.dumps({k: v for k, v in _document().items() if k != "version"}))
    descriptions = {k: v for k, v in _document()["descriptions"].items() if k != "data_exports_days"}
    with pytest.raises(ValidationError, match=r"descriptions\.data_exports_days\n.*Field required"):
        load_policy(json.dumps(_document(descriptions=descriptions)))


def test_the_bounds_themselves_are_accepted() -> None:
    low = load_policy(json.dumps(_document(tracking_webhook_bodies_days=1, parked_tracking_events_hours=1,
                                           notification_records_days=18, data_exports_days=1)))
    high = load_policy(json.dumps(_document(tracking_webhook_bodies_days=90, parked_tracking_events_hours=168,
                                            notification_records_days=365, data_exports_days=7)))
    assert (low.tracking_body_seconds, low.parked_event_seconds, low.notification_record_seconds) == (
        86400, 3600, 18 * 86400)
    assert (high.tracking_body_seconds, high.parked_event_seconds, high.notification_record_seconds) == (
        90 * 86400, 168 * 3600, 365 * 86400)


def test_a_parked_event_may_not_outlive_its_stored_body() -> None:
    with pytest.raises(ValidationError, match=r"parked_tracking_events_hours \(72\) must not outlast "
                                              r"tracking_webhook_bodies_days \(2 days\)"):
        load_policy(json.dumps(_document(tracking_webhook_bodies_days=2, parked_tracking_events_hours=72)))
    assert load_policy(json.dumps(_document(tracking_webhook_bodies_days=2, parked_tracking_events_hours=48)))


# -- the config --------------------------------------------------------------------------------------------------

def test_the_config_keeps_the_validated_policy_and_cdk_json_names_the_same_file() -> None:
    config = OmsConfig.from_mapping({})
    assert isinstance(config.retention, RetentionPolicy)
    assert config.retention == POLICY
    assert json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["retentionPolicy"] == \
        DEFAULT_CONTEXT["retentionPolicy"]


def test_another_retention_file_is_read_from_the_context(tmp_path: Path) -> None:
    custom = tmp_path / "retention.json"
    custom.write_text(json.dumps(_document(version="test.2", notification_records_days=45, data_exports_days=3)))
    config = OmsConfig.from_mapping({"retentionPolicy": str(custom)})
    assert config.retention.version == "test.2"
    assert config.retention.notification_record_seconds == 45 * 86400
    assert config.retention.data_exports_days == 3


def test_a_bad_retention_policy_fails_the_config_naming_the_key_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "retention.json"
    bad.write_text(json.dumps(_document(data_exports_days=30)))
    with pytest.raises(ConfigError) as refused:
        OmsConfig.from_mapping({"retentionPolicy": str(bad)})
    message = str(refused.value)
    assert "'retentionPolicy'" in message and str(bad) in message and "not a valid retention policy" in message
    assert "data_exports_days must be 1 to 7 days, got 30" in message
    with pytest.raises(ConfigError, match="'retentionPolicy': cannot read"):
        OmsConfig.from_mapping({"retentionPolicy": str(tmp_path / "nowhere.json")})
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=r"'retentionPolicy'.*not a valid retention policy"):
        OmsConfig.from_mapping({"retentionPolicy": str(broken)})


# -- the functions' settings ---------------------------------------------------------------------------------------

def test_the_functions_read_their_periods_as_ints_and_fall_back_when_absent() -> None:
    ttl = {"TRACKING_BODY_TTL_SECONDS": "86400", "TRACKING_PARK_TTL_SECONDS": "7200"}
    for settings in (AdminSettings, TrackingWebhookSettings, TrackingEventsSettings):
        assert {"TRACKING_BODY_TTL_SECONDS", "TRACKING_PARK_TTL_SECONDS"} <= settings.variables()
        assert not {"TRACKING_BODY_TTL_SECONDS", "TRACKING_PARK_TTL_SECONDS"} & settings.required()
        env = {name: "x" for name in settings.required()} | {"WAREHOUSES": "wh-east"}
        read = settings.from_env(env | ttl)
        assert (read.tracking_body_ttl_seconds, read.tracking_park_ttl_seconds) == (86400, 7200)
        absent = settings.from_env(env)
        assert (absent.tracking_body_ttl_seconds, absent.tracking_park_ttl_seconds) == (None, None)
    env = {name: "x" for name in NotifySettings.required()}
    assert NotifySettings.from_env(env | {"NOTIFICATION_RECORD_TTL_SECONDS": "172800"}) \
        .notification_record_ttl_seconds == 172800
    assert NotifySettings.from_env(env).notification_record_ttl_seconds is None


@pytest.mark.parametrize(("name", "settings"), [
    ("notify", NotifySettings), ("tracking_events", TrackingEventsSettings),
    ("tracking_webhook", TrackingWebhookSettings), ("admin", AdminSettings),
])
def test_each_function_applies_the_periods_from_its_environment(name: str, settings: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for key in settings.required():
        monkeypatch.setenv(key, "x")
    monkeypatch.setenv("WAREHOUSES", "wh-east")
    monkeypatch.setenv("PAYMENT_GATEWAY", "sandbox")
    monkeypatch.setenv("CANCELLATION_POLICY", (REPO_ROOT / "policies" / "cancellation.json").read_text())
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("NOTIFICATION_RECORD_TTL_SECONDS", "172800")
    monkeypatch.setenv("TRACKING_BODY_TTL_SECONDS", "86400")
    monkeypatch.setenv("TRACKING_PARK_TTL_SECONDS", "7200")
    reset()
    try:
        module = importlib.reload(importlib.import_module(f"functions.{name}.handler"))  # fresh module state
        if name == "notify":
            assert module.idempotency.expires_after_seconds == 172800
            return
        deps = module._deps() if name == "tracking_events" else module.deps()
        inbox = deps[0] if name == "tracking_events" else deps.inbox
        assert (inbox.keep_seconds, inbox.park_seconds) == (86400, 7200)
    finally:
        reset()  # no client built here outlives the test


# -- the tracking inbox writes its TTLs from the periods -----------------------------------------------------------

@pytest.fixture
def tracking_table(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset()
    with mock_aws():
        ddb = boto3.client("dynamodb")
        ddb.create_table(TableName="TrackingEvents", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}])
        yield ddb
    reset()


def _expires_at(ddb: Any, pk: str, sk: str) -> int:
    item = ddb.get_item(TableName="TrackingEvents", Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"]
    return int(item["expires_at"]["N"])


def test_a_stored_event_expires_keep_seconds_from_now(tracking_table: Any) -> None:
    inbox = TrackingInbox("TrackingEvents", keep_seconds=2 * 86400, park_seconds=3 * 3600)
    assert inbox.store("easypost", "evt-1", "1Z999", '{"raw": true}', "2026-12-03T10:00:00Z")
    assert abs(_expires_at(tracking_table, event_key("easypost", "evt-1"), "event") - (time.time() + 2 * 86400)) <= 5
    assert not inbox.store("easypost", "evt-1", "1Z999", '{"raw": true}', "2026-12-03T10:00:00Z")  # once


def test_a_parked_event_expires_park_seconds_from_now(tracking_table: Any) -> None:
    inbox = TrackingInbox("TrackingEvents", "https://sqs.example/queue", keep_seconds=2 * 86400,
                          park_seconds=3 * 3600)
    inbox.park("1Z999", event_key("easypost", "evt-1"))
    expires = _expires_at(tracking_table, "parked#1Z999", event_key("easypost", "evt-1"))
    assert abs(expires - (time.time() + 3 * 3600)) <= 5


def test_the_inbox_defaults_to_the_policy_defaults(tracking_table: Any) -> None:
    inbox = TrackingInbox("TrackingEvents")
    assert (inbox.keep_seconds, inbox.park_seconds) == (POLICY.tracking_body_seconds, POLICY.parked_event_seconds)
    inbox.store("generic", "evt-2", "1Z998", "{}", "2026-12-03T10:00:00Z")
    inbox.park("1Z998", event_key("generic", "evt-2"))
    now = time.time()
    assert abs(_expires_at(tracking_table, event_key("generic", "evt-2"), "event") - (now + KEEP_SECONDS)) <= 5
    assert abs(_expires_at(tracking_table, "parked#1Z998", event_key("generic", "evt-2")) - (now + PARK_SECONDS)) <= 5


# -- the synthesized app -------------------------------------------------------------------------------------------

def _governed_tables(s: Synthesized) -> dict[str, tuple[str, dict[str, Any]]]:
    """``name -> (logical id, properties)`` of the tables a retention entry governs."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical_id, table in s.resources("OmsData", "AWS::DynamoDB::Table").items():
        for name in GOVERNED_TABLES:
            if re.fullmatch(rf"{name}[0-9A-F]{{8}}", logical_id):
                assert name not in found, f"two tables named {name}"
                found[name] = (logical_id, table["Properties"])
    return found


def test_every_table_a_retention_entry_governs_has_ttl_on_the_right_attribute(synthesized: Synthesized) -> None:  # noqa: F811
    tables = _governed_tables(synthesized)
    assert set(tables) == set(GOVERNED_TABLES)
    for name, attribute in GOVERNED_TABLES.items():
        assert tables[name][1]["TimeToLiveSpecification"] == {"AttributeName": attribute, "Enabled": True}, name


def test_the_functions_writing_those_tables_carry_the_policy_periods(synthesized: Synthesized) -> None:  # noqa: F811
    tables = {name: logical_id for name, (logical_id, _) in _governed_tables(synthesized).items()}
    functions = {fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]: fn["Properties"]
                 ["Environment"]["Variables"] for fn in synthesized.all_resources("AWS::Lambda::Function").values()}
    notify = functions["notify"]
    assert tables["Idempotency"] in json.dumps(notify["IDEMPOTENCY_TABLE"])
    assert notify["NOTIFICATION_RECORD_TTL_SECONDS"] == str(POLICY.notification_record_seconds)
    inbox_writers = {name for name, env in functions.items() if "TRACKING_EVENTS_TABLE" in env}
    assert {"tracking_events", "tracking_webhook", "admin"} <= inbox_writers
    for name in sorted(inbox_writers):
        env = functions[name]
        assert tables["TrackingEvents"] in json.dumps(env["TRACKING_EVENTS_TABLE"]), name
        if name in WIRING_PENDING and "TRACKING_BODY_TTL_SECONDS" not in env:
            continue
        assert env["TRACKING_BODY_TTL_SECONDS"] == str(POLICY.tracking_body_seconds), name
        assert env["TRACKING_PARK_TTL_SECONDS"] == str(POLICY.parked_event_seconds), name
