"""An operator in a real browser: log into the admin, find a customer, run an action that
asks for a reason on its intermediate page, then open the dashboard and see its charts."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from customers.models import CustomerEvent, CustomerStatus
from oms.core.actors import Actor
from subscriptions import services as sub_services
from subscriptions.renewal.models import Renewal
from tests.factories.core import ChannelFactory
from tests.factories.customers import CustomerFactory
from tests.factories.inventory import SkuFactory, WarehouseFactory, stock_on_hand
from tests.factories.orders import place_order, stocked_sku
from tests.factories.subscriptions import make_plan, make_subscription

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ACTOR = Actor.system("tests")


@pytest.fixture
def operator():
    return get_user_model().objects.create_superuser(
        username="ops", email="ops@example.com", password="ops-pass-1234"
    )


@pytest.fixture
def business(time_machine):
    """A month of business: subscriptions in two currencies, renewals with every outcome,
    orders most days, a few cancellations and stock running low."""

    def at(day: dt.date, hour: int = 12) -> None:
        time_machine.move_to(
            dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC), tick=True
        )

    start = dt.date(2026, 1, 20)
    at(start)
    beans = stocked_sku(price=1200, code="BEANS", name="Beans", quantity=500)
    plans = [
        make_plan(name="Coffee Club", price=1800, items=[(beans, 1)]),
        make_plan(name="Espresso Fortnightly", price=1100, interval_unit="week", interval_count=2),
        make_plan(name="Tea Club", price=2400, currency="EUR"),
    ]
    subs = [
        make_subscription(plan=plans[i % 3], quantity=1 + i % 2, start_date=start, renewed=1)
        for i in range(12)
    ]
    states = ["done"] * 5 + ["dunning", "backordered", "skipped", "errored"]
    for i, sub in enumerate(subs[:9]):
        day = dt.date(2026, 2, 20) + dt.timedelta(days=i * 2)
        Renewal.objects.create(
            subscription=sub,
            period_start=day,
            period_end=day + dt.timedelta(days=30),
            state=states[i],
        )
    channel = ChannelFactory()
    buyer = CustomerFactory()
    for i in range(10):
        at(dt.date(2026, 2, 12) + dt.timedelta(days=3 * i))
        for _ in range(1 + i % 3):
            place_order(channel=channel, customer=buyer, lines=[(beans, 1)])
    at(dt.date(2026, 3, 1))
    for sub, reason in zip(subs[9:], ["Too expensive", "Too expensive", "Moving"], strict=True):
        sub_services.subscription_cancel(
            subscription=sub, reason=reason, actor=ACTOR, refund="none"
        )
    main = WarehouseFactory(code="main")
    for code, on_hand, reorder in [("FILTERS", 3, 20), ("MUGS", 8, 12), ("GRINDER", 0, 5)]:
        stock_on_hand(
            sku=SkuFactory(code=code), warehouse=main, quantity=on_hand, reorder_point=reorder
        )
    at(dt.date(2026, 3, 10))


def test_operator_finds_a_customer_deactivates_with_a_reason_and_reads_the_dashboard(
    page, browser_login, operator, business, screenshot_dir
):
    grace = CustomerFactory(
        email="grace.hopper@example.com", first_name="Grace", last_name="Hopper"
    )
    browser_login(page, "ops", "ops-pass-1234", path="/admin/login/")

    # Search.
    page.goto("/admin/customers/customer/")
    page.fill("#searchbar", "hopper")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**/admin/customers/customer/?q=hopper")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "grace.hopper@example.com" in rows.first.inner_text()

    # An action that needs a reason: the intermediate page asks for it.
    rows.first.locator("input.action-select").check()
    page.select_option("select[name=action]", label="Deactivate customers")
    page.click("button[name=index]")
    page.wait_for_selector("textarea[name=reason]")
    assert "grace.hopper@example.com" in page.inner_text("#content")
    page.fill("textarea[name=reason]", "Asked us to close the account")
    page.click("input[name=apply]")
    page.wait_for_selector(".messagelist")
    assert "Deactivate customers: 1 done." in page.inner_text(".messagelist")
    grace.refresh_from_db()
    assert grace.status == CustomerStatus.INACTIVE
    event = CustomerEvent.objects.get(customer=grace, kind="deactivated")
    assert (event.message, event.actor_label) == ("Asked us to close the account", "ops")

    # The dashboard, from the admin index.
    page.goto("/admin/")
    page.click("#oms-dashboard-link a")
    page.wait_for_url("**/ops/dashboard/")
    assert (
        page.locator("svg.oms-chart").count() == 6
    )  # MRR in EUR and USD, churn, renewals, orders, stock
    for chart in ("#chart-mrr", "#chart-churn", "#chart-renewals", "#chart-orders", "#chart-stock"):
        assert page.locator(f"{chart} svg rect.bar").count() > 0, chart
    # Live after the cancellations: Coffee Club ×4 (18.00 a month), Espresso ×5 (11.00 every
    # 2 weeks = 11 × 52 / 24 a month), Tea Club ×4 (24.00 EUR): 72.00 + 119.17 = 191.17 USD.
    assert page.locator("#kpi-mrr .value").all_inner_texts() == ["96.00 EUR", "191.17 USD"]
    assert page.inner_text("#kpi-churn .value").split() == ["25.0%", "3", "of", "12"]
    assert page.inner_text("#kpi-stock .value") == "3"
    page.screenshot(path=str(screenshot_dir / "oms-dashboard.png"), full_page=True)
