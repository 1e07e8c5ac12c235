"""Carrier events from every source: signatures (and rotation), storage and deduplication, parking, what the
customer and ops hear, the customer's tracking view and the signed public page."""

import json
import time
import uuid

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from oms.domain.webhook_signatures import aftership_signature, generic_signature
from tests.handlers.conftest import api_event, call
from tests.handlers.helpers import order
from tests.handlers.test_tracking_and_notify import awaiting_shipment, drain, record, shipped_order, webhook

NUMBER = "1Z999AA10123456784"


def _secret(stack, variable):
    arn = stack.env("tracking_webhook", variable)
    return arn, json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])


def _post(stack, context, source, body, headers):
    raw = body if isinstance(body, str) else json.dumps(body)
    return call(stack.handler("tracking_webhook"), api_event(
        "POST", f"/webhooks/tracking/{source}", f"/webhooks/tracking/{source}", body=raw, sub=None,
        headers=headers), context)


def aftership(stack, context, tag, number=NUMBER, secret=None, event_id=None, at="2026-12-03T09:00:00+01:00",
              subtag=None, estimate=None):
    body = json.dumps({"event": "tracking_update", "event_id": event_id or str(uuid.uuid4()), "ts": 1796284800,
                       "is_tracking_first_tag": True, "msg": {
                           "id": "a5dd3d2f6d5b4d3c9e3a2f1e0c9b8a77", "tracking_number": number, "slug": "ups",
                           "tag": tag, "subtag": subtag or f"{tag}_001", "updated_at": at,
                           "latest_estimated_delivery": {"type": "specific", "source": "Carrier EDD",
                                                         "datetime": estimate} if estimate else None,
                           "checkpoints": [{"checkpoint_time": at, "tag": tag, "message": f"{tag} scan",
                                            "city": "Austin", "state": "TX", "country_region": "USA"}]}})
    key = secret or _secret(stack, "AFTERSHIP_SECRET_ARN")[1]["current"]
    return _post(stack, context, "aftership", body, {"aftership-hmac-sha256": aftership_signature(body.encode(), key)})


def generic(stack, context, status, number=NUMBER, secret=None, timestamp=None, event_id=None,
            at="2026-12-03T08:00:00+00:00"):
    body = json.dumps({"event_id": event_id or f"gen-{uuid.uuid4().hex[:10]}", "tracking_number": number,
                       "carrier": "DHL", "status": status, "occurred_at": at, "location": "Berlin, DE"})
    key = secret or _secret(stack, "GENERIC_SECRET_ARN")[1]["current"]
    header = generic_signature(body.encode(), key, timestamp if timestamp is not None else int(time.time()))
    return _post(stack, context, "generic", body, {"X-Signature": header})


def test_each_source_is_verified_stored_once_and_applied(stack, context):
    order_id = shipped_order(stack, context)
    assert aftership(stack, context, "InTransit", secret="guess")[0] == 401
    assert generic(stack, context, "IN_TRANSIT", secret="guess")[0] == 401
    status, body = generic(stack, context, "IN_TRANSIT", timestamp=int(time.time()) - 600)  # a replay, 10 min late
    assert status == 401 and "300 s" in body["message"]
    status, body = aftership(stack, context, "InTransit", event_id="as-1", at="2026-12-02T09:00:00+01:00")
    assert (status, body) == (200, {"result": "accepted", "event_id": "as-1"})
    assert aftership(stack, context, "InTransit", event_id="as-1")[1]["result"] == "duplicate"
    assert generic(stack, context, "OUT_FOR_DELIVERY", event_id="g-1")[1]["result"] == "accepted"
    assert drain(stack, context) == []
    shipment = order(stack, order_id)["shipments"][NUMBER]
    assert shipment["tracking_status"] == "OUT_FOR_DELIVERY" and shipment["status"] == "out_for_delivery"
    assert {(e["source"], e["raw_status"]) for e in shipment["events"]} == {("aftership", "InTransit"),
                                                                           ("generic", "OUT_FOR_DELIVERY")}
    stored = boto3.resource("dynamodb").Table(stack.env("tracking_webhook", "TRACKING_EVENTS_TABLE")).get_item(
        Key={"pk": "event#aftership#as-1", "sk": "event"})["Item"]
    assert stored["state"] == "APPLIED" and json.loads(stored["body"])["event_id"] == "as-1"  # the raw event


