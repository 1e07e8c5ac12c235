"""Saved cards in the sandbox gateway (a Stripe Customer with PaymentMethods attached), on a sandbox ledger table
in moto, defined as ``infra/workflow_stack.py`` defines it (keyed by ``authorization_id``, the object's id)."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from oms.adapters.aws import reset
from oms.adapters.payment_gateway import SandboxGateway
from oms.domain.errors import PaymentDeclined, PaymentGatewayError

LEDGER = "oms-sandbox-ledger"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxGateway]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset()
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=LEDGER, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "authorization_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "authorization_id", "AttributeType": "S"}])
        yield SandboxGateway(LEDGER)
    reset()


def customer_of(gateway: SandboxGateway, reference: str = "cust-1") -> str:
    return gateway.create_customer(reference=reference, idempotency_key=f"{reference}:gateway-customer")


def saved(gateway: SandboxGateway, customer: str, token: str = "tok_visa", key: str = "cust-1:card:1") -> str:
    return gateway.save_card(customer=customer, token=token, idempotency_key=key)["payment_method_id"]


def hold(gateway: SandboxGateway, method: str, customer: str, key: str = "ord-1:authorize") -> str:
    return gateway.authorize(token=method, amount=1000, currency="EUR", idempotency_key=key, customer=customer)


def kinds(gateway: SandboxGateway, prefix: str) -> list[dict]:
    return [o for o in gateway.objects() if o["authorization_id"].startswith(prefix)]


def test_a_customer_keeps_only_our_reference_and_the_same_key_is_the_same_customer(gateway):
    customer = customer_of(gateway)

    assert customer.startswith("cus_sandbox_") and customer_of(gateway) == customer
    (stored,) = kinds(gateway, "cus_")
    assert stored["reference"] == "cust-1" and not {"email", "name"} & set(stored)
    with pytest.raises(PaymentDeclined) as reused:  # the same key for another customer: Stripe's idempotency_error
        gateway.create_customer(reference="cust-2", idempotency_key="cust-1:gateway-customer")
    assert reused.value.code == "idempotency_error"


@pytest.mark.parametrize(("token", "brand", "last4"), [
    ("tok_visa", "visa", "4242"), ("tok_visa_debit", "visa", "5556"), ("tok_mastercard", "mastercard", "4444"),
    ("tok_amex", "amex", "8431"), ("tok_discover", "discover", "1117"),
])
def test_save_card_answers_brand_last4_and_a_future_expiry_and_keeps_no_card_number(gateway, token, brand, last4):
    customer = customer_of(gateway)

    card = gateway.save_card(customer=customer, token=token, idempotency_key="cust-1:card:1")

    assert card["payment_method_id"].startswith("pm_sandbox_")
    assert (card["brand"], card["last4"]) == (brand, last4)
    assert (card["exp_month"], card["exp_year"]) == (12, datetime.now(UTC).year + 3)
    everything = repr(gateway.objects())
    assert not re.search(r"\d{12,19}", everything)  # a token's name, the brand, last4, expiry: never a number


def test_saving_again_with_the_same_key_is_one_payment_method(gateway):
    customer = customer_of(gateway)

    first = gateway.save_card(customer=customer, token="tok_visa", idempotency_key="cust-1:card:1")
    again = gateway.save_card(customer=customer, token="tok_visa", idempotency_key="cust-1:card:1")

    assert again == first
    assert [m["authorization_id"] for m in kinds(gateway, "pm_")] == [first["payment_method_id"]]
    with pytest.raises(PaymentDeclined) as reused:
        gateway.save_card(customer=customer, token="tok_mastercard", idempotency_key="cust-1:card:1")
    assert reused.value.code == "idempotency_error"


def test_a_saved_card_holds_funds_and_the_hold_captures(gateway):
    customer = customer_of(gateway)
    method = saved(gateway, customer)

    authorization_id = hold(gateway, method, customer)

    assert authorization_id.startswith("pi_sandbox_")
    assert hold(gateway, method, customer) == authorization_id  # the same key: the same hold
    assert gateway.find_authorization("ord-1:authorize") == {
        "authorization_id": authorization_id, "status": "requires_capture", "amount": 1000}
    charge = gateway.capture(authorization_id=authorization_id, amount=1000, idempotency_key="ord-1:capture")
    assert charge.startswith("ch_sandbox_")
    assert [(i["status"], i["payment_method"], i["customer"]) for i in gateway.ledger()] == [
        ("succeeded", method, customer)]
    assert hold(gateway, method, customer, key="ord-2:authorize") != authorization_id  # saved: good again


def test_a_detached_card_is_refused_and_detaching_again_is_done(gateway):
    customer = customer_of(gateway)
    method = saved(gateway, customer)

    gateway.detach_card(payment_method_id=method)
    gateway.detach_card(payment_method_id=method)
    gateway.detach_card(payment_method_id="pm_sandbox_neverexisted")

    with pytest.raises(PaymentDeclined) as declined:
        hold(gateway, method, customer)
    assert declined.value.code == "resource_missing"
    assert "does not have a payment method" in declined.value.message
    with pytest.raises(PaymentDeclined) as refused:  # Stripe never attaches a detached payment method again
        gateway.save_card(customer=customer, token=method, idempotency_key="cust-1:card:2")
    assert "may not be used again" in refused.value.message
    assert gateway.ledger() == []


def test_a_card_saved_for_another_customer_is_refused(gateway):
    ann, bob = customer_of(gateway, "cust-ann"), customer_of(gateway, "cust-bob")
    anns_card = saved(gateway, ann, key="cust-ann:card:1")

    with pytest.raises(PaymentDeclined) as declined:
        hold(gateway, anns_card, bob)
    assert declined.value.code == "resource_missing"
    with pytest.raises(PaymentDeclined) as refused:
        gateway.save_card(customer=bob, token=anns_card, idempotency_key="cust-bob:card:1")
    assert "already been attached" in refused.value.message
    assert gateway.save_card(customer=ann, token=anns_card, idempotency_key="cust-ann:card:2")[
        "payment_method_id"] == anns_card  # attaching to its own customer again changes nothing
    assert gateway.ledger() == []


def test_a_token_or_an_unknown_customer_is_refused_for_a_saved_card_hold(gateway):
    customer = customer_of(gateway)
    method = saved(gateway, customer)

    with pytest.raises(PaymentDeclined) as not_saved:
        hold(gateway, "tok_visa", customer)
    assert not_saved.value.code == "resource_missing" and "tok_visa" not in not_saved.value.message
    with pytest.raises(PaymentDeclined) as unknown:
        hold(gateway, method, "cus_sandbox_nobody", key="ord-2:authorize")
    assert unknown.value.code == "resource_missing"


@pytest.mark.parametrize(("token", "code"), [
    ("tok_chargeDeclined", "generic_decline"),
    ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ("tok_chargeDeclinedExpiredCard", "expired_card"),
    ("tok_visa_chargeDeclinedStolenCard", "stolen_card"),
])
def test_a_declining_card_cannot_be_saved(gateway, token, code):
    customer = customer_of(gateway)

    with pytest.raises(PaymentDeclined) as declined:
        gateway.save_card(customer=customer, token=token, idempotency_key="cust-1:card:1")

    assert declined.value.code == code
    assert kinds(gateway, "pm_") == []


def test_a_processing_error_while_saving_is_a_gateway_error_and_an_unknown_token_a_refusal(gateway):
    customer = customer_of(gateway)

    with pytest.raises(PaymentGatewayError, match="processing_error"):
        gateway.save_card(customer=customer, token="tok_chargeDeclinedProcessingError", idempotency_key="k1")
    with pytest.raises(PaymentDeclined) as unknown:
        gateway.save_card(customer=customer, token="tok_1SecretLookingToken", idempotency_key="k2")
    assert unknown.value.code == "resource_missing" and "tok_1SecretLookingToken" not in unknown.value.message
    with pytest.raises(PaymentDeclined) as nobody:
        gateway.save_card(customer="cus_sandbox_nobody", token="tok_visa", idempotency_key="k3")
    assert nobody.value.code == "resource_missing"
    assert kinds(gateway, "pm_") == []


def test_a_card_that_fails_after_attaching_is_saved_then_declined(gateway):
    customer = customer_of(gateway)
    card = gateway.save_card(customer=customer, token="tok_chargeCustomerFail", idempotency_key="cust-1:card:1")
    assert (card["brand"], card["last4"]) == ("visa", "0341")

    with pytest.raises(PaymentDeclined) as declined:
        hold(gateway, card["payment_method_id"], customer)

    assert declined.value.code == "generic_decline"
    assert gateway.find_authorization("ord-1:authorize") is None


def test_the_customer_fail_card_holds_once_and_is_declined_at_reauthorization(gateway):
    """Without a Customer it authorizes (Stripe: only charges through a Customer fail); re-authorizing goes through
    one, in Stripe's gateway as here."""
    old = gateway.authorize(token="tok_chargeCustomerFail", amount=1000, currency="EUR", idempotency_key="ord-1:a")

    with pytest.raises(PaymentDeclined) as declined:
        gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR", idempotency_key="ord-1:reauth:1")

    assert declined.value.code == "generic_decline"
    assert [i["status"] for i in gateway.ledger()] == ["requires_capture"]  # the old hold stands


