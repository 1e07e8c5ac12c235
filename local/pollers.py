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
