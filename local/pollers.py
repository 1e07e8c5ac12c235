"""SQS event source mappings, polled the way Lambda's SQS poller does it.

Receive up to BatchSize, invoke the function (through moto's Lambda API) with an SQS event, delete the
successes. With ReportBatchItemFailures only the reported items stay; on a function error the whole batch
stays. What stays becomes visible again after the visibility timeout and, past the queue's
maxReceiveCount, moto moves it to the dead-letter queue on the next receive, as SQS does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from local.deployer import EventSourceSpec
from local.faults import SQS_DUPLICATE, FaultBook
from local.moto_patches import retry_scale

log = logging.getLogger("local.pollers")


class SqsPoller(threading.Thread):
    def __init__(self, spec: EventSourceSpec, sqs: Any, lambda_client: Any, region: str = "us-east-1",
                 fault_book: FaultBook | None = None, consumer: str = "") -> None:
        super().__init__(name=f"sqs-poller-{spec.function_name}", daemon=True)
        self.spec = spec
        self.faults = fault_book
        self.consumer = consumer or spec.function_name
        self.sqs = sqs
        self.lambda_client = lambda_client
        self.region = region
        self.queue_url = sqs.get_queue_url(QueueName=spec.queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        visibility = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])
        # A failed message comes back after the queue's visibility timeout, on the local stack's scaled clock
        # (OMS_LOCAL_RETRY_SCALE, as for Step Functions retry waits): 6 minutes become 18 s by default.
        self.retry_after = max(1, round(int(visibility["Attributes"]["VisibilityTimeout"]) * retry_scale()))
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                if not self.poll_once(wait_seconds=1):
                    self._stop_event.wait(0.05)
            except Exception:
                if self._stop_event.is_set():
                    return
                log.exception("%s: polling %s failed", self.spec.function_name, self.queue_url)
                self._stop_event.wait(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive and process one batch; returns the number of messages received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=max(1, min(self.spec.batch_size, 10)),
            WaitTimeSeconds=wait_seconds, AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [self.record(m) for m in messages]}
        if self.faults and self.faults.take(lambda f: f["action"] == SQS_DUPLICATE
                                            and f.get("function") in (None, self.consumer)):
            # At-least-once delivery: the same batch arrives twice (the first answer is lost).
            self.lambda_client.invoke(FunctionName=self.spec.function_name, Payload=json.dumps(event).encode())
        resp = self.lambda_client.invoke(FunctionName=self.spec.function_name, Payload=json.dumps(event).encode())
        payload = resp["Payload"].read()
        if resp.get("FunctionError"):
            log.warning("%s: batch of %d failed, left for redelivery: %s", self.spec.function_name,
                        len(messages), payload[:300])
            self._later(messages)
            return len(messages)
        failed = self.failed_ids(payload, messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + 10])])
        if failed:
            log.info("%s: %d of %d messages reported failed, left for redelivery", self.spec.function_name,
                     len(failed), len(messages))
            self._later([m for m in messages if m["MessageId"] in failed])
        return len(messages)

    def _later(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                               VisibilityTimeout=self.retry_after)

    def failed_ids(self, payload: bytes, messages: list[dict[str, Any]]) -> set[str]:
        if not self.spec.report_batch_item_failures:
            return set()
        all_ids = {m["MessageId"] for m in messages}
        try:
            result = json.loads(payload) if payload else None
        except ValueError:
            return set()
        if not isinstance(result, dict) or "batchItemFailures" not in result:
            return set()
        failures = result["batchItemFailures"] or []
        ids = set()
        for item in failures:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in all_ids:
                return all_ids  # as on AWS: a malformed report fails the whole batch
            ids.add(ident)
        return ids

    def record(self, m: dict[str, Any]) -> dict[str, Any]:
        attributes = {}
        for name, value in (m.get("MessageAttributes") or {}).items():
            attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": value.get("BinaryListValues", []),
                "dataType": value.get("DataType"),
            }
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": attributes,
            "md5OfBody": m.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.spec.queue_arn,
            "awsRegion": self.region,
        }


class StreamPoller(threading.Thread):
    """A DynamoDB-stream event source mapping, run the way Lambda runs one shard.

    Records are read after the last checkpoint and handed to the function in order, up to ``BatchSize``. A
    success moves the checkpoint past the batch. With ReportBatchItemFailures the checkpoint moves up to the first
    reported record and the batch is retried from there; a function error retries the whole batch (halved each
    time with BisectBatchOnFunctionError). Retries back off (1 s, 2 s, 4 s ... on the local stack's scaled clock).
    Past MaximumRetryAttempts the batch's place in the stream goes to the OnFailure queue, as Lambda sends it, and
    the shard moves on. Read records are trimmed from moto's stream (``moto_patches.trim_stream``).
    """

    def __init__(self, spec: EventSourceSpec, streams: Any, lambda_client: Any, sqs: Any,
                 region: str = "us-east-1") -> None:
        super().__init__(name=f"stream-poller-{spec.function_name}", daemon=True)
        self.spec = spec
        self.streams = streams
        self.lambda_client = lambda_client
        self.sqs = sqs
        self.region = region
        self.checkpoint: str | None = None  # the last sequence number handled
        self.attempts = 0
        self.batch_size = max(1, spec.batch_size)
        self._shard: str | None = None
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        if self.spec.starting_position == "LATEST":
            self.checkpoint = self._latest()
        while not self._stop_event.is_set():
            try:
                if not self.poll_once():
                    self._stop_event.wait(1.0)
            except Exception:
                if self._stop_event.is_set():
                    return
                log.exception("%s: polling %s failed", self.spec.function_name, self.spec.queue_arn)
                self._stop_event.wait(1)

    def _shard_id(self) -> str:
        if self._shard is None:
            shards = self.streams.describe_stream(StreamArn=self.spec.queue_arn)["StreamDescription"]["Shards"]
            self._shard = str(shards[0]["ShardId"])
        return self._shard

    def _latest(self) -> str | None:
        iterator = self.streams.get_shard_iterator(StreamArn=self.spec.queue_arn, ShardId=self._shard_id(),
                                                   ShardIteratorType="LATEST")["ShardIterator"]
        records = self.streams.get_records(ShardIterator=iterator, Limit=1).get("Records", [])
        return str(int(records[-1]["dynamodb"]["SequenceNumber"]) - 1) if records else None

    def _read(self) -> list[dict[str, Any]]:
        # A fresh iterator each time: moto replaces a table's stream object when it rolls a transaction back.
        where: dict[str, str] = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.checkpoint}
                                 if self.checkpoint else {"ShardIteratorType": "TRIM_HORIZON"})
        iterator = self.streams.get_shard_iterator(StreamArn=self.spec.queue_arn, ShardId=self._shard_id(),
                                                   **where)["ShardIterator"]
        return list(self.streams.get_records(ShardIterator=iterator, Limit=self.batch_size).get("Records", []))

    def poll_once(self) -> int:
        """Read and hand over one batch; returns the number of records handed over."""
        records = self._read()
        if not records or self._gathering(records):
            return 0
        event = {"Records": [self.record(r) for r in records]}
        resp = self.lambda_client.invoke(FunctionName=self.spec.function_name, Payload=json.dumps(event).encode())
        payload = resp["Payload"].read()
        if resp.get("FunctionError"):
            log.warning("%s: stream batch of %d failed: %s", self.spec.function_name, len(records), payload[:300])
            self._failed(records, records)
            return len(records)
        failed = self.failed_from(payload, records)
        if failed is None:
            self._advance(records[-1])
        else:
            log.info("%s: stream batch of %d: retrying from record %d", self.spec.function_name, len(records),
                     failed + 1)
            if failed:
                self._advance(records[failed - 1])
            self._failed(records[failed:], records)
        return len(records)

    def _gathering(self, records: list[dict[str, Any]]) -> bool:
        """MaximumBatchingWindowInSeconds: a batch short of BatchSize waits until its first record is that old (a
        retried batch goes at once)."""
        if len(records) >= self.batch_size or not self.spec.batching_window or self.attempts:
            return False
        created = records[0]["dynamodb"].get("ApproximateCreationDateTime")
        if not hasattr(created, "timestamp"):
            return False
        return time.time() - created.timestamp() < self.spec.batching_window

    def _advance(self, last: dict[str, Any]) -> None:
        from local.moto_patches import trim_stream

        self.checkpoint = str(last["dynamodb"]["SequenceNumber"])
        self.attempts = 0
        self.batch_size = max(1, self.spec.batch_size)
        trim_stream(self.spec.queue_arn, self.checkpoint)

    def _failed(self, remaining: list[dict[str, Any]], batch: list[dict[str, Any]]) -> None:
        self.attempts += 1
        if 0 <= self.spec.max_retries < self.attempts:
            self._give_up(remaining)
            return
        if self.spec.bisect_on_error and len(remaining) > 1:
            self.batch_size = max(1, len(remaining) // 2)
        self._stop_event.wait(min(60.0, 2 ** (self.attempts - 1)) * retry_scale())

    def _give_up(self, records: list[dict[str, Any]]) -> None:
        first, last = records[0]["dynamodb"]["SequenceNumber"], records[-1]["dynamodb"]["SequenceNumber"]
        log.error("%s: stream records %s..%s failed %d times: sent to the on-failure destination",
                  self.spec.function_name, first, last, self.attempts)
        if self.spec.on_failure_arn:
            url = self.sqs.get_queue_url(QueueName=self.spec.on_failure_arn.rsplit(":", 1)[-1])["QueueUrl"]
            self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({
                "requestContext": {"condition": "RetryAttemptsExhausted",
                                   "functionArn": self.spec.function_name, "approximateInvokeCount": self.attempts},
                "DDBStreamBatchInfo": {"shardId": self._shard_id(), "startSequenceNumber": first,
                                       "endSequenceNumber": last, "batchSize": len(records),
                                       "streamArn": self.spec.queue_arn},
            }))
        self._advance(records[-1])

    def failed_from(self, payload: bytes, records: list[dict[str, Any]]) -> int | None:
        """The index of the first record to retry (ReportBatchItemFailures), or None: all done."""
        if not self.spec.report_batch_item_failures:
            return None
        try:
            result = json.loads(payload) if payload else None
        except ValueError:
            return None
        failures = result.get("batchItemFailures") if isinstance(result, dict) else None
        if not failures:
            return None
        index = {str(r["dynamodb"]["SequenceNumber"]): n for n, r in enumerate(records)}
        found = [index.get(str(f.get("itemIdentifier"))) if isinstance(f, dict) else None for f in failures]
        if any(n is None for n in found):
            return 0  # as on AWS: an identifier that is not in the batch fails the whole batch
        return min(n for n in found if n is not None)

    def record(self, r: dict[str, Any]) -> dict[str, Any]:
        change = dict(r["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        if created is not None and hasattr(created, "timestamp"):
            change["ApproximateCreationDateTime"] = int(created.timestamp())
        return {"eventID": r.get("eventID"), "eventName": r.get("eventName"), "eventVersion": "1.1",
                "eventSource": "aws:dynamodb", "awsRegion": self.region, "dynamodb": change,
                "eventSourceARN": self.spec.queue_arn}
