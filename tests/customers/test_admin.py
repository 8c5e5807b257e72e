import pytest

from customers.models import CustomerEvent
from tests.factories.customers import CustomerFactory

pytestmark = pytest.mark.django_db


def test_changelist_search_by_email_and_reference(admin_client, system_actor):
    from customers.services import customer_create
    from tests.factories.core import ChannelFactory

    customer_create(
        email="findme@example.com",
        actor=system_actor,
        channel=ChannelFactory(),
        external_id="POS-991",
    )
    CustomerFactory(email="other@example.com")
    for term in ("findme", "POS-991"):
        response = admin_client.get("/admin/customers/customer/", {"q": term})
        assert response.status_code == 200
        assert b"findme@example.com" in response.content
        assert b"other@example.com" not in response.content


def test_change_page_and_history_render(admin_client):
    customer = CustomerFactory()
    assert admin_client.get(f"/admin/customers/customer/{customer.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/customers/customer/{customer.pk}/history/").status_code == 200


def test_deactivate_action_asks_for_a_reason_then_calls_the_service(admin_client):
    customer = CustomerFactory()
    action = "action_deactivate_customers"
    ask = admin_client.post(
        "/admin/customers/customer/", {"action": action, "_selected_action": [customer.pk]}
    )
    assert ask.status_code == 200 and b"reason" in ask.content
    customer.refresh_from_db()
    assert customer.status == "active"  # nothing happens before the reason is given
    admin_client.post(
        "/admin/customers/customer/",
        {"action": action, "_selected_action": [customer.pk], "apply": "1", "reason": "fraud"},
    )
    customer.refresh_from_db()
    assert customer.status == "inactive"
    event = CustomerEvent.objects.get(customer=customer, kind="deactivated")
    assert event.actor_kind == "user" and event.actor_label == "admin" and event.message == "fraud"


def test_invite_to_portal_action_creates_a_login_and_emails_the_link(
    admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="Invitee@Example.com")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/customers/customer/",
            {"action": "invite_to_portal", "_selected_action": [customer.pk]},
        )
    customer.refresh_from_db()
    assert customer.user is not None and customer.user.username == "invitee@example.com"
    assert not customer.user.has_usable_password()
    assert [m.to for m in mailoutbox] == [["Invitee@Example.com"]]
    # inviting twice is refused with a message, no second login or email
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/customers/customer/",
            {"action": "invite_to_portal", "_selected_action": [customer.pk]},
        )
    assert len(mailoutbox) == 1
