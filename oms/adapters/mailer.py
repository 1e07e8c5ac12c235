"""Sending customer messages: email through SES (with the configuration set that reports bounces and complaints),
SMS through SNS (which keeps the list of numbers that replied STOP)."""

import re

from oms.adapters.aws import client
from oms.domain.messages import Message

_TAG_VALUE = re.compile(r"[^A-Za-z0-9_-]")


class Mailer:
    def __init__(self, sender: str, configuration_set: str | None = None) -> None:
        self.sender = sender
        self.configuration_set = configuration_set
        self.ses = client("ses")
        self.sns = client("sns")

    def email(self, to: str, message: Message, tags: dict[str, str] | None = None) -> str:
        """Send; ``tags`` come back on SES's bounce and complaint events (values limited to SES's characters)."""
        extra: dict[str, object] = {}
        if self.configuration_set:
            extra["ConfigurationSetName"] = self.configuration_set
        if tags:
            extra["Tags"] = [{"Name": k, "Value": _TAG_VALUE.sub("_", v)[:256]} for k, v in tags.items()]
        response = self.ses.send_email(
            Source=self.sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": message.text, "Charset": "UTF-8"},
                         "Html": {"Data": message.html, "Charset": "UTF-8"}},
            },
            **extra,
        )
        return str(response["MessageId"])

    def sms(self, phone: str, message: Message) -> str:
        response = self.sns.publish(
            PhoneNumber=phone, Message=message.sms,
            MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
        )
        return str(response["MessageId"])

    def opted_out(self, phone: str) -> bool:
        """Did the number reply STOP? (SNS would refuse to deliver to it.)"""
        return bool(self.sns.check_if_phone_number_is_opted_out(phoneNumber=phone)["isOptedOut"])
