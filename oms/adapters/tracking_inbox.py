"""Carrier events as received: stored raw in DynamoDB (deduplicated by the source's event id), queued for the
processor (SQS, DLQ), and parked by tracking number when no shipment has it yet.

Items of the TrackingEvents table (``pk``, ``sk``, TTL ``expires_at``):
- ``event#<source>#<event id>`` / ``event``: the raw body, its state and what processing did (kept
  ``keep_seconds``);
- ``parked#<tracking number>`` / ``event#<source>#<event id>``: an event waiting for its shipment
  (``park_seconds``).

The periods come from the retention policy (``policies/retention.json``) through the functions' environment
(``TRACKING_BODY_TTL_SECONDS``, ``TRACKING_PARK_TTL_SECONDS``); the constants below are the policy's defaults.
"""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.adapters.ddb import from_item, is_conditional_failure

KEEP_SECONDS = 30 * 86400  # retention policy: tracking_webhook_bodies_days
PARK_SECONDS = 24 * 3600  # retention policy: parked_tracking_events_hours


def event_key(source: str, event_id: str) -> str:
    return f"event#{source}#{event_id}"


class TrackingInbox:
    def __init__(self, table_name: str, queue_url: str | None = None, *, keep_seconds: int = KEEP_SECONDS,
                 park_seconds: int = PARK_SECONDS) -> None:
        self.table = table_name
        self.queue_url = queue_url
        self.keep_seconds = keep_seconds
        self.park_seconds = park_seconds
        self.ddb = client("dynamodb")
        self._sqs: Any = None

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = client("sqs")
        return self._sqs

    def store(self, source: str, event_id: str, tracking_number: str, body: str, received_at: str) -> bool:
        """Keep the raw event; False when this event id was received before (it is not stored twice)."""
        now = int(time.time())
        item = {"pk": {"S": event_key(source, event_id)}, "sk": {"S": "event"}, "source": {"S": source},
                "event_id": {"S": event_id}, "tracking_number": {"S": tracking_number}, "body": {"S": body},
                "received_at": {"S": received_at}, "state": {"S": "QUEUED"},
                "expires_at": {"N": str(now + self.keep_seconds)}}
        try:
            self.ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def get(self, key: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": key}, "sk": {"S": "event"}},
                                 ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def enqueue(self, key: str) -> None:
        assert self.queue_url, "enqueueing needs the tracking queue"
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"key": key}))

    def mark(self, key: str, state: str, detail: str = "") -> None:
        self.ddb.update_item(TableName=self.table, Key={"pk": {"S": key}, "sk": {"S": "event"}},
                             UpdateExpression="SET #s = :s, detail = :d", ConditionExpression="attribute_exists(pk)",
                             ExpressionAttributeNames={"#s": "state"},
                             ExpressionAttributeValues={":s": {"S": state}, ":d": {"S": detail[:500]}})

    def park(self, tracking_number: str, key: str) -> None:
        self.ddb.put_item(TableName=self.table, Item={
            "pk": {"S": f"parked#{tracking_number}"}, "sk": {"S": key},
            "expires_at": {"N": str(int(time.time()) + self.park_seconds)}})

    def release_parked(self, tracking_number: str) -> int:
        """Queue again the events parked for ``tracking_number`` (not yet expired); returns how many."""
        response = self.ddb.query(
            TableName=self.table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"parked#{tracking_number}"}})
        released = 0
        now = int(time.time())
        for item in response.get("Items", []):
            key = item["sk"]["S"]
            if int(item["expires_at"]["N"]) >= now:  # TTL deletes lazily: an expired park is not applied
                self.enqueue(key)
                released += 1
            self.ddb.delete_item(TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]})
        return released
