"""Planning follows the allocation: edits, holds, cancels, and a constant query budget."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fulfillment import selectors, services
from fulfillment.models import Shipment, ShipmentEventKind
from fulfillment.statuses import ShipmentStatus
from oms.core.errors import Conflict
from orders.models import Order
from orders.services import order_cancel, order_edit, order_hold

from .helpers import ACTOR

S = ShipmentStatus


def test_lowering_a_line_takes_units_out_of_the_pending_parcel(order_for, stocked):
    sku = stocked(10)
    order = order_for([(sku, 3)])
    shipment = order.shipments.get()
    line = order.lines.get()

    order_edit(order=order, quantities={line.pk: 1}, actor=ACTOR, reason="customer asked")
    # Lowering a line allocates nothing new, so orders does not call the planning hook:
    # the parcel is brought in line with the allocation when picking starts.
    services.shipment_start_picking(shipment=shipment, actor=ACTOR)

    assert shipment.lines.get().quantity == 1
    assert shipment.events.filter(kind=ShipmentEventKind.REPLANNED).exists()
    assert Shipment.objects.filter(order=order).exclude(status=S.CANCELLED).count() == 1


def test_adding_a_line_joins_the_pending_parcel(order_for, stocked):
    first, second = stocked(10), stocked(10)
    order = order_for([(first, 1)])
    shipment = order.shipments.get()

    order_edit(
        order=order, add_lines=[{"sku": second.code, "quantity": 2}], actor=ACTOR, reason="add"
    )

    assert sorted(shipment.lines.values_list("sku_id", "quantity")) == sorted(
        [(first.pk, 1), (second.pk, 2)]
    )
    assert shipment.events.filter(kind=ShipmentEventKind.REPLANNED).exists()
    assert Shipment.objects.filter(order=order).count() == 1


def test_removing_every_unit_of_a_parcel_cancels_it(order_for, stocked, east, west):
    a, b = stocked(5, warehouse=east), stocked(5, warehouse=west)
    c = stocked(5, warehouse=east)
    order = order_for([(a, 1), (b, 1)])
    west_parcel = order.shipments.get(warehouse=west)
    line_b = order.lines.get(sku=b)

    order_edit(
        order=order,
        quantities={line_b.pk: 0},
        add_lines=[{"sku": c.code, "quantity": 1}],
        actor=ACTOR,
        reason="swap",
    )

    west_parcel.refresh_from_db()
    assert west_parcel.status == S.CANCELLED
    assert west_parcel.events.filter(kind=ShipmentEventKind.CANCELLED).exists()


def test_held_order_cannot_be_picked_and_leaves_the_pick_list(order_for, stocked, east):
    order = order_for([(stocked(5), 1)])
    shipment = order.shipments.get()
    order_hold(order=order, reason="fraud check", actor=ACTOR)

    with pytest.raises(Conflict) as exc:
        services.shipment_start_picking(shipment=shipment, actor=ACTOR)

    assert exc.value.code == "order_not_shippable"
    shipment.refresh_from_db()
    assert shipment.status == S.PENDING
    assert selectors.pick_list(warehouse_id=east.pk) == []


def test_cancelled_order_parcel_is_neither_picked_nor_late(order_for, stocked, east):
    from datetime import timedelta

    from django.utils import timezone

    order = order_for([(stocked(5), 1)])
    order_cancel(order=order, reason="changed mind", actor=ACTOR)
    shipment = order.shipments.get()
    assert shipment.status == S.CANCELLED  # dropped by the order_cancelled hook
    assert shipment.events.filter(kind=ShipmentEventKind.CANCELLED).exists()
    assert selectors.pick_list(warehouse_id=east.pk) == []
    assert not selectors.shipments_late(timezone.now() + timedelta(days=30)).exists()


def _plan_queries(order):
    services.shipment_cancel(shipment=order.shipments.get(), reason="re-plan", actor=ACTOR)
    fresh = Order.objects.prefetch_related("lines").get(pk=order.pk)
    with CaptureQueriesContext(connection) as captured:
        planned = services.shipments_create_for_order(order=fresh, actor=ACTOR)
    assert len(planned) == 1
    return len(captured)


def test_planning_costs_the_same_for_one_line_or_eight(order_for, stocked):
    small = order_for([(stocked(5), 1)])
    large = order_for([(stocked(5), 1) for _ in range(8)])
    assert _plan_queries(small) == _plan_queries(large) <= 8
