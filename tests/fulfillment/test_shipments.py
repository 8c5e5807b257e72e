"""Shipments planned from allocation, split, picked, packed and shipped through the ledger."""

from __future__ import annotations

import pytest
from django.core import mail

from fulfillment import services
from fulfillment.models import Shipment, ShipmentEventKind
from fulfillment.statuses import ShipmentStatus
from inventory.models import MovementKind, StockLevel, StockMovement
from oms.core.errors import Conflict, InvalidTransition, ValidationError
from orders.models import OrderEventKind, OrderStatus

from .helpers import ACTOR, pack, pack_and_ship

S = ShipmentStatus


def _level(sku, warehouse):
    return StockLevel.objects.get(sku=sku, warehouse=warehouse)


def test_allocation_across_two_warehouses_plans_one_shipment_each(order_for, stocked, east, west):
    only_east = stocked(5, warehouse=east)
    only_west = stocked(5, warehouse=west)

    order = order_for([(only_east, 2), (only_west, 3)])

    assert order.status == OrderStatus.ALLOCATED
    shipments = list(Shipment.objects.filter(order=order).order_by("warehouse__code"))
    assert [s.warehouse.code for s in shipments] == ["east", "west"]
    assert [(line.sku_id, line.quantity) for line in shipments[0].lines.all()] == [
        (only_east.pk, 2)
    ]
    assert [(line.sku_id, line.quantity) for line in shipments[1].lines.all()] == [
        (only_west.pk, 3)
    ]
    assert all(s.status == S.PENDING and not s.is_manual for s in shipments)
    assert all(s.promised_ship_by and s.promised_delivery for s in shipments)
    assert all(s.events.filter(kind=ShipmentEventKind.CREATED).count() == 1 for s in shipments)

    # Planning is idempotent: the hook running again (release from hold...) adds nothing.
    order.refresh_from_db()
    assert services.shipments_create_for_order(order=order, actor=ACTOR) == []
    assert Shipment.objects.filter(order=order).count() == 2


def test_shipping_moves_stock_through_the_ledger_and_fulfils_the_order(
    order_for, stocked, east, manual_carrier, django_capture_on_commit_callbacks
):
    sku = stocked(10)
    order = order_for([(sku, 4)])
    shipment = order.shipments.get()
    assert (_level(sku, east).on_hand, _level(sku, east).allocated) == (10, 4)

    with django_capture_on_commit_callbacks(execute=True):
        shipped = pack_and_ship(shipment, manual_carrier, tracking_number="1Z-001")

    assert shipped.status == S.SHIPPED
    assert shipped.tracking_number == "1Z-001"
    assert shipped.tracking_url == "https://track.example/1Z-001"
    assert shipped.shipped_at is not None
    level = _level(sku, east)
    assert (level.on_hand, level.allocated) == (6, 0)
    movement = StockMovement.objects.get(kind=MovementKind.SHIPMENT)
    assert (movement.quantity, movement.allocated_delta) == (-4, -4)
    assert movement.reference == shipped.reference
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    line = order.lines.get()
    assert (line.shipped_quantity, line.allocated_quantity) == (4, 0)
    # The customer is told, with the tracking link, and the email is on the order timeline.
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [order.customer.email]
    assert "https://track.example/1Z-001" in mail.outbox[0].body
    assert order.events.filter(kind=OrderEventKind.EMAIL_SENT).count() == 1
    assert shipped.events.filter(kind=ShipmentEventKind.EMAIL_SENT).count() == 1


def test_partial_shipment_of_a_line(order_for, stocked, east, manual_carrier):
    sku = stocked(10)
    order = order_for([(sku, 3)])
    original = order.shipments.get()
    line = order.lines.get()

    first = services.shipment_split(shipment=original, lines={line.pk: 1}, actor=ACTOR)

    assert first.lines.get().quantity == 1
    assert original.lines.get().quantity == 2
    pack_and_ship(first, manual_carrier, tracking_number="PART-1")
    order.refresh_from_db()
    line.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_FULFILLED
    assert (line.shipped_quantity, line.allocated_quantity) == (1, 2)
    assert _level(sku, east).on_hand == 9

    pack_and_ship(original, manual_carrier, tracking_number="PART-2")
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    assert _level(sku, east).on_hand == 7
    assert StockMovement.objects.filter(kind=MovementKind.SHIPMENT).count() == 2


