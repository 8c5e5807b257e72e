"""Dashboard figures against seeded data, with the exact numbers worked out by hand."""

import datetime as dt
from decimal import Decimal

import pytest

from oms.core.actors import Actor
from oms.core.money import Money
from oms.dashboard import selectors
from orders.models import Order
from subscriptions import services as sub_services
from subscriptions.renewal.models import Renewal
from tests.factories.core import ChannelFactory
from tests.factories.customers import CustomerFactory
from tests.factories.inventory import SkuFactory, WarehouseFactory, stock_on_hand
from tests.factories.orders import place_order, stocked_sku
from tests.factories.subscriptions import make_plan, make_subscription

pytestmark = pytest.mark.django_db
D = dt.date
ACTOR = Actor.system("tests")


def test_monthly_factor_rule():
    assert selectors.monthly_factor("month", 1) == 1
    assert selectors.monthly_factor("month", 3) == Decimal(1) / 3
    assert selectors.monthly_factor("year", 1) == Decimal(1) / 12
    assert selectors.monthly_factor("week", 2) == Decimal(52) / 24
    assert selectors.monthly_factor("day", 1) == Decimal(365) / 12


def test_mrr_per_currency_and_plan(at, django_assert_num_queries):
    at(2026, 3, 10)
    start = D(2026, 3, 1)
    monthly = make_plan(name="Monthly", price=1000)
    fortnightly = make_plan(name="Fortnightly", price=1000, interval_unit="week", interval_count=2)
    yearly_eur = make_plan(name="Yearly", price=12000, currency="EUR", interval_unit="year")
    monthly_eur = make_plan(name="Monthly EUR", price=2500, currency="EUR")

    make_subscription(plan=monthly, quantity=2, start_date=start, renewed=1)  # 20.00 USD
    make_subscription(plan=fortnightly, start_date=start, renewed=1)  # 10 × 52/12/2 = 21.666…
    make_subscription(plan=yearly_eur, start_date=start, renewed=1)  # 120 / 12 = 10.00 EUR
    past_due = make_subscription(plan=monthly_eur, start_date=start, renewed=1)
    sub_services.subscription_mark_past_due(subscription=past_due, actor=ACTOR)  # 25.00 EUR
    # Not billing: paused, trialing, cancelled.
    paused = make_subscription(plan=monthly, start_date=start, renewed=1)
    sub_services.subscription_pause(subscription=paused, cycles=1, actor=ACTOR)
    make_subscription(plan=monthly, start_date=start, trial_days=14)
    cancelled = make_subscription(plan=monthly, quantity=3, start_date=start, renewed=1)
    sub_services.subscription_cancel(subscription=cancelled, reason="x", actor=ACTOR, refund="none")

    with django_assert_num_queries(1):
        mrr = selectors.mrr_summary()

    # 2000 + 2166.67 = 4166.67 cents, rounded once: 4167 (not 2000 + 2167 rounded per row).
    assert mrr.by_currency == [Money(3500, "EUR"), Money(4167, "USD")]
    assert mrr.subscriptions_by_currency == {"EUR": 2, "USD": 2}
    assert [(p.plan_name, p.mrr, p.subscriptions) for p in mrr.by_plan] == [
        ("Monthly EUR", Money(2500, "EUR"), 1),
        ("Yearly", Money(1000, "EUR"), 1),
        ("Fortnightly", Money(2167, "USD"), 1),
        ("Monthly", Money(2000, "USD"), 1),
    ]


def test_churn_windows_and_reasons(at, django_assert_num_queries):
    monthly = make_plan(name="Monthly", price=1000)
    at(2026, 1, 5)
    subs = [make_subscription(plan=monthly, start_date=D(2026, 1, 5), renewed=1) for _ in range(10)]

    def cancel(sub, reason):
        sub_services.subscription_cancel(
            subscription=sub, reason=reason, actor=ACTOR, refund="none"
        )

    at(2026, 1, 20)
    cancel(subs[0], "Moving")  # ends before the current window: in neither of its counts
    at(2026, 2, 20)
    cancel(subs[1], "Too expensive")
    cancel(subs[2], "Too expensive")
    cancel(subs[3], "Moving")
    at(2026, 3, 1)
    late = make_subscription(plan=monthly, start_date=D(2026, 3, 1), renewed=1)
    cancel(late, "Changed my mind")  # cancelled in the window, but was not live at its start
    at(2026, 3, 10)

    with django_assert_num_queries(1):
        previous, current = selectors.churn_windows(as_of=D(2026, 3, 10), days=30, count=2)

    assert (current.start, current.end) == (D(2026, 2, 9), D(2026, 3, 10))
    assert (current.live_at_start, current.cancelled) == (9, 4)
    assert current.percent == Decimal("44.4")
    assert (previous.start, previous.end) == (D(2026, 1, 10), D(2026, 2, 8))
    assert (previous.live_at_start, previous.cancelled) == (10, 1)
    assert previous.percent == Decimal("10.0")
    with django_assert_num_queries(1):
        reasons = selectors.churn_reasons(as_of=D(2026, 3, 10), days=30)
    assert reasons == [("Too expensive", 2), ("Changed my mind", 1), ("Moving", 1)]


