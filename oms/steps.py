"""Shared shape of the workflow functions: ``{"action": ..., "order_id": ...}`` dispatched to a step."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

Step = Callable[[dict[str, Any]], Any]


def run_step(steps: dict[str, Step], event: dict[str, Any], logger: Logger) -> Any:
    action = event.get("action")
    if action not in steps:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(steps)}")
    logger.append_keys(order_id=event.get("order_id"), action=action)
    result = steps[action](event)
    logger.info("step done", extra={"result": result})
    return result
