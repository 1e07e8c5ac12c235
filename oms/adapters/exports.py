"""Large data exports: written to a private S3 bucket (encrypted, deleted by a lifecycle rule after a day) and
handed out as a presigned link that works for 15 minutes."""

from __future__ import annotations

import secrets
from typing import Any

from oms.adapters.aws import client

LINK_SECONDS = 15 * 60


class ExportStore:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.s3: Any = client("s3")

    def publish(self, owner: str, body: bytes) -> str:
        """Store ``body`` (JSON) and answer a download link valid for ``LINK_SECONDS``."""
        key = f"exports/{owner}/{secrets.token_hex(16)}.json"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json",
                           ServerSideEncryption="AES256",
                           ContentDisposition='attachment; filename="my-data.json"')
        return str(self.s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                  ExpiresIn=LINK_SECONDS))
