import pytest

from customers.models import Address, CustomerEvent, CustomerEventKind
from tests.factories.customers import AddressFactory

pytestmark = pytest.mark.django_db


def test_home_shows_my_details_and_only_my_addresses(
    portal_client, portal_customer, make_portal_customer
):
    other = make_portal_customer(first_name="Eve")
    mine = portal_customer.addresses.get()

    response = portal_client.get("/portal/")

    body = response.content.decode()
    assert "Hello, Ada" in body
    assert portal_customer.email in body
    assert mine.line1 in body
    assert other.addresses.get().line1 not in body
    assert other.email not in body


def test_home_query_count_is_bounded(portal_client, portal_customer, django_assert_max_num_queries):
    for _ in range(5):
        AddressFactory(customer=portal_customer, is_default=False)
    with django_assert_max_num_queries(8):
        assert portal_client.get("/portal/").status_code == 200


def test_add_address_goes_through_the_service(portal_client, portal_customer):
    response = portal_client.post(
        "/portal/addresses/new/",
        {
            "kind": "shipping",
            "name": "Ada Lovelace",
            "line1": "12 St James's Square",
            "city": "London",
            "postal_code": "SW1Y 4JH",
            "country": "gb",
            "make_default": "on",
        },
    )

    assert response.status_code == 302
    added = Address.objects.get(customer=portal_customer, line1="12 St James's Square")
    assert added.country == "GB"
    assert added.is_default
    assert (
        Address.objects.filter(customer=portal_customer, kind="shipping", is_default=True).count()
        == 1
    )
    event = CustomerEvent.objects.get(
        customer=portal_customer, kind=CustomerEventKind.ADDRESS_ADDED
    )
    assert event.actor_kind == "customer"
    assert event.actor_customer_id == portal_customer.pk


def test_a_bad_country_is_shown_on_the_form_and_nothing_is_written(portal_client, portal_customer):
    before = Address.objects.count()
    response = portal_client.post(
        "/portal/addresses/new/",
        {"kind": "shipping", "line1": "1 Nowhere", "city": "X", "country": "ZZ"},
    )
    assert response.status_code == 200
    assert "not an ISO 3166-1 alpha-2 code" in response.content.decode()
    assert Address.objects.count() == before


def test_add_address_returns_only_to_a_portal_path(portal_client):
    data = {"kind": "billing", "line1": "1 Way", "city": "Lyon", "country": "FR"}
    evil = portal_client.post("/portal/addresses/new/", {**data, "next": "//evil.example/"})
    assert evil["Location"] == "/portal/"
    back = portal_client.post("/portal/addresses/new/", {**data, "next": "/portal/profile/"})
    assert back["Location"] == "/portal/profile/"


def test_set_default_address(portal_client, portal_customer):
    old = portal_customer.addresses.get()
    new = AddressFactory(customer=portal_customer, is_default=False)

    response = portal_client.post(f"/portal/addresses/{new.pk}/default/")

    assert response.status_code == 302
    new.refresh_from_db()
    old.refresh_from_db()
    assert new.is_default and not old.is_default


def test_cannot_touch_someone_elses_address(portal_client, make_portal_customer):
    other = make_portal_customer()
    theirs = AddressFactory(customer=other, is_default=False)

    response = portal_client.post(f"/portal/addresses/{theirs.pk}/default/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert not theirs.is_default
    assert not CustomerEvent.objects.filter(
        customer=other, kind=CustomerEventKind.DEFAULT_ADDRESS_SET, actor_kind="customer"
    ).exists()


def test_set_default_needs_post(portal_client, portal_customer):
    address = portal_customer.addresses.get()
    assert portal_client.get(f"/portal/addresses/{address.pk}/default/").status_code == 405


def test_profile_edit(portal_client, portal_customer):
    response = portal_client.post(
        "/portal/profile/", {"first_name": "Augusta", "last_name": "King", "phone": "+44 20 0000"}
    )
    assert response.status_code == 302
    portal_customer.refresh_from_db()
    assert portal_customer.full_name == "Augusta King"
    event = CustomerEvent.objects.filter(
        customer=portal_customer, kind=CustomerEventKind.UPDATED, actor_kind="customer"
    ).get()
    assert event.payload["changes"]["first_name"] == {"from": "Ada", "to": "Augusta"}
