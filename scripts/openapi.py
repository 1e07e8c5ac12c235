"""Print the OpenAPI 3.1 document of the public API, generated from the handlers' routes and models.

`make openapi` writes it to docs/openapi.json; a test keeps that file current.
"""

import importlib
import json
import os
from typing import Any

API_FUNCTIONS = ("place_order", "get_order", "admin", "tracking_webhook")
# Handlers read their settings at import; the document does not depend on the values.
_PLACEHOLDER_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1", "ORDERS_TABLE": "-", "CATALOG_TABLE": "-", "INVENTORY_TABLE": "-",
    "SHIPMENTS_TABLE": "-", "IDEMPOTENCY_TABLE": "-", "STATE_MACHINE_ARN": "-", "NOTIFICATIONS_QUEUE_URL": "-",
    "WEBHOOK_SECRETS_ARN": "-", "POWERTOOLS_TRACE_DISABLED": "true",
}


def document() -> dict[str, Any]:
    for key, value in _PLACEHOLDER_ENV.items():
        os.environ.setdefault(key, value)
    merged: dict[str, Any] = {}
    for name in API_FUNCTIONS:
        app = importlib.import_module(f"functions.{name}.handler").app
        schema = json.loads(app.get_openapi_json_schema(
            title="Serverless OMS API", version="1.0.0",
            description="Orders, ops and carrier webhooks. Customer and ops calls carry a Cognito ID token.",
        ))
        if not merged:
            merged = schema
            merged.setdefault("components", {}).setdefault("schemas", {})
        else:
            for path, methods in schema["paths"].items():
                merged["paths"].setdefault(path, {}).update(methods)
            merged["components"]["schemas"].update(schema.get("components", {}).get("schemas", {}))
    merged["components"]["securitySchemes"] = {
        "cognito": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "Cognito ID token; group 'ops' for /admin/*"}}
    for path, methods in merged["paths"].items():
        for operation in methods.values():
            if not path.startswith("/webhooks/"):
                operation["security"] = [{"cognito": []}]
    merged["paths"] = dict(sorted(merged["paths"].items()))
    return merged


if __name__ == "__main__":
    print(json.dumps(document(), indent=2, sort_keys=False))
