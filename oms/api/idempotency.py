"""The ``Idempotency-Key`` request header and the ``Idempotent-Replayed`` response header of the routes that
create something (an order, a cancellation, a refund): the same key with the same body answers the same."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header

IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=255,
                                       description="A unique key per attempt (e.g. a UUID); retry with the same key",
                                       examples=["7b0e6f3c-2d7a-4c1e-9a55-0c8d4f1e2a90"])]

REPLAYED_HEADER: dict[str, Any] = {
    "Idempotent-Replayed": {"description": "`true` when this answers a repeat of an earlier request",
                            "required": True, "schema": {"type": "string", "enum": ["true", "false"]}},
}


def replayed_header(repeat: bool) -> dict[str, str]:
    return {"Idempotent-Replayed": "true" if repeat else "false"}
