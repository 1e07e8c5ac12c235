"""Start and stop a local stack for a benchmark (``python -m local`` on free ports, in a temporary state dir)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ADDRESS = {"name": "Bench", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


@contextmanager
def local_stack(**env: str) -> Iterator[tuple[dict[str, Any], float]]:
    """Yields ``(local.json, seconds to ready)``; ``env`` is added to the stack's environment."""
    with tempfile.TemporaryDirectory() as state_dir:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "local", "--api-port", "0", "--aws-port", "0", "--state-dir", state_dir],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **env},
        )
        state = Path(state_dir) / "local.json"
        try:
            while not state.exists():
                if proc.poll() is not None or time.monotonic() - started > 180:
                    raise SystemExit("local stack did not start")
                time.sleep(0.1)
            yield json.loads(state.read_text()), time.monotonic() - started
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def order_body(sku: str, quantity: int = 1, token: str = "tok_visa") -> dict[str, Any]:
    return {"currency": "USD", "lines": [{"sku": sku, "quantity": quantity}], "shipping_address": ADDRESS,
            "shipping_method": "standard", "payment": {"token": token}, "contact": {"email": "bench@example.com"}}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]
