import pytest

from customers import services
from customers.models import Address, Customer, CustomerEvent, CustomerReference
from oms.core.errors import Conflict, InvalidTransition, ValidationError
from tests.factories.core import ChannelFactory
from tests.factories.customers import AddressFactory, CustomerFactory

pytestmark = pytest.mark.django_db

ADDRESS = {"line1": "1 Main St", "city": "Portland", "postal_code": "97201", "country": "us"}


def test_create_writes_customer_event_reference_and_default_addresses(system_actor):
    channel = ChannelFactory()
    customer = services.customer_create(
        email="Ada@Example.com",
        first_name="Ada",
        actor=system_actor,
        channel=channel,
        external_id="C-1",
        addresses=[{"kind": "shipping", **ADDRESS}, {"kind": "billing", **ADDRESS}],
    )
    assert customer.email == "Ada@Example.com"
    assert customer.source_channel == channel
    assert CustomerReference.objects.get(channel=channel, external_id="C-1").customer == customer
    assert set(
        Address.objects.filter(customer=customer, is_default=True).values_list("kind", "country")
    ) == {
        ("shipping", "US"),
        ("billing", "US"),
    }
    kinds = list(CustomerEvent.objects.filter(customer=customer).values_list("kind", flat=True))
    assert (
        kinds[0] == "created" and "reference_added" in kinds and kinds.count("address_added") == 2
    )
    assert CustomerEvent.objects.filter(
        customer=customer, actor_kind="system", actor_label="tests"
    ).count() == len(kinds)


def test_email_is_unique_case_insensitively(system_actor):
    services.customer_create(email="grace@example.com", actor=system_actor)
    with pytest.raises(Conflict) as exc:
        services.customer_create(email="GRACE@example.COM", actor=system_actor)
    assert exc.value.code == "duplicate_email"
    assert Customer.objects.count() == 1


def test_database_refuses_a_case_variant_duplicate_even_without_the_service():
    from django.db import IntegrityError, transaction

    CustomerFactory(email="x@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(email="X@EXAMPLE.com")


@pytest.mark.parametrize("email", ["", "nope", "a@", "@b.com", "a b@c.com"])
def test_invalid_email_is_refused_and_nothing_written(system_actor, email):
    with pytest.raises(ValidationError) as exc:
        services.customer_create(email=email, actor=system_actor)
    assert exc.value.code == "invalid_email"
    assert Customer.objects.count() == 0
    assert CustomerEvent.objects.count() == 0


def test_unknown_country_rolls_back_the_whole_create(system_actor):
    with pytest.raises(ValidationError) as exc:
        services.customer_create(
            email="a@example.com", actor=system_actor, addresses=[{**ADDRESS, "country": "XX"}]
        )
    assert exc.value.code == "invalid_country"
    assert "country" in exc.value.fields
    assert not Customer.objects.exists()


def test_update_records_a_diff_and_refuses_a_taken_email(system_actor):
    CustomerFactory(email="taken@example.com")
    customer = CustomerFactory(email="me@example.com", first_name="Al")
    services.customer_update(customer=customer, actor=system_actor, first_name="Alan")
    event = CustomerEvent.objects.get(customer=customer, kind="updated")
    assert event.payload == {"changes": {"first_name": {"from": "Al", "to": "Alan"}}}
    with pytest.raises(Conflict):
        services.customer_update(customer=customer, actor=system_actor, email="TAKEN@example.com")
    customer.refresh_from_db()
    assert customer.email == "me@example.com"


def test_update_refuses_fields_that_are_not_editable(system_actor):
    customer = CustomerFactory()
    with pytest.raises(ValidationError):
        services.customer_update(customer=customer, actor=system_actor, status="inactive")


def test_upsert_creates_then_finds_by_reference_then_links_by_email(system_actor):
    web, pos = ChannelFactory(), ChannelFactory()
    created, was_created = services.customer_upsert_by_reference(
        channel=web, external_id="W1", email="lin@example.com", first_name="Lin", actor=system_actor
    )
    assert was_created
    same, was_created = services.customer_upsert_by_reference(
        channel=web,
        external_id="W1",
        email="lin@example.com",
        first_name="Linus",
        actor=system_actor,
    )
    assert not was_created and same.pk == created.pk and same.first_name == "Linus"
    # another channel knows the same person by its own id: linked by email, not duplicated
    linked, was_created = services.customer_upsert_by_reference(
        channel=pos, external_id="P-77", email="LIN@example.com", actor=system_actor
    )
    assert not was_created and linked.pk == created.pk
    assert set(
        CustomerReference.objects.filter(customer=created).values_list("external_id", flat=True)
    ) == {"W1", "P-77"}


def test_a_channel_reference_cannot_point_at_two_customers(system_actor):
    channel = ChannelFactory()
    a, b = CustomerFactory(), CustomerFactory()
    services.customer_reference_add(
        customer=a, channel=channel, external_id="R", actor=system_actor
    )
    with pytest.raises(Conflict):
        services.customer_reference_add(
            customer=b, channel=channel, external_id="R", actor=system_actor
        )


def test_set_default_address_keeps_exactly_one_default_per_kind(system_actor):
    customer = CustomerFactory()
    first = services.address_add(
        customer=customer, kind="shipping", data=ADDRESS, actor=system_actor
    )
    assert first.is_default  # the first address of a kind becomes the default
    second = services.address_add(
        customer=customer,
        kind="shipping",
        data={**ADDRESS, "line1": "2 Side St"},
        actor=system_actor,
    )
    assert not Address.objects.get(pk=second.pk).is_default
    services.address_set_default(address=second, actor=system_actor)
    defaults = Address.objects.filter(customer=customer, kind="shipping", is_default=True)
    assert list(defaults.values_list("pk", flat=True)) == [second.pk]


def test_address_snapshot_is_a_copy():
    address = AddressFactory(city="Berlin", country="DE")
    snapshot = address.snapshot()
    address.city = "Hamburg"
    address.save()
    assert snapshot["city"] == "Berlin" and snapshot["country"] == "DE"


def test_deactivate_requires_reason_and_guards_transitions(system_actor):
    customer = CustomerFactory()
    with pytest.raises(ValidationError):
        services.customer_deactivate(customer=customer, reason=" ", actor=system_actor)
    services.customer_deactivate(
        customer=customer, reason="asked to close account", actor=system_actor
    )
    customer.refresh_from_db()
    assert customer.status == "inactive"
    event = CustomerEvent.objects.get(customer=customer, kind="deactivated")
    assert event.message == "asked to close account"
    assert event.payload == {"from": "active", "to": "inactive"}
    with pytest.raises(InvalidTransition) as exc:
        services.customer_deactivate(customer=customer, reason="again", actor=system_actor)
    assert "'inactive'" in exc.value.message
    services.customer_reactivate(customer=customer, actor=system_actor)
    customer.refresh_from_db()
    assert customer.status == "active"


def test_history_is_tracked(system_actor):
    customer = services.customer_create(email="h@example.com", actor=system_actor)
    services.customer_update(customer=customer, actor=system_actor, phone="+49 30 1234")
    assert customer.history.count() == 2
    assert customer.history.first().phone == "+49 30 1234"


def test_notes_are_events_with_text(system_actor):
    customer = CustomerFactory()
    services.customer_note_add(customer=customer, text="VIP — ships to office", actor=system_actor)
    assert (
        CustomerEvent.objects.get(customer=customer, kind="note").message == "VIP — ships to office"
    )
    with pytest.raises(ValidationError):
        services.customer_note_add(customer=customer, text="", actor=system_actor)
