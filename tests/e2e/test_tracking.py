"""Tracking over HTTP on the local stack: each source's documented payload, duplicates and out-of-order events,
a replayed generic event, an unknown tracking number parked then applied, the customer's tracking and the public
page behind the shipped email's signed link."""

import json
import re
import time
import uuid

import boto3
import requests

from oms.domain.webhook_signatures import aftership_signature, generic_signature


def _shipped(api, token, tracking=None):
    order_id = api.place(token, api.product()).json()["order_id"]
    api.wait(token, order_id, "PROCESSING")
    tracking = tracking or f"1Z{uuid.uuid4().hex[:12].upper()}"
    answer = api.call("POST", f"/admin/orders/{order_id}/shipments", api.ops,
                      json={"carrier": "UPS", "tracking_number": tracking})
    assert answer.status_code == 201, answer.text
    api.wait(token, order_id, "SHIPPED")
    return order_id, tracking


def _aftership(api, local_stack, tracking, tag, at, event_id=None):
    body = json.dumps({"event": "tracking_update", "event_id": event_id or str(uuid.uuid4()), "ts": int(time.time()),
                       "is_tracking_first_tag": True, "msg": {
                           "tracking_number": tracking, "slug": "ups", "tag": tag, "subtag": f"{tag}_001",
                           "courier_tracking_link": f"https://www.ups.com/track?tracknum={tracking}",
                           "checkpoints": [{"checkpoint_time": at, "tag": tag, "message": f"{tag} scan",
                                            "city": "Austin", "state": "TX", "country_region": "USA"}]}})
    secret = local_stack.config["webhook_secrets"]["aftership"]
    return api.call("POST", "/webhooks/tracking/aftership", data=body, headers={
        "aftership-hmac-sha256": aftership_signature(body.encode(), secret), "Content-Type": "application/json"})


def _generic(api, local_stack, tracking, status, at, event_id=None, timestamp=None):
    body = json.dumps({"event_id": event_id or f"g-{uuid.uuid4().hex[:12]}", "tracking_number": tracking,
                       "carrier": "UPS", "status": status, "occurred_at": at, "location": "Austin, TX",
                       "message": status.replace("_", " ").lower()})
    secret = local_stack.config["webhook_secrets"]["generic"]
    signature = generic_signature(body.encode(), secret, timestamp or int(time.time()))
    return api.call("POST", "/webhooks/tracking/generic", data=body,
                    headers={"X-Signature": signature, "Content-Type": "application/json"})