def test_split_must_leave_units_and_cannot_take_more_than_held(order_for, stocked):
    sku = stocked(10)
    order = order_for([(sku, 2)])
    shipment = order.shipments.get()
    line = order.lines.get()
    with pytest.raises(ValidationError):
        services.shipment_split(shipment=shipment, lines={line.pk: 2}, actor=ACTOR)
    with pytest.raises(ValidationError):
        services.shipment_split(shipment=shipment, lines={line.pk: 5}, actor=ACTOR)
    assert Shipment.objects.filter(order=order).count() == 1
    assert shipment.lines.get().quantity == 2


def test_ship_refused_unless_packed_and_nothing_moves(order_for, stocked, east, manual_carrier):
    sku = stocked(10)
    order = order_for([(sku, 1)])
    shipment = order.shipments.get()

    with pytest.raises(InvalidTransition):
        services.shipment_ship(
            shipment=shipment, carrier=manual_carrier, tracking_number="X", actor=ACTOR
        )

    assert not StockMovement.objects.filter(kind=MovementKind.SHIPMENT).exists()
    assert _level(sku, east).on_hand == 10
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED


def test_manual_carrier_needs_a_tracking_number(order_for, stocked, manual_carrier):
    order = order_for([(stocked(5), 1)])
    shipment = pack(order.shipments.get())
    with pytest.raises(ValidationError) as exc:
        services.shipment_ship(shipment=shipment, carrier=manual_carrier, actor=ACTOR)
    assert exc.value.code == "tracking_number_required"
    shipment.refresh_from_db()
    assert shipment.status == S.PACKED


def test_duplicate_tracking_number_rolls_back_the_stock_move(
    order_for, stocked, east, manual_carrier
):
    sku = stocked(10)
    first = order_for([(sku, 1)]).shipments.get()
    second_order = order_for([(sku, 2)])
    second = second_order.shipments.get()
    pack_and_ship(first, manual_carrier, tracking_number="SAME")
    pack(second)

    with pytest.raises(Conflict) as exc:
        services.shipment_ship(
            shipment=second, carrier=manual_carrier, tracking_number="SAME", actor=ACTOR
        )

    assert exc.value.code == "duplicate_tracking_number"
    second.refresh_from_db()
    assert second.status == S.PACKED
    assert _level(sku, east).on_hand == 9  # only the first parcel left
    second_order.refresh_from_db()
    assert second_order.status == OrderStatus.ALLOCATED


def test_manual_shipment_plans_only_unplanned_units(order_for, stocked, east, west):
    sku = stocked(10)
    order = order_for([(sku, 2)])
    line = order.lines.get()
    auto = order.shipments.get()

    with pytest.raises(Conflict):
        services.shipment_create_manual(
            order=order, warehouse=east, lines={line.pk: 1}, actor=ACTOR
        )

    services.shipment_cancel(shipment=auto, reason="re-plan by hand", actor=ACTOR)
    manual = services.shipment_create_manual(
        order=order, warehouse=east, lines={line.pk: 2}, actor=ACTOR
    )
    assert manual.is_manual and manual.lines.get().quantity == 2
    with pytest.raises(Conflict):  # nothing allocated at west
        services.shipment_create_manual(
            order=order, warehouse=west, lines={line.pk: 1}, actor=ACTOR
        )


def test_cancelled_shipment_units_are_planned_again_by_the_hook(order_for, stocked):
    order = order_for([(stocked(10), 2)])
    services.shipment_cancel(shipment=order.shipments.get(), reason="box damaged", actor=ACTOR)
    order.refresh_from_db()

    again = services.shipments_create_for_order(order=order, actor=ACTOR)

    assert len(again) == 1 and again[0].lines.get().quantity == 2


def test_status_guard_refuses_skipping_steps(order_for, stocked):
    shipment = order_for([(stocked(5), 1)]).shipments.get()
    with pytest.raises(InvalidTransition):
        services.shipment_mark_packed(shipment=shipment, actor=ACTOR)
    shipment.refresh_from_db()
    assert shipment.status == S.PENDING
