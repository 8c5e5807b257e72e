"""Billing fixtures: one localstripe per test session, settings pointed at it, and helpers
to make Stripe customers and cards there. ``tests/conftest.py`` re-exports the server
fixtures for other apps (the renewal tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.stripe_server import LocalStripe, shared_localstripe

WEBHOOK_SECRET = "whsec_test_oms_billing"
API_KEY = "sk_test_oms_billing"


@pytest.fixture(scope="session")
def localstripe_server() -> LocalStripe:
    """localstripe, started once per test session (stopped when the session ends)."""
    return shared_localstripe()


@pytest.fixture
def stripe_settings(settings: Any, localstripe_server: LocalStripe) -> Iterator[Any]:
    """Point the SDK-backed gateway at localstripe for this test."""
    from billing.gateway import reset_gateway

    settings.STRIPE_API_BASE = localstripe_server.url
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.OMS_STRIPE_MAX_NETWORK_RETRIES = 0
    settings.OMS_PAYMENT_GATEWAY = "stripe"
    reset_gateway()
    yield settings
    reset_gateway()


@pytest.fixture
def stripe_gateway(stripe_settings: Any) -> Any:
    from billing.gateway import get_gateway

    return get_gateway()


@pytest.fixture
def paying_customer(stripe_gateway: Any, db: Any) -> Any:
    """A German customer with a Stripe customer and a good card saved as default."""
    from tests.billing.stripe_helpers import CARD_OK, save_card
    from tests.factories.billing import customer_in

    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_OK)
    customer.refresh_from_db()
    return customer


@pytest.fixture
def make_period_invoice(db: Any) -> Any:
    """``make_period_invoice(customer, price=...)``: a subscription and its open first
    period invoice, as the renewal cycle creates it."""
    import datetime as dt

    from billing.services import invoice_create_for_period
    from tests.factories.billing import ACTOR
    from tests.factories.subscriptions import make_plan, make_subscription

    def make(
        customer: Any,
        *,
        price: int = 2500,
        currency: str = "EUR",
        start: dt.date = dt.date(2026, 11, 1),
    ) -> Any:
        plan = make_plan(price=price, currency=currency)
        subscription = make_subscription(
            plan=plan, customer=customer, start_date=start, currency=currency
        )
        return invoice_create_for_period(
            subscription=subscription, period_start=subscription.current_period_start, actor=ACTOR
        )

    return make
