"""How a workflow function runs a task: ``{"action": ..., "order_id": ..., "execution": ...}`` dispatched to the
step registered for the action (see ``oms/contract.py``)."""

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.logging import Logger

from oms.contract import Action

Step = Callable[[dict[str, Any]], Any]


def run_step(steps: Mapping[Action, Step], event: dict[str, Any], logger: Logger) -> Any:
    """Run the step for ``event["action"]``; logs the action and the order, never the payload (tokens)."""
    action = event.get("action")
    if action not in steps:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(steps)}")
    logger.append_keys(order_id=event.get("order_id"), action=action)
    result = steps[Action(str(action))](event)
    logger.info("step done", extra={"result": result})
    return result
