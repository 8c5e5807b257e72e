"""Charging invoices through the Stripe SDK against localstripe: success, declines, the
two-step attempt under timeouts and crashes, and reconciliation that never charges twice."""

from __future__ import annotations

import pytest
from django.core import mail

from billing.gateway import StripeGateway
from billing.models import (
    AttemptState,
    BillingEvent,
    BillingEventKind,
    InvoiceStatus,
    PaymentAttempt,
)
from billing.services import invoice_pay, payment_attempt_resolve, payments_reconcile
from oms.core.errors import Conflict
from tests.billing.stripe_helpers import CARD_3DS, CARD_DECLINE, payment_intents_for, save_card
from tests.factories.billing import ACTOR, customer_in
from tests.stripe_server import RecordingProxy


def test_successful_charge_pays_the_invoice(paying_customer, make_period_invoice, stripe_gateway):
    invoice = make_period_invoice(paying_customer, price=2500)
    assert (invoice.status, invoice.amount_due) == (InvoiceStatus.OPEN, 2500)

    attempt = invoice_pay(invoice=invoice, actor=ACTOR, trigger="renewal")

    invoice.refresh_from_db()
    assert attempt.state == AttemptState.SUCCEEDED
    assert attempt.idempotency_key == f"oms-inv{invoice.pk}-a1"
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
        InvoiceStatus.PAID,
        2500,
        0,
    )
    intents = payment_intents_for(stripe_gateway, paying_customer.stripe_customer_id)
    assert [(pi["id"], pi["amount"], pi["status"]) for pi in intents] == [
        (attempt.stripe_payment_intent_id, 2500, "succeeded")
    ]
    assert intents[0]["metadata"]["oms_attempt_key"] == attempt.idempotency_key
    assert list(invoice.events.values_list("kind", flat=True)) == [
        BillingEventKind.INVOICE_CREATED, BillingEventKind.INVOICE_FINALIZED, BillingEventKind.PAYMENT_STARTED,
        BillingEventKind.PAYMENT_SUCCEEDED, BillingEventKind.INVOICE_PAID,
    ]  # fmt: skip

    # Paid: a second charge is refused before Stripe is called.
    with pytest.raises(Conflict):
        invoice_pay(invoice=invoice, actor=ACTOR)
    assert len(payment_intents_for(stripe_gateway, paying_customer.stripe_customer_id)) == 1


def test_decline_records_a_soft_failure_and_no_payment(
    stripe_gateway, make_period_invoice, django_capture_on_commit_callbacks
):
    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_DECLINE)
    invoice = make_period_invoice(customer, price=1000)

    with django_capture_on_commit_callbacks(execute=True):
        attempt = invoice_pay(invoice=invoice, actor=ACTOR, trigger="renewal")

    invoice.refresh_from_db()
    assert (attempt.state, attempt.decline_code, attempt.decline_kind) == (
        AttemptState.FAILED,
        "card_declined",
        "soft",
    )
    assert attempt.stripe_payment_intent_id  # found even though the SDK raised CardError
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
        InvoiceStatus.OPEN,
        0,
        1000,
    )
    assert len(mail.outbox) == 1 and "/billing/card/" in mail.outbox[0].body


def test_authentication_required_emails_a_link_to_confirm(
    stripe_gateway, make_period_invoice, client, django_capture_on_commit_callbacks
):
    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_3DS)
    invoice = make_period_invoice(customer, price=1800)

    with django_capture_on_commit_callbacks(execute=True):
        attempt = invoice_pay(invoice=invoice, actor=ACTOR, trigger="renewal")

    assert attempt.state == AttemptState.REQUIRES_ACTION
    assert attempt.client_secret.startswith(attempt.stripe_payment_intent_id)
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "confirm" in mail.outbox[0].subject.lower()
    link = next(word for word in body.split() if "/billing/pay/" in word)
    page = client.get(link.replace("http://localhost:8000", ""))
    assert page.status_code == 200
    assert attempt.client_secret in page.content.decode()

    # A new attempt (the next retry) first cancels the unconfirmed one, so the customer can
    # never complete the old charge on top of the new one.
    invoice.refresh_from_db()
    second = invoice_pay(invoice=invoice, actor=ACTOR, trigger="manual")
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.FAILED
    assert (
        stripe_gateway.retrieve_payment_intent(attempt.stripe_payment_intent_id).decline_code
        == "canceled"
    )
    assert second.attempt_number == 2


