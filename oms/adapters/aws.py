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
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10,
                 user_agent_extra=f"oms-function/{os.environ.get('POWERTOOLS_SERVICE_NAME', 'unknown')}")


@cache
def _session() -> Session:
    return Session()


@cache
def client(service: str) -> Any:
    """A client for ``service`` with the standard retry mode; region and endpoint come from the environment."""
    return _session().create_client(service, config=_CONFIG)


def reset() -> None:
    """Forget the session and clients (tests that swap the AWS backend between cases)."""
    client.cache_clear()
    _session.cache_clear()
