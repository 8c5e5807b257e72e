"""The gateway: the Stripe SDK against localstripe, the in-process twin, the rate limiter."""

from __future__ import annotations

import pytest

from billing.gateway import (
    FAILED,
    REQUIRES_ACTION,
    SUCCEEDED,
    GatewayError,
    InProcessGateway,
    RateLimiter,
    StripeGateway,
)
from tests.billing.stripe_helpers import (
    CARD_3DS,
    CARD_DECLINE,
    CARD_INSUFFICIENT,
    CARD_OK,
    create_card,
)


@pytest.fixture
def sdk(localstripe_server, settings):
    settings.STRIPE_API_KEY = "sk_test_gateway"
    return StripeGateway(api_base=localstripe_server.url, max_network_retries=0)


def _customer_with_card(sdk: StripeGateway, number: str) -> tuple[str, str]:
    customer_id = sdk.ensure_customer(
        existing_id=None, email="g@example.com", name="G", reference="gw"
    )
    pm_id = create_card(sdk, number)
    sdk.attach_payment_method(payment_method_id=pm_id, customer_id=customer_id)
    return customer_id, pm_id


def _charge(sdk: StripeGateway, customer_id: str, pm_id: str, key: str, amount: int = 1234):
    return sdk.charge_off_session(
        amount=amount, currency="EUR", customer_id=customer_id, payment_method_id=pm_id,
        idempotency_key=key, metadata={"oms_invoice": "INV-T"},
    )  # fmt: skip


def test_stripe_charge_succeeds_and_can_be_found_by_attempt_key(sdk):
    customer_id, pm_id = _customer_with_card(sdk, CARD_OK)
    cards = sdk.list_payment_methods(customer_id=customer_id)
    assert [(c.id, c.brand, c.last4, c.exp_month, c.exp_year) for c in cards] == [
        (pm_id, "visa", "4242", 12, 2034)
    ]

    result = _charge(sdk, customer_id, pm_id, "k-success-1")
    assert result.status == SUCCEEDED
    assert result.payment_intent_id.startswith("pi_")
    assert (result.amount, result.currency) == (1234, "EUR")

    found = sdk.find_payment_intent(attempt_key="k-success-1")
    assert found is not None and found.payment_intent_id == result.payment_intent_id
    assert sdk.find_payment_intent(attempt_key="k-never-sent") is None
    assert sdk.retrieve_payment_intent(result.payment_intent_id).status == SUCCEEDED


def test_stripe_decline_is_a_failed_result_with_its_payment_intent(sdk):
    customer_id, pm_id = _customer_with_card(sdk, CARD_DECLINE)
    result = _charge(sdk, customer_id, pm_id, "k-decline-1")
    assert result.status == FAILED
    assert result.decline_code == "card_declined"
    assert result.decline_kind == "soft"
    assert result.payment_intent_id and result.payment_intent_id.startswith("pi_")
    assert sdk.retrieve_payment_intent(result.payment_intent_id).status == FAILED


def test_stripe_authentication_required_and_cancel(sdk):
    customer_id, pm_id = _customer_with_card(sdk, CARD_3DS)
    result = _charge(sdk, customer_id, pm_id, "k-3ds-1")
    assert result.status == REQUIRES_ACTION
    assert result.decline_code == "authentication_required"
    assert result.client_secret
    cancelled = sdk.cancel_payment_intent(result.payment_intent_id)
    assert cancelled.status == FAILED and cancelled.decline_code == "canceled"


def test_stripe_card_refused_at_attach(sdk):
    customer_id = sdk.ensure_customer(
        existing_id=None, email="r@example.com", name="R", reference="r"
    )
    pm_id = create_card(sdk, CARD_INSUFFICIENT)
    with pytest.raises(GatewayError) as exc:
        sdk.attach_payment_method(payment_method_id=pm_id, customer_id=customer_id)
    assert exc.value.code == "card_declined"


def test_stripe_partial_then_full_refund(sdk):
    customer_id, pm_id = _customer_with_card(sdk, CARD_OK)
    charge = _charge(sdk, customer_id, pm_id, "k-refund-1", amount=5000)
    first = sdk.refund(
        payment_intent_id=charge.payment_intent_id, amount=1500, idempotency_key="r-1"
    )
    second = sdk.refund(
        payment_intent_id=charge.payment_intent_id, amount=3500, idempotency_key="r-2"
    )
    assert (first.status, first.amount, second.amount) == ("succeeded", 1500, 3500)
    assert first.id != second.id


