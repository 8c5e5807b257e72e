"""Which period each renewal bills: catch-up after missed nights, skip-missed plans, skips,
pauses, trials, scheduled plan changes, one-box swaps and add-ons — each applied to exactly
its period — and nightly runs across DST changes in a business time zone with DST."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from billing.models import Invoice
from oms.core.actors import Actor
from orders.models import Order, OrderLine
from subscriptions import services
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.renewal.cycle import renewal_run_execute
from subscriptions.renewal.models import Renewal, RenewalRun, RenewalState
from tests.factories.subscriptions import make_plan
from tests.renewal.conftest import subscribe

D = dt.date
ACTOR = Actor.system("tests")
pytestmark = pytest.mark.django_db


def _renewals(sub: Any) -> list[tuple[dt.date, str, str]]:
    return list(
        Renewal.objects.filter(subscription=sub)
        .order_by("period_start")
        .values_list("period_start", "state", "action")
    )


def _invoiced_periods(sub: Any) -> list[tuple[dt.date, int]]:
    return list(
        Invoice.objects.filter(subscription=sub)
        .order_by("period_start")
        .values_list("period_start", "total")
    )


def _order_items(sub: Any, period_start: dt.date) -> list[tuple[str, int]]:
    order = Order.objects.get(external_id=f"renewal:{sub.pk}:{period_start.isoformat()}")
    return sorted(OrderLine.objects.filter(order=order).values_list("sku_code", "quantity"))


def test_catch_up_renews_each_missed_period_with_its_own_invoice_in_order(box_plan, gateway):
    sub = subscribe(box_plan)

    run = renewal_run_execute(as_of=D(2026, 3, 20))  # the cycle did not run for two months

    assert _renewals(sub) == [
        (D(2026, 1, 15), RenewalState.DONE, "renew"),
        (D(2026, 2, 15), RenewalState.DONE, "renew"),
        (D(2026, 3, 15), RenewalState.DONE, "renew"),
    ]
    assert _invoiced_periods(sub) == [
        (D(2026, 1, 15), 2500),
        (D(2026, 2, 15), 2500),
        (D(2026, 3, 15), 2500),
    ]
    assert Order.objects.filter(subscription_id=sub.pk).count() == 3
    invoices = list(Invoice.objects.filter(subscription=sub).order_by("period_start"))
    assert [i.period_end for i in invoices] == [D(2026, 2, 15), D(2026, 3, 15), D(2026, 4, 15)]
    # Period by period: each invoice was created after the previous renewal finished.
    assert invoices[0].created_at < invoices[1].created_at < invoices[2].created_at
    sub.refresh_from_db()
    assert sub.next_renewal_date == D(2026, 4, 15) and sub.cycles_completed == 3
    assert run.due == 3 and run.renewed == 3
    assert len(gateway.calls_to("charge_off_session")) == 3


def test_a_plan_that_skips_missed_periods_bills_only_the_latest_due_one(catalog, gateway):
    plan = make_plan(price=2500, items=[(catalog["beans"], 1)], skip_missed_periods=True)
    sub = subscribe(plan)

    run = renewal_run_execute(as_of=D(2026, 3, 20))

    assert _renewals(sub) == [
        (D(2026, 1, 15), RenewalState.SKIPPED, "missed"),
        (D(2026, 2, 15), RenewalState.SKIPPED, "missed"),
        (D(2026, 3, 15), RenewalState.DONE, "renew"),
    ]
    assert _invoiced_periods(sub) == [(D(2026, 3, 15), 2500)]
    assert Order.objects.filter(subscription_id=sub.pk).count() == 1
    assert (run.renewed, run.skipped) == (1, 2)
    sub.refresh_from_db()
    assert sub.next_renewal_date == D(2026, 4, 15)


def test_a_skip_applies_to_exactly_its_period(box_plan, gateway):
    sub = subscribe(box_plan)
    renewal_run_execute(as_of=D(2026, 1, 15))
    services.subscription_skip(
        subscription=Subscription.objects.get(pk=sub.pk), actor=ACTOR
    )  # Feb 15

    renewal_run_execute(as_of=D(2026, 2, 15))
    renewal_run_execute(as_of=D(2026, 3, 15))

    assert _renewals(sub) == [
        (D(2026, 1, 15), RenewalState.DONE, "renew"),
        (D(2026, 2, 15), RenewalState.SKIPPED, "skip"),
        (D(2026, 3, 15), RenewalState.DONE, "renew"),
    ]
    assert _invoiced_periods(sub) == [(D(2026, 1, 15), 2500), (D(2026, 3, 15), 2500)]
    assert not Order.objects.filter(external_id=f"renewal:{sub.pk}:2026-02-15").exists()


def test_a_pause_bills_nothing_until_it_resumes(box_plan, gateway):
    sub = subscribe(box_plan)
    renewal_run_execute(as_of=D(2026, 1, 15))
    services.subscription_pause(
        subscription=Subscription.objects.get(pk=sub.pk),
        actor=ACTOR,
        cycles=2,
        today=D(2026, 1, 20),
    )
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.PAUSED and sub.next_renewal_date == D(2026, 4, 15)

    for night in (D(2026, 2, 15), D(2026, 3, 15), D(2026, 4, 14)):
        assert renewal_run_execute(as_of=night).due == 0
    renewal_run_execute(as_of=D(2026, 4, 15))

    assert [r[0] for r in _renewals(sub)] == [D(2026, 1, 15), D(2026, 4, 15)]
    assert _invoiced_periods(sub) == [(D(2026, 1, 15), 2500), (D(2026, 4, 15), 2500)]
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE and sub.next_renewal_date == D(2026, 5, 15)


def test_a_trial_is_free_and_converts_at_its_end(catalog, gateway):
    plan = make_plan(price=2500, items=[(catalog["beans"], 1)], trial_days=14)
    sub = subscribe(plan, start=D(2026, 1, 1))
    assert sub.status == SubscriptionStatus.TRIALING and sub.next_renewal_date == D(2026, 1, 15)

    assert renewal_run_execute(as_of=D(2026, 1, 14)).due == 0
    assert not Invoice.objects.exists() and gateway.calls_to("charge_off_session") == []
    renewal_run_execute(as_of=D(2026, 1, 15))

    assert _renewals(sub) == [(D(2026, 1, 15), RenewalState.DONE, "trial_conversion")]
    assert _invoiced_periods(sub) == [(D(2026, 1, 15), 2500)]
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE


def test_a_plan_change_at_term_end_bills_the_new_plan_from_its_period_only(
    box_plan, catalog, gateway
):
    bigger = make_plan(price=4000, items=[(catalog["beans"], 3)], name="Big box")
    sub = subscribe(box_plan)
    renewal_run_execute(as_of=D(2026, 1, 15))
    services.subscription_change_plan(
        subscription=Subscription.objects.get(pk=sub.pk), plan=bigger, policy="end_of_term",
        actor=ACTOR, today=D(2026, 1, 20),
    )  # fmt: skip

    renewal_run_execute(as_of=D(2026, 2, 15))

    assert _invoiced_periods(sub) == [(D(2026, 1, 15), 2500), (D(2026, 2, 15), 4000)]
    assert _order_items(sub, D(2026, 1, 15)) == [("BEANS", 1), ("FILTERS", 2)]
    assert _order_items(sub, D(2026, 2, 15)) == [("BEANS", 3)]
    sub.refresh_from_db()
    assert sub.plan_version.plan_id == bigger.pk


def test_a_swap_and_an_add_on_change_only_the_next_box(box_plan, catalog, gateway):
    sub = subscribe(box_plan)
    renewal_run_execute(as_of=D(2026, 1, 15))
    fresh = Subscription.objects.get(pk=sub.pk)
    services.subscription_swap_item(
        subscription=fresh, from_sku=catalog["filters"], to_sku=catalog["rare"], actor=ACTOR
    )
    services.subscription_add_addon(
        subscription=fresh, sku=catalog["beans"], quantity=2, unit_amount=1100, actor=ACTOR
    )

    renewal_run_execute(as_of=D(2026, 2, 15))
    renewal_run_execute(as_of=D(2026, 3, 15))

    assert _order_items(sub, D(2026, 2, 15)) == [("BEANS", 1), ("BEANS", 2), ("RARE", 2)]
    assert _order_items(sub, D(2026, 3, 15)) == [("BEANS", 1), ("FILTERS", 2)]
    assert _invoiced_periods(sub) == [
        (D(2026, 1, 15), 2500),
        (D(2026, 2, 15), 2500 + 2200),
        (D(2026, 3, 15), 2500),
    ]


# --- daylight saving time -------------------------------------------------------------------


def _nightly(utc_instants: list[dt.datetime]) -> list[dt.date]:
    """Fire the beat's task at each instant (eager Celery); return each run's as_of."""
    from subscriptions.renewal.tasks import run_renewals

    for instant in utc_instants:
        with time_machine.travel(instant, tick=False):
            run_renewals.delay()
    return list(RenewalRun.objects.order_by("id").values_list("as_of", flat=True))


def _daily_subscription(catalog: dict[str, Any], start: dt.date) -> Any:
    plan = make_plan(price=300, items=[(catalog["filters"], 1)], interval_unit="day")
    return subscribe(plan, start=start)


@pytest.mark.parametrize(
    "beat_utc, as_of_days, dues",
    [
        # 06:00 UTC is 01:00 EST / 02:00 EDT: always the same business date.
        (dt.time(6, 0), [6, 7, 8, 9, 10, 11], [1, 1, 1, 1, 1, 1]),
        # 04:30 UTC is 23:30 EST (the day before) until the change, then 00:30 EDT: the
        # business date jumps from Mar 7 to Mar 9, and Mar 8 is caught up on the Mar 9 run.
        (dt.time(4, 30), [5, 6, 7, 9, 10, 11], [0, 1, 1, 2, 1, 1]),
    ],
)
def test_spring_forward_night_renews_every_day_once(
    settings, catalog, gateway, beat_utc, as_of_days, dues
):
    settings.OMS_TIME_ZONE = "America/New_York"  # DST starts 2026-03-08 02:00 local
    sub = _daily_subscription(catalog, D(2026, 3, 6))
    nights = [dt.datetime.combine(D(2026, 3, d), beat_utc, tzinfo=dt.UTC) for d in range(6, 12)]

    as_ofs = _nightly(nights)

    assert as_ofs == [D(2026, 3, d) for d in as_of_days]
    assert list(RenewalRun.objects.order_by("id").values_list("due", flat=True)) == dues
    starts = [r[0] for r in _renewals(sub)]
    assert starts == [D(2026, 3, d) for d in range(6, 12)], (
        "every business day once, none twice, none skipped"
    )
    assert Invoice.objects.filter(subscription=sub).count() == 6


def test_fall_back_night_renews_every_day_once(settings, catalog, gateway):
    settings.OMS_TIME_ZONE = "America/New_York"  # DST ends 2026-11-01 02:00 local
    sub = _daily_subscription(catalog, D(2026, 10, 30))
    # 04:30 UTC is 00:30 EDT before the change and 23:30 EST (the previous date) after it.
    nights = [dt.datetime(2026, 10, d, 4, 30, tzinfo=dt.UTC) for d in (30, 31)] + [
        dt.datetime(2026, 11, d, 4, 30, tzinfo=dt.UTC) for d in (1, 2, 3, 4)
    ]

    as_ofs = _nightly(nights)

    assert as_ofs == [
        D(2026, 10, 30),
        D(2026, 10, 31),
        D(2026, 11, 1),
        D(2026, 11, 1),
        D(2026, 11, 2),
        D(2026, 11, 3),
    ]
    starts = [r[0] for r in _renewals(sub)]
    assert starts == [
        D(2026, 10, 30),
        D(2026, 10, 31),
        D(2026, 11, 1),
        D(2026, 11, 2),
        D(2026, 11, 3),
    ]
    runs = list(RenewalRun.objects.order_by("id").values_list("due", flat=True))
    assert runs == [1, 1, 1, 0, 1, 1], "the repeated business date renews nothing twice"
    assert Invoice.objects.filter(subscription=sub).count() == 5
