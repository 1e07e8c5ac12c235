"""The OMS CDK app: ``OmsData`` -> ``OmsMessaging`` -> ``OmsWorkflow`` -> ``OmsReturns`` -> ``OmsApi`` -> ``OmsOps``.

``create_app(context)`` builds the app with the context settings of ``cdk.json`` (see ``infra.config``),
the given ``context`` merged over them; ``python -m infra.app`` synthesizes it (what ``cdk.json`` runs).
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk

from infra.api_stack import ApiStack
from infra.config import DEFAULT_CONTEXT, OmsConfig
from infra.data_stack import DataStack
from infra.functions import REPO_ROOT
from infra.messaging_stack import MessagingStack
from infra.monitoring_stack import MonitoringStack
from infra.nag import add_nag_checks
from infra.ops_stack import OpsStack
from infra.returns_stack import ReturnsStack
from infra.workflow_stack import WorkflowStack

STACK_IDS = ("OmsData", "OmsMessaging", "OmsWorkflow", "OmsReturns", "OmsApi", "OmsOps", "OmsMonitoring")


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` block of the repository's cdk.json (feature flags and the settings' defaults)."""
    path = REPO_ROOT / "cdk.json"
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()).get("context", {}))


def create_app(context: dict[str, Any] | None = None, *, nag: bool = True, **app_kwargs: Any) -> cdk.App:
    """Build (not synthesize) the app.

    Precedence, lowest first: ``DEFAULT_CONTEXT``, cdk.json, the CDK CLI's ``--context``, ``context``.
    ``nag=False`` skips the cdk-nag plugin (used only by tests that want a faster synth).
    """
    app = cdk.App(
        context={**DEFAULT_CONTEXT, **cdk_json_context()},
        post_cli_context=dict(context or {}),
        **app_kwargs,
    )
    config = OmsConfig.from_node(app)
    description = "Serverless order management (OMS)"
    data = DataStack(app, "OmsData", description=f"{description}: tables")
    messaging = MessagingStack(
        app, "OmsMessaging", config=config, data=data, description=f"{description}: queues, alerts, e-mail"
    )
    workflow = WorkflowStack(
        app,
        "OmsWorkflow",
        config=config,
        data=data,
        messaging=messaging,
        description=f"{description}: order workflow",
    )
    returns = ReturnsStack(app, "OmsReturns", config=config, data=data, messaging=messaging, workflow=workflow,
                           description=f"{description}: return workflow")
    api = ApiStack(
        app,
        "OmsApi",
        config=config,
        data=data,
        messaging=messaging,
        workflow=workflow,
        returns=returns,
        description=f"{description}: REST API and auth",
    )
    ops = OpsStack(app, "OmsOps", config=config, data=data, messaging=messaging, workflow=workflow,
                   returns=returns, description=f"{description}: KPI projection and escalations")
    ops.add_stack_dependency(returns)  # deployed after the workflows it watches, whatever it references
    MonitoringStack(app, "OmsMonitoring", config=config, data=data, messaging=messaging, workflow=workflow,
                    returns=returns, api=api, ops=ops, description=f"{description}: dashboards")
    for stack in (data, messaging, workflow, returns, ops):
        cdk.Tags.of(stack).add("app", "oms")
    cdk.Tags.of(app).add("app", "oms")
    if nag:
        add_nag_checks(app)
    return app


def main() -> None:
    create_app().synth()


if __name__ == "__main__":
    main()
