"""``python -m local``: the whole system on 127.0.0.1, no AWS account.

synthesize the CDK app -> start moto (every AWS service) -> deploy the templates into it -> run the real
handlers in warm child processes behind moto's Lambda -> serve the template's REST API -> poll the SQS
event sources -> seed through the API as an ops user -> write <state dir>/local.json -> run until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import requests

from local import cognito_codes, moto_patches, outbox
from local.deployer import ACCOUNT, REGION, Deployer, Deployment, deploy_all
from local.emf import EmfShipper
from local.faults import FaultBook
from local.gateway import Gateway
from local.lambda_runner import LambdaRunner, install
from local.pollers import SqsPoller, StreamPoller
from local.scheduler import Scheduler

log = logging.getLogger("local")
SEED_FILE = Path(__file__).with_name("seed.json")
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
                    "aws_session_token": "testing"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m local", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aws-port", type=int, default=5010, help="moto endpoint port (0 = pick a free one)")
    ap.add_argument("--api-port", type=int, default=8080, help="REST API port (0 = pick a free one)")
    ap.add_argument("--state-dir", default=".oms", help="where local.json and logs/ go")
    ap.add_argument("--app", default="infra.app:create_app", help="CDK app factory, module:function")
    ap.add_argument("--seed", default=str(SEED_FILE), help="seed file (products and stock)")
    ap.add_argument("--no-seed", action="store_true", help="do not seed the catalog and inventory")
    ap.add_argument("--log-level", default=os.environ.get("OMS_LOCAL_LOG_LEVEL", "INFO"))
    return ap.parse_args(argv)


class LocalStack:
    """The running pieces; ``start()`` brings them up, ``stop()`` tears them down."""

    def __init__(self, aws_port: int = 5010, api_port: int = 8080, state_dir: str | Path = ".oms",
                 app: str = "infra.app:create_app", region: str = REGION) -> None:
        self.aws_port = aws_port
        self.api_port = api_port
        self.state_dir = Path(state_dir).resolve()
        self.app = app
        self.region = region
        self.moto: Any = None
        self.runner: LambdaRunner | None = None
        self.gateway: Gateway | None = None
        self.pollers: list[SqsPoller | StreamPoller] = []
        self.scheduler: Scheduler | None = None
        self.deployment: Deployment | None = None
        self.faults: FaultBook | None = None
        self.emf: EmfShipper | None = None
        self.endpoint_url = ""
        self.timings: dict[str, float] = {}

    # -- bring up -----------------------------------------------------------------------------------

    def start(self) -> None:
        t0 = time.monotonic()
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        state_file = self.state_dir / "local.json"
        if state_file.exists():
            state_file.unlink()
        # CDK synth (~6-8 s, mostly node/jsii) runs while moto starts.
        with ThreadPoolExecutor(1) as pool:
            synth = pool.submit(self._synth)
            self._start_moto()
            stacks = synth.result()
        self.timings["synth+moto"] = time.monotonic() - t0
        session = boto3.Session(region_name=self.region, **FAKE_CREDENTIALS)
        self.deployment = deploy_all(Deployer(session, self.endpoint_url, self.region, ACCOUNT), stacks)
        self.timings["deploy"] = time.monotonic() - t0
        self.faults = FaultBook(self.state_dir / "faults.json")
        self.faults.clear()
        self.runner = LambdaRunner(self.deployment.functions, self.endpoint_url, self.state_dir / "logs",
                                   self.region, fault_book=self.faults)
        install(self.runner)
        # EMF in the function logs -> CloudWatch metrics, plus Lambda's and API Gateway's own metrics.
        self.emf = EmfShipper(self.state_dir / "logs", session.client("cloudwatch", endpoint_url=self.endpoint_url))
        self.runner.on_invoked = self.emf.lambda_invocation
        self.emf.start()
        self.gateway = Gateway(self.deployment, self.endpoint_url, session, self.region, port=self.api_port)
        self.gateway.on_request = self.emf.api_request
        self._serve_ops_page(session)
        self.gateway.local_routes[("GET", "/_local/outbox")] = lambda query: outbox.collect()
        self.gateway.local_routes[("GET", "/_local/health")] = lambda query: {"ready": True}
        # A customer replies STOP to an SMS: the number joins SNS's opt-out list (AWS has no API for that).
        self.gateway.local_routes[("POST", "/_local/sms/stop")] = lambda query: outbox.reply_stop(
            (query.get("phone") or [""])[0])
        docs = ApiDocs(self.gateway.url)
        self.gateway.local_routes[("GET", "/_local/openapi.json")] = lambda query: docs.document()
        self.gateway.local_routes[("GET", "/_local/docs")] = lambda query: docs.swagger_ui()
        self.gateway.start()
        self._point_links_here(session)
        lambda_client = session.client("lambda", endpoint_url=self.endpoint_url)
        for spec in self.deployment.event_sources:
            if spec.enabled and spec.function_name in self.deployment.functions and spec.kind == "dynamodb":
                poller = StreamPoller(spec, session.client("dynamodbstreams", endpoint_url=self.endpoint_url),
                                      lambda_client, session.client("sqs", endpoint_url=self.endpoint_url),
                                      self.region)
                poller.start()
                self.pollers.append(poller)
            elif spec.enabled and spec.function_name in self.deployment.functions:
                consumer = self.deployment.functions[spec.function_name].environment.get("POWERTOOLS_SERVICE_NAME", "")
                poller = SqsPoller(spec, session.client("sqs", endpoint_url=self.endpoint_url), lambda_client,
                                   self.region, fault_book=self.faults, consumer=consumer)
                poller.start()
                self.pollers.append(poller)
        self.scheduler = Scheduler(self.deployment, lambda_client)
        self.scheduler.start()

    def _serve_ops_page(self, session: Any) -> None:
        """``/_ops``: the dashboards of the template with the shipped metrics, the KPIs and the held orders."""
        from local.cli import get_token
        from local.ops_page import OPS_PAGE_USER, OpsPage
        from local.ops_page.dashboards import MotoStore

        assert self.gateway is not None
        store = MotoStore(ACCOUNT, self.region)
        page = OpsPage(session.client("cloudwatch", endpoint_url=self.endpoint_url), store,
                       mint_token=lambda: get_token(self.config(), OPS_PAGE_USER, ops=True), refresh=store.refresh)
        self.gateway.local_routes.update(page.routes())

    def _point_links_here(self, session: Any) -> None:
        """The template's public-URL parameter holds the API Gateway URL; here the API is served by the local
        gateway, so links in emails (the tracking page) point at it instead."""
        ssm = session.client("ssm", endpoint_url=self.endpoint_url)
        for resource in self.deployment.resources("AWS::SSM::Parameter"):
            ssm.put_parameter(Name=resource.ref, Value=self.gateway.url, Type="String", Overwrite=True)

    def _synth(self) -> list[tuple[str, dict[str, Any]]]:
        from local.synth import synthesize

        return synthesize(self.app)

    def _start_moto(self) -> None:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        for key, value in MOTO_CONFIG.items():
            default_user_config.setdefault(key, {}).update(value)  # type: ignore[attr-defined]
        moto_patches.install_all()
        if os.environ.get("OMS_CAPACITY_METER"):  # capacity units per request while recording (bench/capacity)
            from bench.capacity.meter import install as install_meter

            install_meter(os.environ["OMS_CAPACITY_METER"])
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.aws_port, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.aws_port = port
        self.endpoint_url = f"http://{host}:{port}"
        # moto's Step Functions interpreter calls Lambda at http://localhost:$MOTO_PORT
        os.environ["MOTO_PORT"] = str(port)
        cognito_codes.install(self.endpoint_url)  # sign-up and reset codes are mailed, worded by the trigger
        for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": self.region}.items():
            os.environ.setdefault(k, v)

    # -- facts for the CLI and tests -----------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        assert self.deployment is not None and self.gateway is not None
        dep = self.deployment
        pools = dep.resources("AWS::Cognito::UserPool")
        clients = dep.resources("AWS::Cognito::UserPoolClient")
        machines = dep.resources("AWS::StepFunctions::StateMachine")
        warehouses: list[str] = []
        sender = None
        for f in dep.functions.values():
            if not warehouses and f.environment.get("WAREHOUSES"):
                warehouses = [w.strip() for w in f.environment["WAREHOUSES"].split(",") if w.strip()]
            sender = sender or f.environment.get("SENDER_EMAIL")
        if sender is None:
            identities = dep.resources("AWS::SES::EmailIdentity")
            sender = identities[0].ref if identities else None
        return {
            "api_url": self.gateway.url,
            "aws_endpoint_url": self.endpoint_url,
            "region": self.region,
            "account_id": ACCOUNT,
            "user_pool_id": pools[0].ref if pools else None,
            "user_pool_client_id": clients[0].ref if clients else None,
            "state_machine_arn": _machine(machines, "OrderWorkflow"),
            "return_state_machine_arn": _machine(machines, "ReturnWorkflow"),
            "warehouses": warehouses,
            "webhook_secrets": self._webhook_secrets(),
            "sender_email": sender,
            "functions": {f.environment.get("POWERTOOLS_SERVICE_NAME", n): n for n, f in dep.functions.items()},
            "logs_dir": str(self.state_dir / "logs"),
            "faults_file": str(self.state_dir / "faults.json"),
            "pid": os.getpid(),
        }

    def _webhook_secrets(self) -> dict[str, str]:
        """Each tracking source's current signing secret (what a carrier would be given)."""
        assert self.deployment is not None
        env = next((f.environment for f in self.deployment.functions.values()
                    if "WEBHOOK_SECRETS_ARN" in f.environment), None)
        if env is None:
            return {}
        sm = boto3.client("secretsmanager", endpoint_url=self.endpoint_url, region_name=self.region,
                          **FAKE_CREDENTIALS)
        found: dict[str, str] = {}
        for source, variable, key in (("easypost", "WEBHOOK_SECRETS_ARN", "easypost"),
                                      ("aftership", "AFTERSHIP_SECRET_ARN", "current"),
                                      ("generic", "GENERIC_SECRET_ARN", "current")):
            if variable in env:
                data = json.loads(sm.get_secret_value(SecretId=env[variable])["SecretString"])
                found[source] = str(data.get(key, ""))
        return found

    def write_state(self) -> dict[str, Any]:
        config = self.config()
        tmp = self.state_dir / "local.json.tmp"
        tmp.write_text(json.dumps(config, indent=2) + "\n")
        tmp.replace(self.state_dir / "local.json")
        return config

    # -- seed ---------------------------------------------------------------------------------------

    def seed(self, seed_file: str | Path) -> int:
        """PUT the products and stock of ``seed_file`` through the API as an ops user; raise on any failure."""
        from local.cli import get_token

        config = self.config()
        data = json.loads(Path(seed_file).read_text())
        token = get_token(config, "seed-ops@example.com", ops=True)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        api = config["api_url"]
        calls = 0
        with requests.Session() as http:
            for sku, product in data.get("products", {}).items():
                _check(http.put(f"{api}/admin/products/{sku}", json=product, headers=headers, timeout=60))
                calls += 1
            for sku, stock in data.get("inventory", {}).items():
                per_warehouse = stock if isinstance(stock, dict) else {w: stock for w in config["warehouses"]}
                for warehouse, count in per_warehouse.items():
                    _check(http.put(f"{api}/admin/inventory/{sku}", headers=headers, timeout=60,
                                    json={"warehouse": warehouse, **_stock_body(count)}))
                    calls += 1
        return calls

    # -- tear down ----------------------------------------------------------------------------------

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.gateway is not None:
            self.gateway.stop()
        if self.runner is not None:
            self.runner.close()
        if self.emf is not None:
            self.emf.stop()
        if self.moto is not None:
            with contextlib.suppress(Exception):
                self.moto.stop()
        state_file = self.state_dir / "local.json"
        if state_file.exists():
            state_file.unlink()


