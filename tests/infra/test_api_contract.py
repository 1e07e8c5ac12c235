"""The API Gateway routes CDK defines, the routes each handler serves and docs/openapi.json agree."""

import json
from pathlib import Path
from typing import Any

from scripts.openapi import document, function_schemas

ROOT = Path(__file__).resolve().parents[2]


def _template_routes(template: dict[str, Any]) -> set[tuple[str, str, str]]:
    resources = template["Resources"]

    def path_of(ref: Any) -> str:
        if isinstance(ref, dict) and "Fn::GetAtt" in ref:  # the RestApi's root resource
            return ""
        node = resources[ref["Ref"]]["Properties"]
        return path_of(node["ParentId"]) + "/" + node["PathPart"]

    routes = set()
    for method in (r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method"):
        props = method["Properties"]
        if props["HttpMethod"] == "OPTIONS":
            continue
        uri = json.dumps(props["Integration"]["Uri"])
        function = next(lid for lid, r in resources.items()
                        if r["Type"] == "AWS::Lambda::Function" and f'"{lid}"' in uri)
        handler = resources[function]["Properties"]["Handler"].split(".")[1]
        routes.add((path_of(props["ResourceId"]) or "/", props["HttpMethod"].lower(), handler))
    return routes


def _handler_routes() -> set[tuple[str, str, str]]:
    routes = set()
    for name, schema in function_schemas().items():
        for path, methods in schema.model_dump(by_alias=True, exclude_none=True)["paths"].items():
            routes.update((path, method, name) for method in methods)
    return routes


def test_every_route_is_served_by_the_function_cdk_wires_it_to(synthesized):
    assert _template_routes(synthesized.templates["OmsApi"]) == _handler_routes()


def test_docs_openapi_is_current():
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == document(), "run `make openapi` and commit docs/openapi.json"
