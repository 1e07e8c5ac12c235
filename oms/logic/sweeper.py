"""No order without a workflow: find PENDING orders older than a few minutes and start their executions.

Placement writes the order, then starts its execution. If the start fails (throttled, the function timed out,
the process died) the client gets 503 and its retry with the same key starts it; if the client never retries, the
sweeper does. The execution is named after the order, so a start that races the client's retry is a no-op.
Finding them is one Query per shard of the PENDING ops queue (16 a minute, a few bytes each); a stale order
costs one DescribeExecution (a started one, a StartExecution too); there are none on a good day.
"""

from datetime import datetime, timedelta
from typing import TypedDict

from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.workflow import Workflow
from oms.domain.order import iso


class Sweep(TypedDict):
    stale: int  # PENDING orders older than the limit (their workflow may be running, e.g. retrying)
    started: list[str]  # orders that had no execution: started now
    finished: list[str]  # orders still PENDING whose execution has ended: ops must look at them


def sweep(orders: OrdersRepository, workflow: Workflow, *, older_than: timedelta, now: datetime,
          limit: int = 100) -> Sweep:
    result: Sweep = {"stale": 0, "started": [], "finished": []}
    for order in orders.pending_before(iso(now - older_than), limit):
        result["stale"] += 1
        status = workflow.execution_status(order["order_id"])
        if status is None:
            workflow.start(order["order_id"])
            result["started"].append(order["order_id"])
        elif status != "RUNNING":
            result["finished"].append(order["order_id"])
    return result
