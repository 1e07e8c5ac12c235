import json

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from oms.domain.easypost import sign
from tests.handlers.conftest import api_event, call
from tests.handlers.helpers import order, order_body, place, record_parcel, step, stock


def awaiting_shipment(stack, context):
    """An order authorized, reserved and waiting for the warehouse (PROCESSING)."""
    stock(stack, context)
    _, body = place(stack, context, order_body())
    order_id = body["order_id"]
    for function, action in (("payment", "authorize"), ("inventory", "reserve")):
        step(stack, context, function, action, order_id)
    step(stack, context, "fulfillment", "request_fulfillment", order_id, task_token="token")
    return order_id


def record(stack, order_id, tracking_number="1Z999AA10123456784", carrier="UPS"):
    """The shipment recorded as ops do (the workflow's resumption left out)."""
    from oms.logic.fulfillment import ShipmentCommand

    record_parcel(stack, order_id, ShipmentCommand(carrier, tracking_number))


def shipped_order(stack, context):
    order_id = awaiting_shipment(stack, context)
    record(stack, order_id)
    step(stack, context, "order_status", "mark_shipped", order_id)
    return order_id


def drain(stack, context):
    """Hand what the webhooks queued to the tracking_events function, as the SQS event source does."""
    sqs = boto3.client("sqs")
    url = stack.env("tracking_webhook", "TRACKING_QUEUE_URL")
    module = stack.handler("tracking_events")
    failures = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tracking", "awsRegion": "us-east-1"}
                   for m in messages]
        failures += module.handler({"Records": records}, context)["batchItemFailures"]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return failures


def webhook(stack, context, status, secret=None, signature=None, event_id=None, at="2026-11-25T10:00:00Z"):
    secret_arn = stack.env("tracking_webhook", "WEBHOOK_SECRETS_ARN")
    real = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])["easypost"]
    body = json.dumps({"object": "Event", "id": event_id or f"evt_{status}_{at}", "description": "tracker.updated",
                       "result": {
        "object": "Tracker", "id": "trk_1", "tracking_code": "1Z999AA10123456784", "status": status,
        "carrier": "UPS", "est_delivery_date": "2026-11-27T00:00:00Z",
        "tracking_details": [{"datetime": at, "status": status, "message": status,
                              "tracking_location": {"city": "Austin", "state": "TX"}}]}})
    header = signature if signature is not None else sign(body.encode(), secret or real)
    module = stack.handler("tracking_webhook")
    return call(module, api_event("POST", "/webhooks/tracking/easypost", "/webhooks/tracking/easypost", body=body,
                                  sub=None, headers={"X-Hmac-Signature": header}), context)


def test_forged_or_missing_signature_is_401_and_changes_nothing(stack, context):
    order_id = shipped_order(stack, context)
    assert webhook(stack, context, "delivered", secret="guess")[0] == 401
    assert webhook(stack, context, "delivered", signature="")[0] == 401
    assert order(stack, order_id)["status"] == "SHIPPED"


def test_delivered_moves_the_order_to_delivered_once_and_stale_updates_are_ignored(stack, context):
    order_id = shipped_order(stack, context)
    status, body = webhook(stack, context, "in_transit", at="2026-11-25T10:00:00Z")
    assert (status, body["result"]) == (200, "accepted")
    assert drain(stack, context) == []
    assert webhook(stack, context, "delivered", at="2026-11-26T10:00:00Z")[1]["result"] == "accepted"
    assert webhook(stack, context, "delivered", at="2026-11-26T10:00:00Z")[1]["result"] == "duplicate"
    # An older scan that arrives late is recorded in the history but moves nothing back.
    assert webhook(stack, context, "in_transit", at="2026-11-24T08:00:00Z")[1]["result"] == "accepted"
    assert drain(stack, context) == []
    final = order(stack, order_id)
    assert (final["status"], final["fulfillment_status"]) == ("DELIVERED", "DELIVERED")
    shipment = final["shipments"]["1Z999AA10123456784"]
    assert (shipment["status"], shipment["tracking_status"]) == ("delivered", "DELIVERED")
    assert [e["at"] for e in shipment["events"]] == ["2026-11-24T08:00:00+00:00", "2026-11-25T10:00:00+00:00",
                                                     "2026-11-26T10:00:00+00:00"]  # in UTC, oldest first
    assert shipment["events"][0]["location"] == "Austin, TX" and shipment["events"][0]["raw_status"] == "in_transit"


def sqs_record(message_id: str, order_id: str, event: str) -> dict:
    """One notification as the SQS event source hands it to the notify function."""
    body = {"event_id": f"{order_id}:{event}", "order_id": order_id, "event": event}
    return {"messageId": message_id, "receiptHandle": "r", "body": json.dumps(body), "attributes": {},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}


def test_notify_sends_email_and_sms_once_per_event(stack, context):
    stock(stack, context)
    _, body = place(stack, context, order_body())
    record = sqs_record("m1", body["order_id"], "order_confirmed")
    notify = stack.handler("notify")
    assert notify.handler({"Records": [record]}, context) == {"batchItemFailures": []}
    assert notify.handler({"Records": [{**record, "messageId": "m2"}]}, context) == {"batchItemFailures": []}
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert len(sent) == 1
    assert body["order_id"] in sent[0].subject and "Expected delivery" in sent[0].body


def test_a_failing_message_is_reported_for_retry_not_lost(stack, context):
    stock(stack, context)
    _, body = place(stack, context, order_body())
    good = sqs_record("good", body["order_id"], "order_confirmed")
    record = sqs_record("bad", "ord_missing", "order_shipped")
    notify = stack.handler("notify")
    answer = notify.handler({"Records": [good, record]}, context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


def test_a_failing_sms_is_retried_alone_and_never_repeats_the_email(stack, context, tmp_path):
    """Each (order, event, channel) is one unit: SNS fails, the record is retried, the email is not sent again."""
    from botocore import handlers
    from moto.sns.models import sns_backends

    from local import faults
    from oms.adapters import aws
    from oms.adapters.aws import reset

    stock(stack, context)
    _, body = place(stack, context, order_body())
    record = sqs_record("m1", body["order_id"], "order_confirmed")
    book = faults.FaultBook(tmp_path / "faults.json")
    before = list(handlers.BUILTIN_HANDLERS)
    faults.install_api_faults(book, "notify")
    try:
        reset()  # new clients see the fault hook, as a function's process would
        notify = stack.handler("notify")
        book.add({"action": "aws:fis:inject-api-unavailable-error", "service": "sns", "operations": ["Publish"]})
        assert notify.handler({"Records": [record]}, context) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
        calls = aws.client("sns").meta.config.retries["total_max_attempts"]  # the first call and the SDK's own retries
        assert book.list()[0]["fired"] == calls  # then the record failed
        book.clear()
        # (In-process moto still records the attempts the fault answered; in a function's process they never leave.)
        sms = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages
        attempts = len(sms)
        for redelivery in ("m1", "m1-redriven"):
            assert notify.handler({"Records": [{**record, "messageId": redelivery}]}, context) == {
                "batchItemFailures": []}
        assert len(sms) == attempts + 1  # the SMS, once
    finally:
        handlers.BUILTIN_HANDLERS[:] = before
        reset()
    assert len(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages) == 1  # the email was never repeated