def test_churn_is_undefined_without_subscriptions(db):
    (window,) = selectors.churn_windows(as_of=D(2026, 3, 10))
    assert (window.live_at_start, window.cancelled, window.rate, window.percent) == (
        0,
        0,
        None,
        None,
    )


def test_renewals_per_day_by_outcome(at, django_assert_num_queries):
    at(2026, 3, 10)
    plan = make_plan()

    def renewal(day, state):
        # One subscription each: a renewal is unique per (subscription, period).
        Renewal.objects.create(
            subscription=make_subscription(plan=plan, start_date=D(2026, 1, 1)),
            period_start=day,
            period_end=day + dt.timedelta(days=1),
            state=state,
        )

    renewal(D(2026, 3, 8), "done")
    renewal(D(2026, 3, 9), "done")
    renewal(D(2026, 3, 9), "dunning")
    renewal(D(2026, 3, 9), "backordered")
    renewal(D(2026, 3, 10), "skipped")
    renewal(D(2026, 3, 10), "invoiced")
    renewal(D(2026, 3, 1), "done")  # outside a 7-day window
    renewal(D(2026, 3, 11), "done")  # tomorrow: not yet

    with django_assert_num_queries(1):
        result = selectors.renewals_per_day(as_of=D(2026, 3, 10), days=7)

    assert result.days[0] == D(2026, 3, 4) and result.days[-1] == D(2026, 3, 10)
    assert result.series["renewed"] == [0, 0, 0, 0, 1, 1, 0]
    assert result.series["payment failed"] == [0, 0, 0, 0, 0, 1, 0]
    assert result.series["backordered"] == [0, 0, 0, 0, 0, 1, 0]
    assert result.series["skipped"] == [0, 0, 0, 0, 0, 0, 1]
    assert result.series["in progress"] == [0, 0, 0, 0, 0, 0, 1]
    assert result.total("renewed") == 2


def test_orders_per_day_in_the_business_time_zone(at, settings, django_assert_num_queries):
    settings.OMS_TIME_ZONE = "America/New_York"
    channel = ChannelFactory()
    sku = stocked_sku(price=1500)
    customer = CustomerFactory()

    def order(**kw):
        return place_order(channel=channel, lines=[(sku, 1)], customer=customer, **kw)

    at(2026, 3, 9, hour=15)
    order()
    order()
    at(2026, 3, 10, hour=2)  # 21:00 on 9 March in New York
    order(origin="subscription", subscription_id=1)  # orders keep the id without a FK
    at(2026, 3, 10, hour=16)
    order()
    at(2026, 2, 1)
    order()  # outside the window

    with django_assert_num_queries(1):
        result = selectors.orders_per_day(as_of=D(2026, 3, 10), days=3)

    assert result.days == [D(2026, 3, 8), D(2026, 3, 9), D(2026, 3, 10)]
    assert result.by_origin == {"one_off": [0, 2, 1], "subscription": [0, 1, 0]}
    assert result.total == 4
    in_window = Order.objects.filter(created_at__gte=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert in_window.count() == 4
    assert result.revenue == {"USD": sum(o.total for o in in_window)}
    assert result.revenue["USD"] >= 4 * 1500


def test_stock_below_reorder_point_largest_shortfall_first(django_assert_num_queries, db):
    main, east = WarehouseFactory(code="main"), WarehouseFactory(code="east")
    a, b, c = SkuFactory(code="A"), SkuFactory(code="B"), SkuFactory(code="C")
    stock_on_hand(sku=a, warehouse=main, quantity=3, reorder_point=10)  # short by 7
    stock_on_hand(sku=b, warehouse=main, quantity=9, reorder_point=10)  # short by 1
    stock_on_hand(sku=b, warehouse=east, quantity=0, reorder_point=4)  # short by 4
    stock_on_hand(sku=c, warehouse=main, quantity=50, reorder_point=10)  # fine
    stock_on_hand(sku=c, warehouse=east, quantity=5, reorder_point=0)  # no reorder point

    with django_assert_num_queries(2):
        rows, total = selectors.stock_below_reorder_point(limit=2)

    assert total == 3
    assert [
        (r.sku_code, r.warehouse_code, r.available, r.reorder_point, r.shortfall) for r in rows
    ] == [
        ("A", "main", 3, 10, 7),
        ("B", "east", 0, 4, 4),
    ]
