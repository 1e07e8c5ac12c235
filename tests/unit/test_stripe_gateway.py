"""The Stripe gateway through the real SDK, against the in-process fake of Stripe's API (``tests/fakes``)."""

from collections.abc import Iterator

import pytest

from oms.adapters.stripe_gateway import METADATA_KEY, StripeGateway, stripe_gateway_from_env
from oms.domain.errors import PaymentDeclined, PaymentGatewayError
from tests.fakes.stripe_api import FakeStripe

KEY = "sk_test_oms_unit"


@pytest.fixture(autouse=True)
def quick_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK waits at least 0.5 s before a retry; the tests need the retry, not the wait."""
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(HTTPClient, "MAX_DELAY", 0.02)


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(KEY) as running:
        yield running


@pytest.fixture
def gateway(fake: FakeStripe) -> StripeGateway:
    return StripeGateway(KEY, fake.url, timeout=(2.0, 5.0))


def hold(gateway: StripeGateway, key: str = "ord-1:authorize", amount: int = 1000, token: str = "tok_visa") -> str:
    return gateway.authorize(token=token, amount=amount, currency="EUR", idempotency_key=key)


# --- authorize ------------------------------------------------------------------------------------------------


def test_authorize_places_a_manual_capture_hold_tagged_with_the_key(gateway: StripeGateway, fake: FakeStripe) -> None:
    authorization_id = hold(gateway)

    assert authorization_id.startswith("pi_")
    intent = fake.payment_intents[authorization_id]
    assert intent["status"] == "requires_capture"
    assert intent["capture_method"] == "manual"
    assert (intent["amount"], intent["amount_capturable"], intent["currency"]) == (1000, 1000, "eur")
    assert intent["metadata"] == {METADATA_KEY: "ord-1:authorize"}
    assert intent["setup_future_usage"] == "off_session"
    assert [r.idempotency_key for r in fake.posts()] == ["ord-1:authorize"]


def test_authorize_again_with_the_same_key_is_stripes_replay_of_the_same_hold(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    first = hold(gateway)
    again = hold(gateway)

    assert again == first
    assert len(fake.payment_intents) == 1
    assert [r.replayed for r in fake.posts()] == [False, True]


@pytest.mark.parametrize(("token", "code"), [
    ("tok_chargeDeclined", "generic_decline"),
    ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ("tok_chargeDeclinedFraudulent", "fraudulent"),
    ("tok_chargeDeclinedExpiredCard", "expired_card"),
    ("tok_chargeDeclinedIncorrectCvc", "incorrect_cvc"),
    ("tok_visa_chargeDeclinedStolenCard", "stolen_card"),
])
def test_a_decline_is_a_payment_declined_with_stripes_decline_code(
    gateway: StripeGateway, fake: FakeStripe, token: str, code: str | None,
) -> None:
    with pytest.raises(PaymentDeclined) as declined:
        hold(gateway, token=token)

    assert declined.value.code == code
    assert declined.value.message.startswith("Your card")
    (intent,) = fake.payment_intents.values()
    assert intent["status"] == "requires_payment_method"  # no hold


def test_an_unknown_token_is_declined_without_echoing_it(gateway: StripeGateway) -> None:
    with pytest.raises(PaymentDeclined) as declined:
        hold(gateway, token="tok_1SecretLookingToken")

    assert declined.value.code == "resource_missing"
    assert "tok_1SecretLookingToken" not in declined.value.message


def test_processing_error_is_a_gateway_error_and_stripe_replays_it_to_a_retry_with_the_same_key(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    with pytest.raises(PaymentGatewayError, match="processing_error"):
        hold(gateway, token="tok_chargeDeclinedProcessingError")
    with pytest.raises(PaymentGatewayError, match="processing_error"):
        hold(gateway, token="tok_chargeDeclinedProcessingError")

    assert len(fake.payment_intents) == 1
    assert [r.replayed for r in fake.posts()] == [False, True]


def test_the_same_key_with_other_parameters_is_refused(gateway: StripeGateway, fake: FakeStripe) -> None:
    hold(gateway, amount=1000)

    with pytest.raises(PaymentDeclined) as declined:
        hold(gateway, amount=1200)
    assert declined.value.code == "idempotency_error"
    assert len(fake.payment_intents) == 1


# --- capture, void --------------------------------------------------------------------------------------------


def test_capture_of_the_full_amount_returns_the_charge(gateway: StripeGateway, fake: FakeStripe) -> None:
    authorization_id = hold(gateway)

    charge_id = gateway.capture(authorization_id=authorization_id, amount=1000, idempotency_key="ord-1:capture")

    assert charge_id.startswith("ch_")
    intent = fake.payment_intents[authorization_id]
    assert (intent["status"], intent["amount_received"], intent["latest_charge"]) == ("succeeded", 1000, charge_id)
    assert fake.charges[charge_id]["amount_captured"] == 1000


def test_a_partial_capture_charges_part_and_releases_the_rest(gateway: StripeGateway, fake: FakeStripe) -> None:
    authorization_id = hold(gateway)

    charge_id = gateway.capture(authorization_id=authorization_id, amount=250, idempotency_key="ord-1:capture")

    intent, charge = fake.payment_intents[authorization_id], fake.charges[charge_id]
    assert (intent["amount_received"], intent["amount_capturable"]) == (250, 0)
    assert (charge["amount_captured"], charge["amount_refunded"]) == (250, 750)


def test_capture_again_under_another_key_answers_the_same_charge(gateway: StripeGateway) -> None:
    authorization_id = hold(gateway)
    charge_id = gateway.capture(authorization_id=authorization_id, amount=1000, idempotency_key="ord-1:capture")

    assert gateway.capture(authorization_id=authorization_id, amount=1000, idempotency_key="other") == charge_id


def test_capture_above_the_hold_is_declined(gateway: StripeGateway) -> None:
    authorization_id = hold(gateway)

    with pytest.raises(PaymentDeclined) as declined:
        gateway.capture(authorization_id=authorization_id, amount=1001, idempotency_key="ord-1:capture")
    assert declined.value.code == "amount_too_large"


@pytest.mark.parametrize("ended", ["voided", "lapsed"])
def test_capture_of_a_released_hold_is_declined(gateway: StripeGateway, fake: FakeStripe, ended: str) -> None:
    authorization_id = hold(gateway)
    if ended == "voided":
        gateway.void(authorization_id=authorization_id, idempotency_key="ord-1:void")
    else:
        fake.expire(authorization_id)

    with pytest.raises(PaymentDeclined) as declined:
        gateway.capture(authorization_id=authorization_id, amount=1000, idempotency_key="ord-1:capture")
    assert declined.value.code == "payment_intent_unexpected_state"


def test_void_releases_the_hold_and_voiding_again_is_done(gateway: StripeGateway, fake: FakeStripe) -> None:
    authorization_id = hold(gateway)

    gateway.void(authorization_id=authorization_id, idempotency_key="ord-1:void")
    gateway.void(authorization_id=authorization_id, idempotency_key="ord-1:void")  # Stripe's replay
    gateway.void(authorization_id=authorization_id, idempotency_key="ord-1:void-superseded:1")  # already canceled

    intent = fake.payment_intents[authorization_id]
    assert (intent["status"], intent["amount_capturable"]) == ("canceled", 0)
    assert [r.replayed for r in fake.posts("/v1/payment_intents/")] == [False, True, False]


def test_void_of_a_captured_payment_is_declined(gateway: StripeGateway) -> None:
    authorization_id = hold(gateway)
    gateway.capture(authorization_id=authorization_id, amount=1000, idempotency_key="ord-1:capture")

    with pytest.raises(PaymentDeclined) as declined:
        gateway.void(authorization_id=authorization_id, idempotency_key="ord-1:void")
    assert declined.value.code == "payment_intent_unexpected_state"


# --- refund ---------------------------------------------------------------------------------------------------


def test_refunds_partial_then_the_rest_then_nothing_is_left(gateway: StripeGateway, fake: FakeStripe) -> None:
    charge_id = gateway.capture(authorization_id=hold(gateway), amount=800, idempotency_key="ord-1:capture")

    first = gateway.refund(capture_id=charge_id, amount=300, idempotency_key="ord-1:refund:1")
    rest = gateway.refund(capture_id=charge_id, amount=500, idempotency_key="ord-1:refund:2")

    assert first.startswith("re_") and rest.startswith("re_") and first != rest
    assert [fake.refunds[r]["amount"] for r in (first, rest)] == [300, 500]
    assert all(fake.refunds[r]["status"] == "succeeded" for r in (first, rest))
    with pytest.raises(PaymentDeclined) as declined:
        gateway.refund(capture_id=charge_id, amount=1, idempotency_key="ord-1:refund:3")
    assert declined.value.code == "charge_already_refunded"


def test_a_refund_above_what_remains_is_declined(gateway: StripeGateway, fake: FakeStripe) -> None:
    charge_id = gateway.capture(authorization_id=hold(gateway), amount=1000, idempotency_key="ord-1:capture")
    gateway.refund(capture_id=charge_id, amount=700, idempotency_key="ord-1:refund:1")

    with pytest.raises(PaymentDeclined) as declined:
        gateway.refund(capture_id=charge_id, amount=301, idempotency_key="ord-1:refund:2")

    assert declined.value.code == "amount_too_large"
    assert "greater than unrefunded amount" in declined.value.message
    assert len(fake.refunds) == 1


def test_a_refund_repeated_with_its_key_is_one_refund(gateway: StripeGateway, fake: FakeStripe) -> None:
    charge_id = gateway.capture(authorization_id=hold(gateway), amount=1000, idempotency_key="ord-1:capture")

    first = gateway.refund(capture_id=charge_id, amount=400, idempotency_key="ord-1:refund:1")
    again = gateway.refund(capture_id=charge_id, amount=400, idempotency_key="ord-1:refund:1")

    assert again == first
    assert len(fake.refunds) == 1
    assert fake.charges[charge_id]["amount_refunded"] == 400


# --- failures between us and Stripe ---------------------------------------------------------------------------


def test_an_sdk_retry_after_a_500_creates_one_payment_intent(gateway: StripeGateway, fake: FakeStripe) -> None:
    fake.fail_next("/v1/payment_intents", status=500, method="POST")

    authorization_id = hold(gateway)

    posts = fake.posts()
    assert [r.status for r in posts] == [500, 200]
    assert {r.idempotency_key for r in posts} == {"ord-1:authorize"}
    assert list(fake.payment_intents) == [authorization_id]


def test_a_lost_response_is_retried_with_the_same_key_and_replayed(gateway: StripeGateway, fake: FakeStripe) -> None:
    fake.drop_next("/v1/payment_intents", method="POST")

    authorization_id = hold(gateway)

    posts = fake.posts()
    assert [(r.answered, r.replayed) for r in posts] == [(False, False), (True, True)]
    assert list(fake.payment_intents) == [authorization_id]


def test_a_timed_out_refund_is_retried_into_the_same_refund(gateway: StripeGateway, fake: FakeStripe) -> None:
    charge_id = gateway.capture(authorization_id=hold(gateway), amount=1000, idempotency_key="ord-1:capture")
    impatient = StripeGateway(KEY, fake.url, timeout=(2.0, 0.3))
    fake.delay_next("/v1/refunds", 0.8)  # past the 0.3 s read timeout

    refund_id = impatient.refund(capture_id=charge_id, amount=1000, idempotency_key="ord-1:refund:1")

    assert list(fake.refunds) == [refund_id]
    assert [r.replayed for r in fake.posts("/v1/refunds")] == [False, True]


def test_when_the_sdk_gives_up_the_step_retry_with_the_same_key_resolves_to_one_hold(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    fake.drop_next("/v1/payment_intents", method="POST", times=2)  # the first try and the SDK's one retry

    with pytest.raises(PaymentGatewayError):
        hold(gateway)
    assert len(fake.payment_intents) == 1  # placed, but we never heard
    assert gateway.find_authorization("ord-1:authorize") is not None  # what compensation would find

    authorization_id = hold(gateway)  # the workflow's retry
    assert list(fake.payment_intents) == [authorization_id]


@pytest.mark.parametrize(("status", "code"), [(429, None), (503, None), (500, "api_error")])
def test_rate_limits_and_server_errors_that_persist_are_gateway_errors(
    gateway: StripeGateway, fake: FakeStripe, status: int, code: str | None,
) -> None:
    fake.fail_next("/v1/payment_intents", status=status, times=2, code=code)

    with pytest.raises(PaymentGatewayError):
        hold(gateway)
    assert fake.payment_intents == {}


def test_a_rejected_api_key_is_a_gateway_error_that_does_not_echo_the_key(fake: FakeStripe) -> None:
    wrong = StripeGateway("sk_test_wrong_key_1234", fake.url)

    with pytest.raises(PaymentGatewayError) as failed:
        hold(wrong)
    assert "sk_test_wrong_key_1234" not in str(failed.value)


# --- find_authorization, reauthorize --------------------------------------------------------------------------


def test_find_authorization_follows_the_hold(gateway: StripeGateway, fake: FakeStripe) -> None:
    assert gateway.find_authorization("ord-1:authorize") is None
    authorization_id = hold(gateway, amount=1234)
    hold(gateway, key="ord-2:authorize")

    assert gateway.find_authorization("ord-1:authorize") == {
        "authorization_id": authorization_id, "status": "requires_capture", "amount": 1234}
    gateway.capture(authorization_id=authorization_id, amount=1234, idempotency_key="ord-1:capture")
    captured = gateway.find_authorization("ord-1:authorize")
    assert captured is not None and captured["status"] == "succeeded"


def test_find_authorization_after_a_void_and_after_a_decline(gateway: StripeGateway) -> None:
    authorization_id = hold(gateway)
    gateway.void(authorization_id=authorization_id, idempotency_key="ord-1:void")
    with pytest.raises(PaymentDeclined):
        hold(gateway, key="ord-2:authorize", token="tok_chargeDeclined")

    voided = gateway.find_authorization("ord-1:authorize")
    assert voided is not None and voided["status"] == "canceled"
    assert gateway.find_authorization("ord-2:authorize") is None  # declined: nothing is held


def test_find_authorization_lists_recent_intents_while_search_lags(fake: FakeStripe) -> None:
    fake.search_delay = 60.0  # Stripe: searchable "in less than a minute"
    gateway = StripeGateway(KEY, fake.url)
    authorization_id = hold(gateway)

    found = gateway.find_authorization("ord-1:authorize")

    assert found == {"authorization_id": authorization_id, "status": "requires_capture", "amount": 1000}
    assert [r.path for r in fake.requests if r.method == "GET"] == [
        "/v1/payment_intents/search", "/v1/payment_intents"]


def test_reauthorize_places_a_new_off_session_hold_on_the_same_card(gateway: StripeGateway, fake: FakeStripe) -> None:
    old = hold(gateway)

    new = gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR",
                              idempotency_key="ord-1:reauthorize:1")

    assert new != old and new.startswith("pi_")
    renewed, original = fake.payment_intents[new], fake.payment_intents[old]
    assert renewed["status"] == "requires_capture" and renewed["capture_method"] == "manual"
    assert renewed["payment_method"] == original["payment_method"]
    assert renewed["metadata"] == {METADATA_KEY: "ord-1:reauthorize:1", "oms_reauthorizes": old}
    assert fake.payment_methods[renewed["payment_method"]]["customer"] == renewed["customer"]
    assert original["status"] == "requires_capture"  # the caller voids it
    gateway.void(authorization_id=old, idempotency_key="ord-1:void-superseded:1")
    assert gateway.capture(authorization_id=new, amount=1000, idempotency_key="ord-1:capture").startswith("ch_")


def test_reauthorize_is_idempotent_and_a_second_renewal_reuses_the_customer(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    old = hold(gateway)
    new = gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR", idempotency_key="ord-1:reauth:1")
    assert gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR",
                               idempotency_key="ord-1:reauth:1") == new

    newer = gateway.reauthorize(authorization_id=new, amount=1000, currency="EUR", idempotency_key="ord-1:reauth:2")

    assert len(fake.payment_intents) == 3 and len(fake.customers) == 1
    assert fake.payment_intents[newer]["customer"] == fake.payment_intents[new]["customer"]


def test_a_card_declined_at_reauthorization_is_payment_declined(gateway: StripeGateway, fake: FakeStripe) -> None:
    old = hold(gateway, token="tok_chargeCustomerFail")  # attaching succeeds, charging the customer fails

    with pytest.raises(PaymentDeclined) as declined:
        gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR", idempotency_key="ord-1:reauth:1")

    assert declined.value.code == "generic_decline"
    assert fake.payment_intents[old]["status"] == "requires_capture"  # the old hold stands


def test_stripe_refuses_a_second_payment_on_an_unattached_payment_method(fake: FakeStripe) -> None:
    """Why reauthorize attaches the card to a Customer first (the fake enforces Stripe's rule)."""
    import stripe

    client = stripe.StripeClient(KEY, base_addresses={"api": fake.url}, http_client=stripe.RequestsClient())
    first = client.v1.payment_intents.create({
        "amount": 500, "currency": "eur", "confirm": True, "capture_method": "manual",
        "payment_method_data": {"type": "card", "card": {"token": "tok_visa"}},  # type: ignore[typeddict-unknown-key]
    })
    assert isinstance(first.payment_method, str)
    with pytest.raises(stripe.InvalidRequestError, match="may not be used again"):
        client.v1.payment_intents.create({"amount": 500, "currency": "eur", "confirm": True,
                                          "payment_method": first.payment_method, "off_session": True})


# --- saved cards ----------------------------------------------------------------------------------------------


def customer_of(gateway: StripeGateway, reference: str = "cust-1") -> str:
    return gateway.create_customer(reference=reference, idempotency_key=f"{reference}:gateway-customer")


def saved(gateway: StripeGateway, customer: str, token: str = "tok_visa", key: str = "cust-1:card:1") -> str:
    return gateway.save_card(customer=customer, token=token, idempotency_key=key)["payment_method_id"]


def test_create_customer_sends_only_our_reference_and_the_same_key_is_the_same_customer(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    customer = customer_of(gateway)

    assert customer.startswith("cus_") and customer_of(gateway) == customer
    assert list(fake.customers) == [customer]
    assert [r.params for r in fake.posts("/v1/customers")] == [{"metadata": {"oms_customer_id": "cust-1"}}] * 2
    assert [r.replayed for r in fake.posts("/v1/customers")] == [False, True]


@pytest.mark.parametrize(("token", "brand", "last4"), [
    ("tok_visa", "visa", "4242"), ("tok_visa_debit", "visa", "5556"), ("tok_mastercard", "mastercard", "4444"),
    ("tok_amex", "amex", "8431"),
])
def test_save_card_attaches_the_card_and_answers_brand_last4_and_expiry(
    gateway: StripeGateway, fake: FakeStripe, token: str, brand: str, last4: str,
) -> None:
    customer = customer_of(gateway)

    card = gateway.save_card(customer=customer, token=token, idempotency_key="cust-1:card:1")

    method = fake.payment_methods[card["payment_method_id"]]
    assert card == {"payment_method_id": method["id"], "brand": brand, "last4": last4,
                    "exp_month": method["card"]["exp_month"], "exp_year": method["card"]["exp_year"]}
    assert card["payment_method_id"].startswith("pm_") and (card["exp_month"], card["exp_year"]) == (12, 2034)
    assert method["customer"] == customer
    assert [(r.path, r.params) for r in fake.posts("/v1/payment_methods")] == [
        ("/v1/payment_methods", {"type": "card", "card": {"token": token}}),
        (f"/v1/payment_methods/{method['id']}/attach", {"customer": customer})]


def test_saving_again_with_the_same_key_is_one_payment_method(gateway: StripeGateway, fake: FakeStripe) -> None:
    customer = customer_of(gateway)

    first = gateway.save_card(customer=customer, token="tok_visa", idempotency_key="cust-1:card:1")
    again = gateway.save_card(customer=customer, token="tok_visa", idempotency_key="cust-1:card:1")

    assert again == first
    assert list(fake.payment_methods) == [first["payment_method_id"]]
    assert [r.replayed for r in fake.posts("/v1/payment_methods")] == [False, False, True, True]


def test_an_existing_unattached_payment_method_is_attached_as_it_is(gateway: StripeGateway, fake: FakeStripe) -> None:
    import stripe

    client = stripe.StripeClient(KEY, base_addresses={"api": fake.url}, http_client=stripe.RequestsClient())
    method = client.v1.payment_methods.create({"type": "card", "card": {"token": "tok_mastercard"}})
    customer = customer_of(gateway)

    card = gateway.save_card(customer=customer, token=method.id, idempotency_key="cust-1:card:1")

    assert (card["payment_method_id"], card["brand"], card["last4"]) == (method.id, "mastercard", "4444")
    assert len(fake.payment_methods) == 1 and fake.payment_methods[method.id]["customer"] == customer


def test_a_saved_card_holds_funds_through_the_customer_and_the_hold_captures(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    customer = customer_of(gateway)
    method = saved(gateway, customer)

    authorization_id = gateway.authorize(token=method, amount=1500, currency="EUR", idempotency_key="ord-1:authorize",
                                         customer=customer)

    intent = fake.payment_intents[authorization_id]
    assert (intent["status"], intent["customer"], intent["payment_method"]) == ("requires_capture", customer, method)
    assert intent["setup_future_usage"] is None and intent["metadata"] == {METADATA_KEY: "ord-1:authorize"}
    assert intent["payment_method_options"] == {"card": {"request_multicapture": "if_available"}}
    (create,) = fake.posts("/v1/payment_intents")
    assert "payment_method_data" not in create.params and create.params["confirm"] == "true"
    charge_id = gateway.capture(authorization_id=authorization_id, amount=1500, idempotency_key="ord-1:capture")
    assert fake.charges[charge_id]["amount_captured"] == 1500
    assert fake.payment_methods[method]["customer"] == customer  # still saved for the next order


def test_a_detached_card_is_refused_and_detaching_again_is_done(gateway: StripeGateway, fake: FakeStripe) -> None:
    customer = customer_of(gateway)
    method = saved(gateway, customer)

    gateway.detach_card(payment_method_id=method)
    gateway.detach_card(payment_method_id=method)  # Stripe: "not attached to a customer so detachment is impossible"
    gateway.detach_card(payment_method_id="pm_NeverExisted")  # Stripe: resource_missing

    assert fake.payment_methods[method]["customer"] is None
    with pytest.raises(PaymentDeclined) as declined:
        gateway.authorize(token=method, amount=1000, currency="EUR", idempotency_key="ord-1:authorize",
                          customer=customer)
    assert declined.value.code == "resource_missing"
    assert "does not have a payment method" in declined.value.message
    with pytest.raises(PaymentDeclined) as refused:
        gateway.save_card(customer=customer, token=method, idempotency_key="cust-1:card:2")
    assert "may not be used again" in refused.value.message
    assert fake.payment_intents == {}


def test_a_card_saved_for_another_customer_is_refused(gateway: StripeGateway, fake: FakeStripe) -> None:
    ann, bob = customer_of(gateway, "cust-ann"), customer_of(gateway, "cust-bob")
    anns_card = saved(gateway, ann, key="cust-ann:card:1")

    with pytest.raises(PaymentDeclined) as declined:
        gateway.authorize(token=anns_card, amount=1000, currency="EUR", idempotency_key="ord-1:authorize",
                          customer=bob)
    assert declined.value.code == "resource_missing"
    with pytest.raises(PaymentDeclined) as refused:
        gateway.save_card(customer=bob, token=anns_card, idempotency_key="cust-bob:card:1")
    assert "already been attached" in refused.value.message
    assert fake.payment_intents == {} and fake.payment_methods[anns_card]["customer"] == ann


@pytest.mark.parametrize(("token", "code"), [
    ("tok_chargeDeclined", "generic_decline"),
    ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ("tok_chargeDeclinedExpiredCard", "expired_card"),
    ("tok_visa_chargeDeclinedStolenCard", "stolen_card"),
])
def test_a_declining_card_cannot_be_saved(gateway: StripeGateway, fake: FakeStripe, token: str, code: str) -> None:
    customer = customer_of(gateway)

    with pytest.raises(PaymentDeclined) as declined:
        gateway.save_card(customer=customer, token=token, idempotency_key="cust-1:card:1")
    assert declined.value.code == code
    with pytest.raises(PaymentDeclined):  # the retry with the key: Stripe replays the decline
        gateway.save_card(customer=customer, token=token, idempotency_key="cust-1:card:1")

    (method,) = fake.payment_methods.values()
    assert method["customer"] is None  # created from the token, never attached


def test_a_processing_error_while_saving_is_a_gateway_error(gateway: StripeGateway) -> None:
    customer = customer_of(gateway)

    with pytest.raises(PaymentGatewayError, match="processing_error"):
        gateway.save_card(customer=customer, token="tok_chargeDeclinedProcessingError", idempotency_key="k")


def test_an_unknown_token_is_refused_at_save_without_echoing_it(gateway: StripeGateway) -> None:
    customer = customer_of(gateway)

    with pytest.raises(PaymentDeclined) as declined:
        gateway.save_card(customer=customer, token="tok_1SecretLookingToken", idempotency_key="k")
    assert declined.value.code == "resource_missing"
    assert "tok_1SecretLookingToken" not in declined.value.message


def test_a_card_that_fails_after_attaching_is_saved_then_declined(gateway: StripeGateway, fake: FakeStripe) -> None:
    customer = customer_of(gateway)
    card = gateway.save_card(customer=customer, token="tok_chargeCustomerFail", idempotency_key="cust-1:card:1")
    assert (card["brand"], card["last4"]) == ("visa", "0341")

    with pytest.raises(PaymentDeclined) as declined:
        gateway.authorize(token=card["payment_method_id"], amount=1000, currency="EUR",
                          idempotency_key="ord-1:authorize", customer=customer)
    assert declined.value.code == "generic_decline"
    assert gateway.find_authorization("ord-1:authorize") is None


def test_reauthorize_a_saved_card_hold_reuses_its_customer(gateway: StripeGateway, fake: FakeStripe) -> None:
    customer = customer_of(gateway)
    method = saved(gateway, customer)
    old = gateway.authorize(token=method, amount=1000, currency="EUR", idempotency_key="ord-1:authorize",
                            customer=customer)

    new = gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR", idempotency_key="ord-1:reauth:1")

    renewed = fake.payment_intents[new]
    assert new != old and renewed["status"] == "requires_capture"
    assert (renewed["customer"], renewed["payment_method"]) == (customer, method)
    assert list(fake.customers) == [customer]  # no second Customer
    assert [r.idempotency_key for r in fake.posts("/v1/payment_methods/")] == ["cust-1:card:1:attach"]
    gateway.void(authorization_id=old, idempotency_key="ord-1:void-superseded:1")
    assert gateway.capture(authorization_id=new, amount=1000, idempotency_key="ord-1:capture").startswith("ch_")


def test_reauthorize_after_the_card_was_detached_is_refused(gateway: StripeGateway, fake: FakeStripe) -> None:
    customer = customer_of(gateway)
    method = saved(gateway, customer)
    old = gateway.authorize(token=method, amount=1000, currency="EUR", idempotency_key="ord-1:authorize",
                            customer=customer)
    gateway.detach_card(payment_method_id=method)

    with pytest.raises(PaymentDeclined):
        gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR", idempotency_key="ord-1:reauth:1")
    assert fake.payment_intents[old]["status"] == "requires_capture"  # the old hold stands until it is voided


# --- deleting the customer (an erased account) ------------------------------------------------------------------


def test_delete_customer_deletes_it_detaches_its_cards_and_its_metadata_is_gone(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    import stripe

    customer = customer_of(gateway)
    method = saved(gateway, customer)
    old = gateway.authorize(token=method, amount=1000, currency="EUR", idempotency_key="ord-1:authorize",
                            customer=customer)

    gateway.delete_customer(customer=customer)

    (delete,) = [r for r in fake.requests if r.method == "DELETE"]
    assert (delete.path, delete.params, delete.idempotency_key, delete.status) == (
        f"/v1/customers/{customer}", {}, None, 200)
    assert fake.customers[customer] == {"id": customer, "object": "customer", "deleted": True}
    assert fake.payment_methods[method]["customer"] is None
    client = stripe.StripeClient(KEY, base_addresses={"api": fake.url}, http_client=stripe.RequestsClient())
    retrieved = client.v1.customers.retrieve(customer)  # Stripe: a deleted customer can still be retrieved
    assert retrieved.to_dict() == {"id": customer, "object": "customer", "deleted": True}  # no oms_customer_id
    with pytest.raises(PaymentDeclined) as declined:
        gateway.authorize(token=method, amount=1000, currency="EUR", idempotency_key="ord-2:authorize",
                          customer=customer)
    assert declined.value.code == "resource_missing" and "No such customer" in declined.value.message
    with pytest.raises(PaymentDeclined) as reused:  # detached: never attached again
        gateway.save_card(customer=customer_of(gateway, "cust-2"), token=method, idempotency_key="cust-2:card:1")
    assert "may not be used again" in reused.value.message
    with pytest.raises(PaymentDeclined) as reauthorization:
        gateway.reauthorize(authorization_id=old, amount=1000, currency="EUR", idempotency_key="ord-1:reauth:1")
    assert reauthorization.value.code == "resource_missing"
    assert fake.payment_intents[old]["status"] == "requires_capture"  # the old hold stands until it is voided


def test_save_card_to_a_deleted_customer_is_refused(gateway: StripeGateway, fake: FakeStripe) -> None:
    customer = customer_of(gateway)
    gateway.delete_customer(customer=customer)

    with pytest.raises(PaymentDeclined) as refused:
        gateway.save_card(customer=customer, token="tok_visa", idempotency_key="cust-1:card:1")

    assert refused.value.code == "resource_missing" and "No such customer" in refused.value.message
    (method,) = fake.payment_methods.values()
    assert method["customer"] is None  # created from the token, never attached


def test_deleting_twice_or_an_unknown_customer_is_done(gateway: StripeGateway, fake: FakeStripe) -> None:
    customer = customer_of(gateway)

    gateway.delete_customer(customer=customer)
    gateway.delete_customer(customer=customer)  # Stripe: 404 resource_missing, "No such customer"
    gateway.delete_customer(customer="cus_NeverExisted")

    assert [(r.path, r.status) for r in fake.requests if r.method == "DELETE"] == [
        (f"/v1/customers/{customer}", 200), (f"/v1/customers/{customer}", 404), ("/v1/customers/cus_NeverExisted", 404)]


def test_a_lost_delete_answer_is_retried_by_the_sdk_and_the_404_counts_as_done(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    customer = customer_of(gateway)
    fake.drop_next("/v1/customers/", method="DELETE")

    gateway.delete_customer(customer=customer)

    assert [(r.answered, r.status) for r in fake.requests if r.method == "DELETE"] == [(False, 200), (True, 404)]
    assert fake.customers[customer]["deleted"] is True


def test_a_delete_that_keeps_failing_is_a_gateway_error(gateway: StripeGateway, fake: FakeStripe) -> None:
    customer = customer_of(gateway)
    fake.fail_next("/v1/customers/", 500, method="DELETE", times=2)

    with pytest.raises(PaymentGatewayError):
        gateway.delete_customer(customer=customer)
    assert "deleted" not in fake.customers[customer]
    gateway.delete_customer(customer=customer)  # the caller's retry
    assert fake.customers[customer]["deleted"] is True


def test_a_customer_of_the_other_mode_is_not_counted_as_deleted(gateway: StripeGateway, fake: FakeStripe) -> None:
    fake.fail_next("/v1/customers/", 404, method="DELETE", code="resource_missing", message=(
        "No such customer: 'cus_Live'; a similar object exists in live mode, but a test mode key was used to make "
        "this request."))

    with pytest.raises(PaymentDeclined) as refused:
        gateway.delete_customer(customer="cus_Live")
    assert refused.value.code == "resource_missing"


# --- from the environment -------------------------------------------------------------------------------------


def test_the_gateway_from_the_environment_reads_the_key_from_secrets_manager(
    fake: FakeStripe, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto import mock_aws

    from oms.adapters.aws import reset

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset()
    with mock_aws():
        import boto3

        arn = boto3.client("secretsmanager").create_secret(Name="oms/stripe-secret-key", SecretString=KEY)["ARN"]
        monkeypatch.setenv("STRIPE_SECRET_ARN", arn)
        monkeypatch.setenv("STRIPE_API_BASE", fake.url)

        gateway = stripe_gateway_from_env()
        assert stripe_gateway_from_env() is gateway  # kept while the key is the same
        assert hold(gateway).startswith("pi_")
    reset()


def test_the_gateway_from_the_environment_needs_the_secret_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_SECRET_ARN", raising=False)

    with pytest.raises(ValueError, match="STRIPE_SECRET_ARN"):
        stripe_gateway_from_env()


def test_the_sdk_is_not_imported_with_the_module() -> None:
    import subprocess
    import sys

    code = "import sys, oms.adapters.stripe_gateway; print('stripe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
