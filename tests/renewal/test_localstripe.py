"""End to end through the real Stripe SDK against localstripe: a good card renews and ships,
a declining card hands the subscription to dunning and ships nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.models import Invoice, InvoiceStatus, PaymentAttempt
from orders.models import Order
from subscriptions.models import SubscriptionStatus
from subscriptions.renewal.cycle import renewal_run_execute
from subscriptions.renewal.models import Renewal, RenewalState
from tests.billing.stripe_helpers import CARD_DECLINE, CARD_OK, payment_intents_for, save_card
from tests.renewal.conftest import subscribe

D = dt.date


@pytest.mark.slow
@pytest.mark.django_db
def test_renewals_charge_through_the_stripe_sdk(box_plan, stripe_gateway):
    good = subscribe(box_plan, card="")
    bad = subscribe(box_plan, card="")
    save_card(stripe_gateway, good.customer, CARD_OK)
    save_card(stripe_gateway, bad.customer, CARD_DECLINE)

    run = renewal_run_execute(as_of=D(2026, 1, 15), gateway=stripe_gateway)

    assert (run.renewed, run.failed_payment) == (1, 1)
    ok = Renewal.objects.get(subscription=good)
    assert ok.state == RenewalState.DONE and Order.objects.filter(pk=ok.order_id).exists()
    invoice = Invoice.objects.get(pk=ok.invoice_id)
    assert invoice.status == InvoiceStatus.PAID
    attempt = PaymentAttempt.objects.get(invoice=invoice)
    good.customer.refresh_from_db()
    intents = payment_intents_for(stripe_gateway, good.customer.stripe_customer_id)
    assert [(pi["id"], pi["amount"], pi["status"]) for pi in intents] == [
        (attempt.stripe_payment_intent_id, 2500, "succeeded")
    ]

    declined = Renewal.objects.get(subscription=bad)
    assert declined.state == RenewalState.DUNNING and declined.order_id is None
    assert not Order.objects.filter(subscription_id=bad.pk).exists()
    bad.refresh_from_db()
    assert bad.status == SubscriptionStatus.PAST_DUE
    assert PaymentAttempt.objects.get(invoice_id=declined.invoice_id).decline_code
