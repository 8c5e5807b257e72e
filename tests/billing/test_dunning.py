"""Dunning against localstripe with a controlled clock: the full retry schedule, the end
action, recovery after a card update, hard declines and the operator flags."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail

from billing.models import AttemptState, DunningCase, DunningState, InvoiceStatus, PaymentAttempt
from billing.services import billing_account_update, dunning_run, invoice_pay
from subscriptions.models import SubscriptionStatus
from tests.billing.stripe_helpers import CARD_DECLINE, CARD_OK, payment_intents_for, save_card
from tests.factories.billing import ACTOR, customer_in

T0 = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)


def at(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


@pytest.fixture
def declining(stripe_gateway, make_period_invoice):
    """A subscription whose renewal charge was just declined (day 0)."""
    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_DECLINE)
    invoice = make_period_invoice(customer, price=1900)
    return customer, invoice


def _first_charge(invoice, capture):
    with time_machine.travel(T0, tick=False), capture(execute=True):
        return invoice_pay(invoice=invoice, actor=ACTOR, trigger="renewal")


def _run(days, capture):
    with time_machine.travel(at(days), tick=False), capture(execute=True):
        return dunning_run(actor=ACTOR)


def test_decline_enters_dunning_and_walks_the_whole_schedule(
    declining, stripe_gateway, settings, django_capture_on_commit_callbacks
):
    settings.OMS_DUNNING_RETRY_DAYS = [1, 3, 5, 7]
    settings.OMS_DUNNING_END_ACTION = "cancel"
    customer, invoice = declining
    capture = django_capture_on_commit_callbacks

    attempt = _first_charge(invoice, capture)
    assert attempt.state == AttemptState.FAILED
    case = DunningCase.objects.get(invoice=invoice)
    assert (case.state, case.failures, case.next_retry_at) == (DunningState.ACTIVE, 1, at(1))
    invoice.subscription.refresh_from_db()
    assert invoice.subscription.status == SubscriptionStatus.PAST_DUE
    assert len(mail.outbox) == 1 and "/billing/card/" in mail.outbox[0].body

    # Before a retry is due nothing is charged.
    assert _run(0.9, capture).retried == 0
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1

    expected_next = {1: at(3), 3: at(5), 5: at(7)}
    for day in (1, 3, 5):
        result = _run(day, capture)
        assert (result.due, result.retried, result.failed) == (1, 1, 1)
        case.refresh_from_db()
        assert case.next_retry_at == expected_next[day]
        # The same run again the same day: the retry is done, nothing more is charged.
        assert _run(day, capture).retried == 0

    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 4
    assert len(mail.outbox) == 4  # one email at each failure
    invoice.subscription.refresh_from_db()
    assert invoice.subscription.status == SubscriptionStatus.PAST_DUE

    last = _run(7, capture)
    assert (last.retried, last.exhausted) == (1, 1)
    case.refresh_from_db()
    invoice.refresh_from_db()
    invoice.subscription.refresh_from_db()
    assert (case.state, case.failures, case.retries_done, case.end_action) == (
        DunningState.EXHAUSTED,
        5,
        4,
        "cancel",
    )
    assert invoice.status == InvoiceStatus.UNCOLLECTIBLE
    assert invoice.subscription.status == SubscriptionStatus.CANCELLED
    attempts = list(PaymentAttempt.objects.filter(invoice=invoice).order_by("attempt_number"))
    assert [a.trigger for a in attempts] == ["renewal", "dunning", "dunning", "dunning", "dunning"]
    assert [a.idempotency_key for a in attempts] == [
        f"oms-inv{invoice.pk}-a{n}" for n in range(1, 6)
    ]
    assert len(payment_intents_for(stripe_gateway, customer.stripe_customer_id)) == 5
    assert "could not collect" in mail.outbox[-1].subject
    assert _run(30, capture).due == 0  # nothing left to retry


def test_end_action_pause(declining, settings, django_capture_on_commit_callbacks):
    settings.OMS_DUNNING_RETRY_DAYS = [2]
    settings.OMS_DUNNING_END_ACTION = "pause"
    _, invoice = declining
    _first_charge(invoice, django_capture_on_commit_callbacks)
    _run(2, django_capture_on_commit_callbacks)
    invoice.subscription.refresh_from_db()
    assert invoice.subscription.status == SubscriptionStatus.PAUSED
    assert DunningCase.objects.get(invoice=invoice).end_action == "pause"


def test_card_update_retries_at_once_and_recovers(
    declining, stripe_gateway, django_capture_on_commit_callbacks
):
    customer, invoice = declining
    capture = django_capture_on_commit_callbacks
    _first_charge(invoice, capture)

    # Day 2: the customer saves a good card through the portal's SetupIntent.
    with time_machine.travel(at(2), tick=False), capture(execute=True):
        from billing.services import payment_method_sync, setup_intent_create
        from tests.billing.stripe_helpers import create_card

        si = setup_intent_create(customer=customer)
        stripe_gateway.client.v1.setup_intents.confirm(
            si.id, params={"payment_method": create_card(stripe_gateway, CARD_OK)}
        )
        payment_method_sync(setup_intent_id=si.id, actor=ACTOR)

    invoice.refresh_from_db()
    invoice.subscription.refresh_from_db()
    case = DunningCase.objects.get(invoice=invoice)
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == 1900
    assert case.state == DunningState.RECOVERED
    assert invoice.subscription.status == SubscriptionStatus.ACTIVE
    retry = PaymentAttempt.objects.get(invoice=invoice, attempt_number=2)
    assert (retry.trigger, retry.state) == ("card_update", AttemptState.SUCCEEDED)
    assert retry.payment_method.last4 == "4242"
    # The scheduled retry on day 3 finds nothing to do.
    assert _run(3, capture).due == 0
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 2


def test_hard_decline_is_not_retried_on_the_same_card(
    stripe_gateway, make_period_invoice, monkeypatch, django_capture_on_commit_callbacks
):
    """Issuers penalise retrying a lost/stolen card: the retry day passes without a charge."""
    from billing.gateway import FAILED, ChargeResult, StripeGateway

    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_OK)
    invoice = make_period_invoice(customer, price=700)
    real = StripeGateway.charge_off_session
    monkeypatch.setattr(
        StripeGateway,
        "charge_off_session",
        lambda self, **kw: ChargeResult(
            status=FAILED, decline_code="stolen_card", decline_kind="hard"
        ),
    )
    attempt = _first_charge(invoice, django_capture_on_commit_callbacks)
    assert (attempt.decline_code, attempt.decline_kind) == ("stolen_card", "hard")
    monkeypatch.setattr(StripeGateway, "charge_off_session", real)

    result = _run(1, django_capture_on_commit_callbacks)
    assert (result.retried, result.skipped) == (0, 1)
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1
    assert DunningCase.objects.get(invoice=invoice).retries_done == 1


@pytest.mark.parametrize("flag", ["no_dunning", "written_off"])
def test_operator_flags_stop_retries(flag, declining, django_capture_on_commit_callbacks):
    customer, invoice = declining
    _first_charge(invoice, django_capture_on_commit_callbacks)
    billing_account_update(customer=customer, actor=ACTOR, **{flag: True})
    result = _run(1, django_capture_on_commit_callbacks)
    assert (result.retried, result.skipped) == (0, 1)
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1
    invoice.refresh_from_db()
    if flag == "written_off":
        assert invoice.status == InvoiceStatus.UNCOLLECTIBLE
    assert DunningCase.objects.get(invoice=invoice).state == DunningState.STOPPED


def test_auto_pay_off_invoices_are_sent_not_charged(
    stripe_gateway, make_period_invoice, django_capture_on_commit_callbacks
):
    from oms.core.errors import Conflict

    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_OK)
    billing_account_update(customer=customer, actor=ACTOR, auto_pay=False)
    with django_capture_on_commit_callbacks(execute=True):
        invoice = make_period_invoice(customer, price=1200)
    assert invoice.collection_method == "send_invoice"
    assert invoice.due_date is not None
    assert len(mail.outbox) == 1 and invoice.number in mail.outbox[0].subject
    with pytest.raises(Conflict):
        invoice_pay(invoice=invoice, actor=ACTOR, trigger="renewal")
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 0
