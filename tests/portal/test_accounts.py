import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from customers.models import Customer, CustomerEvent, CustomerEventKind
from customers.portal.services import portal_user_invite, portal_user_link
from oms.core.actors import Actor
from oms.core.errors import Conflict
from tests.factories.customers import CustomerFactory

from .conftest import PORTAL_PASSWORD

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


def test_link_sets_the_login_and_records_an_event():
    customer = CustomerFactory()
    user = get_user_model().objects.create_user(username="ada", password="x")

    portal_user_link(customer=customer, user=user, actor=ACTOR)

    customer.refresh_from_db()
    assert customer.user_id == user.pk
    event = CustomerEvent.objects.get(customer=customer, kind=CustomerEventKind.UPDATED)
    assert event.payload == {"changes": {"user": {"from": None, "to": user.pk}}}
    assert event.actor_label == "tests"


def test_link_twice_to_the_same_login_is_a_no_op():
    customer = CustomerFactory()
    user = get_user_model().objects.create_user(username="ada", password="x")
    portal_user_link(customer=customer, user=user, actor=ACTOR)
    portal_user_link(customer=customer, user=user, actor=ACTOR)
    assert CustomerEvent.objects.filter(customer=customer).count() == 1


def test_a_login_of_another_customer_is_refused_and_nothing_changes():
    first, second = CustomerFactory(), CustomerFactory()
    user = get_user_model().objects.create_user(username="ada", password="x")
    portal_user_link(customer=first, user=user, actor=ACTOR)

    with pytest.raises(Conflict) as exc:
        portal_user_link(customer=second, user=user, actor=ACTOR)

    assert exc.value.code == "portal_user_taken"
    second.refresh_from_db()
    assert second.user_id is None
    assert not CustomerEvent.objects.filter(customer=second).exists()


def test_a_customer_with_a_login_cannot_get_a_second_one():
    customer = CustomerFactory()
    users = [get_user_model().objects.create_user(username=n, password="x") for n in "ab"]
    portal_user_link(customer=customer, user=users[0], actor=ACTOR)
    with pytest.raises(Conflict):
        portal_user_link(customer=customer, user=users[1], actor=ACTOR)
    customer.refresh_from_db()
    assert customer.user_id == users[0].pk


def test_invite_creates_a_login_and_emails_a_working_set_password_link(
    client, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="Grace@Example.com")

    with django_capture_on_commit_callbacks(execute=True):
        user = portal_user_invite(customer=customer, actor=ACTOR)

    assert Customer.objects.get(pk=customer.pk).user_id == user.pk
    assert user.username == "grace@example.com"
    assert not user.has_usable_password()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["Grace@Example.com"]
    link = next(w for w in mail.outbox[0].body.split() if "/accounts/reset/" in w)
    path = link.split("localhost:8000", 1)[1]
    response = client.get(path, follow=True)
    assert response.status_code == 200
    assert b"Choose a password" in response.content
    assert b"Save password" in response.content  # a valid link shows the form


def test_invite_rolls_back_without_email_when_the_login_name_exists():
    customer = CustomerFactory(email="taken@example.com")
    get_user_model().objects.create_user(username="taken@example.com", password="x")
    with pytest.raises(Conflict):
        portal_user_invite(customer=customer, actor=ACTOR)
    customer.refresh_from_db()
    assert customer.user_id is None
    assert mail.outbox == []


def test_login_page_logs_a_customer_in_and_lands_on_the_portal(client, portal_customer):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b"Log in" in page.content

    response = client.post(
        "/accounts/login/",
        {
            "username": portal_customer.user.username,
            "password": PORTAL_PASSWORD,
            "next": "/portal/",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert client.get("/portal/").status_code == 200


def test_wrong_password_stays_on_the_login_page(client, portal_customer):
    response = client.post(
        "/accounts/login/", {"username": portal_customer.user.username, "password": "nope"}
    )
    assert response.status_code == 200
    assert b"do not match" in response.content
    assert client.get("/portal/").status_code == 302


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/portal/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/portal/")


def test_a_login_without_a_customer_gets_a_clear_403(client, db):
    staff = get_user_model().objects.create_user(username="op", password="x", is_staff=True)
    client.force_login(staff)
    response = client.get("/portal/")
    assert response.status_code == 403
    assert b"not linked to an active customer" in response.content


def test_a_deactivated_customer_is_locked_out(client, portal_customer):
    from customers.services import customer_deactivate

    customer_deactivate(customer=portal_customer, reason="fraud", actor=ACTOR)
    client.force_login(portal_customer.user)
    assert client.get("/portal/").status_code == 403
