from __future__ import annotations

from typing import Any

import pytest

PORTAL_PASSWORD = "portal-pass-1234"


@pytest.fixture
def make_portal_customer(db: Any) -> Any:
    """``make_portal_customer(**customer_fields)`` → a customer with a linked login whose
    password is ``PORTAL_PASSWORD`` and a default shipping address."""
    from django.contrib.auth import get_user_model

    from customers.portal.services import portal_user_link
    from oms.core.actors import Actor
    from tests.factories.customers import AddressFactory, CustomerFactory

    def make(**fields: Any) -> Any:
        customer = CustomerFactory(**fields)
        AddressFactory(customer=customer)
        user = get_user_model().objects.create_user(
            username=customer.email, email=customer.email, password=PORTAL_PASSWORD
        )
        return portal_user_link(customer=customer, user=user, actor=Actor.system("tests"))

    return make


@pytest.fixture
def portal_customer(make_portal_customer: Any) -> Any:
    return make_portal_customer(first_name="Ada", last_name="Lovelace")


@pytest.fixture
def portal_client(client: Any, portal_customer: Any) -> Any:
    client.force_login(portal_customer.user)
    return client
