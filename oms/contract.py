"""The workflow contract: the names the CDK state machine and the step functions share.

Every Lambda task of the order workflow sends ``{"action": <Action>, "order_id": ..., "execution": <execution
ARN>}`` (plus ``task_token`` for the waits and ``error`` for the closing steps). A step that cannot go on raises
an exception; Lambda reports its class name as ``errorType``, and the state machine's Retry and Catch match it
against ``Error``. ``infra/workflow_stack.py`` builds the state machine from these names and
``oms/steps.py`` dispatches on them, so a renamed action or error breaks synthesis and tests, not production.
"""

from enum import StrEnum

from oms.domain.errors import OutOfStock, PaymentDeclined, PaymentGatewayError, TransientError


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


class Error(StrEnum):
    """Error names the state machine retries or catches, and the reasons that close an order."""

    # Raised by the step functions (the exception class names).
    PAYMENT_DECLINED = PaymentDeclined.__name__
    PAYMENT_GATEWAY = PaymentGatewayError.__name__
    OUT_OF_STOCK = OutOfStock.__name__
    TRANSIENT = TransientError.__name__
    # Set by the state machine itself (a Pass state or a wait's timeout) before compensation.
    REVIEW_REJECTED = "ReviewRejected"
    REVIEW_TIMEOUT = "ReviewTimeout"
    FULFILLMENT_TIMEOUT = "FulfillmentTimeout"
