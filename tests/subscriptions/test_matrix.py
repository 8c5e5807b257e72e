"""Every change in every status: done (with its real effect) where allowed, refused (with
nothing written) elsewhere."""

import datetime as dt

import pytest

from oms.core.errors import Conflict
from subscriptions import services
from subscriptions.models import (
    PeriodOverride,
    ScheduledChange,
    SubscriptionEvent,
    SubscriptionStatus,
)
from subscriptions.services import CHANGE_RULES
from tests.factories.subscriptions import ACTOR, make_plan, make_subscription, renew

D = dt.date
S = SubscriptionStatus
TODAY = D(2026, 1, 10)


def build(status, sku):
    """A subscription in ``status``; monthly at 1000, anchored 2026-01-01, box = sku × 1."""
    if status == S.TRIALING:
        plan = make_plan(price=1000, items=[(sku, 1)], trial_days=14)
        return make_subscription(plan=plan, start_date=D(2026, 1, 1))
    if status == S.EXPIRED:
        plan = make_plan(price=1000, items=[(sku, 1)])
        sub = make_subscription(plan=plan, start_date=D(2026, 1, 1), ends_after_cycles=1, renewed=1)
        renew(sub)
        sub.refresh_from_db()
        return sub
    plan = make_plan(price=1000, items=[(sku, 1)])
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 1), renewed=1)
    if status == S.PAUSED:
        services.subscription_pause(subscription=sub, cycles=1, actor=ACTOR, today=TODAY)
    elif status == S.PAST_DUE:
        services.subscription_mark_past_due(subscription=sub, actor=ACTOR, reason="card declined")
    elif status == S.CANCELLED:
        services.subscription_cancel(subscription=sub, reason="moving", actor=ACTOR, today=TODAY)
    sub.refresh_from_db()
    return sub


def _bigger_plan(sub, sku):
    return make_plan(price=2000, items=[(sku, 1)])


def do_change(change, sub, sku, other_sku):
    """Run ``change`` with valid arguments; return the event kind it must have written."""
    if change == "change_plan":
        services.subscription_change_plan(
            subscription=sub, plan=_bigger_plan(sub, sku), actor=ACTOR, today=TODAY
        )
        return "plan_changed"
    if change == "change_quantity":
        services.subscription_change_quantity(
            subscription=sub, quantity=2, actor=ACTOR, today=TODAY
        )
        return "quantity_changed"
    if change == "change_frequency":
        services.subscription_change_frequency(
            subscription=sub, interval_unit="week", interval_count=2, actor=ACTOR, today=TODAY
        )
        return "frequency_changed"
    if change == "reschedule":
        services.subscription_reschedule(
            subscription=sub, next_renewal_date=D(2026, 1, 20), actor=ACTOR, today=TODAY
        )
        return "rescheduled"
    if change == "change_address":
        services.subscription_change_address(
            subscription=sub,
            address={"line1": "1 New Road", "city": "Berlin", "country": "DE"},
            actor=ACTOR,
        )
        return "address_changed"
    if change == "change_payment_method":
        services.subscription_change_payment_method(
            subscription=sub, payment_method="pm_new", actor=ACTOR
        )
        return "payment_method_changed"
    if change == "skip":
        services.subscription_skip(subscription=sub, actor=ACTOR)
        return "skip_scheduled"
    if change == "unskip":
        if sub.status in CHANGE_RULES["skip"]:
            services.subscription_skip(subscription=sub, actor=ACTOR)
        services.subscription_unskip(subscription=sub, actor=ACTOR)
        return "skip_removed"
    if change == "swap_item":
        services.subscription_swap_item(
            subscription=sub, from_sku=sku, to_sku=other_sku, actor=ACTOR
        )
        return "item_swapped"
    if change == "add_addon":
        services.subscription_add_addon(subscription=sub, sku=other_sku, quantity=1, actor=ACTOR)
        return "addon_added"
    if change == "pause":
        services.subscription_pause(subscription=sub, cycles=1, actor=ACTOR, today=TODAY)
        return "paused"
    if change == "resume":
        services.subscription_resume(subscription=sub, actor=ACTOR, today=TODAY)
        return "resumed"
    if change == "cancel_now":
        services.subscription_cancel(
            subscription=sub, reason="too much coffee", actor=ACTOR, today=TODAY
        )
        return "cancelled"
    if change == "cancel_at_period_end":
        services.subscription_cancel(
            subscription=sub, reason="too much coffee", at_period_end=True, actor=ACTOR, today=TODAY
        )
        return "cancel_scheduled"
    if change == "reactivate":
        if sub.status in CHANGE_RULES["cancel_at_period_end"]:
            services.subscription_cancel(
                subscription=sub, reason="x", at_period_end=True, actor=ACTOR, today=TODAY
            )
        services.subscription_reactivate(subscription=sub, actor=ACTOR)
        return "reactivated"
    raise AssertionError(change)


