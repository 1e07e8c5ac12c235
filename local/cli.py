"""``oms``: tools for the running local stack (reads <state dir>/local.json).

  oms token EMAIL [--ops]    an ID token for EMAIL (user created if needed), alone on stdout
  oms outbox [--order ID]    email and SMS the system sent
  oms trace ORDER_ID|RMA     the order's (or return's) Step Functions execution, state by state
  oms faults [add JSON|FILE | clear]   FIS-like faults the running stack applies (docs/local.md)
  oms notifications redrive  move dead-lettered notifications back to their queue (nothing is sent twice)
  oms status                 is the local stack up?
  oms preview EVENT [--locale de-DE] [--order ID]   render a customer message to HTML, print its text and SMS
  oms sms-stop PHONE         as if PHONE replied STOP to an SMS (it joins SNS's opt-out list)
  oms webhooks replay [--event SOURCE:ID]   dead-lettered carrier events back to their queue, or stored ones again
  oms report [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--html FILE] [--json]   order KPIs: a table and an HTML report
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

LOCAL_PASSWORD = "Local-Passw0rd!"  # local stack only; never a real credential


def load_config(state_dir: str | Path = ".oms") -> dict[str, Any]:
    path = Path(state_dir) / "local.json"
    if not path.exists():
        raise SystemExit(f"{path} not found: is the local stack running? (make run / python -m local)")
    return json.loads(path.read_text())


def _client(config: dict[str, Any], service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=config["aws_endpoint_url"], region_name=config["region"],
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        aws_session_token="testing")


def get_token(config: dict[str, Any], email: str, ops: bool = False) -> str:
    """Create ``email`` in the pool if needed (permanent password, group ``ops`` with ops=True) and sign in."""
    idp = _client(config, "cognito-idp")
    pool, client_id = config["user_pool_id"], config["user_pool_client_id"]
    try:
        idp.admin_get_user(UserPoolId=pool, Username=email)
    except idp.exceptions.UserNotFoundException:
        idp.admin_create_user(
            UserPoolId=pool, Username=email, MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        )
    idp.admin_set_user_password(UserPoolId=pool, Username=email, Password=LOCAL_PASSWORD, Permanent=True)
    if ops:
        idp.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName="ops")
    auth = idp.admin_initiate_auth(
        UserPoolId=pool, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": LOCAL_PASSWORD},
    )
    return auth["AuthenticationResult"]["IdToken"]


def get_outbox(config: dict[str, Any], order_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    import requests

    resp = requests.get(f"{config['api_url']}/_local/outbox", timeout=30)
    resp.raise_for_status()
    data = resp.json()
    if order_id:
        from local.outbox import mentions

        data = {kind: [m for m in items if mentions(m, order_id)] for kind, items in data.items()}
    return data


def trace(config: dict[str, Any], order_id: str) -> list[str]:
    sfn = _client(config, "stepfunctions")
    machine = config["return_state_machine_arn"] if order_id.startswith("RMA-") else config["state_machine_arn"]
    arn = machine.replace(":stateMachine:", ":execution:") + f":{order_id}"
    try:
        execution = sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        raise SystemExit(f"no execution named {order_id}") from None
    lines = [f"execution {order_id}: {execution['status']} (started {_t(execution['startDate'])}"
             + (f", stopped {_t(execution['stopDate'])})" if execution.get("stopDate") else ")")]
    lines.extend(_history_lines(sfn, arn))
    return lines


def _history_lines(sfn: Any, arn: str, indent: str = "") -> list[str]:
    """One execution's history as lines; a stretch (an Express sub-workflow run with ``startExecution.sync``)
    is shown inside the state that ran it, indented."""
    events = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    lines = []
    for e in events:
        kind = e["type"]
        details = next((v for k, v in e.items() if k.endswith("EventDetails")), {}) or {}
        when = f"{indent}{_t(e['timestamp'])}"
        if kind.endswith("StateEntered"):
            lines.append(f"{when}  -> {details.get('name')}")
        elif kind.endswith("StateExited"):
            lines.append(f"{when}  <- {details.get('name')}")
        elif kind == "TaskSubmitted" and "startExecution.sync" in str(details.get("resource")):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                child = json.loads(details["output"])["ExecutionArn"]
                lines.append(f"{when}     stretch {child.rsplit(':', 2)[-2]}:")
                lines.extend(_history_lines(sfn, child, indent + "   | "))
        elif kind.endswith("Failed") or kind.endswith("TimedOut") or kind.endswith("Aborted"):
            cause = str(details.get("cause", ""))
            with contextlib.suppress(ValueError, AttributeError):
                cause = json.loads(cause).get("errorMessage", cause)
            lines.append(f"{when}  !! {kind}: {details.get('error', '')} {cause[:200]}".rstrip())
        elif kind in ("TaskSubmitted", "TaskScheduled") and "waitForTaskToken" in str(details.get("resource")):
            lines.append(f"{when}     waiting for task token ({details.get('resource')})")
        elif kind == "ExecutionSucceeded" and not indent:
            lines.append(f"{when}  == succeeded: {str(details.get('output', ''))[:300]}")
    return lines


def _t(value: datetime) -> str:
    return value.astimezone().strftime("%H:%M:%S.%f")[:-3]


def status(state_dir: str) -> tuple[bool, str]:
    path = Path(state_dir) / "local.json"
    if not path.exists():
        return False, f"not running ({path} not found)"
    config = json.loads(path.read_text())
    import requests

    try:
        requests.get(f"{config['api_url']}/_local/health", timeout=5).raise_for_status()
        requests.get(f"{config['aws_endpoint_url']}/moto-api/", timeout=5)
    except requests.RequestException as exc:
        return False, f"local.json present but the stack does not answer: {exc}"
    return True, f"ready: API {config['api_url']}, AWS {config['aws_endpoint_url']} (pid {config.get('pid')})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="oms", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state-dir", default=".oms")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("token", help="print an ID token for EMAIL")
    p.add_argument("email")
    p.add_argument("--ops", action="store_true", help="add the user to the ops group")
    p = sub.add_parser("outbox", help="email and SMS sent")
    p.add_argument("--order", help="only messages mentioning this order id")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("trace", help="Step Functions history of an order")
    p.add_argument("order_id")
    p = sub.add_parser("faults", help="list, add or clear injected faults (see docs/local.md)")
    p.add_argument("verb", nargs="?", choices=["list", "add", "clear"], default="list")
    p.add_argument("fault", nargs="*", help="a fault as JSON (or @file with a JSON list)")
    p = sub.add_parser("notifications", help="the notification queues")
    p.add_argument("verb", choices=["redrive"])
    p = sub.add_parser("webhooks", help="carrier tracking events: replay the dead-lettered ones, or stored ones")
    p.add_argument("verb", choices=["replay"])
    p.add_argument("--event", action="append", default=[],
                   help="queue this stored event again (source:event_id, e.g. aftership:3f64...); repeatable")
    sub.add_parser("status", help="is the local stack up?")
    p = sub.add_parser("sms-stop", help="simulate a customer replying STOP to an SMS (SNS opt-out list)")
    p.add_argument("phone", help="E.164, e.g. +4915112345678")
    p = sub.add_parser("preview", help="render a customer message to an HTML file (and print its text and SMS)")
    p.add_argument("event", help="e.g. order_confirmed")
    p.add_argument("--locale", default="en-US")
    p.add_argument("--order", help="an order of the running local stack instead of the sample order")
    p.add_argument("--out", default=".oms/preview", help="folder for the HTML file")
    add_report_parser(sub)
    args = ap.parse_args(argv)

    if args.command == "preview":
        return preview_command(args, args.state_dir)
    if args.command == "report":
        return report_command(args, args.state_dir)

    if args.command == "status":
        ok, message = status(args.state_dir)
        print(message)
        return 0 if ok else 1
    config = load_config(args.state_dir)
    if args.command == "token":
        print(get_token(config, args.email, ops=args.ops))
    elif args.command == "outbox":
        data = get_outbox(config, args.order)
        if args.json:
            print(json.dumps(data, indent=2))
            return 0
        for m in data["email"]:
            print(f"[email] {m['timestamp']} to {', '.join(m['to'])}: {m['subject']}")
            print("  " + str(m.get("text") or m.get("html") or m.get("template_data") or "").replace("\n", "\n  "))
        for m in data["sms"]:
            print(f"[sms]   {m['timestamp']} to {m['to']}: {m['text']}")
        for m in data.get("skipped", []):
            print(f"[{m['status'].lower()} {m['channel']}] {m['at']} to {m['to']}: {m['event']} of {m['order_id']} "
                  f"({m.get('reason', '')})")
        for m in data.get("alerts", []):
            print(f"[alert] {m['topic']}: {m['subject']}")
            print("  " + str(m["text"]).replace("\n", "\n  "))
        if not data["email"] and not data["sms"] and not data.get("skipped") and not data.get("alerts"):
            print("(nothing sent)")
    elif args.command == "trace":
        print("\n".join(trace(config, args.order_id)))
    elif args.command == "faults":
        return faults_command(config, args.verb, args.fault)
    elif args.command == "sms-stop":
        import requests

        answer = requests.post(f"{config['api_url']}/_local/sms/stop", params={"phone": args.phone}, timeout=30)
        print(answer.json())
    elif args.command == "webhooks":
        if args.event:
            for moved_key in replay_events(config, args.event):
                print(f"queued {moved_key}")
        else:
            for source, moved in redrive(config, only="TrackingEvents").items():
                print(f"{moved} tracking event(s) moved back to {source}")
    elif args.command == "notifications":
        for source, moved in redrive(config, only="Notifications").items():
            print(f"{moved} message(s) moved back to {source}")
    return 0


REPORT_DAYS = 30  # the default range: the last 30 days, today (UTC) included


def _day(value: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r} ({exc})") from None


def add_report_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="order KPIs of a date range: a table, and an HTML report with charts",
                       description="The KPIs of the orders placed on the UTC dates --from..--to (inclusive), "
                                   "from GET /admin/reports/kpis: printed as a table, written as an HTML report.")
    p.add_argument("--from", dest="start", type=_day, metavar="YYYY-MM-DD",
                   help=f"first day (UTC); default {REPORT_DAYS - 1} days before --to (30 days in all)")
    p.add_argument("--to", dest="end", type=_day, metavar="YYYY-MM-DD", help="last day (UTC), included; default today")
    p.add_argument("--html", metavar="FILE", help="where to write the HTML report (default oms-report-FROM-TO.html)")
    p.add_argument("--json", action="store_true",
                   help="print the API's JSON instead of the table (and write HTML only with --html)")
    p.add_argument("--token", help="an ops ID token (default: one for report-ops@example.com on the local stack)")


def report_command(args: argparse.Namespace, state_dir: str) -> int:
    from local.report import ApiError, default_html_path, fetch_kpis, render_html, render_table

    end: date = args.end or datetime.now(UTC).date()
    start: date = args.start or end - timedelta(days=REPORT_DAYS - 1)
    if start > end:
        print(f"oms report: error: --from {start} is after --to {end}", file=sys.stderr)
        return 2
    config = load_config(state_dir)
    token = args.token or get_token(config, "report-ops@example.com", ops=True)
    try:
        kpis = fetch_kpis(config["api_url"], token, start, end)
    except ApiError as exc:
        answered = f"the API answered {exc.status}: " if exc.status else ""
        print(f"oms report: {answered}{exc.message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(kpis, indent=2, ensure_ascii=False))
    else:
        print(render_table(kpis), end="")
    if args.html or not args.json:
        path = Path(args.html) if args.html else default_html_path(start, end)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(kpis), encoding="utf-8")
        print(f"HTML report: {path.resolve()}", file=sys.stderr if args.json else sys.stdout)
    return 0


def preview_command(args: argparse.Namespace, state_dir: str) -> int:
    from oms.domain.locales import normalize
    from oms.domain.messages import MissingTemplate
    from oms.domain.notification_policy import EVENTS

    if args.event not in EVENTS:
        print(f"unknown event {args.event!r}; one of: {', '.join(EVENTS)}", file=sys.stderr)
        return 2
    try:
        locale = normalize(args.locale)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    from local.preview import preview

    order = None
    if args.order:
        order = read_order(load_config(state_dir), args.order)
        if order is None:
            print(f"no order {args.order} on the local stack", file=sys.stderr)
            return 1
    try:
        message, path = preview(args.event, locale, order, Path(args.out))
    except MissingTemplate as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Subject: {message.subject}   (template {message.locale}, formats {locale})")
    print(f"HTML:    {path.resolve()}")
    print("\n--- text ---\n" + message.text)
    from oms.domain.sms import measure

    size = measure(message.sms)
    print(f"--- SMS ({size.units} {size.encoding} characters, {size.parts} part(s)) ---\n{message.sms}")
    return 0


def read_order(config: dict[str, Any], order_id: str) -> Any:
    from oms.adapters.ddb import from_item

    ddb = _client(config, "dynamodb")
    table = next(t for t in ddb.list_tables()["TableNames"] if "Orders" in t)
    item = ddb.get_item(TableName=table, Key={"order_id": {"S": order_id}}).get("Item")
    return from_item(item) if item else None


def redrive(config: dict[str, Any], only: str | None = None) -> dict[str, int]:
    """Move every dead-lettered message back to the queue it came from (as SQS's StartMessageMoveTask does on
    AWS), or only for the queues whose name contains ``only``. Consumers are idempotent: the notify function sends
    each (order, event, channel) once, and a carrier event applied twice changes nothing the second time."""
    sqs = _client(config, "sqs")
    moved: dict[str, int] = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        if only and only not in url.rsplit("/", 1)[-1]:
            continue
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
        policy = attributes.get("RedrivePolicy")
        if not policy:
            continue
        dlq_url = sqs.get_queue_url(QueueName=json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[-1])["QueueUrl"]
        count = 0
        while messages := sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                count += 1
        moved[url.rsplit("/", 1)[-1]] = count
    return moved


def replay_events(config: dict[str, Any], events: list[str]) -> list[str]:
    """Queue stored carrier events (``source:event_id``) again, e.g. after fixing what made them fail."""
    from oms.adapters.tracking_inbox import event_key

    sqs, ddb = _client(config, "sqs"), _client(config, "dynamodb")
    queue = next(u for u in sqs.list_queues().get("QueueUrls", []) if "TrackingEventsQueue" in u)
    table = next(t for t in ddb.list_tables()["TableNames"] if "TrackingEvents" in t)
    queued = []
    for spec in events:
        source, _, event_id = spec.partition(":")
        key = event_key(source, event_id)
        if not ddb.get_item(TableName=table, Key={"pk": {"S": key}, "sk": {"S": "event"}}).get("Item"):
            print(f"no stored event {spec}", file=sys.stderr)
            continue
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"key": key}))
        queued.append(key)
    return queued


def faults_command(config: dict[str, Any], verb: str, specs: list[str]) -> int:
    from local.faults import FaultBook, FaultError

    book = FaultBook(config["faults_file"])
    if verb == "clear":
        book.clear()
    elif verb == "add":
        added: list[dict[str, Any]] = []
        try:
            for spec in specs:
                data = json.loads(Path(spec[1:]).read_text() if spec.startswith("@") else spec)
                added += book.add(*(data if isinstance(data, list) else [data]))
        except (ValueError, FaultError) as exc:
            print(f"not added: {exc}", file=sys.stderr)
            return 2
        print("\n".join(f"added {f['id']}: {json.dumps(f)}" for f in added))
        return 0
    for fault in book.list():
        print(json.dumps(fault))
    return 0


if __name__ == "__main__":
    sys.exit(main())
