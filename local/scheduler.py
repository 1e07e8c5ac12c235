"""EventBridge scheduled rules of the templates, run locally: every ``rate(...)`` rule invokes its Lambda targets
on its period, through moto's Lambda API like every other invocation (``cron(...)`` rules are not run locally)."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

from local.deployer import Deployment

log = logging.getLogger("local.scheduler")
RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
UNIT_SECONDS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def period_seconds(expression: str) -> float | None:
    found = RATE.match(expression.strip())
    return int(found.group(1)) * UNIT_SECONDS[found.group(2)] if found else None


class Scheduler(threading.Thread):
    def __init__(self, deployment: Deployment, lambda_client: Any, scale: float = 1.0) -> None:
        super().__init__(name="scheduler", daemon=True)
        self.lambda_client = lambda_client
        self.jobs: list[tuple[float, str, str]] = []  # (period, function ARN, input)
        for rule in deployment.resources("AWS::Events::Rule"):
            period = period_seconds(str(rule.props.get("ScheduleExpression", "")))
            if period is None or rule.props.get("State", "ENABLED") != "ENABLED":
                continue
            for target in rule.props.get("Targets", []):
                if ":function:" in str(target.get("Arn", "")):
                    self.jobs.append((period * scale, target["Arn"], target.get("Input", "{}")))
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        due = [period for period, _, _ in self.jobs]
        tick = 1.0
        while not self._stop.wait(tick):
            for i, (period, arn, payload) in enumerate(self.jobs):
                due[i] -= tick
                if due[i] <= 0:
                    due[i] = period
                    threading.Thread(target=self._invoke, args=(arn, payload), daemon=True).start()

    def _invoke(self, arn: str, payload: str) -> None:
        try:
            response = self.lambda_client.invoke(FunctionName=arn, InvocationType="Event",
                                                 Payload=(payload or "{}").encode())
            log.debug("scheduled %s: %s", arn, response.get("StatusCode"))
        except Exception:
            log.exception("scheduled invocation of %s failed", arn)

    def describe(self) -> list[dict[str, Any]]:
        return [{"every_seconds": p, "function": arn, "input": json.loads(i or "{}")} for p, arn, i in self.jobs]
