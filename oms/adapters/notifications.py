"""Publishing customer notifications (SQS, consumed by the notify function) and ops alerts (SNS)."""

import json

from botocore.exceptions import BotoCoreError, ClientError

from oms.adapters.aws import client


class NotificationQueue:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url
        self.sqs = client("sqs")

    def publish(self, order_id: str, event: str, *, ref: str = "") -> None:
        """Ask for ``event``'s message; the event id makes delivery exactly-once at the consumer. ``ref`` tells
        apart events that happen more than once to an order (each refund is its ledger entry)."""
        body = {"event_id": f"{order_id}:{event}{':' + ref if ref else ''}", "order_id": order_id, "event": event,
                "ref": ref}
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))


class OpsAlerts:
    """Alerts about orders for the ops team (the order-alerts topic; CloudWatch alarms have their own topic)."""

    def __init__(self, topic_arn: str) -> None:
        self.topic_arn = topic_arn
        self.sns = client("sns")

    def alert(self, subject: str, message: str) -> bool:
        """Publish; False when the publish failed. An alert informs ops and never decides an order's fate, so a
        failure is reported to the caller (who counts it) instead of failing the step."""
        try:
            self.sns.publish(TopicArn=self.topic_arn, Subject=subject[:100], Message=message)
        except (ClientError, BotoCoreError):
            return False
        return True