def test_bad_bodies_are_422_naming_the_field_and_nothing_is_stored(stack, context):
    key = _secret(stack, "GENERIC_SECRET_ARN")[1]["current"]
    for body, field in [({"event_id": "x", "tracking_number": NUMBER, "carrier": "DHL", "status": "LOST",
                          "occurred_at": "2026-12-03T08:00:00Z"}, "status"),
                        ({"event_id": "x", "tracking_number": "a b", "carrier": "DHL", "status": "IN_TRANSIT",
                          "occurred_at": "2026-12-03T08:00:00Z"}, "tracking_number")]:
        raw = json.dumps(body)
        status, answer = _post(stack, context, "generic", raw,
                               {"X-Signature": generic_signature(raw.encode(), key, int(time.time()))})
        assert status == 422 and field in [e["field"] for e in answer["errors"]], answer
    assert boto3.resource("dynamodb").Table(stack.env("tracking_webhook", "TRACKING_EVENTS_TABLE")).scan()[
        "Items"] == []


def test_a_secret_rotates_without_dropping_events(stack, context):
    shipped_order(stack, context)
    arn, document = _secret(stack, "GENERIC_SECRET_ARN")
    old = document["current"]
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=json.dumps(
        {"current": "new-secret-value", "previous": old}))
    from oms.adapters import secrets
    secrets._cache.clear()  # the functions re-read a secret within 5 minutes; here at once
    assert generic(stack, context, "IN_TRANSIT", secret=old)[0] == 200  # senders not switched yet
    assert generic(stack, context, "IN_TRANSIT", secret="new-secret-value")[0] == 200
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=json.dumps(
        {"current": "new-secret-value"}))
    secrets._cache.clear()
    assert generic(stack, context, "IN_TRANSIT", secret=old)[0] == 401  # rotation finished


def test_an_unknown_tracking_number_is_parked_then_applied_when_the_shipment_is_recorded(stack, context):
    order_id = awaiting_shipment(stack, context)
    assert generic(stack, context, "IN_TRANSIT", number="EARLY123456", event_id="early-1")[0] == 200
    assert drain(stack, context) == []
    table = boto3.resource("dynamodb").Table(stack.env("tracking_webhook", "TRACKING_EVENTS_TABLE"))
    assert table.get_item(Key={"pk": "event#generic#early-1", "sk": "event"})["Item"]["state"] == "PARKED"
    admin = stack.handler("admin")
    status, _ = call(admin, api_event("POST", f"/admin/orders/{order_id}/shipments",
                                      "/admin/orders/{order_id}/shipments", groups="ops",
                                      body={"carrier": "DHL", "tracking_number": "EARLY123456"},
                                      path_params={"order_id": order_id}), context)
    assert status == 201
    assert drain(stack, context) == []
    assert order(stack, order_id)["shipments"]["EARLY123456"]["tracking_status"] == "IN_TRANSIT"
    assert table.get_item(Key={"pk": "event#generic#early-1", "sk": "event"})["Item"]["state"] == "APPLIED"


