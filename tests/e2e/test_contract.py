"""Contract test: schemathesis drives the running local stack with cases generated from docs/openapi.json.

Every operation of the document runs as each role: with a customer token and with an ops token when it declares
``security``, once without a token otherwise (the signed webhook). For each operation and role, schemathesis
generates ``OMS_CONTRACT_EXAMPLES`` cases, valid ("positive") and invalid ("negative") for the document, sends
them over HTTP exactly as generated (plus the role's ``Authorization``) and checks every response:

- ``not_a_server_error``: no 5xx, documented or not;
- ``status_code_conformance``: the status code is documented for the operation;
- ``content_type_conformance``: the Content-Type is one documented for that status;
- ``response_schema_conformance``: the body matches the schema documented for that status;
- ``response_headers_conformance``: headers documented for that status match their schema (and are there when
  ``required``);
- ``ignored_auth``: whenever a request with a token succeeds (2xx), it is sent again without a token and with a
  made-up one, and must get 401 or 403.

Negative cases include requests without the ``Authorization`` header (the document's security scheme makes it a
required header), so unauthenticated answers are checked too.

Business outcomes are not judged. A valid-by-the-document request may be refused by a business rule (an unknown
SKU or currency, a cursor the API did not issue, a rejection without a note), as long as that status and its
body are documented: ``positive_data_acceptance`` is off. Invalid input must not get a 5xx or an undocumented
answer, but accepting it is not a failure: ``negative_data_rejection`` is off, as it reports requests whose only
invalid parts are an unknown extra query parameter (which the handlers ignore) or an ``Authorization`` header
the generator dropped and the harness sends anyway. Add either with ``OMS_CONTRACT_CHECKS``.

Where the document has examples (a complete order for ``POST /orders``), they are a third of the cases, so a
placement reaches 201 and its body and headers are checked.

Random ids almost never exist, so half of the positive cases get the id of a real resource in their path
(``sku``: a product with stock; ``order_id``: an order of the customer), created before the run: that lets them
reach past 404 to the success and conflict answers.

All cases run (no stop at the first failure, no shrinking): violations are collected, then reported once per
operation and role, grouped by status code and failed checks, each group with its shortest reproduction
(tokens and keys are filtered out of the curl commands). ``-v`` also prints the statuses seen per operation.

Knobs (environment):
- ``OMS_CONTRACT_EXAMPLES``: cases per operation and role (default 6; ``make fuzz`` runs 500);
- ``OMS_CONTRACT_SEED``: replay a run's cases (every report prints its seed); default: a new seed per run;
- ``OMS_CONTRACT_CHECKS``: more schemathesis checks, comma-separated (e.g. ``negative_data_rejection``).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import requests.adapters
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.errors import FailureGroup

pytestmark = pytest.mark.e2e

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
EXAMPLES = int(os.environ.get("OMS_CONTRACT_EXAMPLES", "6"))
SEED = int(os.environ.get("OMS_CONTRACT_SEED") or random.SystemRandom().randrange(2**32))
CHECKS = [
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
    "response_headers_conformance", "ignored_auth",
    *(name.strip() for name in os.environ.get("OMS_CONTRACT_CHECKS", "").split(",") if name.strip()),
]
CUSTOMER = "contract-customer@example.com"
OPS = "contract-ops@example.com"
TIMEOUT = 30

SCHEMA = schemathesis.openapi.from_path(DOCUMENT, config=schemathesis.Config.from_dict({
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
}))
OPERATIONS = {operation.label: operation for operation in (result.ok() for result in SCHEMA.get_all_operations())}


def _roles(label: str) -> list[str]:
    method, path = label.split(" ", 1)
    definition = SCHEMA.raw_schema["paths"][path][method.lower()]
    secured = definition.get("security", SCHEMA.raw_schema.get("security"))
    return ["customer", "ops"] if secured else ["anonymous"]


@dataclass
class Violation:
    """Cases that got the same status code and failed the same checks."""

    status: int
    titles: tuple[str, ...]
    count: int = 0
    sample: str = ""


@dataclass
class Outcome:
    """What one operation did as one role: the statuses it answered, and its contract violations, grouped."""

    label: str
    role: str
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    violations: dict[tuple[int, tuple[str, ...]], Violation] = field(default_factory=dict)

    def record(self, status: int, titles: tuple[str, ...], sample: str) -> None:
        violation = self.violations.setdefault((status, titles), Violation(status, titles))
        violation.count += 1
        if not violation.sample or len(sample) < len(violation.sample):
            violation.sample = sample

    def seen(self) -> str:
        return ", ".join(f"{status} x{n}" for status, n in sorted(self.statuses.items()))

    def report(self) -> str:
        lines = [f"{self.label} as {self.role}: {len(self.violations)} kind(s) of contract violation in "
                 f"{self.cases} cases (statuses seen: {self.seen()})",
                 f"replay: OMS_CONTRACT_SEED={SEED} OMS_CONTRACT_EXAMPLES={EXAMPLES}"]
        for v in sorted(self.violations.values(), key=lambda v: (v.status, v.titles)):
            lines.append(f"\n--- {v.status}: {' + '.join(v.titles)} ({v.count} of {self.cases} cases); shortest:")
            lines.extend(f"    {line}" if line else "" for line in v.sample.strip().splitlines())
        return "\n".join(lines)


@dataclass
class ContractRun:
    session: requests.Session
    requests: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


def _generated_as(case: schemathesis.Case, known: list[str]) -> str:
    meta = case.meta
    if meta is None:
        return "Generated: ?"
    description = getattr(meta.phase.data, "description", None)
    return (f"Generated: {meta.generation.mode.value}" + (f" ({description})" if description else "")
            + (f"; path uses an existing {' and '.join(known)}" if known else ""))


@pytest.fixture(scope="module")
def contract_run(request, local_stack):
    """One keep-alive session; counts every request to the API (``ignored_auth`` probes too); prints a summary."""
    send = requests.adapters.HTTPAdapter.send

    def counting_send(adapter, prepared, *args, **kwargs):
        if str(prepared.url).startswith(local_stack.api_url):
            run.requests += 1
        return send(adapter, prepared, *args, **kwargs)

    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch, requests.Session() as session:
        run = ContractRun(session)
        patch.setattr(requests.adapters.HTTPAdapter, "send", counting_send)
        yield run
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not run.outcomes:
        return
    with capture.global_and_fixture_disabled():
        if request.config.get_verbosity() > 0:
            for outcome in run.outcomes:
                reporter.write_line(f"contract: {outcome.label} as {outcome.role}: {outcome.seen()}")
        else:
            reporter.write("\n")  # off the line of progress dots
        reporter.write_line(
            f"contract: {sum(o.cases for o in run.outcomes)} cases, {run.requests} requests in "
            f"{time.monotonic() - started:.1f} s (OMS_CONTRACT_EXAMPLES={EXAMPLES}, OMS_CONTRACT_SEED={SEED})")


@pytest.fixture(scope="module")
def role_headers(local_stack):
    return {
        "customer": {"Authorization": f"Bearer {local_stack.token(CUSTOMER)}"},
        "ops": {"Authorization": f"Bearer {local_stack.token(OPS, ops=True)}"},
        "anonymous": {},
    }


@pytest.fixture(scope="module")
def known_ids(api, local_stack):
    """Path parameter values of resources that exist: a product with stock, an order of the customer (one in
    progress, one delivered), a return of the delivered one, the customer's saved address and card, and the
    customer's id (ops' erasure of it is refused while the order is in progress)."""
    ids: dict[str, list[str]] = {"sku": [api.product()]}
    customer = local_stack.token(CUSTOMER)
    placed = api.place(customer, ids["sku"][0])
    if placed.status_code == 201:  # if placing is broken, the POST /orders cases report it
        ids["order_id"] = [placed.json()["order_id"]]
    delivered = _delivered_order(api, customer, ids["sku"][0])
    if delivered is not None:
        ids.setdefault("order_id", []).append(delivered)
        answer = api.call("POST", f"/orders/{delivered}/returns", customer,
                          json={"lines": [{"sku": ids["sku"][0], "quantity": 1, "reason": "SIZE_OR_FIT"}]},
                          headers={"Idempotency-Key": "contract-return"})
        if answer.status_code == 201:
            ids["return_id"] = [answer.json()["return_id"]]
    # The customer's own account: an address, a saved card, and their id (whose erasure the open order blocks).
    address = api.call("POST", "/customers/me/addresses", customer,
                       json={"address": {"name": "Cora Contract", "line1": "1 Spec St", "city": "Schema",
                                         "postal_code": "12345", "country": "US"}})
    if address.status_code == 201:
        ids["address_id"] = [address.json()["address_id"]]
    card = api.call("POST", "/customers/me/payment-methods", customer, json={"token": "tok_visa"})
    if card.status_code == 201:
        ids["payment_method_id"] = [card.json()["payment_method_id"]]
    me = api.call("GET", "/customers/me", customer)
    if me.status_code == 200:
        ids["customer_id"] = [me.json()["customer_id"]]
    return ids


def _delivered_order(api: Any, token: str, sku: str) -> str | None:
    """An order of two units, shipped and delivered (None if any step fails: its own cases report that)."""
    import uuid

    placed = api.place(token, sku, 2)
    if placed.status_code != 201:
        return None
    order_id = placed.json()["order_id"]
    try:
        api.wait(token, order_id, "PROCESSING")
        number = f"1Z{uuid.uuid4().hex[:12].upper()}"
        api.call("POST", f"/admin/orders/{order_id}/shipments", api.ops,
                 json={"carrier": "UPS", "tracking_number": number})
        api.wait(token, order_id, "SHIPPED")
        api.tracking(number, "delivered")
        api.wait(token, order_id, "DELIVERED")
    except AssertionError:
        return None
    return order_id


@pytest.mark.parametrize(
    ("label", "role"),
    [pytest.param(label, role, id=f"{label} as {role}") for label in OPERATIONS for role in _roles(label)],
)
def test_operation_honours_the_document(label, role, local_stack, role_headers, known_ids, contract_run):
    operation = OPERATIONS[label]
    outcome = Outcome(label, role)
    contract_run.outcomes.append(outcome)
    transport: dict[str, Any] = {"base_url": local_stack.api_url, "session": contract_run.session,
                                 "timeout": TIMEOUT, "headers": role_headers[role]}

    strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
    strategies += operation.get_strategies_from_examples(fill_missing=True)  # the document's examples

    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=False, verbosity=Verbosity.quiet,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=st.one_of(strategies), use_known_ids=st.booleans(), pick=st.integers(0, 1))
    def exercise(case: schemathesis.Case, use_known_ids: bool, pick: int) -> None:
        known: list[str] = []
        if use_known_ids and case.meta is not None and case.meta.generation.mode.is_positive:
            for name, values in known_ids.items():
                if case.path_parameters and name in case.path_parameters:
                    # A return's path needs its own (delivered) order; elsewhere either order.
                    use = -1 if "return_id" in case.path_parameters else pick
                    case.path_parameters[name] = values[use % len(values)]
                    known.append(name)
        outcome.cases += 1
        try:
            response = case.call(**transport)
        except requests.RequestException as exc:
            outcome.record(0, (f"No response: {type(exc).__name__}",),
                           f"{exc}\n\n{_generated_as(case, known)}\n\n{case.as_curl_command()}")
            return
        outcome.statuses[response.status_code] += 1
        try:
            case.validate_response(response, headers=transport["headers"], transport_kwargs=transport)
        except FailureGroup as group:
            titles = tuple(sorted({failure.title for failure in group.exceptions}))
            outcome.record(response.status_code, titles, f"{_generated_as(case, known)}\n\n{group.message}")

    exercise()
    if outcome.violations:
        pytest.fail(outcome.report(), pytrace=False)
