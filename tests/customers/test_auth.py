import pytest
from django.contrib.auth import authenticate

from customers.portal.services import portal_user_invite
from tests.factories.customers import CustomerFactory

pytestmark = pytest.mark.django_db


def test_portal_login_accepts_the_email_in_any_case(system_actor):
    customer = CustomerFactory(email="Mixed.Case@Example.com")
    user = portal_user_invite(
        customer=customer, actor=system_actor, password="s3cret-pass", send_email=False
    )
    assert authenticate(username="MIXED.case@example.COM", password="s3cret-pass") == user
    assert authenticate(username="mixed.case@example.com", password="wrong") is None
    assert authenticate(username="nobody@example.com", password="s3cret-pass") is None


def test_inactive_logins_are_refused(system_actor):
    customer = CustomerFactory(email="gone@example.com")
    user = portal_user_invite(
        customer=customer, actor=system_actor, password="pw-123456", send_email=False
    )
    user.is_active = False
    user.save()
    assert authenticate(username="gone@example.com", password="pw-123456") is None
