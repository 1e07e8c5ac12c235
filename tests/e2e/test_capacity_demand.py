"""The capacity guard: one happy-path order (placed, shipped, delivered) recorded on the running stack must not ask
more of AWS than bench/capacity/expectations.json says: AWS requests by operation, DynamoDB write units by table
and index, Standard state transitions. A change that adds any of them fails here until the capacity model's
demand is re-recorded (``python -m bench.capacity record``, which rewrites demand.json and expectations.json) and
docs/capacity.md is looked at again. Fewer passes (and is printed)."""

import json
from pathlib import Path

import pytest

from bench.capacity.record import Recorder, Stack, guarded, run_scenario, settle, summarize

pytestmark = pytest.mark.e2e

EXPECTATIONS = Path(__file__).resolve().parents[2] / "bench" / "capacity" / "expectations.json"
#: Item sizes vary a little with ids and timestamps: a write may cross a kilobyte now and then.
WRITE_UNIT_SLACK = 1.05


def test_a_happy_order_asks_no_more_of_aws_than_the_capacity_model_expects(local_stack):
    expected = json.loads(EXPECTATIONS.read_text())
    recording = local_stack.state_dir / "moto-recording.jsonl"
    meter = local_stack.state_dir / "capacity-meter.jsonl"
    stack = Stack(local_stack.config)
    with Recorder(stack.aws, recording):  # let what earlier tests started finish first (stream batches wait 5 s)
        settle(recording, quiet=6.0)
    found = guarded(summarize([run_scenario(stack, recording, meter, "happy")]))
    more, fewer = [], []
    for operation in sorted(set(found["requests"]) | set(expected["requests"])):
        got, allowed = found["requests"].get(operation, 0), expected["requests"].get(operation, 0)
        line = f"{operation}: {got:g} (expected {allowed:g})"
        (more if got > allowed else fewer if got < allowed else []).append(line)
    for where in sorted(set(found["write_units"]) | set(expected["write_units"])):
        got, allowed = found["write_units"].get(where, 0), expected["write_units"].get(where, 0)
        if got > allowed * WRITE_UNIT_SLACK:
            more.append(f"write units {where}: {got:g} (expected {allowed:g})")
        elif got < allowed:
            fewer.append(f"write units {where}: {got:g} (expected {allowed:g})")
    got, allowed = found["standard_transitions"], expected["standard_transitions"]
    (more if got > allowed else fewer if got < allowed else []).append(
        f"Standard state transitions: {got:g} (expected {allowed:g})")
    if fewer:
        print("fewer than bench/capacity/expectations.json (re-record to lower them):\n  " + "\n  ".join(fewer))
    assert not more, ("one happy-path order now asks more of AWS than the capacity model expects; re-record with "
                      "`python -m bench.capacity record` (rewrites bench/capacity/demand.json and expectations.json) "
                      "and update docs/capacity.md:\n  " + "\n  ".join(more))
