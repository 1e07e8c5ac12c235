"""Build and synthesize the CDK app ONCE per test session; tests read the resulting templates."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import infra  # noqa: F401  (silences jsii's Node end-of-life banner before aws_cdk loads)
from infra.app import STACK_IDS, create_app
from local.synth import SYNTH_CONTEXT as LOCAL_CONTEXT  # the context the local stack synthesizes with


@dataclass
class Synthesized:
    outdir: Path
    templates: dict[str, dict[str, Any]]
    stack_order: list[str]
    seconds: float

    def resources(self, stack: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.templates[stack]["Resources"].items() if v["Type"] == type_}

    def all_resources(self, type_: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for stack in self.templates:
            found.update({f"{stack}/{k}": v for k, v in self.resources(stack, type_).items()})
        return found


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app exactly as the local stack builds it (asset metadata, no staging), with cdk-nag on.

    Synthesis raises if cdk-nag reports an unacknowledged finding, so every test depends on nag passing.
    """
    outdir = tmp_path_factory.mktemp("cdk.out")
    started = time.perf_counter()
    app = create_app(LOCAL_CONTEXT, outdir=str(outdir))
    assembly = app.synth()
    seconds = time.perf_counter() - started
    templates = {s.stack_name: json.loads(Path(s.template_full_path).read_text()) for s in assembly.stacks}
    order = [s.stack_name for s in assembly.stacks_recursively]
    assert set(templates) == set(STACK_IDS)
    return Synthesized(outdir=outdir, templates=templates, stack_order=order, seconds=seconds)
