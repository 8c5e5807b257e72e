"""Row locks under real parallel connections: the renewal's advance and a customer's change
never interleave, and advancing one period twice at once advances it once."""

import datetime as dt
import threading

import pytest
from django.db import connection

from subscriptions import hooks, services
from subscriptions.models import ProrationAdjustment, Subscription, SubscriptionEvent
from tests.factories.subscriptions import ACTOR, make_plan, make_subscription

D = dt.date


def run_in_threads(*targets):
    errors = []
    barrier = threading.Barrier(len(targets))

    def wrap(target):
        try:
            barrier.wait()
            target()
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return errors


@pytest.mark.django_db(transaction=True)
def test_two_workers_advancing_the_same_period_advance_it_once():
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 1, 1), renewed=1)

    def advance():
        services.subscription_advance_period(
            subscription=sub, period_start=D(2026, 2, 1), actor=ACTOR
        )

    errors = run_in_threads(*[advance] * 4)
    assert errors == []
    sub.refresh_from_db()
    assert (sub.cycles_completed, sub.next_renewal_date) == (2, D(2026, 3, 1))
    assert SubscriptionEvent.objects.filter(subscription=sub, kind="renewed").count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_upgrades_prorate_against_each_other_not_the_same_stale_state(monkeypatch):
    monkeypatch.setattr(hooks, "adjustments_created", [])  # billing's invoicing is not under test
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 4, 1), renewed=1)
    bigger, biggest = make_plan(price=2000), make_plan(price=3000)

    def change(plan):
        return lambda: services.subscription_change_plan(
            subscription=sub, plan=plan, policy="immediate", actor=ACTOR, today=D(2026, 4, 16)
        )

    errors = run_in_threads(change(bigger), change(biggest))
    assert errors == []
    sub = Subscription.objects.get(pk=sub.pk)
    billed = 1000 + sum(
        ProrationAdjustment.objects.filter(subscription=sub).values_list("amount", flat=True)
    )
    final = sub.plan_version.prices.get().amount
    # Whatever order they ran in, the period is billed 15 days at 1000 + 15 days at the final plan.
    assert billed == sub.period_billed == 500 + final // 2


@pytest.mark.django_db(transaction=True)
def test_a_failing_billing_hook_never_undoes_or_breaks_the_committed_change(monkeypatch, caplog):
    def broken(adjustments):
        raise RuntimeError("gateway down")

    monkeypatch.setattr(hooks, "adjustments_created", [broken])
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 4, 1), renewed=1)
    services.subscription_change_plan(
        subscription=sub, plan=make_plan(price=2000), actor=ACTOR, today=D(2026, 4, 16)
    )
    assert (
        ProrationAdjustment.objects.filter(
            subscription=sub, billing_invoice_id__isnull=True
        ).count()
        == 2
    )
    assert "notify_adjustments_created" in caplog.text  # logged by name, not raised