def _tracking(api, token, order_id, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        view = api.call("GET", f"/orders/{order_id}/tracking", token).json()
        if predicate(view) or time.monotonic() > deadline:
            return view
        time.sleep(0.3)


def _hours_ago(hours):
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def test_three_sources_in_and_out_of_order_with_duplicates_reach_delivered(api, ann, local_stack):
    order_id, tracking = _shipped(api, ann)
    event_id = f"g-{uuid.uuid4().hex[:8]}"
    first = _generic(api, local_stack, tracking, "IN_TRANSIT", _hours_ago(5), event_id=event_id)
    assert first.status_code == 200 and first.json()["result"] == "accepted"
    again = _generic(api, local_stack, tracking, "IN_TRANSIT", _hours_ago(5), event_id=event_id)
    assert again.json()["result"] == "duplicate"
    assert _aftership(api, local_stack, tracking, "OutForDelivery", _hours_ago(1)).status_code == 200
    # A late, older scan: it joins the history and moves nothing back.
    assert _aftership(api, local_stack, tracking, "InTransit", _hours_ago(10)).status_code == 200
    view = _tracking(api, ann, order_id, lambda v: v["shipments"][0]["tracking_status"] == "OUT_FOR_DELIVERY"
                     and len(v["shipments"][0]["events"]) == 3)
    shipment = view["shipments"][0]
    assert shipment["tracking_status"] == "OUT_FOR_DELIVERY", view
    assert [e["at"] for e in shipment["events"]] == sorted((e["at"] for e in shipment["events"]), reverse=True)
    assert {e["raw_status"] for e in shipment["events"]} == {"IN_TRANSIT", "OutForDelivery", "InTransit"}
    texts = [s for s in local_stack.outbox(order_id)["sms"] if "out for delivery" in s["text"]]
    assert len(texts) == 1  # the e2e client's orders opted in to SMS
    assert api.tracking(tracking, "delivered").json()["result"] == "accepted"
    order = api.wait(ann, order_id, "DELIVERED")
    assert order["shipments"][0]["status"] == "delivered" and order["shipments"][0]["tracking_status"] == "DELIVERED"


def test_a_generic_event_replayed_outside_the_tolerance_is_refused(api, ann, local_stack):
    _, tracking = _shipped(api, ann)
    stale = _generic(api, local_stack, tracking, "IN_TRANSIT", "2026-12-03T08:00:00+00:00",
                     timestamp=int(time.time()) - 301)
    assert stale.status_code == 401 and stale.json()["code"] == "invalid_signature"
    forged = api.call("POST", "/webhooks/tracking/aftership", data="{}", headers={
        "aftership-hmac-sha256": "AAAA", "Content-Type": "application/json"})
    assert forged.status_code == 401


def test_an_unknown_tracking_number_is_parked_then_applied_when_it_ships(api, ann, local_stack):
    tracking = f"EARLY{uuid.uuid4().hex[:10].upper()}"
    assert _generic(api, local_stack, tracking, "IN_TRANSIT", "2026-12-03T08:00:00+00:00").json()[
        "result"] == "accepted"
    time.sleep(2)  # processed, and parked: no shipment has the number yet
    order_id, _ = _shipped(api, ann, tracking)
    view = _tracking(api, ann, order_id, lambda v: v["shipments"][0]["tracking_status"] == "IN_TRANSIT")
    assert view["shipments"][0]["tracking_status"] == "IN_TRANSIT", view


def test_the_shipped_email_links_to_a_public_page_that_expires_and_cannot_be_forged(api, ann, local_stack):
    order_id, tracking = _shipped(api, ann)
    deadline = time.monotonic() + 30
    link = None
    while link is None and time.monotonic() < deadline:
        mails = [m for m in local_stack.outbox(order_id)["email"] if "shipped" in (m["subject"] or "")]
        found = re.search(r"(http://\S+/track/\S+)", mails[0]["text"]) if mails else None
        link = found.group(1) if found else None
        time.sleep(0.3)
    assert link and link.startswith(local_stack.api_url), link
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and page.json()["shipments"][0]["tracking_number"] == tracking
    assert not {"shipping_address", "contact", "total", "lines", "customer_id"} & set(page.json())
    html = requests.get(link, headers={"Accept": "text/html"}, timeout=10)
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    assert tracking in html.text and "Ann Lee" not in html.text and "ann@example.com" not in html.text
    token = link.rsplit("/", 1)[-1]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert requests.get(link.replace(token, forged), timeout=10).status_code == 404
    other = requests.get(link.replace(order_id, "ord_" + "0" * 24), timeout=10)
    assert other.status_code == 404  # another order's id under this signature

    from oms.domain.tracking_links import sign
    config = local_stack.config
    secrets = boto3.client("secretsmanager", endpoint_url=config["aws_endpoint_url"], region_name=config["region"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    arn = next(s["ARN"] for s in secrets.list_secrets()["SecretList"] if "TrackingLink" in s["Name"])
    key = secrets.get_secret_value(SecretId=arn)["SecretString"].encode()
    expired = sign(order_id, key, time.time() - 91 * 86400)
    gone = requests.get(link.replace(token, expired), timeout=10)
    assert gone.status_code == 410 and gone.json()["code"] == "link_expired"


def test_a_dead_lettered_event_is_replayed_with_oms_webhooks_replay(api, ann, local_stack):
    """Processing keeps failing (a fault on tracking_events): after 5 receives the event is in the DLQ, the order
    unchanged; once fixed, ``oms webhooks replay`` moves it back and the order is delivered."""
    from local.cli import main, redrive
    from local.faults import FaultBook

    order_id, tracking = _shipped(api, ann)
    book = FaultBook(local_stack.config["faults_file"])
    book.add({"action": "aws:lambda:invocation-error", "function": "tracking_events", "when": "before"})
    try:
        assert _generic(api, local_stack, tracking, "DELIVERED", _hours_ago(0)).json()["result"] == "accepted"
        config = local_stack.config
        sqs = boto3.client("sqs", endpoint_url=config["aws_endpoint_url"], region_name=config["region"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        dlq = next(u for u in sqs.list_queues()["QueueUrls"] if "TrackingEventsDlq" in u)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            depth = int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"]["ApproximateNumberOfMessages"])
            if depth:
                break
            time.sleep(1)
        assert depth == 1
        assert api.order(ann, order_id)["status"] == "SHIPPED"
    finally:
        book.clear()
    assert main(["--state-dir", str(local_stack.state_dir), "webhooks", "replay"]) == 0
    assert list(redrive(local_stack.config, only="TrackingEvents").values()) == [0]  # nothing left behind
    order = api.wait(ann, order_id, "DELIVERED", timeout=30)
    assert order["shipments"][0]["tracking_status"] == "DELIVERED"
