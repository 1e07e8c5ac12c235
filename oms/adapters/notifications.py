"""Publishing customer notifications (SQS, consumed by the notify function) and ops alerts (SNS)."""

import json

from oms.adapters.aws import client


class NotificationQueue:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url
        self.sqs = client("sqs")

    def publish(self, order_id: str, event: str) -> None:
        """Ask for ``event``'s message; the event id makes delivery exactly-once at the consumer."""
        body = {"event_id": f"{order_id}:{event}", "order_id": order_id, "event": event}
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))


class OpsAlerts:
    def __init__(self, topic_arn: str) -> None:
        self.topic_arn = topic_arn
        self.sns = client("sns")

    def alert(self, subject: str, message: str) -> None:
        self.sns.publish(TopicArn=self.topic_arn, Subject=subject[:100], Message=message)