class ApiDocs:
    """The OpenAPI document generated from the running code, and Powertools' Swagger UI page for it."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self._document: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def document(self) -> dict[str, Any]:
        with self._lock:
            if self._document is None:
                from scripts.openapi import document

                self._document = document(server_url=self.api_url)
            return self._document

    def swagger_ui(self) -> tuple[int, dict[str, str], bytes]:
        from aws_lambda_powertools.event_handler.openapi import swagger_ui

        assets = Path(swagger_ui.__file__).parent
        spec = json.dumps(self.document()).replace("</", "<\\/")
        html = swagger_ui.generate_swagger_html(
            spec, (assets / "swagger-ui-bundle.min.js").read_text(), (assets / "swagger-ui.min.css").read_text(),
            "", None, persist_authorization=True,
        )
        return 200, {"Content-Type": "text/html; charset=utf-8"}, html.encode()


def _machine(machines: list[Any], prefix: str) -> str | None:
    """The ARN of the state machine whose logical id starts with ``prefix`` (OrderWorkflow, ReturnWorkflow)."""
    found = [m.ref for m in machines if m.logical_id.startswith(prefix)]
    return found[0] if found else (machines[0].ref if machines and prefix == "OrderWorkflow" else None)


class SeedError(RuntimeError):
    pass


def _stock_body(count: int | dict[str, Any]) -> dict[str, Any]:
    """A seed count: units on hand, or ``{"on_hand", "incoming": [{"quantity", "eta_in_days"}]}`` (dated from
    today, so the seeded backorders never lie in the past)."""
    if isinstance(count, int):
        return {"on_hand": count}
    today = datetime.now(UTC).date()
    return {"on_hand": count["on_hand"], "incoming": [
        {"quantity": batch["quantity"], "eta": (today + timedelta(days=batch["eta_in_days"])).isoformat()}
        for batch in count.get("incoming", [])]}


def _check(resp: requests.Response) -> None:
    if resp.status_code >= 300:
        raise SeedError(f"seed: {resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text[:500]}")


def configure_logging(level: str, state_dir: Path) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    # moto's interpreter logs every caught task failure (Catch/Retry paths) at ERROR with the whole
    # parsed state; that belongs in a file, not on the console.
    noisy = logging.getLogger("moto.stepfunctions.parser")
    noisy.propagate = False
    noisy.addHandler(logging.FileHandler(state_dir / "logs" / "stepfunctions.log"))
    for name in ("werkzeug", "botocore", "urllib3", "moto"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    stack = LocalStack(args.aws_port, args.api_port, args.state_dir, args.app)
    (stack.state_dir / "logs").mkdir(parents=True, exist_ok=True)
    configure_logging(args.log_level, stack.state_dir)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        if not args.no_seed:
            calls = stack.seed(args.seed)
            log.info("seeded %d items through the API", calls)
        config = stack.write_state()
    except Exception as exc:
        log.error("local stack failed to start: %s", exc, exc_info=log.isEnabledFor(logging.DEBUG) or None)
        stack.stop()
        return 1
    elapsed = time.monotonic() - started
    print(banner(config, elapsed, stack), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping")
        stack.stop()
    return 0


def banner(config: dict[str, Any], elapsed: float, stack: LocalStack) -> str:
    return "\n".join([
        "",
        f"OMS local stack ready in {elapsed:.1f} s  (synth+moto {stack.timings.get('synth+moto', 0):.1f} s, "
        f"deploy {stack.timings.get('deploy', 0) - stack.timings.get('synth+moto', 0):.1f} s)",
        f"  API          {config['api_url']}   (stage v1 served at the root)",
        f"  AWS (moto)   {config['aws_endpoint_url']}   region {config['region']}",
        f"  state        {stack.state_dir / 'local.json'}",
        f"  logs         {config['logs_dir']}/<function>.log",
        "  tokens       TOKEN=$(oms token you@example.com)   ops: oms token ops@example.com --ops",
        "  try          curl -H \"Authorization: Bearer $TOKEN\" " + config["api_url"] + "/orders",
        f"  API docs     {config['api_url']}/_local/docs   (Swagger UI; paste a token under Authorize)",
        f"  ops page     {config['api_url']}/_ops   (dashboards, KPIs, held orders to approve or reject)",
        "  also         oms outbox [--order ID] | oms trace ORDER_ID | oms status",
        "Ctrl-C to stop.",
        "",
    ])