def test_reauthorize_a_saved_card_hold_holds_the_same_card_again(gateway):
    customer = customer_of(gateway)
    method = saved(gateway, customer)
    old = hold(gateway, method, customer)

    new = gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR", idempotency_key="ord-1:reauth:1")

    assert new != old and new == gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR",
                                                     idempotency_key="ord-1:reauth:1")
    renewed = next(i for i in gateway.ledger() if i["authorization_id"] == new)
    assert (renewed["status"], renewed["payment_method"], renewed["customer"]) == ("requires_capture", method,
                                                                                   customer)
    gateway.void(authorization_id=old, idempotency_key="ord-1:void-superseded:1")
    assert gateway.capture(authorization_id=new, amount=1000, idempotency_key="ord-1:capture").startswith("ch_")


def test_reauthorize_after_the_card_was_detached_is_refused(gateway):
    customer = customer_of(gateway)
    method = saved(gateway, customer)
    old = hold(gateway, method, customer)
    gateway.detach_card(payment_method_id=method)

    with pytest.raises(PaymentDeclined) as declined:
        gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR", idempotency_key="ord-1:reauth:1")

    assert declined.value.code == "resource_missing"
    assert [i["status"] for i in gateway.ledger()] == ["requires_capture"]


# --- deleting the customer (an erased account) ------------------------------------------------------------------


