"""The return workflow's timers on the local stack with its wait timers scaled (``timed_stack``: a day is about
2.6 s, the 14 days to send a parcel back about 36 s): ops are reminded of a review at its 24 h SLA and the policy
decides after 168 h; an approved return with nothing sent expires, while one with a parcel on its way does not.
The state machine is the synthesized one; only its clock is shorter. The three returns run side by side."""

import uuid

import pytest

from tests.e2e.client import Api
from tests.e2e.test_returns import ask, delivered, events_sent, product, receive, the_return, until, wait_return

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api(timed_stack):
    return Api(timed_stack)


@pytest.fixture(scope="module")
def tess(timed_stack):
    return timed_stack.token(f"tess-{uuid.uuid4().hex[:6]}@example.com")


def test_reviews_are_reminded_then_decided_by_policy_and_unsent_returns_expire(api, tess, timed_stack):
    sku = product(api)
    reviewed_order, unsent_order, sent_order = (delivered(api, tess, sku, quantity=1)["order_id"] for _ in range(3))
    reviewed = ask(api, tess, reviewed_order, [{"sku": sku, "quantity": 1, "reason": "DEFECTIVE"}]).json()
    unsent = ask(api, tess, unsent_order, [{"sku": sku, "quantity": 1, "reason": "SIZE_OR_FIT"}]).json()
    sent = ask(api, tess, sent_order, [{"sku": sku, "quantity": 1, "reason": "SIZE_OR_FIT"}]).json()
    rma = reviewed["return_id"]
    wait_return(api, tess, sent_order, sent["return_id"], "APPROVED")
    parcel = f"1ZRET{uuid.uuid4().hex[:10].upper()}"
    assert api.call("POST", f"/orders/{sent_order}/returns/{sent['return_id']}/parcel", tess,
                    json={"carrier": "UPS", "tracking_number": parcel}).status_code == 200

    # The review: reminded at each SLA, then decided by the policy's default at its limit.
    def reminded() -> bool:
        alerts = timed_stack.outbox()["alerts"]
        return any(rma in (a["subject"] or "") and "waits for review" in a["subject"] for a in alerts)
    until(reminded, timeout=20)
    assert the_return(api, tess, reviewed_order, rma)["status"] == "REQUESTED"
    approved = wait_return(api, tess, reviewed_order, rma, "APPROVED", timeout=40)
    ops_view = api.call("GET", f"/admin/returns/{rma}", api.ops).json()
    assert ops_view["approval"]["by"] == "policy" and ops_view["reminders"] >= 6
    assert "168 hours" in ops_view["approval"]["note"] and approved["ship_by"]

    # Nothing sent back in 14 days: expired, emailed, and the unit may be returned again.
    expired = wait_return(api, tess, unsent_order, unsent["return_id"], "EXPIRED", timeout=60)
    assert expired["timeline"][-1]["event"] == "return_expired"
    until(lambda: "return_expired" in events_sent(api, unsent_order))
    again = ask(api, tess, unsent_order, [{"sku": sku, "quantity": 1, "reason": "SIZE_OR_FIT"}])
    assert again.status_code == 201, again.text

    # The return whose parcel was registered was not expired: it waits for the parcel, and settles when it comes.
    assert the_return(api, tess, sent_order, sent["return_id"])["status"] == "APPROVED"
    assert receive(api, sent["return_id"], [{"sku": sku, "quantity": 1, "condition": "RESELLABLE"}]).status_code == 200
    assert wait_return(api, tess, sent_order, sent["return_id"], "CLOSED")["refund_amount"] > 0
