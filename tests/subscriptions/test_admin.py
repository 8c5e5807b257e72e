import datetime as dt

import pytest
import time_machine

from subscriptions.models import ProrationAdjustment, SubscriptionEvent
from tests.factories.customers import CustomerFactory
from tests.factories.subscriptions import make_plan, make_subscription

pytestmark = pytest.mark.django_db
D = dt.date
URL = "/admin/subscriptions/subscription/"


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC), tick=False):
        yield


def test_changelist_search_and_filters_with_bounded_queries(
    admin_client, django_assert_max_num_queries
):
    plan = make_plan(price=1000, name="Coffee")
    other = make_plan(price=2000, name="Snacks")
    target = make_subscription(
        plan=plan, customer=CustomerFactory(email="findme@example.com"), renewed=1
    )
    for _ in range(10):
        make_subscription(plan=other, renewed=1)
    with django_assert_max_num_queries(20):
        response = admin_client.get(URL)
    assert response.status_code == 200
    found = admin_client.get(URL, {"q": "findme"})
    assert b"findme@example.com" in found.content and found.context["cl"].result_count == 1
    by_plan = admin_client.get(URL, {"plan_version__plan__id__exact": plan.pk, "status": "active"})
    assert [s.pk for s in by_plan.context["cl"].result_list] == [target.pk]
    by_date = admin_client.get(
        URL, {"next_renewal_date__gte": "2026-02-01", "next_renewal_date__lt": "2026-02-02"}
    )
    assert by_date.context["cl"].result_count == 11


def test_change_page_shows_the_timeline_and_the_upcoming_renewal(admin_client, sku):
    sub = make_subscription(plan=make_plan(price=1000, items=[(sku, 1)]), renewed=1)
    response = admin_client.get(f"{URL}{sub.pk}/change/")
    assert response.status_code == 200
    assert b"Timeline" in response.content and b"renewed" in response.content
    assert b"1 \xc3\x97 COFFEE-1" in response.content  # "1 × COFFEE-1"


def test_pause_action_previews_then_applies(admin_client):
    sub = make_subscription(plan=make_plan(price=1000), start_date=D(2026, 1, 1), renewed=1)
    action = "action_pause"
    ask = admin_client.post(URL, {"action": action, "_selected_action": [sub.pk]})
    assert ask.status_code == 200 and b"cycles" in ask.content
    preview = admin_client.post(
        URL, {"action": action, "_selected_action": [sub.pk], "preview": "1", "cycles": "2"}
    )
    assert preview.status_code == 200
    assert b"resumes on" in preview.content
    sub.refresh_from_db()
    assert sub.status == "active"  # the preview changed nothing
    admin_client.post(
        URL, {"action": action, "_selected_action": [sub.pk], "apply": "1", "cycles": "2"}
    )
    sub.refresh_from_db()
    assert sub.status == "paused"
    event = SubscriptionEvent.objects.get(subscription=sub, kind="paused")
    assert event.actor_kind == "user" and event.actor_label == "admin"


def test_cancel_action_shows_the_refund_and_respects_the_commitment(admin_client):
    committed = make_subscription(plan=make_plan(price=3000, min_commitment_cycles=3), renewed=1)
    free = make_subscription(plan=make_plan(price=3000), renewed=1)
    body = {
        "action": "action_cancel",
        "_selected_action": [committed.pk, free.pk],
        "reason": "budget",
        "refund": "prorated",
    }
    preview = admin_client.post(URL, {**body, "preview": "1"})
    assert b"minimum commitment" in preview.content and b"Refund of unused time" in preview.content
    response = admin_client.post(URL, {**body, "apply": "1"}, follow=True)
    assert b"minimum commitment" in response.content
    committed.refresh_from_db()
    free.refresh_from_db()
    assert (committed.status, free.status) == ("active", "cancelled")
    assert not ProrationAdjustment.objects.filter(subscription=committed).exists()


def test_change_plan_and_skip_actions(admin_client):
    sub = make_subscription(plan=make_plan(price=1000), renewed=1)
    bigger = make_plan(price=2000)
    preview = admin_client.post(
        URL,
        {
            "action": "action_change_plan",
            "_selected_action": [sub.pk],
            "preview": "1",
            "plan": bigger.pk,
        },
    )
    assert b"Remaining time on" in preview.content
    admin_client.post(
        URL,
        {
            "action": "action_change_plan",
            "_selected_action": [sub.pk],
            "apply": "1",
            "plan": bigger.pk,
        },
    )
    admin_client.post(
        URL, {"action": "action_skip_the_next_renewal", "_selected_action": [sub.pk], "apply": "1"}
    )
    sub.refresh_from_db()
    assert sub.plan_version.plan == bigger
    assert sub.period_overrides.get().skip


def test_history_and_plan_pages_render(admin_client, sku):
    plan = make_plan(price=1000, items=[(sku, 1)])
    sub = make_subscription(plan=plan, renewed=1)
    assert admin_client.get(f"{URL}{sub.pk}/history/").status_code == 200
    assert admin_client.get(f"/admin/subscriptions/plan/{plan.pk}/change/").status_code == 200
    version = plan.versions.get()
    assert (
        admin_client.get(f"/admin/subscriptions/planversion/{version.pk}/change/").status_code
        == 200
    )
    assert admin_client.get("/admin/subscriptions/subscriptionevent/").status_code == 200