def test_timeout_then_sdk_retry_sends_the_same_key_and_makes_one_payment_intent(
    localstripe_server, stripe_settings, paying_customer, make_period_invoice
):
    """The first answer is lost after Stripe created the PaymentIntent; the SDK retries the
    request with the same Idempotency-Key (derived from invoice and attempt number), and
    Stripe replays its first answer. The proxy records both requests and, like Stripe (and
    unlike localstripe), honours the key."""
    invoice = make_period_invoice(paying_customer, price=4200)
    with RecordingProxy(localstripe_server.url, emulate_idempotency=True) as proxy:
        proxy.drop_responses(
            lambda r: r.method == "POST" and r.path == "/v1/payment_intents", times=1
        )
        gateway = StripeGateway(api_base=proxy.url, max_network_retries=1, timeout=5)
        attempt = invoice_pay(invoice=invoice, actor=ACTOR, gateway=gateway)
        posts = proxy.posts_to("/v1/payment_intents")

    assert attempt.state == AttemptState.SUCCEEDED
    assert len(posts) == 2
    assert posts[0].dropped and posts[1].replayed
    assert {p.idempotency_key for p in posts} == {attempt.idempotency_key}
    ours = [pi for pi in payment_intents_for(gateway, paying_customer.stripe_customer_id)]
    assert [pi["id"] for pi in ours] == [attempt.stripe_payment_intent_id]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 4200)


def test_timeout_without_retry_leaves_unknown_and_reconcile_finds_the_charge(
    localstripe_server, stripe_settings, paying_customer, make_period_invoice
):
    """No retry at all (the SDK gave up): the attempt is unknown, never failed, and the
    invoice cannot be charged again until Stripe has been asked. Reconciliation reads only."""
    invoice = make_period_invoice(paying_customer, price=3100)
    with RecordingProxy(localstripe_server.url) as proxy:
        proxy.drop_responses(
            lambda r: r.method == "POST" and r.path == "/v1/payment_intents", times=1
        )
        gateway = StripeGateway(api_base=proxy.url, max_network_retries=0, timeout=5)
        attempt = invoice_pay(invoice=invoice, actor=ACTOR, gateway=gateway)
        assert attempt.state == AttemptState.UNKNOWN
        with pytest.raises(Conflict):  # the in-flight attempt blocks a second charge
            from billing.services import payment_attempt_begin

            payment_attempt_begin(invoice=invoice, actor=ACTOR)

        resolved = payment_attempt_resolve(attempt=attempt, actor=ACTOR, gateway=gateway)
        posts = proxy.posts_to("/v1/payment_intents")

    assert resolved.state == AttemptState.SUCCEEDED
    assert len(posts) == 1  # resolution never POSTs a charge
    ours = payment_intents_for(gateway, paying_customer.stripe_customer_id)
    assert [pi["id"] for pi in ours] == [resolved.stripe_payment_intent_id]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 3100)
    assert (
        BillingEvent.objects.filter(
            invoice=invoice, kind=BillingEventKind.PAYMENT_RECONCILED
        ).count()
        == 1
    )


