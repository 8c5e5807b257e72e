"""Proration: worked examples (amounts in the names) and the property that whatever sequence of
changes happens inside a period, the customer is billed exactly the value they were given,
rounded once."""

import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms.core.errors import Conflict
from subscriptions import hooks, services
from subscriptions.models import ProrationAdjustment, ScheduledChange, SubscriptionStatus
from subscriptions.selectors import renewal_preview
from subscriptions.services.proration import ProrationState, prorate, round_div
from tests.factories.subscriptions import ACTOR, make_plan, make_subscription, renew

D = dt.date
APRIL = D(2026, 4, 1)  # April has 30 days: the period [Apr 1, May 1)


def adjustments(sub):
    return [
        (a.amount, a.description.split(" ")[0])
        for a in ProrationAdjustment.objects.filter(subscription=sub)
    ]


def active(price=1000, start=APRIL, quantity=1, **plan_kwargs):
    plan = make_plan(price=price, **plan_kwargs)
    return make_subscription(plan=plan, start_date=start, quantity=quantity, renewed=1)


# --- worked examples -------------------------------------------------------------------------


def test_upgrade_mid_period_1000_to_2000_on_day_15_of_30_charges_500(db):
    sub = active(price=1000)
    bigger = make_plan(price=2000)
    preview = services.preview_subscription_change_plan(
        subscription=sub, plan=bigger, today=D(2026, 4, 16)
    )
    assert [(line.kind, line.amount) for line in preview.lines] == [
        ("credit", -500),
        ("charge", 1000),
    ]
    assert preview.amount_due_now == 500
    assert ProrationAdjustment.objects.count() == 0  # the preview wrote nothing

    services.subscription_change_plan(
        subscription=sub, plan=bigger, actor=ACTOR, today=D(2026, 4, 16)
    )
    assert adjustments(sub) == [(-500, "Unused"), (1000, "Remaining")]
    sub.refresh_from_db()
    assert sub.plan_version.plan == bigger
    assert sub.period_billed == 1500  # 1000 up front + 500 now = 15 days at 1000 + 15 at 2000


def test_quantity_1_to_3_at_1000_on_day_10_of_31_credits_677_charges_2032_net_1355(db):
    sub = active(price=1000, start=D(2026, 1, 1))
    services.subscription_change_quantity(
        subscription=sub, quantity=3, actor=ACTOR, today=D(2026, 1, 11)
    )
    # used = round(1000×10/31) = 323; billed total = round((10000 + 3000×21)/31) = 2355
    assert adjustments(sub) == [(-677, "Unused"), (2032, "Remaining")]


def test_upgrade_999_to_1999_on_day_1_of_3_credits_666_charges_1333(db):
    sub = active(price=999, interval_unit="day", interval_count=3)
    bigger = make_plan(price=1999, interval_unit="day", interval_count=3)
    services.subscription_change_plan(
        subscription=sub, plan=bigger, actor=ACTOR, today=D(2026, 4, 2)
    )
    assert adjustments(sub) == [(-666, "Unused"), (1333, "Remaining")]


def test_two_upgrades_1000_2000_3000_on_days_10_and_20_of_30_bill_exactly_2000(db):
    sub = active(price=1000)
    services.subscription_change_plan(
        subscription=sub, plan=make_plan(price=2000), actor=ACTOR, today=D(2026, 4, 11)
    )
    services.subscription_change_plan(
        subscription=sub, plan=make_plan(price=3000), actor=ACTOR, today=D(2026, 4, 21)
    )
    total = 1000 + sum(a.amount for a in ProrationAdjustment.objects.filter(subscription=sub))
    assert total == 2000  # (1000×10 + 2000×10 + 3000×10) / 30


def test_downgrade_2000_to_1000_defaults_to_end_of_term_with_no_money_now(db):
    sub = active(price=2000)
    smaller = make_plan(price=1000)
    preview = services.preview_subscription_change_plan(
        subscription=sub, plan=smaller, today=D(2026, 4, 16)
    )
    assert preview.scheduled and preview.effective_date == D(2026, 5, 1) and preview.lines == []
    services.subscription_change_plan(
        subscription=sub, plan=smaller, actor=ACTOR, today=D(2026, 4, 16)
    )
    sub.refresh_from_db()
    assert ProrationAdjustment.objects.count() == 0
    assert sub.plan_version.plan != smaller  # unchanged until the term ends
    assert renewal_preview(sub).total == 1000  # the next renewal already bills the new plan
    renew(sub)
    sub.refresh_from_db()
    assert sub.plan_version.plan == smaller and sub.period_billed == 1000
    assert ScheduledChange.objects.get(subscription=sub).applied_at is not None


