"""Lifecycle rules: trials, commitment, pause/resume, frequency and date changes, one-box
overrides, scheduled changes and the renewal read model they all feed."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from inventory.hooks import renewal_demand as demand_providers
from oms.core.errors import Conflict, ValidationError
from subscriptions import services
from subscriptions.models import (
    PeriodOverride,
    ProrationAdjustment,
    ScheduledChange,
    SubscriptionEvent,
    SubscriptionStatus,
)
from subscriptions.periods import business_today
from subscriptions.selectors import Outcome, renewal_demand, renewal_preview, subscriptions_due
from tests.factories.customers import CustomerFactory
from tests.factories.subscriptions import ACTOR, make_plan, make_subscription, renew

D = dt.date
S = SubscriptionStatus


def kinds(sub):
    return list(SubscriptionEvent.objects.filter(subscription=sub).values_list("kind", flat=True))


# --- create and trial --------------------------------------------------------------------------


def test_trial_is_free_then_converts_to_active_at_the_first_renewal_with_the_setup_fee(db, sku):
    plan = make_plan(price=1000, setup_fee=300, items=[(sku, 1)], trial_days=14)
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1))
    assert (sub.status, sub.trial_end, sub.next_renewal_date) == (
        S.TRIALING,
        D(2026, 1, 15),
        D(2026, 1, 15),
    )
    assert (sub.current_period_start, sub.current_period_end, sub.billing_anchor) == (
        D(2026, 1, 1),
        D(2026, 1, 15),
        D(2026, 1, 15),
    )
    preview = renewal_preview(sub)
    assert preview.outcome == Outcome.TRIAL_CONVERSION
    assert [(line.kind, line.amount) for line in preview.lines] == [
        ("plan", 1000),
        ("setup_fee", 300),
    ]
    assert (preview.period_start, preview.period_end) == (D(2026, 1, 15), D(2026, 2, 15))
    sub = renew(sub)
    assert (sub.status, sub.cycles_completed, sub.next_renewal_date) == (
        S.ACTIVE,
        1,
        D(2026, 2, 15),
    )
    assert "trial_ended" in kinds(sub)
    second = renewal_preview(sub)
    assert [(line.kind, line.amount) for line in second.lines] == [("plan", 1000)]  # setup fee once


def test_cancel_during_trial_is_free_and_immediate(db):
    plan = make_plan(price=1000, trial_days=7, min_commitment_cycles=12)
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1))
    preview = services.preview_subscription_cancel(
        subscription=sub, reason="not for me", today=D(2026, 1, 3)
    )
    assert preview.lines == [] and preview.status_after == S.CANCELLED
    services.subscription_cancel(
        subscription=sub, reason="not for me", actor=ACTOR, today=D(2026, 1, 3)
    )
    sub.refresh_from_db()
    assert sub.status == S.CANCELLED and sub.next_renewal_date is None
    assert not ProrationAdjustment.objects.exists()


def test_cancel_at_trial_end_never_bills(db):
    plan = make_plan(price=1000, trial_days=7)
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1))
    services.subscription_cancel(
        subscription=sub, reason="just trying", at_period_end=True, actor=ACTOR
    )
    sub.refresh_from_db()
    preview = renewal_preview(sub)
    assert (
        preview.outcome == Outcome.ENDS
        and preview.lines == []
        and preview.period_start == D(2026, 1, 8)
    )
    sub = renew(sub)
    assert sub.status == S.CANCELLED and sub.ended_on == D(2026, 1, 8)


def test_create_refuses_a_start_in_the_past_a_missing_price_and_a_missing_address(db, sku):
    plan = make_plan(price=1000, items=[(sku, 1)])
    customer = CustomerFactory()  # no address on file
    with pytest.raises(ValidationError, match="shipping address"):
        services.subscription_create(customer=customer, plan=plan, actor=ACTOR, today=D(2026, 1, 1))
    address = {"line1": "1 Road", "city": "Austin", "country": "us"}
    with pytest.raises(ValidationError, match="past"):
        services.subscription_create(
            customer=customer,
            plan=plan,
            shipping_address=address,
            start_date=D(2025, 12, 31),
            actor=ACTOR,
            today=D(2026, 1, 1),
        )
    with pytest.raises(ValidationError) as exc:
        services.subscription_create(
            customer=customer,
            plan=plan,
            currency="EUR",
            shipping_address=address,
            actor=ACTOR,
            today=D(2026, 1, 1),
        )
    assert exc.value.code == "no_price_for_currency"
    assert not customer.subscriptions.exists()
    sub = services.subscription_create(
        customer=customer, plan=plan, shipping_address=address, actor=ACTOR, today=D(2026, 1, 1)
    )
    assert sub.shipping_address["country"] == "US" and sub.next_renewal_date == D(2026, 1, 1)


# --- minimum commitment ------------------------------------------------------------------------


def test_minimum_commitment_refuses_cancel_with_a_clear_message_until_met(db):
    plan = make_plan(price=1000, min_commitment_cycles=3)
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1), renewed=2)
    for at_end in (False, True):
        with pytest.raises(Conflict) as exc:
            services.subscription_cancel(
                subscription=sub,
                reason="too pricey",
                at_period_end=at_end,
                actor=ACTOR,
                today=D(2026, 2, 10),
            )
        assert exc.value.code == "minimum_commitment"
        assert "minimum commitment of 3 paid cycles; 2 completed, 1 to go" in exc.value.message
    sub.refresh_from_db()
    assert sub.status == S.ACTIVE and not sub.cancel_at_period_end
    assert "cancelled" not in kinds(sub)
    renew(sub)  # cycle 3: commitment met, but this last committed cycle is owed in full
    services.subscription_cancel(
        subscription=sub, reason="too pricey", actor=ACTOR, today=D(2026, 3, 10)
    )
    sub.refresh_from_db()
    assert sub.status == S.CANCELLED
    assert not ProrationAdjustment.objects.filter(subscription=sub).exists()


def test_operator_can_force_a_cancel_inside_the_commitment_with_a_prorated_refund(db):
    plan = make_plan(price=3100, min_commitment_cycles=6)
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1), renewed=1)
    services.subscription_cancel(
        subscription=sub, reason="deceased", force=True, actor=ACTOR, today=D(2026, 1, 21)
    )
    assert list(ProrationAdjustment.objects.values_list("amount", flat=True)) == [
        -1100
    ]  # 11 of 31 days


# --- pause and resume --------------------------------------------------------------------------


def test_pause_two_cycles_starts_at_the_next_renewal_and_resumes_on_the_cadence(db):
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 1, 31), renewed=1)
    preview = services.preview_subscription_pause(subscription=sub, cycles=2, today=D(2026, 2, 10))
    assert (preview.effective_date, preview.next_renewal_date) == (D(2026, 2, 28), D(2026, 4, 30))
    services.subscription_pause(subscription=sub, cycles=2, actor=ACTOR, today=D(2026, 2, 10))
    sub.refresh_from_db()
    assert (sub.status, sub.next_renewal_date, sub.billing_anchor) == (
        S.PAUSED,
        D(2026, 4, 30),
        D(2026, 1, 31),
    )
    assert renewal_preview(sub, D(2026, 3, 31)).outcome == Outcome.PAUSED
    resumed = renewal_preview(sub)
    assert (resumed.outcome, resumed.period_start, resumed.period_end) == (
        Outcome.RENEW,
        D(2026, 4, 30),
        D(2026, 5, 31),
    )
    sub = renew(sub)
    assert (
        sub.status == S.ACTIVE
        and sub.next_renewal_date == D(2026, 5, 31)
        and sub.paused_until is None
    )


def test_pause_until_a_date_resumes_at_the_first_boundary_on_or_after_it_and_drops_its_overrides(
    db, sku, other_sku
):
    plan = make_plan(price=1000, items=[(sku, 1)])
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1), renewed=1)
    services.subscription_add_addon(subscription=sub, sku=other_sku, actor=ACTOR)  # for Feb 1
    services.subscription_pause(
        subscription=sub, until=D(2026, 3, 15), actor=ACTOR, today=D(2026, 1, 5)
    )
    sub.refresh_from_db()
    assert sub.next_renewal_date == D(2026, 4, 1)
    assert not PeriodOverride.objects.filter(subscription=sub).exists()


def test_resume_early_goes_back_to_the_paused_renewal_and_later_to_the_next_boundary(db):
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 1, 1), renewed=1)
    services.subscription_pause(subscription=sub, cycles=3, actor=ACTOR, today=D(2026, 1, 5))
    sub.refresh_from_db()
    preview = services.preview_subscription_resume(subscription=sub, today=D(2026, 1, 20))
    assert preview.next_renewal_date == D(2026, 2, 1)  # the paid January is not billed again
    preview = services.preview_subscription_resume(subscription=sub, today=D(2026, 3, 5))
    assert preview.next_renewal_date == D(2026, 4, 1)
    services.subscription_resume(subscription=sub, actor=ACTOR, today=D(2026, 3, 1))
    sub.refresh_from_db()
    assert (sub.status, sub.next_renewal_date) == (S.ACTIVE, D(2026, 3, 1))


# --- frequency, reschedule, send now --------------------------------------------------------


def test_frequency_change_ends_the_period_at_the_new_cadence_and_moves_the_skip(db):
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 1, 1), renewed=1)
    services.subscription_skip(subscription=sub, actor=ACTOR)  # skips Feb 1
    services.subscription_change_frequency(
        subscription=sub, interval_unit="week", interval_count=2, actor=ACTOR, today=D(2026, 1, 10)
    )
    sub.refresh_from_db()
    assert (sub.next_renewal_date, sub.current_period_end, sub.billing_anchor) == (
        D(2026, 1, 15),
        D(2026, 1, 15),
        D(2026, 1, 1),
    )
    preview = renewal_preview(sub)
    assert preview.outcome == Outcome.SKIP and preview.period_end == D(2026, 1, 29)
    sub = renew(sub)
    assert sub.next_renewal_date == D(2026, 1, 29) and sub.cycles_completed == 1
    assert not ProrationAdjustment.objects.exists()


def test_frequency_change_past_the_first_new_boundary_picks_the_next_one(db):
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 1, 1), renewed=1)
    services.subscription_change_frequency(
        subscription=sub, interval_unit="week", interval_count=1, actor=ACTOR, today=D(2026, 1, 20)
    )
    sub.refresh_from_db()
    assert sub.next_renewal_date == D(2026, 1, 22)


def test_frequency_change_at_next_renewal_is_scheduled(db):
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 1, 1), renewed=1)
    services.subscription_change_frequency(
        subscription=sub,
        interval_unit="month",
        interval_count=2,
        at_next_renewal=True,
        actor=ACTOR,
        today=D(2026, 1, 10),
    )
    sub.refresh_from_db()
    assert sub.next_renewal_date == D(2026, 2, 1) and sub.interval_count == 1
    assert renewal_preview(sub).period_end == D(2026, 4, 1)
    sub = renew(sub)
    assert (sub.interval_count, sub.billing_anchor, sub.next_renewal_date) == (
        2,
        D(2026, 2, 1),
        D(2026, 4, 1),
    )


def test_reschedule_moves_the_anchor_and_send_now_renews_today(db, sku, other_sku):
    sub = make_subscription(
        plan=make_plan(price=1000, items=[(sku, 1)]), start_date=D(2026, 1, 31), renewed=1
    )
    services.subscription_swap_item(
        subscription=sub, from_sku=sku, to_sku=other_sku, actor=ACTOR
    )  # Feb 28 box
    services.subscription_reschedule(
        subscription=sub, next_renewal_date=D(2026, 3, 5), actor=ACTOR, today=D(2026, 2, 2)
    )
    sub.refresh_from_db()
    assert (sub.next_renewal_date, sub.billing_anchor, sub.current_period_end) == (
        D(2026, 3, 5),
        D(2026, 3, 5),
        D(2026, 3, 5),
    )
    preview = renewal_preview(sub)
    assert preview.period_end == D(2026, 4, 5) and [i.sku_code for i in preview.items] == [
        "COFFEE-2"
    ]
    with pytest.raises(ValidationError):
        services.subscription_reschedule(
            subscription=sub, next_renewal_date=D(2026, 2, 1), actor=ACTOR, today=D(2026, 2, 2)
        )
    services.subscription_send_now(subscription=sub, actor=ACTOR, today=D(2026, 2, 3))
    sub.refresh_from_db()
    assert sub.next_renewal_date == D(2026, 2, 3)
    assert list(subscriptions_due(as_of=D(2026, 2, 3))) == [sub]


# --- one box: skip, swap, add-on ---------------------------------------------------------------


def test_skip_swap_and_addon_apply_to_exactly_their_period(db, sku, other_sku):
    plan = make_plan(price=1000, items=[(sku, 2)])
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1), renewed=1, quantity=2)
    services.subscription_skip(subscription=sub, actor=ACTOR)  # Feb 1
    services.subscription_swap_item(
        subscription=sub, from_sku=sku, to_sku=other_sku, actor=ACTOR, period_start=D(2026, 3, 1)
    )
    services.subscription_add_addon(
        subscription=sub, sku=other_sku, quantity=2, actor=ACTOR, period_start=D(2026, 3, 1)
    )
    sub.refresh_from_db()
    assert renewal_preview(sub).outcome == Outcome.SKIP
    march = renewal_preview(sub, D(2026, 3, 1))
    assert [tuple(i) for i in march.items] == [
        (other_sku.pk, "COFFEE-2", 4),
        (other_sku.pk, "COFFEE-2", 2),
    ]
    assert [(line.kind, line.amount) for line in march.lines] == [("plan", 2000), ("addon", 3000)]
    sub = renew(sub)  # Feb 1: skipped
    assert (sub.cycles_completed, sub.next_renewal_date, sub.period_billed) == (
        1,
        D(2026, 3, 1),
        None,
    )
    assert "period_skipped" in kinds(sub)
    sub = renew(sub)  # Mar 1: swapped + add-on, then the override is consumed
    april = renewal_preview(sub)
    assert [tuple(i) for i in april.items] == [(sku.pk, "COFFEE-1", 4)]
    assert april.total == 2000
    assert PeriodOverride.objects.filter(subscription=sub, consumed_at__isnull=False).count() == 2


def test_unskip_and_refusals_for_a_skipped_box(db, sku, other_sku):
    sub = make_subscription(
        plan=make_plan(price=1000, items=[(sku, 1)]), start_date=D(2026, 1, 1), renewed=1
    )
    services.subscription_skip(subscription=sub, actor=ACTOR)
    with pytest.raises(Conflict, match="skipped"):
        services.subscription_add_addon(subscription=sub, sku=other_sku, actor=ACTOR)
    with pytest.raises(Conflict):
        services.subscription_skip(subscription=sub, actor=ACTOR)
    services.subscription_unskip(subscription=sub, actor=ACTOR)
    assert not PeriodOverride.objects.filter(subscription=sub).exists()
    with pytest.raises(ValidationError):
        services.subscription_skip(
            subscription=sub, actor=ACTOR, period_start=D(2026, 2, 15)
        )  # not a renewal date
    with pytest.raises(ValidationError):
        services.subscription_swap_item(
            subscription=sub, from_sku=other_sku, to_sku=sku, actor=ACTOR
        )  # not in box


# --- plan versions and migrations --------------------------------------------------------------


def test_revising_a_live_plan_creates_a_version_and_a_migration_moves_subscribers_at_renewal(db):
    plan = make_plan(price=1000)
    unused = services.plan_revise(
        plan=plan, prices=[{"currency": "USD", "amount": 1100}], actor=ACTOR
    )
    assert unused.version == 1  # nobody subscribed yet: edited in place
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1), renewed=1)
    v2 = services.plan_revise(plan=plan, prices=[{"currency": "USD", "amount": 1200}], actor=ACTOR)
    assert v2.version == 2
    sub.refresh_from_db()
    assert renewal_preview(sub).total == 1100  # keeps its version
    count = services.subscription_price_migration_schedule(
        from_version=sub.plan_version,
        to_version=v2,
        effective_on=D(2026, 2, 15),
        actor=ACTOR,
        today=D(2026, 1, 10),
    )
    assert count == 1
    assert renewal_preview(sub).total == 1100  # Feb 1 still old
    assert renewal_preview(sub, D(2026, 3, 1)).total == 1200
    sub = renew(sub)
    assert sub.plan_version.version == 1
    sub = renew(sub)
    assert sub.plan_version == v2 and sub.period_billed == 1200


# --- advance, dunning, catch-up ----------------------------------------------------------------


def test_advance_is_idempotent_per_period_and_refuses_to_jump(db):
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 1, 1), renewed=1)
    again = services.subscription_advance_period(
        subscription=sub, period_start=D(2026, 1, 1), actor=ACTOR
    )
    assert again.cycles_completed == 1 and again.next_renewal_date == D(2026, 2, 1)
    with pytest.raises(Conflict):
        services.subscription_advance_period(
            subscription=sub, period_start=D(2026, 3, 1), actor=ACTOR
        )
    assert kinds(sub).count("renewed") == 1


def test_past_due_and_recovery(db):
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 1, 1), renewed=1)
    services.subscription_mark_past_due(subscription=sub, actor=ACTOR, reason="card declined")
    sub.refresh_from_db()
    assert sub.status == S.PAST_DUE
    assert renewal_preview(sub).outcome == Outcome.RENEW
    services.subscription_payment_recovered(subscription=sub, actor=ACTOR)
    sub.refresh_from_db()
    assert sub.status == S.ACTIVE
    assert kinds(sub)[-2:] == ["payment_failed", "payment_recovered"]


def test_fixed_term_expires_after_its_cycles(db):
    sub = make_subscription(
        plan=make_plan(price=1000), start_date=D(2026, 1, 1), ends_after_cycles=2, renewed=2
    )
    assert renewal_preview(sub).outcome == Outcome.ENDS
    sub = renew(sub)
    assert (
        sub.status == S.EXPIRED and sub.next_renewal_date is None and sub.ended_on == D(2026, 3, 1)
    )


def test_skip_missed_periods_bills_only_the_latest_due_period(db):
    plan = make_plan(price=1000, skip_missed_periods=True)
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1), renewed=1)
    sub = services.subscription_skip_missed_periods(
        subscription=sub, as_of=D(2026, 4, 10), actor=ACTOR
    )
    assert sub.next_renewal_date == D(2026, 4, 1) and sub.cycles_completed == 1
    assert kinds(sub).count("period_skipped") == 2


def test_pending_changes_are_cancelled_with_the_subscription(db):
    sub = make_subscription(plan=make_plan(price=2000), start_date=D(2026, 1, 1), renewed=1)
    services.subscription_change_plan(
        subscription=sub, plan=make_plan(price=1000), actor=ACTOR, today=D(2026, 1, 5)
    )
    services.subscription_cancel(
        subscription=sub, reason="bye", refund="none", actor=ACTOR, today=D(2026, 1, 6)
    )
    assert ScheduledChange.objects.get(subscription=sub).cancelled_at is not None


# --- renewal demand and business dates -----------------------------------------------------


def test_renewal_demand_provider_is_registered_and_counts_every_period_in_the_window(db, sku):
    assert renewal_demand in demand_providers
    plan = make_plan(price=500, items=[(sku, 2)], interval_unit="week")
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1), renewed=1)
    services.subscription_skip(subscription=sub, actor=ACTOR, period_start=D(2026, 1, 15))
    rows = list(renewal_demand(D(2026, 1, 1), D(2026, 1, 31)))
    assert rows == [
        (sku.pk, D(2026, 1, 8), 2),
        (sku.pk, D(2026, 1, 22), 2),
        (sku.pk, D(2026, 1, 29), 2),
    ]


@pytest.mark.parametrize(
    ("zone", "night"),
    [
        ("America/New_York", D(2026, 3, 8)),
        ("America/New_York", D(2026, 11, 1)),
        ("Europe/Berlin", D(2026, 3, 29)),
    ],
)
def test_due_claim_across_a_dst_night_renews_each_period_once(db, settings, zone, night):
    """The claim query run every 30 real minutes across a DST night, at the business date of
    that instant: the subscription due on the night's date renews exactly once."""
    settings.OMS_TIME_ZONE = zone
    sub = make_subscription(
        plan=make_plan(price=1000, interval_unit="day"),
        start_date=night - dt.timedelta(days=1),
        renewed=1,
    )
    renewed_on = []
    instant = dt.datetime.combine(
        night - dt.timedelta(days=1), dt.time(20), tzinfo=ZoneInfo(zone)
    ).astimezone(dt.UTC)
    for _ in range(3 * 24):  # 36 hours
        with time_machine.travel(instant, tick=False):
            today = business_today()
            for due in subscriptions_due(as_of=today):
                renewed_on.append(due.next_renewal_date)
                renew(due)
        instant += dt.timedelta(minutes=30)
    assert renewed_on == [night, night + dt.timedelta(days=1)]
    sub.refresh_from_db()
    assert sub.cycles_completed == 3


