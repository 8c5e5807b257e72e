"""Reminder emails once per period, and the upcoming-renewal preview equals what the renewal
then did (invoice lines and amount, shipped items)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection

from billing.models import Invoice
from oms.core.actors import Actor
from orders.models import Order
from subscriptions import services
from subscriptions.models import Subscription
from subscriptions.renewal.cycle import renewal_run_execute
from subscriptions.renewal.models import RenewalReminder
from subscriptions.renewal.reminders import renewal_reminders_send
from subscriptions.selectors import upcoming_renewal
from tests.factories.subscriptions import make_plan
from tests.renewal.conftest import subscribe

D = dt.date
ACTOR = Actor.system("tests")


@pytest.mark.django_db
def test_a_reminder_goes_out_n_days_before_with_items_amount_and_links_once(
    box_plan, settings, django_capture_on_commit_callbacks
):
    settings.OMS_RENEWAL_REMINDER_DAYS = 3
    sub = subscribe(box_plan, start=D(2026, 1, 15))
    other = subscribe(box_plan, start=D(2026, 1, 20))

    with django_capture_on_commit_callbacks(execute=True):
        assert renewal_reminders_send(as_of=D(2026, 1, 11)) == 0  # four days before: not yet
        assert renewal_reminders_send(as_of=D(2026, 1, 12)) == 1
        assert renewal_reminders_send(as_of=D(2026, 1, 12)) == 0  # the same night again
        assert renewal_reminders_send(as_of=D(2026, 1, 13)) == 0  # the next night

    assert [m.to for m in mail.outbox] == [[sub.customer.email]]
    body = mail.outbox[0].body
    assert "1 × BEANS" in body and "2 × FILTERS" in body
    assert "25.00 USD" in body
    assert (
        f"/portal/subscriptions/{sub.pk}/#skip" in body
        and f"/portal/subscriptions/{sub.pk}/#change" in body
    )
    reminder = RenewalReminder.objects.get()
    assert (reminder.subscription_id, reminder.period_start, reminder.amount) == (
        sub.pk,
        D(2026, 1, 15),
        2500,
    )
    assert reminder.sent_at is not None
    assert not RenewalReminder.objects.filter(subscription=other).exists()


@pytest.mark.django_db
def test_a_skipped_period_gets_no_reminder_and_the_next_period_gets_its_own(box_plan, gateway):
    sub = subscribe(box_plan)
    renewal_run_execute(as_of=D(2026, 1, 15))
    services.subscription_skip(subscription=Subscription.objects.get(pk=sub.pk), actor=ACTOR)

    renewal_reminders_send(as_of=D(2026, 2, 12), days=3)  # Feb 15 is skipped
    renewal_run_execute(as_of=D(2026, 2, 15))
    renewal_reminders_send(as_of=D(2026, 3, 12), days=3)

    assert list(RenewalReminder.objects.values_list("period_start", flat=True)) == [D(2026, 3, 15)]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_reminder_runs_send_each_reminder_once(box_plan):
    subs = [subscribe(box_plan) for _ in range(10)]
    barrier = threading.Barrier(2)
    sent: list[int] = []

    def worker() -> None:
        try:
            barrier.wait()
            sent.append(renewal_reminders_send(as_of=D(2026, 1, 13), days=3, batch_size=3))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sum(sent) == 10
    assert RenewalReminder.objects.count() == 10
    assert sorted(m.to[0] for m in mail.outbox) == sorted(s.customer.email for s in subs)


@pytest.mark.django_db
def test_the_upcoming_renewal_preview_is_what_the_renewal_did(catalog, gateway):
    """Setup fee on the first paid period, quantity 2, a one-box swap and an add-on."""
    plan = make_plan(
        price=2500,
        setup_fee=700,
        items=[(catalog["beans"], 1), (catalog["filters"], 1)],
        name="Preview box",
    )
    sub = subscribe(plan, quantity=2)
    services.subscription_swap_item(
        subscription=sub, from_sku=catalog["filters"], to_sku=catalog["rare"], actor=ACTOR
    )
    services.subscription_add_addon(
        subscription=sub, sku=catalog["beans"], quantity=1, unit_amount=1100, actor=ACTOR
    )
    preview = upcoming_renewal(Subscription.objects.get(pk=sub.pk))
    assert preview is not None

    renewal_run_execute(as_of=preview.renewal_date)

    invoice = Invoice.objects.get(subscription=sub, period_start=preview.period_start)
    assert invoice.period_end == preview.period_end
    assert invoice.total == preview.total == 2 * 2500 + 700 + 1100
    assert [(line.description, line.amount) for line in invoice.lines.order_by("position")] == [
        (line.description, line.amount) for line in preview.lines
    ]
    order = Order.objects.get(subscription_id=sub.pk)
    shipped = sorted((line.sku_code, line.quantity) for line in order.lines.all())
    assert shipped == sorted((item.sku_code, item.quantity) for item in preview.items)
    assert shipped == [("BEANS", 1), ("BEANS", 2), ("RARE", 2)]
    # And the next preview is the plain plan again, without the setup fee.
    after = upcoming_renewal(Subscription.objects.get(pk=sub.pk))
    assert after is not None and after.total == 5000


@pytest.mark.django_db
def test_the_portable_paths_used_on_sqlite_send_once_and_renew_once(
    box_plan, gateway, monkeypatch, django_capture_on_commit_callbacks
):
    """The quick start runs on SQLite: reminders and leases there take the portable paths."""
    import subscriptions.renewal.claim as claim
    import subscriptions.renewal.reminders as reminders

    monkeypatch.setattr(reminders, "is_postgres", lambda conn=None: False)
    monkeypatch.setattr(claim, "is_postgres", lambda conn=None: False)
    sub = subscribe(box_plan, start=D(2026, 1, 15))

    with django_capture_on_commit_callbacks(execute=True):
        assert renewal_reminders_send(as_of=D(2026, 1, 12), days=3) == 1
        assert renewal_reminders_send(as_of=D(2026, 1, 12), days=3) == 0
    assert (
        RenewalReminder.objects.filter(subscription=sub, period_start=D(2026, 1, 15)).count() == 1
    )
    assert len(mail.outbox) == 1

    renewal_run_execute(as_of=D(2026, 1, 15))
    renewal_run_execute(as_of=D(2026, 1, 15))
    assert Invoice.objects.filter(subscription=sub).count() == 1
    assert Order.objects.filter(subscription_id=sub.pk).count() == 1
