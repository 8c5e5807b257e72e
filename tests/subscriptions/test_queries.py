"""The renewal read model costs a fixed number of queries per batch, and advancing one
period a small fixed number — the nightly cycle runs them for every due subscription."""

import datetime as dt

from subscriptions import services
from subscriptions.selectors import renewal_preview, subscriptions_due, subscriptions_for_renewal
from tests.factories.subscriptions import ACTOR, make_plan, make_subscription

D = dt.date


def test_previews_for_a_batch_take_constant_queries(
    db, sku, other_sku, django_assert_max_num_queries
):
    plan = make_plan(price=1000, items=[(sku, 1), (other_sku, 2)])
    subs = [make_subscription(plan=plan, start_date=D(2026, 1, 1), renewed=1) for _ in range(8)]
    services.subscription_skip(subscription=subs[0], actor=ACTOR)
    services.subscription_add_addon(subscription=subs[1], sku=other_sku, actor=ACTOR)
    services.subscription_change_plan(
        subscription=subs[2], plan=make_plan(price=500), actor=ACTOR, today=D(2026, 1, 5)
    )
    ids = [s.pk for s in subscriptions_due(as_of=D(2026, 2, 1))]
    assert len(ids) == 8
    with django_assert_max_num_queries(10):
        batch = subscriptions_for_renewal(ids=ids)
        previews = [renewal_preview(s) for s in batch]
    assert [p.outcome for p in previews].count("skip") == 1
    assert sorted(p.total for p in previews if p.outcome == "renew") == [500] + [1000] * 5 + [2500]


def test_advancing_one_period_takes_a_bounded_number_of_queries(
    db, sku, django_assert_max_num_queries
):
    sub = make_subscription(
        plan=make_plan(price=1000, items=[(sku, 1)]), start_date=D(2026, 1, 1), renewed=1
    )
    with django_assert_max_num_queries(14):
        services.subscription_advance_period(
            subscription=sub, period_start=D(2026, 2, 1), actor=ACTOR
        )


def test_advance_for_a_caller_holding_the_lock_skips_the_reload(
    db, sku, django_assert_max_num_queries
):
    from django.db import transaction

    from subscriptions.models import Subscription
    from subscriptions.selectors import with_renewal_data

    sub = make_subscription(
        plan=make_plan(price=1000, items=[(sku, 1)]), start_date=D(2026, 1, 1), renewed=1
    )
    with transaction.atomic():
        claimed = (
            with_renewal_data(Subscription.objects.filter(pk=sub.pk))
            .select_for_update(of=("self",))
            .get()
        )
        with django_assert_max_num_queries(7):
            services.subscription_advance_period(
                subscription=claimed, period_start=D(2026, 2, 1), actor=ACTOR, already_locked=True
            )
    sub.refresh_from_db()
    assert (sub.cycles_completed, sub.next_renewal_date, sub.period_billed) == (
        2,
        D(2026, 3, 1),
        1000,
    )