def test_downgrade_2000_to_1000_immediately_on_day_15_of_30_credits_500_net(db):
    sub = active(price=2000)
    services.subscription_change_plan(
        subscription=sub,
        plan=make_plan(price=1000),
        policy="immediate",
        actor=ACTOR,
        today=D(2026, 4, 16),
    )
    assert adjustments(sub) == [(-1000, "Unused"), (500, "Remaining")]


def test_policy_none_changes_now_without_any_money(db):
    sub = active(price=1000)
    services.subscription_change_plan(
        subscription=sub,
        plan=make_plan(price=2000),
        policy="none",
        actor=ACTOR,
        today=D(2026, 4, 16),
    )
    sub.refresh_from_db()
    assert ProrationAdjustment.objects.count() == 0
    assert sub.plan_version.prices.get().amount == 2000 and sub.period_billed == 1000


def test_cancel_now_3000_on_day_10_of_30_refunds_2000(db):
    sub = active(price=3000)
    services.subscription_cancel(
        subscription=sub, reason="moving abroad", actor=ACTOR, today=D(2026, 4, 11)
    )
    assert adjustments(sub) == [(-2000, "Refund")]
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.CANCELLED and sub.ended_on == D(2026, 4, 11)


def test_cancel_now_1001_on_day_1_of_2_refunds_500_because_halves_round_away_from_zero(db):
    sub = active(price=1001, interval_unit="day", interval_count=2)
    services.subscription_cancel(subscription=sub, reason="test", actor=ACTOR, today=D(2026, 4, 2))
    # value used = 1001 / 2 = 500.5 -> 501 kept, 500 refunded
    assert adjustments(sub) == [(-500, "Refund")]


def test_cancel_now_with_refund_none_credits_nothing(db):
    sub = active(price=3000)
    services.subscription_cancel(
        subscription=sub, reason="fraud", refund="none", actor=ACTOR, today=D(2026, 4, 11)
    )
    assert ProrationAdjustment.objects.count() == 0


def test_upgrade_before_the_first_period_is_billed_prorates_nothing(db):
    plan = make_plan(price=1000)
    sub = make_subscription(plan=plan, start_date=APRIL)  # first period not renewed yet
    services.subscription_change_plan(
        subscription=sub, plan=make_plan(price=2000), actor=ACTOR, today=APRIL
    )
    assert ProrationAdjustment.objects.count() == 0
    sub.refresh_from_db()
    assert renewal_preview(sub).total == 2000


def test_different_interval_plan_switches_at_term_end_and_refuses_immediate(db):
    sub = active(price=1000)
    yearly = make_plan(price=10000, interval_unit="year")
    with pytest.raises(Conflict) as exc:
        services.subscription_change_plan(
            subscription=sub, plan=yearly, policy="immediate", actor=ACTOR, today=D(2026, 4, 16)
        )
    assert exc.value.code == "interval_mismatch"
    services.subscription_change_plan(
        subscription=sub, plan=yearly, actor=ACTOR, today=D(2026, 4, 16)
    )
    preview = renewal_preview(sub)
    assert (preview.period_start, preview.period_end, preview.total) == (
        D(2026, 5, 1),
        D(2027, 5, 1),
        10000,
    )
    renew(sub)
    sub.refresh_from_db()
    assert (sub.interval_unit, sub.billing_anchor, sub.next_renewal_date) == (
        "year",
        D(2026, 5, 1),
        D(2027, 5, 1),
    )


def test_adjustments_reach_billing_after_commit_and_otherwise_join_the_next_renewal(
    db, django_capture_on_commit_callbacks, monkeypatch
):
    received = []
    monkeypatch.setattr(hooks, "adjustments_created", [])  # only this test's callback
    hooks.register_adjustments_created(received.append)
    sub = active(price=1000)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.subscription_change_plan(
            subscription=sub, plan=make_plan(price=2000), actor=ACTOR, today=D(2026, 4, 16)
        )
    assert received == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert [[a.amount for a in batch] for batch in received] == [[-500, 1000]]
    sub.refresh_from_db()
    preview = renewal_preview(sub)
    assert [(line.kind, line.amount) for line in preview.lines] == [
        ("plan", 2000),
        ("adjustment", -500),
        ("adjustment", 1000),
    ]
    services.adjustments_mark_applied(adjustment_ids=preview.adjustment_ids[:1], invoice_id=77)
    assert [line.amount for line in renewal_preview(sub).lines] == [2000, 1000]


