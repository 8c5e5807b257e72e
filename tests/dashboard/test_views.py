import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from oms.core.actors import Actor
from subscriptions import services as sub_services
from tests.factories.inventory import SkuFactory, WarehouseFactory, stock_on_hand
from tests.factories.subscriptions import make_plan, make_subscription

pytestmark = pytest.mark.django_db
D = dt.date


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user(username="ops", password="x", is_staff=True)
    client.force_login(user)
    return client


def test_anonymous_and_customers_are_sent_to_the_admin_login(client):
    response = client.get("/ops/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    customer_login = get_user_model().objects.create_user(username="c", password="x")
    client.force_login(customer_login)
    assert client.get("/ops/dashboard/").status_code == 302


def test_dashboard_shows_the_figures_and_charts(staff_client, at, django_assert_max_num_queries):
    at(2026, 3, 10)
    plan = make_plan(name="Coffee Club", price=1000)
    for quantity in (1, 2, 4):
        make_subscription(plan=plan, quantity=quantity, start_date=D(2026, 3, 1), renewed=1)
    gone = make_subscription(plan=plan, start_date=D(2026, 3, 1), renewed=1)
    at(2026, 3, 11)
    sub_services.subscription_cancel(
        subscription=gone, reason="Too expensive", actor=Actor.system("t"), refund="none"
    )
    stock_on_hand(
        sku=SkuFactory(code="BEANS"),
        warehouse=WarehouseFactory(code="main"),
        quantity=2,
        reorder_point=5,
    )

    with django_assert_max_num_queries(12):
        response = staff_client.get("/ops/dashboard/")

    assert response.status_code == 200
    body = response.content.decode()
    assert '<div class="value">70.00 USD</div>' in body  # (1 + 2 + 4) × 10.00
    assert "from 3 subscriptions" in body
    assert "Too expensive" in body
    assert (
        body.count('<svg class="oms-chart"') == 5
    )  # MRR (one currency), churn, renewals, orders, stock
    assert "BEANS @ main: 2 (reorder point 5)" in body
    assert 'id="kpi-stock"' in body


def test_admin_index_links_the_dashboard(staff_client):
    staff_client.logout()
    admin = get_user_model().objects.create_superuser(username="root", password="x")
    staff_client.force_login(admin)
    body = staff_client.get("/admin/").content.decode()
    assert 'href="/ops/dashboard/"' in body
    assert "Site administration" in body  # the stock index is still there
