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
from tests.browser.conftest import chromium, page  # noqa: F401 - the browser fixtures
from tests.factories.billing import ACTOR, customer_in, make_invoice
from tests.stripe_server import LocalStripe

pytestmark = pytest.mark.browser


def test_customer_confirms_a_3ds_payment_on_the_pay_page(page, live_server, settings):  # noqa: F811
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
