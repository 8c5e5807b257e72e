import pytest

from customers.models import Customer
from tests.factories.core import ChannelFactory
from tests.factories.customers import AddressFactory, CustomerFactory

pytestmark = pytest.mark.django_db

NEW = {
    "email": "new@example.com",
    "first_name": "New",
    "external_id": "EXT-1",
    "addresses": [{"kind": "shipping", "line1": "5 Elm", "city": "Lyon", "country": "FR"}],
}


def test_create_returns_201_with_addresses_and_reference(api_client, channel):
    response = api_client.post("/api/v1/customers/", NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email"] == "new@example.com" and body["external_id"] == "EXT-1"
    assert body["addresses"][0]["country"] == "FR" and body["addresses"][0]["is_default"]
    assert Customer.objects.get(pk=body["id"]).source_channel == channel


def test_duplicate_email_is_409(api_client):
    CustomerFactory(email="NEW@example.com")
    response = api_client.post("/api/v1/customers/", NEW, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_email"


def test_unknown_country_is_400_naming_the_field(api_client):
    body = {**NEW, "addresses": [{"line1": "x", "city": "y", "country": "ZZ"}]}
    response = api_client.post("/api/v1/customers/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_country"
    assert not Customer.objects.exists()


def test_upsert_creates_then_updates(api_client):
    first = api_client.post("/api/v1/customers/upsert/", NEW, format="json")
    assert first.status_code == 201
    second = api_client.post(
        "/api/v1/customers/upsert/",
        {**NEW, "first_name": "Renamed", "addresses": []},
        format="json",
    )
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"] and second.json()["first_name"] == "Renamed"


def test_retrieve_and_patch(api_client, channel):
    customer = CustomerFactory(source_channel=channel)
    assert api_client.get(f"/api/v1/customers/{customer.pk}/").json()["email"] == customer.email
    response = api_client.patch(
        f"/api/v1/customers/{customer.pk}/", {"phone": "+33 1 23"}, format="json"
    )
    assert response.status_code == 200 and response.json()["phone"] == "+33 1 23"
    bad = api_client.patch(f"/api/v1/customers/{customer.pk}/", {"email": "bad"}, format="json")
    assert bad.status_code == 400


def test_add_address(api_client, channel):
    customer = CustomerFactory(source_channel=channel)
    response = api_client.post(
        f"/api/v1/customers/{customer.pk}/addresses/",
        {"kind": "billing", "line1": "9 Rue", "city": "Paris", "country": "fr"},
        format="json",
    )
    assert response.status_code == 201 and response.json()["country"] == "FR"


def test_list_filters_by_email_reference_and_created_range(api_client, channel, system_actor):
    from customers.services import customer_create

    customer_create(email="one@example.com", actor=system_actor, channel=channel, external_id="R-1")
    customer_create(email="two@example.com", actor=system_actor, channel=channel, external_id="R-2")
    CustomerFactory(email="other@example.com", source_channel=ChannelFactory())  # not visible

    def emails(query: str) -> list[str]:
        return [c["email"] for c in api_client.get(f"/api/v1/customers/{query}").json()["results"]]

    assert sorted(emails("")) == ["one@example.com", "two@example.com"]
    assert emails("?email=ONE@example.com") == ["one@example.com"]
    assert emails("?reference=R-2") == ["two@example.com"]
    assert emails("?created_after=2999-01-01T00:00:00Z") == []


def test_list_query_count_is_bounded(api_client, channel, django_assert_max_num_queries):
    for _ in range(15):
        AddressFactory(customer=CustomerFactory(source_channel=channel))
    with django_assert_max_num_queries(6):
        response = api_client.get("/api/v1/customers/")
    assert len(response.json()["results"]) == 15
