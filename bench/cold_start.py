"""Cold start of every function against its floor: a bare process that imports boto3 and creates the same clients.

    make bench-cold-start                    # tracing disabled (the target: every function <= 1.3x its floor)
    python -m bench.cold_start --runs 15 --tracing

Each sample is a whole new Python process, measured in CPU time (user + system; wall time on a shared 2-core
machine moves by 30% between runs). The function's process imports its handler module (as Lambda's init does)
and then creates the AWS clients it uses (through ``oms.adapters.aws.client``, the very clients its first
invocation would create lazily), so both sides pay for the same clients. Runs of the function and its floor are
interleaved, and the median of each is compared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import get_type_hints

from oms.settings import BY_FUNCTION, Settings

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.3

#: The AWS clients each function creates (its first invocation's, from its adapters).
CLIENTS: dict[str, tuple[str, ...]] = {
    "place_order": ("dynamodb", "stepfunctions"),
    "get_order": ("dynamodb", "secretsmanager"),
    "order_changes": ("dynamodb", "stepfunctions"),
    "admin": ("dynamodb", "stepfunctions", "secretsmanager"),
    "tracking_webhook": ("dynamodb", "sqs", "secretsmanager"),  # store, queue, verify
    "payment": ("dynamodb",),
    "inventory": ("dynamodb", "sqs", "sns"),
    "fraud": ("dynamodb", "sns", "sqs"),
    "fulfillment": ("dynamodb", "sqs"),
    "order_status": ("dynamodb", "sqs", "sns"),
    "notify": ("dynamodb", "ses", "sns"),
    "sweeper": ("dynamodb", "stepfunctions"),
    "customers": ("dynamodb",),  # a profile read; saved cards, exports and erasure build theirs when used
    "customers_admin": ("dynamodb", "secretsmanager", "cognito-idp"),  # an erasure
    "cognito_messages": (),  # renders the message; no AWS call
    "mail_feedback": ("dynamodb",),
    "tracking_events": ("dynamodb", "sqs", "sns"),
    "track": ("dynamodb", "secretsmanager"),
    "returns": ("dynamodb", "stepfunctions"),
    "returns_admin": ("dynamodb", "stepfunctions", "sqs", "secretsmanager"),
    "return_steps": ("dynamodb", "sqs", "sns", "stepfunctions"),
    "order_facts": ("dynamodb",),
    "reports": ("dynamodb",),
    "escalations": ("dynamodb", "sns", "stepfunctions"),  # the queues, alerts, a default review decision
}
assert set(CLIENTS) == set(BY_FUNCTION), "every function is benchmarked"


def placeholder_env(settings: type[Settings]) -> dict[str, str]:
    values = {int: "60", int | None: "60", Decimal: "1000.00", tuple[str, ...]: "wh-east,wh-west"}
    return {name.upper(): values.get(kind, f"bench-{name}") for name, kind in get_type_hints(settings).items()}


def run(code: str, env: dict[str, str]) -> float:
    """CPU seconds (user + system) the process used: init is CPU-bound, and unlike wall time this does not
    move with whatever else the machine is doing."""
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark process failed ({proc.returncode}): {code}")
    return usage.ru_utime + usage.ru_stime


def measure(name: str, runs: int, tracing: bool) -> tuple[float, float, float]:
    services = CLIENTS[name]
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")},
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "POWERTOOLS_SERVICE_NAME": name, "POWERTOOLS_METRICS_NAMESPACE": "OMS",
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true", "PYDANTIC_DISABLE_PLUGINS": "__all__",
        **placeholder_env(BY_FUNCTION[name]),
    }
    floor = "import boto3\n" + "".join(f"boto3.client({s!r})\n" for s in services)
    handler = (f"import functions.{name}.handler\nfrom oms.adapters.aws import client\n"
               + "".join(f"client({s!r})\n" for s in services))
    run(handler, env)  # compile the handler's modules once, as Lambda's own pycache would hold them
    return _paired(floor, handler, env, runs)


def _paired(floor: str, other: str, env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """Medians of both, and the median of the ratios of back-to-back pairs (robust to the machine's drift)."""
    floors, others, ratios = [], [], []
    for _ in range(runs):
        floors.append(run(floor, env))
        others.append(run(other, env))
        ratios.append(others[-1] / floors[-1])
    return statistics.median(floors), statistics.median(others), statistics.median(ratios)


def measure_framework(runs: int) -> tuple[float, float, float]:
    """place_order's floor, and a process with only what every validating API function needs at init."""
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "POWERTOOLS_TRACE_DISABLED": "true", "PYDANTIC_DISABLE_PLUGINS": "__all__"}
    floor = "import boto3\nboto3.client('dynamodb')\nboto3.client('stepfunctions')\n"
    framework = ("import botocore.session\ns = botocore.session.Session()\ns.create_client('dynamodb')\n"
                 "s.create_client('stepfunctions')\nfrom aws_lambda_powertools.logging import Logger\nLogger()\n"
                 "from pydantic import BaseModel\nimport aws_lambda_powertools.event_handler.openapi.params\n"
                 "from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver\n"
                 "APIGatewayRestResolver(enable_validation=True)\n")
    return _paired(floor, framework, env, runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--tracing", action="store_true", help="with X-Ray tracing enabled (informational)")
    parser.add_argument("functions", nargs="*", default=list(CLIENTS))
    args = parser.parse_args()
    tracing = "on" if args.tracing else "off"
    print(f"cold start in CPU time, median of {args.runs} back-to-back pairs, tracing {tracing}")
    print(f"{'function':18s} {'clients':36s} {'floor':>8s} {'function':>9s} {'ratio':>6s}")
    worst = 0.0
    for name in args.functions:
        floor, handler, ratio = measure(name, args.runs, args.tracing)
        worst = max(worst, ratio)
        flag = "" if ratio <= TARGET or args.tracing else f"  over {TARGET}x"
        print(f"{name:18s} {', '.join(CLIENTS[name]):36s} {floor * 1000:6.0f} ms {handler * 1000:6.0f} ms "
              f"{ratio:5.2f}x{flag}")
    print(f"worst ratio {worst:.2f}x (target <= {TARGET}x with tracing off)")
    if not args.tracing and "place_order" in args.functions:
        floor, framework, ratio = measure_framework(args.runs)
        print(f"for reference, Powertools' REST resolver with validation, pydantic and a Logger alone (no OMS code, "
              f"the same clients through botocore): {framework * 1000:.0f} ms against {floor * 1000:.0f} ms, "
              f"{ratio:.2f}x")
    return 0 if worst <= TARGET or args.tracing else 1


if __name__ == "__main__":
    sys.exit(main())