def test_crash_between_stripe_success_and_our_commit_is_reconciled_without_a_second_charge(
    transactional_db, stripe_settings, stripe_gateway, monkeypatch, settings
):
    """The process dies after Stripe charged but before the outcome was recorded: the
    attempt row (committed before the call) stays pending. The next run asks Stripe."""
    import billing.services.payments as payments
    from tests.billing.stripe_helpers import CARD_OK
    from tests.factories.billing import make_invoice

    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_OK)
    invoice = make_invoice(customer=customer, amounts=[5500])

    def crash(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(payments, "payment_attempt_complete", crash)
    with pytest.raises(SystemExit):
        invoice_pay(invoice=invoice, actor=ACTOR)
    monkeypatch.undo()

    attempt = PaymentAttempt.objects.get(invoice=invoice)  # committed before the call
    assert (attempt.state, attempt.stripe_payment_intent_id) == (AttemptState.PENDING, None)
    customer.refresh_from_db()
    assert len(payment_intents_for(stripe_gateway, customer.stripe_customer_id)) == 1

    # A fresh pending attempt might still be in flight elsewhere: left alone...
    assert payments_reconcile(actor=ACTOR) == 0
    # ...until it is stale.
    settings.OMS_PAYMENT_PENDING_STALE_SECONDS = 0
    assert payments_reconcile(actor=ACTOR) == 1

    attempt.refresh_from_db()
    invoice.refresh_from_db()
    assert attempt.state == AttemptState.SUCCEEDED and attempt.stripe_payment_intent_id
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 5500)
    assert len(payment_intents_for(stripe_gateway, customer.stripe_customer_id)) == 1
    assert payments_reconcile(actor=ACTOR) == 0  # nothing left to resolve


def test_the_subscriptions_own_card_wins_over_the_customer_default(db):
    """A subscription switched to another card (subscriptions' change of payment method) is
    charged on that card; without one, the customer's default card."""
    from billing.gateway import InProcessGateway
    from billing.services import payment_method_save
    from tests.factories.subscriptions import make_plan, make_subscription

    gateway = InProcessGateway()
    customer = customer_in("DE")
    customer.stripe_customer_id = "cus_own_card"
    customer.save(update_fields=["stripe_customer_id"])
    default_pm, own_pm = gateway.add_card(), gateway.add_card()
    for pm_id, default in ((own_pm, False), (default_pm, True)):
        payment_method_save(
            customer=customer, stripe_payment_method_id=pm_id, brand="visa", last4="4242",
            exp_month=1, exp_year=2035, actor=ACTOR, make_default=default, retry_dunning=False,
        )  # fmt: skip
    plan = make_plan(price=1000, currency="EUR")
    own = make_subscription(plan=plan, customer=customer, currency="EUR", payment_method=own_pm)
    plain = make_subscription(plan=plan, customer=customer, currency="EUR")
    from billing.services import invoice_create_for_period

    charged = []
    for subscription in (own, plain):
        invoice = invoice_create_for_period(
            subscription=subscription, period_start=subscription.current_period_start, actor=ACTOR
        )
        charged.append(
            invoice_pay(invoice=invoice, actor=ACTOR, gateway=gateway).stripe_payment_method_id
        )
    assert charged == [own_pm, default_pm]


def test_an_attempt_in_flight_elsewhere_blocks_a_second_charge(db, settings):
    """Another worker has committed its pending attempt and is calling Stripe: a second
    caller neither charges nor declares that attempt failed (its charge may land any moment)."""
    from billing.gateway import InProcessGateway
    from billing.services import payment_attempt_begin, payment_method_save
    from tests.factories.billing import make_invoice

    gateway = InProcessGateway()
    customer = customer_in("DE")
    customer.stripe_customer_id = "cus_in_flight"
    customer.save(update_fields=["stripe_customer_id"])
    payment_method_save(customer=customer, stripe_payment_method_id=gateway.add_card(), brand="visa",
                        last4="4242", exp_month=1, exp_year=2035, actor=ACTOR, retry_dunning=False)  # fmt: skip
    invoice = make_invoice(customer=customer, amounts=[1000])
    in_flight = payment_attempt_begin(invoice=invoice, actor=ACTOR, trigger="renewal")

    with pytest.raises(Conflict) as refused:
        invoice_pay(invoice=invoice, actor=ACTOR, gateway=gateway)
    assert refused.value.code == "payment_in_flight"
    settings.OMS_PAYMENT_PENDING_STALE_SECONDS = 0  # even once stale: Stripe has not seen it yet
    with pytest.raises(Conflict):
        invoice_pay(invoice=invoice, actor=ACTOR, gateway=gateway)
    in_flight.refresh_from_db()
    assert in_flight.state == AttemptState.PENDING
    assert gateway.calls_to("charge_off_session") == []
