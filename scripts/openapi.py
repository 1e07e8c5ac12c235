"""Print the OpenAPI 3.1 document of the public API, generated from the handlers' routes and models.

Each API function's Powertools resolver describes its own routes (request models, parameters, the responses
each route declares with ``oms.api.responses``); Powertools' ``OpenAPIMerge`` joins them into one document.
`make openapi` writes it to docs/openapi.json; a test keeps that file current, and the local stack serves it
with Swagger UI at ``/_local/docs``.
"""

import importlib
import json
from typing import Any

API_FUNCTIONS = ("place_order", "get_order", "order_changes", "customers", "customers_admin", "admin", "returns",
                 "returns_admin", "tracking_webhook", "track", "reports")
TITLE = "Serverless OMS API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Orders for storefronts, ops routes (`/admin/*`, Cognito group `ops`) and carrier webhooks. Customer and ops "
    "calls carry a Cognito ID token (`Authorization: Bearer <token>`). JSON, snake_case, money in integer minor "
    "units of the order's ISO-4217 `currency`. Every error has the body `{code, message, errors?}`."
)
THROTTLED = (
    "Too many requests: API Gateway throttles each route's class (docs/deploying.md#throttling). Retry after "
    "`Retry-After` seconds, with backoff; repeat `POST /orders` with the same `Idempotency-Key`, so a throttled "
    "order is neither lost nor placed twice"
)
SECURITY_SCHEMES = {
    "cognito": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "Cognito ID token; members of the group 'ops' may call /admin/*"},
}


def _schemes() -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return {name: HTTPBearer(**spec) for name, spec in SECURITY_SCHEMES.items()}


def function_schemas() -> dict[str, Any]:
    """Each API function's own OpenAPI document (its resolver's routes), by function name."""
    return {
        name: importlib.import_module(f"functions.{name}.handler").app.get_openapi_schema(
            title=TITLE, version=VERSION, security_schemes=_schemes())
        for name in API_FUNCTIONS
    }


def document(server_url: str | None = None) -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import Server

    merge = OpenAPIMerge(title=TITLE, version=VERSION, description=DESCRIPTION, security_schemes=_schemes(),
                         servers=[Server(url=server_url)] if server_url else None, on_conflict="error")
    for schema in function_schemas().values():
        merge.add_schema(schema)
    merged = json.loads(merge.get_openapi_json_schema())
    merged["paths"] = dict(sorted(merged["paths"].items()))
    for operations in merged["paths"].values():
        for operation in operations.values():
            # Powertools gives every response the route's return type; a 204 has no body.
            operation.get("responses", {}).get("204", {}).pop("content", None)
            # API Gateway's throttling answer (the THROTTLED gateway response) says when to retry.
            throttled = operation.get("responses", {}).get("429")
            if throttled is not None:
                throttled["description"] = THROTTLED
                throttled["headers"] = {"Retry-After": {
                    "description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
    schemas = merged["components"]["schemas"]
    # Powertools adds its own validation-error schemas; the routes document the OMS error body instead.
    used = _referenced(merged["paths"], schemas)
    merged["components"]["schemas"] = {name: schemas[name] for name in sorted(used)}
    return merged


def _referenced(paths: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    """Names of the component schemas the paths use, directly or through other schemas."""
    found: set[str] = set()
    pending: list[Any] = [paths]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[-1]
                if name not in found:
                    found.add(name)
                    pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


if __name__ == "__main__":
    print(json.dumps(document(), indent=2))
