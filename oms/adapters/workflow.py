"""The order workflow (Step Functions): start it, and resume the executions waiting on task tokens."""

import json
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import client
from oms.domain.errors import Conflict


class Workflow:
    def __init__(self, state_machine_arn: str | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self.sfn = client("stepfunctions")

    def start(self, order_id: str, *, key: str = "order_id") -> None:
        """Start the execution of an order (or, with ``key="return_id"``, of a return); the execution is named after
        it, so a repeated start is a no-op (and an execution that has already ended is not started again)."""
        try:
            self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=order_id, input=json.dumps({key: order_id})
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise

    def execution_status(self, order_id: str) -> str | None:
        """``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` or ``ABORTED``; None when the order has none."""
        assert self.state_machine_arn, "needs the state machine's ARN"
        machine = self.state_machine_arn.replace(":stateMachine:", ":execution:", 1)
        try:
            response = self.sfn.describe_execution(executionArn=f"{machine}:{order_id}")
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            return None
        return str(response["status"])

    def resume(self, task_token: str, output: dict[str, Any]) -> None:
        """Complete the waiting task; ``Conflict`` when it is no longer waiting (answered, timed out)."""
        self._answer(self.sfn.send_task_success, taskToken=task_token, output=json.dumps(output))

    def fail(self, task_token: str, error: str, cause: dict[str, Any]) -> None:
        """Fail the waiting task with ``error`` (the state machine's Catch decides); ``Conflict`` as for resume."""
        self._answer(self.sfn.send_task_failure, taskToken=task_token, error=error, cause=json.dumps(cause))

    @staticmethod
    def _answer(call: Any, **params: Any) -> None:
        try:
            call(**params)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
                raise Conflict("the order is no longer waiting for this step") from error
            raise
