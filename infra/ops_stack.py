"""OmsOps: what ops run on top of the orders: the KPI projection (and the escalation engine)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from infra.config import OmsConfig
from infra.data_stack import DataStack
from infra.escalations import Escalations
from infra.kpis import KpiProjection
from infra.messaging_stack import MessagingStack
from infra.returns_stack import ReturnsStack
from infra.workflow_stack import WorkflowStack


class OpsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: OmsConfig, data: DataStack,
                 messaging: MessagingStack, workflow: WorkflowStack, returns: ReturnsStack, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.kpis = KpiProjection(self, "KpiProjection", config=config, data=data, messaging=messaging)
        self.escalations = Escalations(self, "Escalations", config=config, data=data, messaging=messaging,
                                       workflow=workflow, returns=returns)
