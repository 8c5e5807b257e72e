"""Customer reads: the channel visibility check order intake makes."""

from __future__ import annotations

import pytest

from customers.models import Customer, CustomerReference
from customers.selectors import (
    customer_list_for_channel,
    customer_visible_to_channel,
    customers_visible_to_channel,
)
from tests.factories.core import ChannelFactory
from tests.factories.customers import CustomerFactory

pytestmark = pytest.mark.django_db


def _fields(customer: Customer) -> dict:
    return {f.attname: getattr(customer, f.attname) for f in Customer._meta.concrete_fields}


def test_a_channel_sees_the_customers_it_created_or_references(channel):
    other = ChannelFactory()
    created = CustomerFactory(source_channel=channel)
    referenced = CustomerFactory(source_channel=other)
    CustomerReference.objects.create(customer=referenced, channel=channel, external_id="C-9")
    hidden = CustomerFactory(source_channel=other)

    for customer in (created, referenced):
        found = customer_visible_to_channel(channel=channel, pk=customer.pk)
        assert found is not None and not found._state.adding
        expected = customer_list_for_channel(channel=channel).get(pk=customer.pk)
        assert _fields(found) == _fields(expected)
    assert customer_visible_to_channel(channel=channel, pk=hidden.pk) is None
    assert customer_visible_to_channel(channel=other, pk=hidden.pk) is not None


@pytest.mark.parametrize("pk", [0, -1, 2**63, -(2**63) - 1, 10**30])
def test_unknown_or_out_of_range_ids_are_none(channel, pk):
    CustomerFactory(source_channel=channel)
    assert customer_visible_to_channel(channel=channel, pk=pk) is None


def test_a_batch_of_ids_is_checked_in_one_read(channel, django_assert_num_queries):
    other = ChannelFactory()
    mine = [CustomerFactory(source_channel=channel) for _ in range(3)]
    referenced = CustomerFactory(source_channel=other)
    CustomerReference.objects.create(customer=referenced, channel=channel, external_id="C-1")
    hidden = CustomerFactory(source_channel=other)
    asked = [c.pk for c in (*mine, referenced, hidden)] + [mine[0].pk, 0, 2**63]

    with django_assert_num_queries(1):
        found = customers_visible_to_channel(channel=channel, pks=asked)

    assert set(found) == {c.pk for c in (*mine, referenced)}
    assert all(found[pk].pk == pk and not found[pk]._state.adding for pk in found)
    assert customers_visible_to_channel(channel=channel, pks=[]) == {}