# --- properties ---------------------------------------------------------------------------


def exact_round(value: Fraction) -> int:
    """Nearest integer, halves away from zero — the house rule, on an exact fraction."""
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    floor = magnitude.numerator // magnitude.denominator
    return sign * (floor + (1 if magnitude - floor >= Fraction(1, 2) else 0))


@st.composite
def change_sequences(draw):
    days = draw(st.integers(min_value=1, max_value=366))
    first = draw(st.integers(min_value=0, max_value=10**7))
    offsets = sorted(draw(st.lists(st.integers(min_value=0, max_value=days), max_size=8)))
    totals = draw(
        st.lists(
            st.integers(min_value=0, max_value=10**7), min_size=len(offsets), max_size=len(offsets)
        )
    )
    return days, first, list(zip(offsets, totals, strict=True))


@settings(max_examples=300, deadline=None)
@given(change_sequences())
def test_credits_and_charges_of_any_change_sequence_sum_to_the_value_given(sequence):
    days, first, changes = sequence
    start = D(2026, 1, 1)
    state = ProrationState(
        period_start=start,
        period_end=start + dt.timedelta(days=days),
        billed=first,
        consumed=0,
        segment_start=start,
    )
    billed = first
    current, since = first, 0
    value = Fraction(0)
    for offset, new_total in changes:
        result = prorate(
            state, on=start + dt.timedelta(days=offset), old_total=current, new_total=new_total
        )
        billed += result.credit + result.charge
        value += Fraction(current * (offset - since), days)
        current, since, state = new_total, offset, result.state_after
    value += Fraction(current * (days - since), days)
    assert billed == exact_round(value)  # exactly the value received per day, rounded once
    assert billed == state.billed


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=-(10**15), max_value=10**15),
    d=st.integers(min_value=1, max_value=10**4),
)
def test_round_div_is_exact_half_away_from_zero(n, d):
    assert round_div(n, d) == exact_round(Fraction(n, d))


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=29),
            st.sampled_from([500, 1000, 2000, 3500]),
            st.integers(1, 3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_services_bill_the_value_given_for_any_upgrade_sequence(db, steps):
    """Through the services and the database: immediate changes on increasing days of a
    30-day period, then the renewal; the period was billed exactly the value delivered."""
    plan_by_price = {}

    def plan(price):
        if price not in plan_by_price:
            plan_by_price[price] = make_plan(price=price)
        return plan_by_price[price]

    sub = make_subscription(plan=plan(1000), start_date=APRIL, renewed=1)
    current, since, value = 1000, 0, Fraction(0)
    for offset, price, quantity in sorted(steps):
        if plan(price).versions.get().pk == sub.plan_version_id and quantity == sub.quantity:
            continue
        services.subscription_change_plan(
            subscription=sub,
            plan=plan(price),
            quantity=quantity,
            policy="immediate",
            actor=ACTOR,
            today=APRIL + dt.timedelta(days=offset),
        )
        sub.refresh_from_db()
        value += Fraction(current * (offset - since), 30)
        current, since = price * quantity, offset
    value += Fraction(current * (30 - since), 30)
    billed = 1000 + sum(a.amount for a in ProrationAdjustment.objects.filter(subscription=sub))
    assert billed == exact_round(value)
    assert sub.period_billed == billed


def test_leap_february_2900_to_5800_on_day_14_of_29_credits_1500_charges_3000(db):
    sub = active(price=2900, start=D(2028, 2, 1))  # [Feb 1, Mar 1) 2028: 29 days
    services.subscription_change_plan(
        subscription=sub, plan=make_plan(price=5800), actor=ACTOR, today=D(2028, 2, 15)
    )
    assert adjustments(sub) == [(-1500, "Unused"), (3000, "Remaining")]


def test_change_during_trial_is_free_and_the_conversion_bills_the_new_plan(db):
    plan = make_plan(price=1000, trial_days=14)
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1))
    services.subscription_change_plan(
        subscription=sub, plan=make_plan(price=500), actor=ACTOR, today=D(2026, 1, 5)
    )
    sub.refresh_from_db()
    assert not ProrationAdjustment.objects.exists()
    assert renewal_preview(sub).outcome == "trial_conversion" and renewal_preview(sub).total == 500
