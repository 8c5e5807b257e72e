"""Billing's implementations of the lower apps' hooks, driven through those apps' services:
an immediate plan change is invoiced and charged at once; an immediate cancellation is
refunded on the last paid invoice; an order cancel asks billing for its refund."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.models import BillingReason, Invoice, InvoiceLineKind, InvoiceStatus
from billing.services import LineInput, invoice_create_for_period, invoice_pay
from subscriptions.models import ProrationAdjustment
from subscriptions.services import subscription_cancel, subscription_change_quantity
from tests.billing.stripe_helpers import CARD_OK, save_card
from tests.factories.billing import ACTOR, customer_in
from tests.factories.subscriptions import make_plan, make_subscription

pytestmark = pytest.mark.django_db


def _paid_subscription(stripe_gateway):
    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_OK)
    plan = make_plan(price=3000, currency="EUR")
    subscription = make_subscription(
        plan=plan,
        customer=customer,
        start_date=dt.date(2026, 10, 1),
        today=dt.date(2026, 10, 1),
        currency="EUR",
        renewed=1,
    )
    invoice = invoice_create_for_period(
        subscription=subscription,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        lines=[LineInput(kind=InvoiceLineKind.PLAN, description="Plan", unit_amount=3000)],
        actor=ACTOR,
    )
    assert invoice_pay(invoice=invoice, actor=ACTOR, trigger="renewal").state == "succeeded"
    return subscription, invoice


def test_immediate_upgrade_is_invoiced_and_charged_at_once(
    stripe_gateway, django_capture_on_commit_callbacks
):
    subscription, _ = _paid_subscription(stripe_gateway)
    mid = subscription.current_period_start + dt.timedelta(days=10)
    with django_capture_on_commit_callbacks(execute=True):
        subscription_change_quantity(subscription=subscription, quantity=2, actor=ACTOR, today=mid)

    adjustments = list(ProrationAdjustment.objects.filter(subscription=subscription))
    assert adjustments and all(a.billing_invoice_id for a in adjustments)
    invoice = Invoice.objects.get(
        billing_reason=BillingReason.SUBSCRIPTION_UPDATE, subscription=subscription
    )
    assert invoice.subtotal == sum(a.amount for a in adjustments) > 0
    assert {a.billing_invoice_id for a in adjustments} == {invoice.pk}
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == invoice.total


def test_immediate_cancellation_refunds_the_unused_part(
    stripe_gateway, django_capture_on_commit_callbacks
):
    subscription, period_invoice = _paid_subscription(stripe_gateway)
    mid = subscription.current_period_start + dt.timedelta(days=15)
    with django_capture_on_commit_callbacks(execute=True):
        subscription_cancel(
            subscription=subscription, reason="Moving abroad", actor=ACTOR, today=mid, force=True
        )

    credit = -sum(a.amount for a in ProrationAdjustment.objects.filter(subscription=subscription))
    period_invoice.refresh_from_db()
    assert 0 < credit < 3000
    assert period_invoice.amount_refunded == credit
    note = period_invoice.credit_notes.get()
    assert (note.amount, note.refund.state) == (credit, "succeeded")


def test_order_cancel_asks_billing_for_the_refund(
    stripe_gateway, channel, django_capture_on_commit_callbacks
):
    from billing.services import invoice_create_for_order
    from orders.services import order_cancel
    from tests.factories.orders import place_order, stocked_sku

    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_OK)
    order = place_order(channel=channel, customer=customer, lines=[(stocked_sku(price=1200), 1)])
    invoice = invoice_create_for_order(order=order, actor=ACTOR)
    invoice_pay(invoice=invoice, actor=ACTOR)
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order=order, reason="Out of patience", actor=ACTOR)
    invoice.refresh_from_db()
    assert invoice.amount_refunded == invoice.total == order.total


def test_beat_schedule_is_installed_by_migration():
    from django_celery_beat.models import PeriodicTask

    from billing import tasks

    names = dict(
        PeriodicTask.objects.filter(name__startswith="billing:").values_list("name", "task")
    )
    assert names == {
        "billing: dunning run": "billing.tasks.dunning_run_task",
        "billing: reconcile unknown payments": "billing.tasks.payments_reconcile_task",
        "billing: retry failed webhook events": "billing.tasks.webhook_retry_unprocessed_task",
        "billing: remind customers of expiring cards": "billing.tasks.card_expiry_reminders_task",
    }
    assert {tasks.dunning_run_task.name, tasks.payments_reconcile_task.name} <= set(names.values())


def test_expiring_default_cards_are_reminded_once(
    client, stripe_settings, django_capture_on_commit_callbacks
):
    import datetime as dt

    from django.core import mail

    from billing.services import card_expiry_reminders_send
    from tests.factories.billing import PaymentMethodFactory

    soon = PaymentMethodFactory(exp_month=11, exp_year=2026, last4="1111")
    PaymentMethodFactory(exp_month=3, exp_year=2027, last4="2222")  # not within 30 days
    PaymentMethodFactory(exp_month=11, exp_year=2026, is_default=False, last4="3333")  # not charged
    with django_capture_on_commit_callbacks(execute=True):
        assert card_expiry_reminders_send(as_of=dt.date(2026, 11, 10), actor=ACTOR) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert card_expiry_reminders_send(as_of=dt.date(2026, 11, 12), actor=ACTOR) == 0
    assert len(mail.outbox) == 1 and "1111" in mail.outbox[0].subject
    link = next(word for word in mail.outbox[0].body.split() if "/billing/card/c/" in word)
    assert soon.customer.email in mail.outbox[0].to
    page = client.get(link.replace("http://localhost:8000", ""))
    assert page.status_code == 200 and "seti_" in page.content.decode()
    assert client.get("/billing/card/c/forged/").status_code == 404