def expected_effect(change, sub):
    """Assert the change's real effect on the reloaded subscription."""
    sub.refresh_from_db()
    if change == "change_plan":
        assert sub.plan_version.prices.get().amount == 2000
    elif change == "change_quantity":
        assert sub.quantity == 2
    elif change == "change_frequency":
        assert (sub.interval_unit, sub.interval_count) == ("week", 2)
    elif change == "reschedule":
        assert sub.next_renewal_date == D(2026, 1, 20)
    elif change == "change_address":
        assert sub.shipping_address["city"] == "Berlin"
    elif change == "change_payment_method":
        assert sub.payment_method == "pm_new"
    elif change == "skip":
        assert PeriodOverride.objects.get(subscription=sub, period_start=sub.next_renewal_date).skip
    elif change == "unskip":
        assert not PeriodOverride.objects.filter(subscription=sub, skip=True).exists()
    elif change == "swap_item":
        assert PeriodOverride.objects.get(subscription=sub).swaps
    elif change == "add_addon":
        assert PeriodOverride.objects.get(subscription=sub).addons
    elif change == "pause":
        assert sub.status == S.PAUSED
    elif change == "resume":
        assert sub.status == S.ACTIVE
    elif change == "cancel_now":
        assert sub.status == S.CANCELLED and sub.next_renewal_date is None
    elif change == "cancel_at_period_end":
        assert sub.cancel_at_period_end
    elif change == "reactivate":
        assert not sub.cancel_at_period_end


MATRIX = [
    pytest.param(change, status, status in allowed, id=f"{change}-{status}")
    for change, allowed in CHANGE_RULES.items()
    for status in S.values
]


@pytest.mark.parametrize(("change", "status", "allowed"), MATRIX)
def test_change_in_status(db, sku, other_sku, change, status, allowed):
    sub = build(status, sku)
    assert sub.status == status
    before_events = SubscriptionEvent.objects.filter(subscription=sub).count()
    before = (sub.status, sub.plan_version_id, sub.quantity, sub.next_renewal_date, sub.updated_at)
    if allowed:
        kind = do_change(change, sub, sku, other_sku)
        assert SubscriptionEvent.objects.filter(subscription=sub, kind=kind).exists()
        expected_effect(change, sub)
    else:
        with pytest.raises(Conflict) as refused:
            do_change(change, sub, sku, other_sku)
        assert refused.value.code == "change_not_allowed"
        sub.refresh_from_db()
        assert (
            sub.status,
            sub.plan_version_id,
            sub.quantity,
            sub.next_renewal_date,
            sub.updated_at,
        ) == before
        assert SubscriptionEvent.objects.filter(subscription=sub).count() == before_events
        assert not PeriodOverride.objects.filter(subscription=sub).exists()
        assert not ScheduledChange.objects.filter(
            subscription=sub, cancelled_at__isnull=True
        ).exists()


@pytest.mark.parametrize(
    "change",
    sorted(
        set(CHANGE_RULES)
        - {"change_address", "change_payment_method", "cancel_now", "reactivate", "resume"}
    ),
)
def test_pending_cancellation_blocks_changes_to_the_next_period(db, sku, other_sku, change):
    sub = build(S.ACTIVE, sku)
    services.subscription_cancel(
        subscription=sub, reason="leaving", at_period_end=True, actor=ACTOR, today=TODAY
    )
    sub.refresh_from_db()
    with pytest.raises(Conflict, match="reactivate it before"):
        do_change(change, sub, sku, other_sku)
    assert not ScheduledChange.objects.filter(subscription=sub).exists()
