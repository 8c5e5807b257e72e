"""Self-service subscription changes: each goes form → preview (nothing written) → confirm
(the subscriptions service writes), and only ever on the customer's own subscription."""

import datetime as dt
import re

import pytest

from subscriptions.models import (
    PeriodOverride,
    Plan,
    ProrationAdjustment,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)
from tests.factories.customers import AddressFactory

pytestmark = pytest.mark.django_db
D = dt.date


def _confirm_token(response) -> str:
    match = re.search(r'name="confirm" value="([0-9a-f]+)"', response.content.decode())
    assert match, "the confirm page carries the preview's fingerprint"
    return match.group(1)


def _change(client, sub, change, data):
    """Preview then confirm, as the browser does. Returns (preview_response, final_response)."""
    url = f"/portal/subscriptions/{sub.pk}/{change}/"
    preview = client.post(url, data)
    assert preview.status_code == 200, preview.content.decode()[:2000]
    done = client.post(url, {**data, "confirm": _confirm_token(preview)})
    return preview, done


def _state(sub):
    sub.refresh_from_db()
    return (sub.status, sub.next_renewal_date, sub.quantity, sub.interval_unit, sub.updated_at)


def test_list_shows_my_subscriptions_with_the_next_delivery(
    portal_client, portal_subscription, make_portal_customer, make_portal_subscription
):
    other = make_portal_subscription(make_portal_customer(), plan=None)

    body = portal_client.get("/portal/subscriptions/").content.decode()

    assert f'data-subscription-id="{portal_subscription.pk}"' in body
    assert f'data-subscription-id="{other.pk}"' not in body
    assert "Sun 15 Mar 2026" in body
    assert "10.00 USD per delivery" in body


def test_list_query_count_does_not_grow_with_subscriptions(
    portal_client, portal_customer, make_portal_subscription, django_assert_max_num_queries
):
    for _ in range(6):
        make_portal_subscription(portal_customer)
    with django_assert_max_num_queries(14):
        response = portal_client.get("/portal/subscriptions/")
    assert response.content.decode().count("data-subscription-id") == 6


def test_detail_shows_the_upcoming_renewal_preview(portal_client, portal_subscription):
    body = portal_client.get(f"/portal/subscriptions/{portal_subscription.pk}/").content.decode()
    assert 'id="next-delivery">Sunday 15 March 2026' in body
    assert "1 × BEANS-DARK" in body
    assert 'id="upcoming-total">10.00 USD' in body
    # The reminder email's links land on anchors of this page.
    assert 'id="skip"' in body and 'id="change"' in body


@pytest.mark.parametrize("suffix", ["", "skip/", "pause/", "cancel/"])
def test_someone_elses_subscription_is_not_found(
    portal_client, make_portal_customer, make_portal_subscription, suffix
):
    theirs = make_portal_subscription(make_portal_customer())
    before = _state(theirs)

    url = f"/portal/subscriptions/{theirs.pk}/{suffix}"
    assert portal_client.get(url).status_code == 404
    assert (
        portal_client.post(url, {"cycles": 1, "reason": "other", "details": "x"}).status_code == 404
    )

    assert _state(theirs) == before
    assert not PeriodOverride.objects.filter(subscription=theirs).exists()


def test_unknown_change_is_not_found(portal_client, portal_subscription):
    assert (
        portal_client.get(f"/portal/subscriptions/{portal_subscription.pk}/teleport/").status_code
        == 404
    )


