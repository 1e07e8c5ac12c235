"""Domain errors.

The class names are part of the workflow contract: the state machine's Retry/Catch match on them
(a Lambda's ``errorType`` is the exception class name).
"""

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """Base class for rule violations a caller can act on."""


class ValidationFailed(DomainError):
    """Input is well-formed but breaks a business rule; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(DomainError):
    """The thing asked for does not exist (or the caller may not see it)."""


class Conflict(DomainError):
    """The request conflicts with the current state (e.g. a second review of the same order)."""


class NotCancellable(Conflict):
    """The order can no longer be cancelled (it has shipped, or is already closed)."""


class OrderCancelled(DomainError):
    """A wait step found the order cancelled (between two steps): the workflow compensates and closes it."""


class StockArrived(DomainError):
    """The backordered goods came before the wait for them began: the workflow goes on to fulfillment."""


class OrderShipped(DomainError):
    """The parcel was recorded while the workflow was not waiting for it (a wait being renewed, or a compensation
    about to start): the shipment wins, and the workflow goes on to commit the stock, capture and mark it shipped."""


class IdempotencyKeyReused(DomainError):
    """An ``Idempotency-Key`` that already placed an order arrived with a different request body."""


class TransientError(Exception):
    """A retryable infrastructure failure; the workflow retries it with backoff."""


class PaymentDeclined(DomainError):
    """The card was declined; ``code`` is the gateway's decline code (e.g. ``insufficient_funds``)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.message = message


class PaymentGatewayError(TransientError):
    """The gateway failed in a way that may succeed on retry (e.g. ``processing_error``)."""


class OutOfStock(DomainError):
    """Not enough available stock for at least one line; the message lists the SKUs."""


class StockUnavailable(ValidationFailed):
    """Placement-time check: a line asks for more than is available now (answered 409)."""


class RefundExceedsCaptured(Conflict):
    """The refund would take the refunded total above what was captured."""


class RefundDeclined(Conflict):
    """The gateway refused the refund (e.g. the charge is disputed); ``code`` is its reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"the payment provider refused the refund ({code}): {message}")
        self.code = code


class RefundPending(PaymentGatewayError):
    """The gateway did not confirm a refund; repeating the request with the same Idempotency-Key finishes it."""


class ReturnRefused(Conflict):
    """A return the policy does not allow (answered 409 with ``code``): ``return_window_closed``, ``not_returnable``
    or ``not_delivered``; ``field`` names the line."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


class ReturnCancelled(DomainError):
    """A return's wait found it cancelled by the customer: its workflow ends."""


class LimitReached(Conflict):
    """An address book or the saved payment methods are full (409 ``limit_reached``)."""


class ReauthenticationRequired(DomainError):
    """Deleting the account needs the password again, or a sign-in within the last minutes (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ErasureBlocked(Conflict):
    """Orders or returns still in progress keep the account (409 ``erasure_blocked`` lists them)."""

    def __init__(self, items: Sequence[Mapping[str, object]]) -> None:
        names = ", ".join(f"{i['id']} ({i['status']})" for i in items)
        super().__init__(f"these are still in progress and keep the account until they finish: {names}")
        self.items = items
