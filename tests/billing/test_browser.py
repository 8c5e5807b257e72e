"""The emailed payment page in a real browser: a charge the bank wants authenticated (3-D
Secure) is confirmed by the customer with Stripe.js (localstripe's stand-in), and the
payment reaches us by localstripe's signed webhook."""

from __future__ import annotations

import time

import pytest

from billing.gateway import get_gateway, reset_gateway
from billing.models import AttemptState, InvoiceStatus
from billing.notifications import invoice_token
from billing.services import invoice_pay
from tests.billing.conftest import WEBHOOK_SECRET
from tests.billing.stripe_helpers import CARD_3DS, save_card
from tests.factories.billing import ACTOR, customer_in, make_invoice
from tests.stripe_server import LocalStripe

pytestmark = pytest.mark.browser


def test_customer_confirms_a_3ds_payment_on_the_pay_page(page, live_server, settings):
    server = LocalStripe().start()
    try:
        settings.STRIPE_API_BASE, settings.STRIPE_API_KEY = server.url, "sk_test_browser"
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.STRIPE_JS_URL = f"{server.url}/js.stripe.com/v3/"
        settings.OMS_STRIPE_MAX_NETWORK_RETRIES = 0
        reset_gateway()
        server.register_webhook(
            name="oms", url=f"{live_server.url}/billing/stripe/webhook/", secret=WEBHOOK_SECRET
        )
        customer = customer_in("DE")
        save_card(get_gateway(), customer, CARD_3DS)
        invoice = make_invoice(customer=customer, amounts=[2600])
        attempt = invoice_pay(invoice=invoice, actor=ACTOR)
        assert attempt.state == AttemptState.REQUIRES_ACTION

        page.goto(f"/billing/pay/{invoice_token(invoice.pk)}/")
        page.click("#confirm")
        page.click("text=Complete authentication")  # the 3-D Secure stand-in's dialog
        page.wait_for_selector("#result:has-text('Payment succeeded')")

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            invoice.refresh_from_db()
            if invoice.status == InvoiceStatus.PAID:
                break
            time.sleep(0.2)
        attempt.refresh_from_db()
        assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 2600)
        assert attempt.state == AttemptState.SUCCEEDED
    finally:
        server.stop()
        reset_gateway()


def test_customer_updates_the_card_and_the_unpaid_invoice_is_charged_at_once(
    page,
    live_server,
    settings,
    django_capture_on_commit_callbacks,
):
    """The 'update your card' link from the failed-payment email: Stripe.js confirms a
    SetupIntent with the new card; Stripe's setup_intent.succeeded (localstripe does not send
    that one, so the test signs it with the endpoint's secret) saves the card and retries."""
    from django.test import Client

    from billing.models import DunningCase, DunningState
    from tests.billing.stripe_helpers import CARD_DECLINE
    from tests.stripe_server import event_payload, sign_payload

    server = LocalStripe().start()
    try:
        settings.STRIPE_API_BASE, settings.STRIPE_API_KEY = server.url, "sk_test_browser"
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.STRIPE_JS_URL = f"{server.url}/js.stripe.com/v3/"
        settings.OMS_STRIPE_MAX_NETWORK_RETRIES = 0
        reset_gateway()
        gateway = get_gateway()
        customer = customer_in("DE")
        save_card(gateway, customer, CARD_DECLINE)
        invoice = make_invoice(customer=customer, amounts=[3100])
        assert (
            invoice_pay(invoice=invoice, actor=ACTOR, trigger="renewal").state
            == AttemptState.FAILED
        )

        page.goto(f"/billing/card/{invoice_token(invoice.pk)}/")
        for field, value in (
            ("number", "4242424242424242"),
            ("exp_month", "12"),
            ("exp_year", "34"),
            ("cvc", "123"),
            ("postal_code", "10115"),
        ):
            page.fill(f"#card-element input[placeholder={field}]", value)
        page.click("#card-form button")
        page.wait_for_selector("#result:has-text('Card saved')")

        secret = page.get_attribute("#card-form button", "data-secret")
        setup_intent = gateway.client.v1.setup_intents.retrieve(
            secret.split("_secret_")[0]
        ).to_dict()
        assert setup_intent["status"] == "succeeded"
        payload = event_payload(
            event_id="evt_seti_browser", type="setup_intent.succeeded", obj=setup_intent
        )
        with django_capture_on_commit_callbacks(execute=True):
            answer = Client().post(
                "/billing/stripe/webhook/", data=payload, content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign_payload(payload, WEBHOOK_SECRET),
            )  # fmt: skip
        assert answer.status_code == 200
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 3100)
        assert DunningCase.objects.get(invoice=invoice).state == DunningState.RECOVERED
        assert customer.payment_methods.get(is_default=True).last4 == "4242"
    finally:
        server.stop()
        reset_gateway()