def test_skip_previews_without_writing_then_applies_on_confirm(portal_client, portal_subscription):
    sub = portal_subscription
    form = portal_client.get(f"/portal/subscriptions/{sub.pk}/skip/").content.decode()
    assert '<option value="2026-03-15">Sunday 15 March 2026</option>' in form

    preview = portal_client.post(
        f"/portal/subscriptions/{sub.pk}/skip/", {"period_start": "2026-03-15"}
    )
    assert "Nothing is billed or shipped on 2026-03-15." in preview.content.decode()
    assert not PeriodOverride.objects.filter(subscription=sub).exists()  # a preview writes nothing

    done = portal_client.post(
        f"/portal/subscriptions/{sub.pk}/skip/",
        {"period_start": "2026-03-15", "confirm": _confirm_token(preview)},
    )

    assert done.status_code == 302
    override = PeriodOverride.objects.get(subscription=sub)
    assert (override.period_start, override.skip) == (D(2026, 3, 15), True)
    event = SubscriptionEvent.objects.get(subscription=sub, kind="skip_scheduled")
    assert (event.actor_kind, event.actor_customer_id) == ("customer", sub.customer_id)
    page = portal_client.get(done["Location"]).content.decode()
    assert 'id="next-delivery">Wednesday 15 April 2026' in page  # the next delivery moved
    assert 'data-date="2026-03-15" data-outcome="skip"' in page


def test_a_stale_confirmation_is_shown_again_not_applied(portal_client, portal_subscription):
    sub = portal_subscription
    preview = portal_client.post(f"/portal/subscriptions/{sub.pk}/quantity/", {"quantity": 2})
    token = _confirm_token(preview)
    # Meanwhile (another tab) the customer pauses the subscription.
    _change(portal_client, sub, "pause", {"cycles": 1, "reason": ""})

    again = portal_client.post(
        f"/portal/subscriptions/{sub.pk}/quantity/", {"quantity": 2, "confirm": token}
    )

    sub.refresh_from_db()
    assert sub.quantity == 1
    assert again.status_code == 200
    assert "Cannot change quantity a subscription that is paused" in again.content.decode()


def test_unskip(portal_client, portal_subscription):
    sub = portal_subscription
    _change(portal_client, sub, "skip", {"period_start": "2026-03-15"})
    _, done = _change(portal_client, sub, "unskip", {"period_start": "2026-03-15"})
    assert done.status_code == 302
    assert not PeriodOverride.objects.filter(subscription=sub, skip=True).exists()


def test_pause_then_resume(portal_client, portal_subscription):
    sub = portal_subscription
    preview, done = _change(portal_client, sub, "pause", {"cycles": 2, "reason": "holiday"})
    assert "resumes on 2026-05-15 (2 cycle(s) paused)" in preview.content.decode()
    assert done.status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.next_renewal_date) == (SubscriptionStatus.PAUSED, D(2026, 5, 15))
    assert SubscriptionEvent.objects.get(subscription=sub, kind="paused").message == "holiday"

    page = portal_client.get(f"/portal/subscriptions/{sub.pk}/").content.decode()
    assert 'id="action-resume"' in page and 'id="action-pause"' not in page

    preview = portal_client.get(f"/portal/subscriptions/{sub.pk}/resume/")  # nothing to ask
    assert "Active again; next renewal 2026-03-15." in preview.content.decode()
    portal_client.post(
        f"/portal/subscriptions/{sub.pk}/resume/", {"confirm": _confirm_token(preview)}
    )
    sub.refresh_from_db()
    assert (sub.status, sub.next_renewal_date) == (SubscriptionStatus.ACTIVE, D(2026, 3, 15))


def test_change_quantity_shows_and_bills_the_same_proration(portal_client, portal_subscription):
    sub = portal_subscription
    preview, done = _change(portal_client, sub, "quantity", {"quantity": 2})
    body = preview.content.decode()
    shown = [
        int(a.replace(".", "").replace(",", ""))
        for a in re.findall(r'<td class="num">(-?[\d,]+\.\d\d) USD</td>', body)
    ]

    assert done.status_code == 302
    sub.refresh_from_db()
    assert sub.quantity == 2
    written = list(
        ProrationAdjustment.objects.filter(subscription=sub)
        .order_by("id")
        .values_list("amount", flat=True)
    )
    assert written == shown  # what the customer confirmed is what is billed
    assert written[0] < 0 < written[1]  # credit for the unused 5 of 28 days, charge for the new
    assert "20.00 USD" in body


