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

    def start(self, order_id: str) -> None:
        """Start the order's execution; the execution name is the order id, so a repeated start is a no-op."""
        try:
            self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=order_id, input=json.dumps({"order_id": order_id})
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise

    def resume(self, task_token: str, output: dict[str, Any]) -> None:
        try:
            self.sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
        except ClientError as error:
            if error.response["Error"]["Code"] in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
                raise Conflict("the order is no longer waiting for this step") from error
            raise
