"""A customer in a real browser: log in, find the subscription, preview and confirm a skip,
pause and resume, change the delivery address — checking the page and the database."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from customers.portal.services import portal_user_link
from oms.core.actors import Actor
from subscriptions.models import PeriodOverride, Subscription, SubscriptionStatus
from tests.factories.customers import AddressFactory, CustomerFactory
from tests.factories.inventory import SkuFactory
from tests.factories.subscriptions import make_plan, make_subscription

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-pass-1234"


@pytest.fixture
def customer_with_box(time_machine):
    # The business date is 10 March 2026 for the server threads too; the clock keeps ticking.
    time_machine.move_to(dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC), tick=True)
    customer = CustomerFactory(email="ada@example.com", first_name="Ada", last_name="Lovelace")
    home = AddressFactory(
        customer=customer, line1="12 Crescent Road", city="Portland", country="US"
    )
    user = get_user_model().objects.create_user(
        username="ada@example.com", email="ada@example.com", password=PASSWORD
    )
    portal_user_link(customer=customer, user=user, actor=Actor.system("tests"))
    beans = SkuFactory(code="BEANS-DARK", name="Dark roast beans", price=1200)
    plan = make_plan(name="Coffee Club", price=1000, items=[(beans, 1)])
    return make_subscription(
        plan=plan,
        customer=customer,
        start_date=dt.date(2026, 2, 15),
        renewed=1,
        shipping_address_ref=home,
    )


def test_customer_skips_pauses_resumes_and_moves_the_box(
    page, browser_login, customer_with_box, screenshot_dir
):
    sub = customer_with_box
    browser_login(page, "ada@example.com", PASSWORD)
    assert page.url.endswith("/portal/")
    assert page.locator("h1").inner_text() == "Hello, Ada"

    page.click("text=Coffee Club")
    page.wait_for_url(f"**/portal/subscriptions/{sub.pk}/")
    assert page.inner_text("#next-delivery") == "Sunday 15 March 2026"
    assert page.inner_text("#upcoming-total") == "10.00 USD"
    page.screenshot(path=str(screenshot_dir / "oms-portal-subscription.png"), full_page=True)

    # Skip: the preview writes nothing; the confirmation does.
    page.click("#action-skip")
    page.select_option("select[name=period_start]", "2026-03-15")
    page.click("#preview-button")
    assert page.inner_text("#preview-summary") == "Nothing is billed or shipped on 2026-03-15."
    assert not PeriodOverride.objects.filter(subscription=sub).exists()
    page.click("#confirm-button")
    page.wait_for_url(f"**/portal/subscriptions/{sub.pk}/")
    assert page.inner_text("#next-delivery") == "Wednesday 15 April 2026"
    assert page.locator("li[data-date='2026-03-15'][data-outcome='skip']").count() == 1
    assert PeriodOverride.objects.get(subscription=sub, period_start=dt.date(2026, 3, 15)).skip

    # Pause one cycle, then resume.
    page.click("#action-pause")
    page.select_option("select[name=cycles]", "1")
    page.click("#preview-button")
    assert "resumes on 2026-04-15" in page.inner_text("#preview-summary")
    page.click("#confirm-button")
    page.wait_for_url(f"**/portal/subscriptions/{sub.pk}/")
    assert page.inner_text("#status") == "Paused"
    sub.refresh_from_db()
    assert (sub.status, sub.next_renewal_date) == (SubscriptionStatus.PAUSED, dt.date(2026, 4, 15))

    page.click("#action-resume")
    assert "Active again; next renewal 2026-03-15." in page.inner_text("#preview-summary")
    page.click("#confirm-button")
    page.wait_for_url(f"**/portal/subscriptions/{sub.pk}/")
    assert page.inner_text("#status") == "Active"
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.ACTIVE

    # A new address, added on the way and chosen for the box.
    page.click("#action-address")
    page.click("text=Add a new address")
    page.fill("input[name=line1]", "221B Baker Street")
    page.fill("input[name=city]", "London")
    page.fill("input[name=postal_code]", "NW1 6XE")
    page.fill("input[name=country]", "GB")
    page.click("#save-button")
    page.wait_for_url(f"**/portal/subscriptions/{sub.pk}/address/")
    page.check("label:has-text('221B Baker Street') input[type=radio]")
    page.click("#preview-button")
    assert "221B Baker Street" in page.inner_text("#preview-summary")
    page.click("#confirm-button")
    page.wait_for_url(f"**/portal/subscriptions/{sub.pk}/")
    assert "221B Baker Street" in page.inner_text("#ship-to")
    sub.refresh_from_db()
    assert (sub.shipping_address["line1"], sub.shipping_address["country"]) == (
        "221B Baker Street",
        "GB",
    )


def test_someone_elses_subscription_is_a_404_in_the_browser(page, browser_login, customer_with_box):
    other = make_subscription(customer=CustomerFactory(), start_date=dt.date(2026, 3, 1))
    browser_login(page, "ada@example.com", PASSWORD)
    response = page.goto(f"/portal/subscriptions/{other.pk}/")
    assert response.status == 404