def test_cancel_at_period_end_before_the_first_renewal_never_bills(db):
    sub = make_subscription(
        plan=make_plan(price=1000), start_date=D(2026, 1, 1)
    )  # first period unbilled
    preview = services.preview_subscription_cancel(
        subscription=sub, reason="changed my mind", at_period_end=True
    )
    assert preview.effective_date == D(2026, 1, 1)
    services.subscription_cancel(
        subscription=sub, reason="changed my mind", at_period_end=True, actor=ACTOR
    )
    sub.refresh_from_db()
    assert renewal_preview(sub).outcome == Outcome.ENDS and renewal_preview(sub).lines == []
    sub = renew(sub)
    assert sub.status == S.CANCELLED and sub.cycles_completed == 0


def test_rescheduling_onto_a_date_with_its_own_override_merges_them(db, sku, other_sku):
    sub = make_subscription(
        plan=make_plan(price=1000, items=[(sku, 1)]), start_date=D(2026, 1, 1), renewed=1
    )
    services.subscription_add_addon(subscription=sub, sku=other_sku, actor=ACTOR)  # Feb 1 box
    services.subscription_add_addon(
        subscription=sub, sku=sku, actor=ACTOR, period_start=D(2026, 3, 1)
    )
    services.subscription_reschedule(
        subscription=sub, next_renewal_date=D(2026, 3, 1), actor=ACTOR, today=D(2026, 1, 20)
    )
    sub.refresh_from_db()
    preview = renewal_preview(sub)
    assert [(i.sku_code, i.kind) for i in preview.items] == [
        ("COFFEE-1", "plan"),
        ("COFFEE-1", "addon"),
        ("COFFEE-2", "addon"),
    ]
    assert PeriodOverride.objects.filter(subscription=sub).count() == 1