def test_problems_email_the_customer_and_alert_ops_out_for_delivery_texts_and_a_late_estimate_emails_once(
        stack, context):
    order_id = shipped_order(stack, context)
    ses = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    sns = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    topic = stack.env("tracking_events", "OPS_ALERTS_TOPIC_ARN")
    alerts_before = len(sns.topics[topic].sent_notifications)
    aftership(stack, context, "OutForDelivery", at="2026-12-03T08:00:00+00:00")
    aftership(stack, context, "AttemptFail", at="2026-12-03T15:00:00+00:00", estimate="2026-12-20")
    aftership(stack, context, "OutForDelivery", at="2026-12-04T08:00:00+00:00", estimate="2026-12-21")
    assert drain(stack, context) == []
    stored = order(stack, order_id)
    assert stored["shipments"][NUMBER]["tracking_status"] == "OUT_FOR_DELIVERY"  # the second attempt
    assert stored["shipments"][NUMBER]["est_delivery_date"] == "2026-12-21"
    assert len(sns.topics[topic].sent_notifications) == alerts_before + 1  # the failed attempt
    notify = stack.handler("notify")
    queue_url = stack.env("tracking_events", "NOTIFICATIONS_QUEUE_URL")
    sqs = boto3.client("sqs")
    events = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            events.append(json.loads(m["Body"])["event"])
            notify.handler({"Records": [{"messageId": m["MessageId"], "receiptHandle": "r", "body": m["Body"],
                                         "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
                                         "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:::q",
                                         "awsRegion": "us-east-1"}]}, context)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    assert (events.count("out_for_delivery"), events.count("delivery_problem"), events.count("delivery_delayed")) \
        == (2, 1, 1)  # the later estimate is told once, though two events carried it
    subjects = [m.subject for m in ses.sent_messages]
    assert any("We missed you" in s for s in subjects) and sum("later than planned" in s for s in subjects) == 1
    records = order(stack, order_id)["notifications"]
    assert records[f"out_for_delivery:{NUMBER}#sms"]["status"] == "SENT"
    assert f"out_for_delivery:{NUMBER}#email" not in records  # SMS only


def test_the_customer_sees_tracking_and_a_signed_link_works_without_sign_in(stack, context, monkeypatch):
    order_id = shipped_order(stack, context)
    webhook(stack, context, "in_transit", at="2026-11-25T10:00:00Z")
    drain(stack, context)
    status, view = call(stack.handler("get_order"), api_event(
        "GET", f"/orders/{order_id}/tracking", "/orders/{order_id}/tracking", path_params={"order_id": order_id}),
        context)
    assert status == 200 and view["shipments"][0]["tracking_status"] == "IN_TRANSIT"
    assert view["shipments"][0]["tracking_url"].startswith("https://www.ups.com/")
    assert call(stack.handler("get_order"), api_event(
        "GET", f"/orders/{order_id}/tracking", "/orders/{order_id}/tracking", sub="someone-else",
        path_params={"order_id": order_id}), context)[0] == 404

    from oms.domain.tracking_links import sign
    key = boto3.client("secretsmanager").get_secret_value(
        SecretId=stack.env("track", "TRACKING_LINK_SECRET_ARN"))["SecretString"].encode()
    track = stack.handler("track")

    def public(token, accept="application/json"):
        response = track.handler(api_event("GET", f"/track/{token}", "/track/{token}", sub=None,
                                           headers={"Accept": accept}, path_params={"token": token}), context)
        return response["statusCode"], response["body"]

    token = sign(order_id, key, time.time())
    status, body = public(token)
    page = json.loads(body)
    assert status == 200 and page["shipments"][0]["tracking_status"] == "IN_TRANSIT"
    assert not {"shipping_address", "contact", "total", "lines"} & set(page)
    status, html = public(token, "text/html")
    assert status == 200 and "<!DOCTYPE html>" in html and NUMBER in html and "Ann Lee" not in html
    assert public(sign(order_id, key, time.time() - 91 * 86400))[0] == 410
    assert public(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))[0] == 404
    assert public(sign(order_id, b"another key", time.time()))[0] == 404


@pytest.mark.parametrize("source", ["aftership", "generic"])
def test_a_delivery_before_the_order_is_shipped_is_retried_not_lost(stack, context, source):
    order_id = awaiting_shipment(stack, context)
    record(stack, order_id, NUMBER)
    if source == "aftership":
        aftership(stack, context, "Delivered")
    else:
        generic(stack, context, "DELIVERED")
    assert len(drain(stack, context)) == 1  # the order is not SHIPPED yet: the record fails, SQS retries it
    assert order(stack, order_id)["status"] == "PROCESSING"


