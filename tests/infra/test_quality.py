"""Quality gates: cdk-nag, cfn-lint, the single code asset (source path + excludes), synth time."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from cfnlint.api import ManualArgs, lint_file

from infra.app import STACK_IDS, create_app
from infra.config import ConfigError, OmsConfig
from infra.functions import ASSET_EXCLUDES, REPO_ROOT
from infra.nag import add_nag_checks
from oms.settings import BY_FUNCTION
from tests.infra.conftest import Synthesized


def test_cdk_nag_gate_fails_on_unacknowledged_findings(tmp_path: Path) -> None:
    """The session synth passing proves the app is clean only if the plugin really fails synths."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bad")
    sqs.Queue(stack, "Plain", enforce_ssl=False)
    add_nag_checks(app)
    with pytest.raises(RuntimeError, match=r"AwsSolutions-SQS4"):
        app.synth()


@pytest.mark.parametrize("stack", STACK_IDS)
def test_cfn_lint_clean(synthesized: Synthesized, stack: str) -> None:
    template = synthesized.outdir / f"{stack}.template.json"
    matches = lint_file(template, ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [str(m) for m in matches] == []


def test_every_function_points_at_the_repository_root(synthesized: Synthesized) -> None:
    functions = synthesized.all_resources("AWS::Lambda::Function")
    assert len(functions) == len(BY_FUNCTION) == 24
    keys = set()
    for name, fn in functions.items():
        metadata = fn["Metadata"]
        assert Path(metadata["aws:asset:path"]) == REPO_ROOT, name
        assert metadata["aws:asset:property"] == "Code"
        assert metadata["aws:asset:is-bundled"] is False
        keys.add(fn["Properties"]["Code"]["S3Key"])
    assert len(keys) == 1, "all functions share one asset"


@pytest.mark.parametrize(
    ("relative", "kept"),
    [
        ("oms/__init__.py", True),
        ("oms/domain/status.py", True),
        ("oms/adapters/dynamo.py", True),
        ("functions/place_order/handler.py", True),
        ("functions/__init__.py", True),
        ("oms/__pycache__/x.cpython-311.pyc", False),
        ("functions/admin/__pycache__", False),
        ("functions/admin/handler.pyc", False),
        (".venv/lib/python3.11/site-packages/boto3/__init__.py", False),
        (".git/HEAD", False),
        ("tests/infra/test_quality.py", False),
        ("infra/app.py", False),
        ("local/stack.py", False),
        ("node_modules/aws-cdk/package.json", False),
        ("cdk.out/manifest.json", False),
        ("cdk.json", False),
        ("pyproject.toml", False),
        ("docs/architecture.md", False),
    ],
)
def test_asset_excludes_keep_only_oms_and_functions(relative: str, kept: bool) -> None:
    strategy = cdk.IgnoreStrategy.glob(str(REPO_ROOT), list(ASSET_EXCLUDES))
    assert strategy.ignores(str(REPO_ROOT / relative)) is (not kept)


def test_staged_assets_are_the_code_and_a_dependencies_layer_built_for_lambda(tmp_path: Path) -> None:
    """Stage the real assets (as ``cdk deploy`` does, pip included) and look inside."""
    app = create_app({}, nag=False, outdir=str(tmp_path))
    app.synth()
    assets = [p for p in tmp_path.iterdir() if p.name.startswith("asset.")]
    (code,) = [p for p in assets if (p / "functions").is_dir()]
    assert {p.name for p in code.iterdir()} <= {"oms", "functions"}
    assert (code / "oms" / "templates" / "messages" / "de-DE" / "order_confirmed.j2").is_file()
    assert not list(code.rglob("__pycache__"))
    (layer,) = [p for p in assets if (p / "python").is_dir()]
    packages = {p.name for p in (layer / "python").iterdir()}
    assert {"jinja2", "markupsafe", "babel", "phonenumbers", "stripe", "email_validator"} <= packages
    assert not packages & {"boto3", "botocore", "pydantic", "aws_lambda_powertools"}  # the runtime's and layer's
    # Compiled extensions are Lambda's (Linux x86_64, the runtime's CPython), whatever machine synthesized.
    for extension in (layer / "python").rglob("*.so"):
        assert "cpython-314-x86_64-linux-gnu" in extension.name, extension


def test_context_overrides() -> None:
    app = create_app({"warehouses": "wh-a", "warehouseLocations": "wh-a:DE:BE", "reviewTimeoutHours": "2",
                      "logLevel": "debug"}, nag=False)
    config = OmsConfig.from_node(app)
    assert config.warehouses == ("wh-a",)
    assert config.review_timeout_hours == 2
    assert config.log_level == "DEBUG"
    assert config.sender_email == "orders@example.com"


@pytest.mark.parametrize(
    "bad", [{"senderEmail": "nobody"}, {"warehouses": " , "}, {"reviewTimeoutHours": "soon"}, {"logLevel": "LOUD"},
            {"warehouseLocations": "wh-east:US:NJ"}, {"warehouseLocations": "wh-east:XX:NJ,wh-west:US:CA"},
            {"backorderLimitDays": "0"}]
)
def test_bad_context_is_rejected(bad: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        OmsConfig.from_mapping(bad)


def test_synth_time_is_reported(synthesized: Synthesized) -> None:
    print(f"\nsession synth (build + synth + cdk-nag): {synthesized.seconds:.2f} s")
    assert synthesized.seconds < 60
