import datetime as dt

import pytest
import time_machine

from customers.services import customer_reference_add
from oms.core.actors import Actor
from subscriptions import services
from subscriptions.models import ProrationAdjustment, Subscription, SubscriptionEvent
from tests.factories.core import ChannelFactory
from tests.factories.customers import AddressFactory, CustomerFactory
from tests.factories.subscriptions import make_plan, make_subscription

D = dt.date
TODAY = dt.datetime(2026, 1, 10, 15, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def customer(channel):
    customer = CustomerFactory(source_channel=channel)
    AddressFactory(customer=customer)
    return customer


@pytest.fixture
def plan(sku):
    return make_plan(price=1000, items=[(sku, 1)], name="Coffee box")


def test_create_with_idempotency_key_creates_once(api_client, customer, plan):
    body = {"customer_id": customer.pk, "plan": plan.code, "quantity": 2}
    first = api_client.post(
        "/api/v1/subscriptions/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == 201, first.json()
    again = api_client.post(
        "/api/v1/subscriptions/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Subscription.objects.count() == 1
    data = first.json()
    assert data["status"] == "active" and data["next_renewal_date"] == "2026-01-10"
    upcoming = data["upcoming_renewal"]
    assert upcoming["outcome"] == "renew" and upcoming["total"] == 2000
    assert upcoming["items"] == [
        {
            "sku_id": plan.versions.get().items.get().sku_id,
            "sku_code": "COFFEE-1",
            "quantity": 2,
            "kind": "plan",
        }
    ]


def test_create_preview_writes_nothing(api_client, customer, plan):
    response = api_client.post(
        "/api/v1/subscriptions/preview/",
        {"customer_id": customer.pk, "plan": plan.code},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["first_renewal_total"] == 1000
    assert not Subscription.objects.exists()


def test_create_for_a_customer_the_channel_cannot_see_is_404(api_client, plan):
    stranger = CustomerFactory()
    AddressFactory(customer=stranger)
    response = api_client.post(
        "/api/v1/subscriptions/", {"customer_id": stranger.pk, "plan": plan.code}, format="json"
    )
    assert response.status_code == 404
    assert not Subscription.objects.exists()


def test_list_filters_and_visibility_with_bounded_queries(
    api_client, channel, plan, django_assert_max_num_queries
):
    other = ChannelFactory()
    mine = []
    for i in range(12):
        customer = CustomerFactory(source_channel=channel)
        sub = make_subscription(plan=plan, customer=customer, start_date=D(2026, 1, 10), renewed=1)
        if i % 3 == 0:
            services.subscription_pause(
                subscription=sub, cycles=1, actor=Actor.system("t"), today=D(2026, 1, 10)
            )
        mine.append(sub)
    referenced = CustomerFactory(source_channel=other)
    customer_reference_add(
        customer=referenced, channel=channel, external_id="R-1", actor=Actor.system("t")
    )
    visible_by_reference = make_subscription(
        plan=plan, customer=referenced, start_date=D(2026, 1, 10)
    )
    hidden = make_subscription(
        plan=plan, customer=CustomerFactory(source_channel=other), start_date=D(2026, 1, 10)
    )

    with django_assert_max_num_queries(6):
        response = api_client.get("/api/v1/subscriptions/?page_size=100")
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {s.pk for s in mine} | {visible_by_reference.pk}
    assert hidden.pk not in ids

    paused = api_client.get("/api/v1/subscriptions/?status=paused").json()["results"]
    assert {row["id"] for row in paused} == {s.pk for s in mine[::3]}
    by_date = api_client.get(
        "/api/v1/subscriptions/?next_renewal_after=2026-01-10&next_renewal_before=2026-01-10"
    )
    assert [row["id"] for row in by_date.json()["results"]] == [visible_by_reference.pk]
    by_customer = api_client.get(
        f"/api/v1/subscriptions/?customer={mine[1].customer_id}&plan={plan.code}"
    )
    assert [row["id"] for row in by_customer.json()["results"]] == [mine[1].pk]
    assert api_client.get(f"/api/v1/subscriptions/{hidden.pk}/").status_code == 404


def test_pause_preview_writes_nothing_and_pause_applies_the_same_change(api_client, customer, plan):
    sub = make_subscription(plan=plan, customer=customer, start_date=D(2026, 1, 1), renewed=1)
    events = SubscriptionEvent.objects.filter(subscription=sub).count()
    preview = api_client.post(
        f"/api/v1/subscriptions/{sub.pk}/pause/preview/", {"cycles": 2}, format="json"
    )
    assert preview.status_code == 200, preview.json()
    assert preview.json()["next_renewal_date"] == "2026-04-01"  # Feb and Mar paused
    sub.refresh_from_db()
    assert (
        sub.status == "active"
        and SubscriptionEvent.objects.filter(subscription=sub).count() == events
    )
    applied = api_client.post(
        f"/api/v1/subscriptions/{sub.pk}/pause/", {"cycles": 2}, format="json"
    )
    assert applied.status_code == 200
    assert applied.json()["change"] == preview.json()
    assert applied.json()["subscription"]["status"] == "paused"


def test_upgrade_preview_shows_the_proration_and_apply_bills_it(api_client, customer, plan, sku):
    sub = make_subscription(plan=plan, customer=customer, start_date=D(2026, 1, 1), renewed=1)
    bigger = make_plan(price=3100, items=[(sku, 1)], name="Big box")
    preview = api_client.post(
        f"/api/v1/subscriptions/{sub.pk}/change-plan/preview/", {"plan": bigger.code}, format="json"
    ).json()
    # 9 of 31 days used, 22 remaining: credit 1000-290=710, charge round((9000+68200)/31)-290 = 2200
    assert [(line["kind"], line["amount"]) for line in preview["lines"]] == [
        ("credit", -710),
        ("charge", 2200),
    ]
    assert preview["amount_due_now"] == 1490 and not ProrationAdjustment.objects.exists()
    response = api_client.post(
        f"/api/v1/subscriptions/{sub.pk}/change-plan/", {"plan": bigger.code}, format="json"
    )
    assert response.status_code == 200
    assert sorted(ProrationAdjustment.objects.values_list("amount", flat=True)) == [-710, 2200]


def test_errors_use_the_one_error_shape(api_client, customer, plan):
    sub = make_subscription(plan=plan, customer=customer, start_date=D(2026, 1, 1), renewed=1)
    missing_reason = api_client.post(f"/api/v1/subscriptions/{sub.pk}/cancel/", {}, format="json")
    assert (
        missing_reason.status_code == 400 and "reason" in missing_reason.json()["error"]["fields"]
    )
    api_client.post(f"/api/v1/subscriptions/{sub.pk}/cancel/", {"reason": "moving"}, format="json")
    refused = api_client.post(f"/api/v1/subscriptions/{sub.pk}/skip/", {}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "change_not_allowed"
    detail = api_client.get(f"/api/v1/subscriptions/{sub.pk}/").json()
    assert detail["status"] == "cancelled" and detail["upcoming_renewal"] is None


PAYLOADS = {
    "change-plan": lambda ctx: {"plan": ctx["bigger"].code},
    "change-quantity": lambda ctx: {"quantity": 3},
    "change-frequency": lambda ctx: {"interval_unit": "week", "interval_count": 2},
    "reschedule": lambda ctx: {"next_renewal_date": "2026-01-20"},
    "send-now": lambda ctx: {},
    "change-address": lambda ctx: {"address": {"line1": "9 Elm", "city": "Lyon", "country": "FR"}},
    "change-payment-method": lambda ctx: {"payment_method": "pm_card_visa"},
    "skip": lambda ctx: {},
    "swap-item": lambda ctx: {"from_sku": "COFFEE-1", "to_sku": "COFFEE-2"},
    "add-addon": lambda ctx: {"sku": "COFFEE-2", "quantity": 2},
    "pause": lambda ctx: {"until": "2026-04-15"},
    "cancel": lambda ctx: {"reason": "budget", "at_period_end": True},
}


@pytest.mark.parametrize("slug", sorted(PAYLOADS))
def test_every_change_endpoint_and_its_preview_agree(
    api_client, customer, plan, sku, other_sku, slug
):
    sub = make_subscription(plan=plan, customer=customer, start_date=D(2026, 1, 1), renewed=1)
    ctx = {"bigger": make_plan(price=2000, items=[(sku, 1)])}
    body = PAYLOADS[slug](ctx)
    preview = api_client.post(
        f"/api/v1/subscriptions/{sub.pk}/{slug}/preview/", body, format="json"
    )
    assert preview.status_code == 200, preview.json()
    before = SubscriptionEvent.objects.filter(subscription=sub).count()
    applied = api_client.post(f"/api/v1/subscriptions/{sub.pk}/{slug}/", body, format="json")
    assert applied.status_code == 200, applied.json()
    assert applied.json()["change"] == preview.json()
    assert SubscriptionEvent.objects.filter(subscription=sub).count() > before


@pytest.mark.parametrize(
    ("slug", "setup"),
    [
        (
            "unskip",
            lambda sub: services.subscription_skip(subscription=sub, actor=Actor.system("t")),
        ),
        (
            "resume",
            lambda sub: services.subscription_pause(
                subscription=sub, cycles=1, actor=Actor.system("t"), today=D(2026, 1, 10)
            ),
        ),
        (
            "reactivate",
            lambda sub: services.subscription_cancel(
                subscription=sub, reason="x", at_period_end=True, actor=Actor.system("t")
            ),
        ),
    ],
)
def test_undo_endpoints(api_client, customer, plan, slug, setup):
    sub = make_subscription(plan=plan, customer=customer, start_date=D(2026, 1, 1), renewed=1)
    setup(sub)
    assert (
        api_client.post(
            f"/api/v1/subscriptions/{sub.pk}/{slug}/preview/", {}, format="json"
        ).status_code
        == 200
    )
    response = api_client.post(f"/api/v1/subscriptions/{sub.pk}/{slug}/", {}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["subscription"]["status"] == "active"
    assert not response.json()["subscription"]["cancel_at_period_end"]


def test_plans_list(api_client, plan, django_assert_max_num_queries):
    make_plan(price=5000, name="SaaS", interval_unit="year")
    with django_assert_max_num_queries(8):
        response = api_client.get("/api/v1/plans/")
    names = {row["name"]: row for row in response.json()["results"]}
    assert names["Coffee box"]["current_version"]["prices"] == [
        {"currency": "USD", "amount": 1000, "setup_fee": 0}
    ]
    assert names["SaaS"]["current_version"]["items"] == []


def test_channels_cannot_waive_proration_or_force_an_immediate_downgrade(
    api_client, customer, plan, sku
):
    sub = make_subscription(plan=plan, customer=customer, start_date=D(2026, 1, 1), renewed=1)
    bigger = make_plan(price=2000, items=[(sku, 1)])
    for policy in ("none", "immediate"):
        response = api_client.post(
            f"/api/v1/subscriptions/{sub.pk}/change-plan/",
            {"plan": bigger.code, "policy": policy},
            format="json",
        )
        assert response.status_code == 400 and "policy" in response.json()["error"]["fields"]
    deferred = api_client.post(
        f"/api/v1/subscriptions/{sub.pk}/change-plan/",
        {"plan": bigger.code, "policy": "end_of_term"},
        format="json",
    )
    assert deferred.status_code == 200 and deferred.json()["change"]["scheduled"] is True
    assert not ProrationAdjustment.objects.exists()


def test_timeline_endpoint_is_bounded_and_private(
    api_client, customer, plan, django_assert_max_num_queries
):
    sub = make_subscription(plan=plan, customer=customer, start_date=D(2026, 1, 1), renewed=3)
    services.subscription_skip(subscription=sub, actor=Actor.system("t"))
    with django_assert_max_num_queries(6):
        response = api_client.get(f"/api/v1/subscriptions/{sub.pk}/events/")
    kinds = [row["kind"] for row in response.json()["results"]]
    assert kinds == ["skip_scheduled", "renewed", "renewed", "renewed", "created"]
    stranger = make_subscription(plan=plan, customer=CustomerFactory(), start_date=D(2026, 1, 1))
    assert api_client.get(f"/api/v1/subscriptions/{stranger.pk}/events/").status_code == 404
