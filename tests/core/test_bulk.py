"""oms.core.bulk: rows of several tables in one statement, each value prepared as Django
prepares it for ``bulk_create``."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fulfillment.models import Shipment
from oms.core.bulk import Writes
from tests.factories.orders import place_order

pytestmark = pytest.mark.django_db


def test_binary_values_travel_in_the_unnest_insert(channel):
    """A bytea column (a shipment's label) no longer sends its table down Django's per-row
    INSERT: the rows go as arrays like every other table's, and read back byte for byte."""
    planned = place_order(channel=channel).shipments.get()
    label = bytes(range(256))  # every byte value, NUL included
    copies = [
        Shipment(order_id=planned.order_id, warehouse_id=planned.warehouse_id, label_data=data)
        for data in (label, None, b"")
    ]
    writes = Writes()
    writes.insert(Shipment, copies)
    with CaptureQueriesContext(connection) as queries:
        writes.run()

    (statement,) = [q["sql"] for q in queries.captured_queries]
    assert "UNNEST(" in statement and "bytea[]" in statement
    assert all(copy.pk for copy in copies)
    stored = dict(
        Shipment.objects.filter(pk__in=[c.pk for c in copies]).values_list("pk", "label_data")
    )
    assert [None if stored[c.pk] is None else bytes(stored[c.pk]) for c in copies] == [
        label,
        None,
        b"",
    ]
