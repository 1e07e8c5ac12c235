"""AWS SDK clients, created once per process on first use (Lambda reuses them across invocations).

The clients come straight from botocore, the SDK boto3 wraps: boto3's resource layer and its S3 transfer
manager are never used here, and not importing them takes ~60 ms off every cold start (``bench/cold_start.py``).
"""

import os
from functools import cache
from typing import Any

from botocore.config import Config
from botocore.session import Session

# The user agent names the function, so CloudTrail (and moto's request recorder locally) can tell who called.
_AGENT = f"oms-function/{os.environ.get('POWERTOOLS_SERVICE_NAME', 'unknown')}"
# Three attempts of at most 2 + 5 s end well inside every function's timeout (API functions: 28 s), so a failing
# call is reported (503 to a client, a retried step to the workflow) rather than cut off.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=5,
                 user_agent_extra=_AGENT)
# Sending email or SMS is not idempotent at the provider: a read timeout followed by the SDK's retry could send a
# message twice, so those calls wait longer before giving up (notify has 60 s).
_SEND_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=15,
                      user_agent_extra=_AGENT)
_SENDERS = frozenset({"ses", "sesv2", "sns"})


@cache
def _session() -> Session:
    return Session()


@cache
def client(service: str) -> Any:
    """A client for ``service`` with the standard retry mode; region and endpoint come from the environment."""
    return _session().create_client(service, config=_SEND_CONFIG if service in _SENDERS else _CONFIG)


#: Error codes of AWS calls that may succeed when repeated (throttling, a dependency's 5xx, a transaction that lost
#: a race): after the SDK's own retries, the caller retries later.
TRANSIENT_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "RequestThrottled", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "TransactionConflictException", "TransactionInProgressException", "InternalServerError", "InternalFailure",
    "InternalError", "ServiceUnavailable", "ServiceUnavailableException", "InternalServerErrorException",
})


def is_transient(error: BaseException) -> bool:
    """True for an AWS failure worth retrying: a transient error code (also inside a cancelled transaction), a 5xx,
    or no answer at all (connection error, timeout)."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    if isinstance(error, ConnectionError | ReadTimeoutError | HTTPClientError):
        return True
    if not isinstance(error, ClientError):
        return False
    code = error.response.get("Error", {}).get("Code", "")
    if code in TRANSIENT_CODES or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
        return True
    reasons = [r.get("Code") for r in error.response.get("CancellationReasons", []) or []]
    return code == "TransactionCanceledException" and any(r in TRANSIENT_CODES or r == "TransactionConflict"
                                                           for r in reasons)


def reset() -> None:
    """Forget the session and clients (tests that swap the AWS backend between cases)."""
    client.cache_clear()
    _session.cache_clear()