def test_our_easypost_signature_is_the_one_easyposts_own_sdk_verifies():
    """EasyPost's official SDK (``easypost.util.validate_webhook``) accepts what our test clients sign and
    refuses what our check refuses. (AfterShip's SDKs have no webhook helper; its documented scheme is tested
    above.)"""
    from easypost.errors import SignatureVerificationError
    from easypost.util import validate_webhook

    from oms.domain.easypost import sign
    from oms.domain.webhook_signatures import SignatureRejected, verify

    body = json.dumps({"object": "Event", "id": "evt_1", "description": "tracker.updated", "result": {}}).encode()
    secret = "s\u00e9cr\u00e8t-\uff21"  # NFKD matters: a full-width letter and accents
    header = sign(body, secret)
    assert validate_webhook(body, {"X-Hmac-Signature": header}, secret)["id"] == "evt_1"
    verify("easypost", body, {"x-hmac-signature": header}, [secret], time.time())
    with pytest.raises(SignatureVerificationError):
        validate_webhook(body, {"X-Hmac-Signature": sign(body, "other")}, secret)
    with pytest.raises(SignatureRejected):
        verify("easypost", body, {"x-hmac-signature": sign(body, "other")}, [secret], time.time())


def test_a_lost_enqueue_is_healed_by_the_carriers_retry(stack, context, tmp_path):
    """The event is stored but SQS refuses it: the webhook answers 503, the carrier retries, and the retry (a
    duplicate id) queues the event that never got processed."""
    from botocore import handlers

    from local import faults
    from oms.adapters.aws import reset

    order_id = shipped_order(stack, context)
    book = faults.FaultBook(tmp_path / "faults.json")
    before = list(handlers.BUILTIN_HANDLERS)
    faults.install_api_faults(book, "tracking_webhook")
    try:
        reset()
        book.add({"action": "aws:fis:inject-api-unavailable-error", "service": "sqs", "operations": ["SendMessage"]})
        status, body = generic(stack, context, "IN_TRANSIT", event_id="lost-1")
        assert status == 503, body
        book.clear()
        status, body = generic(stack, context, "IN_TRANSIT", event_id="lost-1")
        assert (status, body["result"]) == (200, "duplicate")
    finally:
        handlers.BUILTIN_HANDLERS[:] = before
        reset()
    assert drain(stack, context) == []
    assert order(stack, order_id)["shipments"][NUMBER]["tracking_status"] == "IN_TRANSIT"


def test_two_events_applied_from_the_same_read_never_lose_a_checkpoint(stack, context):
    """Two processors read the order at once; the second write is refused (the order changed), retried from the
    queue, and both events' checkpoints end up in the history."""
    from oms.adapters.notifications import NotificationQueue, OpsAlerts
    from oms.adapters.orders_repo import OrdersRepository
    from oms.domain.carrier_events import CarrierUpdate, Checkpoint
    from oms.domain.errors import TransientError
    from oms.logic.tracking import apply_update

    order_id = shipped_order(stack, context)
    env = lambda key: stack.env("tracking_events", key)  # noqa: E731
    orders = OrdersRepository(env("ORDERS_TABLE"), env("SHIPMENTS_TABLE"))
    queue, alerts = NotificationQueue(env("NOTIFICATIONS_QUEUE_URL")), OpsAlerts(env("OPS_ALERTS_TOPIC_ARN"))

    def scan(message, at):  # news without progress: only the history changes, the status stays
        return CarrierUpdate(source="aftership", event_id=message, tracking_number=NUMBER, carrier="UPS",
                             tracking_status=None, raw_status="Pending", occurred_at=at,
                             checkpoints=[Checkpoint(at, None, "Pending", message, "")])

    snapshot = orders.require(order_id)
    assert apply_update(order_id, scan("first", "2026-12-02T06:00:00+00:00"), orders, queue, alerts) == "applied"
    stale_read = OrdersRepository(env("ORDERS_TABLE"), env("SHIPMENTS_TABLE"))
    stale_read.require = lambda _order_id: snapshot  # read before the first write landed
    with pytest.raises(TransientError):
        apply_update(order_id, scan("second", "2026-12-02T07:00:00+00:00"), stale_read, queue, alerts)
    assert apply_update(order_id, scan("second", "2026-12-02T07:00:00+00:00"), orders, queue, alerts) == "applied"
    messages = [e["message"] for e in order(stack, order_id)["shipments"][NUMBER]["events"]]
    assert messages == ["first", "second"]