def test_in_process_gateway_replays_an_idempotency_key_and_follows_test_cards():
    gw = InProcessGateway()
    ok = gw.add_card(CARD_OK)
    declined = gw.add_card("4000000000009995")
    first = gw.charge_off_session(
        amount=100,
        currency="usd",
        customer_id="c",
        payment_method_id=ok,
        idempotency_key="a",
        metadata={},
    )
    again = gw.charge_off_session(
        amount=100,
        currency="usd",
        customer_id="c",
        payment_method_id=ok,
        idempotency_key="a",
        metadata={},
    )
    assert first == again and first.status == SUCCEEDED
    assert gw.payment_intent_count() == 1
    assert len(gw.calls_to("charge_off_session")) == 2
    bad = gw.charge_off_session(
        amount=100,
        currency="usd",
        customer_id="c",
        payment_method_id=declined,
        idempotency_key="b",
        metadata={},
    )
    assert (bad.status, bad.decline_code, bad.decline_kind) == (
        FAILED,
        "insufficient_funds",
        "soft",
    )
    assert gw.find_payment_intent(attempt_key="a").payment_intent_id == first.payment_intent_id


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_spaces_requests_and_reports_waiting():
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=2, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(5)]
    # A sequential caller: two free (the burst), then each waits 1/10 s.
    assert waits == pytest.approx([0, 0, 0.1, 0.1, 0.1])
    assert limiter.waited_seconds == pytest.approx(0.3)
    clock.now += 10  # idle: the bucket refills to its burst only
    assert [limiter.acquire() for _ in range(3)] == pytest.approx([0, 0, 0.1])


def test_token_bucket_queues_callers_arriving_together():
    """Callers arriving at the same instant (threads) each get a later slot."""
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=2, clock=clock, sleep=lambda s: None)
    assert [limiter.acquire() for _ in range(5)] == pytest.approx([0, 0, 0.1, 0.2, 0.3])


def test_rate_limited_calls_back_off_and_retry_then_give_up():
    import stripe

    clock = FakeClock()
    limiter = RateLimiter(rate=0, max_retries=3, backoff_base=0.5, clock=clock, sleep=clock.sleep)
    answers = [stripe.RateLimitError("slow down"), stripe.RateLimitError("slow down"), "ok"]

    def call():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    is_429 = lambda exc: isinstance(exc, stripe.RateLimitError)  # noqa: E731
    assert limiter.call(call, is_rate_limited=is_429) == "ok"
    assert clock.slept == [0.5, 1.0]
    assert (limiter.throttled, limiter.waited_seconds) == (2, 1.5)

    def always_429():
        raise stripe.RateLimitError("no")

    with pytest.raises(stripe.RateLimitError):
        limiter.call(always_429, is_rate_limited=is_429)
    assert limiter.throttled == 5  # 3 more backoffs, then it gives up


def test_stripe_gateway_retries_429_from_the_server(localstripe_server, settings):
    """A real HTTP 429 from a proxy in front of localstripe: the limiter backs off and the
    same request (same idempotency key) succeeds."""
    from tests.stripe_server import RecordingProxy

    settings.STRIPE_API_KEY = "sk_test_gateway"
    with RecordingProxy(localstripe_server.url) as proxy:
        proxy.answer_429(lambda r: r.method == "POST" and r.path == "/v1/customers", times=2)
        clock = FakeClock()
        limiter = RateLimiter(rate=0, backoff_base=0.01, clock=clock, sleep=clock.sleep)
        gw = StripeGateway(api_base=proxy.url, max_network_retries=0, limiter=limiter)
        customer_id = gw.ensure_customer(
            existing_id=None, email="l@example.com", name="L", reference="limit-1"
        )
        posts = proxy.posts_to("/v1/customers")
    assert customer_id.startswith("cus_")
    assert len(posts) == 3 and len({p.idempotency_key for p in posts}) == 1
    assert limiter.throttled == 2 and clock.slept == [0.01, 0.02]


def test_default_rate_limit_follows_the_key(settings):
    from billing.gateway import limiter_from_settings

    assert limiter_from_settings("sk_test_x").rate == 25
    assert limiter_from_settings("sk_live_x").rate == 90
    settings.OMS_STRIPE_RATE_LIMIT = 0
    assert limiter_from_settings("sk_live_x").rate == 0


@pytest.mark.parametrize(
    ("code", "kind"),
    [("insufficient_funds", "soft"), ("card_declined", "soft"), ("stolen_card", "hard"),
     ("expired_card", "hard"), ("do_not_honor", "soft"), ("some_new_code", "soft"), (None, "soft")],
)  # fmt: skip
def test_decline_codes_are_hard_or_soft(code, kind):
    from billing.declines import classify_decline

    assert classify_decline(code) == kind
