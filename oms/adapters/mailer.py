"""Sending customer messages: email through SES, SMS through SNS."""

from oms.adapters.aws import client
from oms.domain.messages import Message


class Mailer:
    def __init__(self, sender: str) -> None:
        self.sender = sender
        self.ses = client("ses")
        self.sns = client("sns")

    def email(self, to: str, message: Message) -> str:
        response = self.ses.send_email(
            Source=self.sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": message.text, "Charset": "UTF-8"},
                         "Html": {"Data": message.html, "Charset": "UTF-8"}},
            },
        )
        return str(response["MessageId"])

    def sms(self, phone: str, message: Message) -> str:
        response = self.sns.publish(
            PhoneNumber=phone, Message=message.sms,
            MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
        )
        return str(response["MessageId"])
