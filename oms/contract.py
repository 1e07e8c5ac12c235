"""The workflow contract: the names and the error policy the CDK state machine and the step functions share.

Every Lambda task of the order workflow sends ``{"action": <Action>, "order_id": ..., "execution": <execution
ARN>}`` (plus ``task_token`` for the waits, ``error`` for the closing steps and ``failure`` for a park). A step that
cannot go on raises an exception; Lambda reports its class name as ``errorType``, and the state machine's Retry and
Catch match it against the classes below. ``infra/workflow_stack.py`` builds the state machine from these names
and ``oms/steps.py`` dispatches on them, so a renamed action or error breaks synthesis and tests, not production.

What can go wrong, and what the workflow does about it (``docs/architecture.md`` has the table):

- **Refusals** (``REFUSALS``): a business answer (declined card, no stock). Not retried; the order is compensated
  and closed.
- **Retryable** (``RETRYABLE``): throttling, 5xx, timeouts and transaction conflicts (``TransientError``), Lambda's
  own service and throttling errors, a function that timed out or whose process died. Retried with exponential
  backoff and full jitter for minutes (``RETRY``).
- **Defects**: anything else (an unexpected exception). Retried a few times (``DEFECT_RETRY``), since a crash and a
  bug look alike at first.
- After the retries, the order is **parked**: held with reason ``technical`` where ops see it, its authorization and
  reservation kept, until ops retry it from the failed step or cancel it, or ``technicalHoldTimeoutHours`` passes
  (then it is compensated with the reason ``technical_failure``).
"""

from dataclasses import dataclass
from enum import StrEnum

from oms.domain.errors import (
    OrderCancelled,
    OrderShipped,
    OutOfStock,
    PaymentDeclined,
    PaymentGatewayError,
    ReturnCancelled,
    StockArrived,
    TransientError,
)


class Action(StrEnum):
    """What a task asks its function to do (one function can serve several actions)."""

    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    RESERVE = "reserve"
    RELEASE = "release"
    COMMIT = "commit"
    ASSESS = "assess"
    HOLD = "hold"
    REQUEST_FULFILLMENT = "request_fulfillment"
    MARK_SHIPPED = "mark_shipped"
    CLOSE = "close"
    FLAG_CAPTURE_FAILURE = "flag_capture_failure"
    PARK = "park"
    PLAN_WAIT = "plan_wait"
    REAUTHORIZE = "reauthorize"
    AWAIT_PAYMENT = "await_payment"
    AWAIT_STOCK = "await_stock"


class ReturnAction(StrEnum):
    """The tasks of the return workflow (``{"action", "return_id", "execution"}``, ``task_token`` for its waits)."""

    DECIDE = "decide"
    AWAIT_REVIEW = "await_review"
    REMIND_REVIEW = "remind_review"
    CREATE_EXCHANGE = "create_exchange"
    AWAIT_PARCEL = "await_parcel"
    EXPIRE = "expire"
    REMIND_RECEIPT = "remind_receipt"
    SETTLE = "settle"
    CLOSE = "close"
    PARK = "park"


class Error(StrEnum):
    """Error names the state machine retries or catches, and the reasons that close an order."""

    # Raised by the step functions (the exception class names).
    PAYMENT_DECLINED = PaymentDeclined.__name__
    PAYMENT_GATEWAY = PaymentGatewayError.__name__
    OUT_OF_STOCK = OutOfStock.__name__
    TRANSIENT = TransientError.__name__
    # Set by the state machine itself (a Pass state, a wait's timeout) or sent by ops, before compensation.
    REVIEW_REJECTED = "ReviewRejected"
    REVIEW_TIMEOUT = "ReviewTimeout"
    FULFILLMENT_TIMEOUT = "FulfillmentTimeout"
    TECHNICAL_FAILURE = "TechnicalFailure"
    PAYMENT_NOT_UPDATED = "PaymentNotUpdated"  # a renewed hold was declined and the customer did not update
    BACKORDER_TIMEOUT = "BackorderTimeout"  # the backordered goods did not arrive within the policy's limit
    ORDER_CANCELLED = OrderCancelled.__name__  # sent by a cancellation, or raised by a wait that finds one
    ORDER_SHIPPED = OrderShipped.__name__  # the parcel left while no wait was listening: go on to ship
    STOCK_ARRIVED = StockArrived.__name__  # the backordered goods came before the wait began: go on to fulfil
    RETURN_CANCELLED = ReturnCancelled.__name__  # the customer cancelled a return: its workflow ends


#: Business refusals: never retried; the order is compensated and closed.
REFUSALS = (Error.PAYMENT_DECLINED.value, Error.OUT_OF_STOCK.value)

#: Failures that may pass: our TransientError, Lambda's service and throttling errors, a function that timed out
#: (``Sandbox.Timedout``) or died (``Runtime.ExitError``), and a task past its ``TimeoutSeconds``.
RETRYABLE = (
    Error.TRANSIENT.value,
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.Unknown",
    "Sandbox.Timedout",
    "Runtime.ExitError",
    "Runtime.Unknown",
    "States.Timeout",
)


@dataclass(frozen=True)
class RetryPolicy:
    interval_seconds: int
    max_attempts: int  # retries after the first attempt
    backoff_rate: float
    max_delay_seconds: int

    @property
    def attempts(self) -> int:
        return self.max_attempts + 1

    @property
    def budget_seconds(self) -> int:
        """The longest the retries can wait in all (full jitter waits up to each delay)."""
        return int(sum(min(self.interval_seconds * self.backoff_rate**n, self.max_delay_seconds)
                       for n in range(self.max_attempts)))


#: Retryable errors: up to 8 retries, 2 s doubling to at most 60 s, full jitter (about 4 minutes at most).
RETRY = RetryPolicy(interval_seconds=2, max_attempts=8, backoff_rate=2.0, max_delay_seconds=60)
#: Defects (unexpected exceptions): 3 retries.
DEFECT_RETRY = RetryPolicy(interval_seconds=2, max_attempts=3, backoff_rate=2.0, max_delay_seconds=30)
#: The payment gateway could not process the card now (Stripe's ``processing_error``): 3 retries, then a refusal.
GATEWAY_RETRY = RetryPolicy(interval_seconds=2, max_attempts=3, backoff_rate=2.0, max_delay_seconds=30)
#: A synchronous task that has not answered in this long is a ``States.Timeout`` (retried like any timeout).
TASK_TIMEOUT_SECONDS = 120


def attempts_before_park(error: str) -> int:
    """How many times a step ran before the workflow parked the order with ``error``."""
    return RETRY.attempts if error in RETRYABLE else DEFECT_RETRY.attempts
