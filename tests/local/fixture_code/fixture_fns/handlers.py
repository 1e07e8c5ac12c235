"""Tiny handlers used by the local-stack tests (stand-ins for functions/<name>/handler.py)."""

import json
import os

VERSION = "v1"


class PaymentDeclined(Exception):
    pass


def echo(event, context):
    print(json.dumps({"level": "INFO", "message": "echo", "function": context.function_name}))
    if isinstance(event, dict) and "httpMethod" in event:
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(
                {
                    "path": event["path"],
                    "resource": event["resource"],
                    "pathParameters": event["pathParameters"],
                    "claims": (event["requestContext"].get("authorizer") or {}).get("claims"),
                    "table": os.environ.get("TABLE_NAME"),
                    "version": VERSION,
                }
            ),
        }
    return {"event": event, "table": os.environ.get("TABLE_NAME"), "version": VERSION,
            "remaining": context.get_remaining_time_in_millis(), "pid": os.getpid()}


def fail(event, context):
    kind = (event or {}).get("kind", "declined")
    if kind == "declined":
        raise PaymentDeclined("card declined")
    if kind == "sleep":
        import time

        time.sleep(float(event.get("seconds", 5)))
    raise ValueError("boom")


def batch(event, context):
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        if body.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
