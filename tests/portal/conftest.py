from __future__ import annotations

import datetime as dt
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


TODAY = dt.date(2026, 3, 10)


@pytest.fixture
def frozen_today(time_machine: Any) -> dt.date:
    """The business date is 10 March 2026 (UTC) for the whole test, server threads included."""
    time_machine.move_to(dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC), tick=False)
    return TODAY


@pytest.fixture
def box_skus(db: Any) -> tuple[Any, Any]:
    from tests.factories.inventory import SkuFactory

    return (
        SkuFactory(code="BEANS-DARK", name="Dark roast beans", price=1200),
        SkuFactory(code="BEANS-LIGHT", name="Light roast beans", price=1200),
    )


@pytest.fixture
def make_portal_subscription(frozen_today: dt.date, box_skus: tuple[Any, Any]) -> Any:
    """``make_portal_subscription(customer, **kw)``: a monthly 10.00 USD box of one dark roast,
    started 15 Feb 2026 and renewed once, so the current period (15 Feb – 15 Mar) is billed
    and the next renewal is 15 Mar 2026."""
    from tests.factories.subscriptions import make_plan, make_subscription

    def make(customer: Any, **kwargs: Any) -> Any:
        plan = kwargs.pop("plan", None) or make_plan(
            name="Coffee Club", price=1000, items=[(box_skus[0], 1)]
        )
        kwargs.setdefault("shipping_address_ref", customer.addresses.first())
        return make_subscription(
            plan=plan,
            customer=customer,
            start_date=dt.date(2026, 2, 15),
            today=dt.date(2026, 2, 15),
            renewed=1,
            **kwargs,
        )

    return make


@pytest.fixture
def portal_subscription(make_portal_subscription: Any, portal_customer: Any) -> Any:
    return make_portal_subscription(portal_customer)