def test_change_frequency(portal_client, portal_subscription):
    sub = portal_subscription
    form = portal_client.get(f"/portal/subscriptions/{sub.pk}/frequency/").content.decode()
    assert 'value="month:1"' not in form  # the current frequency is not offered
    preview, done = _change(portal_client, sub, "frequency", {"frequency": "week:2"})
    assert "Renews every 2 weeks; next renewal 2026-03-15." in preview.content.decode()
    sub.refresh_from_db()
    assert (sub.interval_unit, sub.interval_count) == ("week", 2)
    assert SubscriptionEvent.objects.filter(subscription=sub, kind="frequency_changed").exists()


def test_change_address_to_another_saved_address(portal_client, portal_subscription):
    sub = portal_subscription
    new = AddressFactory(
        customer=sub.customer, is_default=False, line1="1 New Road", city="Leeds", country="GB"
    )
    preview, done = _change(portal_client, sub, "address", {"address": new.pk})
    assert "1 New Road" in preview.content.decode()
    sub.refresh_from_db()
    assert sub.shipping_address["line1"] == "1 New Road"
    assert sub.shipping_address_ref_id == new.pk


def test_cannot_ship_to_someone_elses_address(
    portal_client, portal_subscription, make_portal_customer
):
    sub = portal_subscription
    theirs = make_portal_customer().addresses.get()
    response = portal_client.post(
        f"/portal/subscriptions/{sub.pk}/address/", {"address": theirs.pk}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    sub.refresh_from_db()
    assert sub.shipping_address_ref_id != theirs.pk


def test_swap_an_item_in_the_next_box(portal_client, portal_subscription, box_skus):
    dark, light = box_skus
    sub = portal_subscription
    _, done = _change(portal_client, sub, "swap", {"from_sku": dark.pk, "to_sku": light.pk})
    assert done.status_code == 302
    override = PeriodOverride.objects.get(subscription=sub, period_start=D(2026, 3, 15))
    assert override.swaps[0]["to_sku_code"] == "BEANS-LIGHT"
    page = portal_client.get(f"/portal/subscriptions/{sub.pk}/").content.decode()
    assert "1 × BEANS-LIGHT" in page


def test_cancel_needs_a_reason(portal_client, portal_subscription):
    sub = portal_subscription
    before = _state(sub)
    url = f"/portal/subscriptions/{sub.pk}/cancel/"
    missing = portal_client.post(url, {"when": "now"})
    assert missing.status_code == 200 and "This field is required." in missing.content.decode()
    other = portal_client.post(url, {"reason": "other", "details": " ", "when": "now"})
    assert "Please tell us the reason." in other.content.decode()
    assert _state(sub) == before


def test_cancel_at_period_end_then_reactivate(portal_client, portal_subscription):
    sub = portal_subscription
    preview, done = _change(
        portal_client,
        sub,
        "cancel",
        {"reason": "too_expensive", "details": "", "when": "period_end"},
    )
    assert "Ends on 2026-03-15" in preview.content.decode()
    sub.refresh_from_db()
    assert sub.cancel_at_period_end and sub.status == SubscriptionStatus.ACTIVE
    assert sub.cancel_reason == "It is too expensive"

    page = portal_client.get(f"/portal/subscriptions/{sub.pk}/").content.decode()
    assert 'id="action-reactivate"' in page and 'id="action-skip"' not in page
    preview = portal_client.get(f"/portal/subscriptions/{sub.pk}/reactivate/")
    portal_client.post(
        f"/portal/subscriptions/{sub.pk}/reactivate/", {"confirm": _confirm_token(preview)}
    )
    sub.refresh_from_db()
    assert not sub.cancel_at_period_end


def test_cancel_now_with_details(portal_client, portal_subscription):
    sub = portal_subscription
    _, done = _change(
        portal_client, sub, "cancel", {"reason": "other", "details": "Moving abroad", "when": "now"}
    )
    assert done.status_code == 302
    sub = Subscription.objects.get(pk=sub.pk)
    assert sub.status == SubscriptionStatus.CANCELLED
    assert sub.cancel_reason == "Another reason: Moving abroad"
    assert (
        SubscriptionEvent.objects.get(subscription=sub, kind="cancelled").actor_kind == "customer"
    )


def test_a_confirmation_whose_preview_changed_is_shown_again(
    portal_client, portal_subscription, time_machine
):
    sub = portal_subscription
    url = f"/portal/subscriptions/{sub.pk}/quantity/"
    token = _confirm_token(portal_client.post(url, {"quantity": 2}))
    # A day later the proration is different: 4 days left, not 5.
    time_machine.move_to(dt.datetime(2026, 3, 11, 12, 0, tzinfo=dt.UTC), tick=False)

    again = portal_client.post(url, {"quantity": 2, "confirm": token})

    assert again.status_code == 200
    body = again.content.decode()
    assert "changed meanwhile" in body
    assert "(4 of 28 days)" in body
    sub.refresh_from_db()
    assert sub.quantity == 1
    assert not ProrationAdjustment.objects.filter(subscription=sub).exists()
    assert _confirm_token(again) != token


def test_the_renewal_reminder_links_land_on_this_subscription(portal_client, portal_subscription):
    from django.urls import resolve

    from subscriptions.renewal.steps import portal_links

    links = portal_links(portal_subscription.pk)
    path = links["manage"].split("localhost:8000", 1)[1]
    match = resolve(path)
    assert (match.view_name, match.kwargs) == (
        "portal:subscription",
        {"pk": portal_subscription.pk},
    )
    body = portal_client.get(path).content.decode()
    for anchor in (links["skip"], links["change"]):
        assert f'id="{anchor.rsplit("#", 1)[1]}"' in body


def test_add_a_one_time_addon_priced_by_the_catalogue(portal_client, portal_subscription, box_skus):
    sub = portal_subscription
    light = box_skus[1]  # 12.00 USD in the catalogue
    # A price smuggled into the form is ignored: the service prices the SKU.
    preview, done = _change(
        portal_client, sub, "addon", {"sku": light.pk, "quantity": 2, "unit_amount": 1}
    )
    assert (
        "Adds 2 × BEANS-LIGHT to the box of 2026-03-15 for 24.00 USD." in preview.content.decode()
    )
    assert done.status_code == 302
    override = PeriodOverride.objects.get(subscription=sub, period_start=D(2026, 3, 15))
    assert override.addons[0]["unit_amount"] == 1200
    page = portal_client.get(f"/portal/subscriptions/{sub.pk}/").content.decode()
    assert 'id="upcoming-total">34.00 USD' in page


def test_reschedule_the_next_delivery(portal_client, portal_subscription):
    sub = portal_subscription
    preview, done = _change(portal_client, sub, "reschedule", {"next_renewal_date": "2026-03-20"})
    assert "Next renewal moved to 2026-03-20 from 2026-03-15." in preview.content.decode()
    sub.refresh_from_db()
    assert sub.next_renewal_date == D(2026, 3, 20)
    past = portal_client.post(
        f"/portal/subscriptions/{sub.pk}/reschedule/", {"next_renewal_date": "2026-03-01"}
    )
    assert "In the past." in past.content.decode()
    sub.refresh_from_db()
    assert sub.next_renewal_date == D(2026, 3, 20)


def test_change_plan_offers_only_active_plans_priced_in_my_currency(
    portal_client, portal_subscription
):
    from tests.factories.subscriptions import make_plan

    bigger = make_plan(name="Coffee Club Plus", price=1500)
    make_plan(name="Euro Club", price=1500, currency="EUR")
    old = make_plan(name="Old Club", price=500)
    Plan.objects.filter(pk=old.pk).update(is_active=False)  # retired (an operator's edit)
    form = portal_client.get(
        f"/portal/subscriptions/{portal_subscription.pk}/plan/"
    ).content.decode()
    assert "Coffee Club Plus" in form
    assert "Euro Club" not in form and "Old Club" not in form

    preview, done = _change(portal_client, portal_subscription, "plan", {"plan": bigger.pk})
    body = preview.content.decode()
    assert "Coffee Club Plus" in body
    assert done.status_code == 302
    portal_subscription.refresh_from_db()
    assert portal_subscription.plan_version.plan_id == bigger.pk  # an upgrade applies at once