def test_deleting_the_customer_detaches_its_cards_and_forgets_our_reference(gateway):
    customer = customer_of(gateway)
    visa, amex = saved(gateway, customer), saved(gateway, customer, token="tok_amex", key="cust-1:card:2")
    old = hold(gateway, visa, customer)
    (stored,) = kinds(gateway, "cus_")
    assert sorted(stored["payment_methods"]) == sorted([visa, amex])  # what the delete finds, without a scan

    gateway.delete_customer(customer=customer)

    (stored,) = kinds(gateway, "cus_")
    assert stored["deleted"] is True and "reference" not in stored and "idempotency_key" not in stored
    assert "cust-1" not in repr(stored)  # nothing left that names our customer
    assert [m.get("customer") for m in kinds(gateway, "pm_")] == [None, None]  # both detached
    with pytest.raises(PaymentDeclined) as declined:
        hold(gateway, visa, customer, key="ord-2:authorize")
    assert declined.value.code == "resource_missing" and "No such customer" in declined.value.message
    with pytest.raises(PaymentDeclined) as reauthorization:
        gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR", idempotency_key="ord-1:reauth:1")
    assert reauthorization.value.code == "resource_missing"
    with pytest.raises(PaymentDeclined) as elsewhere:  # a detached card is never attached again
        gateway.save_card(customer=customer_of(gateway, "cust-2"), token=amex, idempotency_key="cust-2:card:1")
    assert "may not be used again" in elsewhere.value.message
    assert [i["status"] for i in gateway.ledger()] == ["requires_capture"]  # the old hold stands until voided


def test_a_deleted_customer_is_refused_a_card_and_its_key_answers_no_such_customer(gateway):
    customer = customer_of(gateway)
    gateway.delete_customer(customer=customer)

    with pytest.raises(PaymentDeclined) as refused:
        gateway.save_card(customer=customer, token="tok_visa", idempotency_key="cust-1:card:1")
    assert refused.value.code == "resource_missing" and "No such customer" in refused.value.message
    assert kinds(gateway, "pm_") == []
    with pytest.raises(PaymentDeclined) as again:  # its key names the deleted customer
        customer_of(gateway)
    assert again.value.code == "resource_missing"


def test_deleting_twice_or_an_unknown_customer_is_done(gateway):
    customer = customer_of(gateway)
    method = saved(gateway, customer)

    gateway.delete_customer(customer=customer)
    gateway.delete_customer(customer=customer)
    gateway.delete_customer(customer="cus_sandbox_neverexisted")
    gateway.delete_customer(customer=method)  # not a customer: nothing happens to it

    (stored,) = kinds(gateway, "cus_")
    assert stored["deleted"] is True and stored["authorization_id"] == customer
    assert [o["authorization_id"] for o in gateway.objects()] == sorted([customer, method])


def test_a_card_saved_while_the_customer_is_deleted_is_refused(gateway, monkeypatch):
    """The delete lands between save_card's look at the customer and its write: the write's condition refuses
    the card, so no card stays attached to a deleted customer."""
    customer = customer_of(gateway)
    look = gateway._customer

    def look_then_delete(customer_id):
        found = look(customer_id)
        gateway.delete_customer(customer=customer_id)
        return found

    monkeypatch.setattr(gateway, "_customer", look_then_delete)

    with pytest.raises(PaymentDeclined) as refused:
        gateway.save_card(customer=customer, token="tok_visa", idempotency_key="cust-1:card:1")

    assert refused.value.code == "resource_missing"
    assert kinds(gateway, "pm_") == []
