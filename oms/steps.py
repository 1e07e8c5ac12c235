"""How a workflow function runs a task: ``{"action": ..., "order_id": ..., "execution": ...}`` dispatched to the
step registered for the action (see ``oms/contract.py``)."""

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.logging import Logger

from oms.adapters.aws import is_transient
from oms.contract import Action, ReturnAction
from oms.domain.errors import TransientError

Step = Callable[[dict[str, Any]], Any]


def run_step(steps: Mapping[Action, Step] | Mapping[ReturnAction, Step], event: dict[str, Any], logger: Logger) -> Any:
    """Run the step for ``event["action"]``; logs the action and the order, never the payload (tokens).

    An AWS failure worth retrying (throttling, 5xx, a timeout, a transaction conflict) leaves as ``TransientError``,
    the name the state machine retries for minutes (``oms.contract``); anything else keeps its own name."""
    action = event.get("action")
    if action not in steps:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(steps)}")
    if "return_id" in event:
        logger.append_keys(return_id=event.get("return_id"), action=action)
    else:
        logger.append_keys(order_id=event.get("order_id"), action=action)
    try:
        result = next(step for name, step in steps.items() if name == action)(event)
    except Exception as exc:
        if is_transient(exc):
            logger.warning("step failed, retryable", extra={"error": f"{type(exc).__name__}: {exc}"})
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        raise
    logger.info("step done", extra={"result": result})
    return result
