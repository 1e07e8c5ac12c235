"""Synthesize the CDK app with the asset metadata the local stack needs."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

#: Asset metadata pointing at the source folders (the local stack runs the code from there), and no bundling:
#: the dependencies layer is built for Lambda only, locally the packages come from the virtualenv.
SYNTH_CONTEXT = {"aws:cdk:enable-asset-metadata": True, "aws:cdk:disable-asset-staging": True,
                 "aws:cdk:bundling-stacks": []}


def synthesize(app_factory: str | Callable[..., Any] = "infra.app:create_app",
               context: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Return ``[(stack name, template)]`` in deployment (dependency) order."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if isinstance(app_factory, str):
        module, _, attr = app_factory.partition(":")
        app_factory = getattr(importlib.import_module(module), attr or "create_app")
    app = app_factory({**SYNTH_CONTEXT, **(context or {})})
    assembly = app.synth()
    stacks = {s.id: s for s in assembly.stacks_recursively}
    order: list[str] = []

    def visit(sid: str) -> None:
        if sid in order or sid not in stacks:
            return
        for dep in stacks[sid].dependencies:
            visit(dep.id)
        order.append(sid)

    for sid in stacks:
        visit(sid)
    return [(stacks[sid].stack_name, stacks[sid].template) for sid in order]
