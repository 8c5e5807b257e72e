"""order_edit: quantities, lines, addresses, delivery option — with re-allocation and a diff."""

from __future__ import annotations

import pytest

from inventory.errors import OutOfStock
from inventory.models import Allocation
from oms.core.errors import ApplicationError
from orders.models import OrderLine, OrderStatus
from orders.services import order_edit, order_record_shipment
from tests.factories.inventory import WarehouseFactory, stock_on_hand
from tests.factories.orders import place_order, stocked_sku
from tests.orders.conftest import level

pytestmark = pytest.mark.django_db


def _edited(order):
    return order.events.filter(kind="edited").latest("id")


def test_quantity_change_reallocates_and_records_the_diff(channel, warehouse, system_actor):
    sku = stocked_sku(quantity=10, price=1000, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 2)])
    line = order.lines.get()
    order = order_edit(
        order=order, quantities={line.pk: 5}, actor=system_actor, reason="phone call"
    )
    line.refresh_from_db()
    assert (line.quantity, line.allocated_quantity, line.total) == (5, 5, 5000)
    assert level(sku, warehouse).allocated == 5
    assert (
        sum(Allocation.objects.filter(line_ref=line.stock_ref).values_list("quantity", flat=True))
        == 5
    )
    assert (order.subtotal, order.total) == (5000, 5495)
    diff = _edited(order).payload
    assert diff["quantities"]["1"] == {"sku": sku.code, "from": 2, "to": 5}
    assert diff["totals"]["from"]["total"] == 2495 and diff["totals"]["to"]["total"] == 5495
    assert _edited(order).message == "phone call"
    assert line.history.count() >= 2


def test_add_and_remove_lines(channel, warehouse, system_actor):
    a = stocked_sku(quantity=10, warehouse=warehouse)
    b = stocked_sku(quantity=10, warehouse=warehouse)
    c = stocked_sku(quantity=10, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(a, 1), (b, 2)])
    line_a, line_b = order.lines.order_by("line_no")
    order = order_edit(
        order=order,
        remove_lines=[line_b.pk],
        add_lines=[{"sku": c.code, "quantity": 3}],
        actor=system_actor,
    )
    lines = list(order.lines.order_by("line_no"))
    assert [
        (x.sku_id, x.quantity, x.allocated_quantity, x.cancelled_quantity, x.line_no) for x in lines
    ] == [
        (a.pk, 1, 1, 0, 1),
        (b.pk, 2, 0, 2, 2),
        (c.pk, 3, 3, 0, 3),
    ]
    assert level(b, warehouse).allocated == 0 and level(c, warehouse).allocated == 3
    assert OrderLine.objects.get(pk=line_b.pk).total == 0
    assert order.subtotal == 4 * 2500
    diff = _edited(order).payload
    assert diff["removed"] == [{"line_no": 2, "sku": b.code, "quantity": 2}]
    assert diff["added"] == [{"line_no": 3, "sku": c.code, "quantity": 3}]


def test_quantity_zero_removes_the_line(channel, warehouse, system_actor):
    a, b = stocked_sku(warehouse=warehouse), stocked_sku(warehouse=warehouse)
    order = place_order(channel=channel, lines=[(a, 1), (b, 1)])
    line_b = order.lines.get(sku=b)
    order_edit(order=order, quantities={line_b.pk: 0}, actor=system_actor)
    line_b.refresh_from_db()
    assert line_b.cancelled_quantity == 1 and level(b, warehouse).allocated == 0
    with pytest.raises(ApplicationError) as exc:  # a removed line cannot be edited again
        order_edit(order=order, quantities={line_b.pk: 2}, actor=system_actor)
    assert exc.value.code == "unknown_line"


def test_edit_that_cannot_be_allocated_is_refused_and_leaves_the_order_as_it_was(
    channel, warehouse, system_actor
):
    sku = stocked_sku(quantity=3, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 2)])
    line = order.lines.get()
    with pytest.raises(OutOfStock):
        order_edit(order=order, quantities={line.pk: 4}, actor=system_actor)
    line.refresh_from_db()
    order.refresh_from_db()
    assert (line.quantity, line.allocated_quantity) == (2, 2)
    assert level(sku, warehouse).allocated == 2 and order.total == 2 * 2500 + 495
    assert not order.events.filter(kind="edited").exists()


def test_edit_on_a_backorder_channel_moves_status_both_ways(
    backorder_channel, warehouse, system_actor
):
    sku = stocked_sku(quantity=3, warehouse=warehouse)
    order = place_order(channel=backorder_channel, lines=[(sku, 2)])
    line = order.lines.get()
    order = order_edit(order=order, quantities={line.pk: 5}, actor=system_actor)
    line.refresh_from_db()
    assert order.status == OrderStatus.BACKORDERED and (
        line.allocated_quantity,
        line.backordered_quantity,
    ) == (3, 2)
    order = order_edit(order=order, quantities={line.pk: 3}, actor=system_actor)
    line.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED and (
        line.allocated_quantity,
        line.backordered_quantity,
    ) == (3, 0)
    assert level(sku, warehouse).allocated == 3


def test_address_change_to_another_country_reallocates_from_the_right_warehouse(
    channel, system_actor
):
    us = WarehouseFactory(code="us", country="US", ships_to_countries=["US"], priority=1)
    eu = WarehouseFactory(code="eu", country="DE", ships_to_countries=["DE", "FR"], priority=2)
    sku = stocked_sku(quantity=5, warehouse=us)
    stock_on_hand(sku=sku, warehouse=eu, quantity=5)
    order = place_order(channel=channel, lines=[(sku, 2)])
    assert level(sku, us).allocated == 2
    new_address = {"line1": "1 Rue", "city": "Lyon", "country": "fr"}
    order = order_edit(
        order=order, shipping_address=new_address, delivery_option="express", actor=system_actor
    )
    assert level(sku, us).allocated == 0 and level(sku, eu).allocated == 2
    assert order.shipping_address["country"] == "FR" and order.delivery_option == "express"
    diff = _edited(order).payload
    assert diff["shipping_address"]["to"]["country"] == "FR"
    assert diff["delivery_option"] == {"from": "standard", "to": "express"}
    assert order.shipping_total == 1495


def test_edit_after_shipping_started_is_refused(channel, warehouse, system_actor):
    sku = stocked_sku(warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 2)])
    line = order.lines.get()
    order_record_shipment(order=order, quantities={line.pk: 1}, actor=system_actor)
    with pytest.raises(ApplicationError) as exc:
        order_edit(order=order, quantities={line.pk: 5}, actor=system_actor)
    assert exc.value.code == "order_not_editable"
    line.refresh_from_db()
    assert line.quantity == 2


def test_edit_rejects_unknown_lines_and_emptying_the_order(channel, warehouse, system_actor):
    sku = stocked_sku(warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 1)])
    line = order.lines.get()
    with pytest.raises(ApplicationError) as exc:
        order_edit(order=order, quantities={999999: 1}, actor=system_actor)
    assert exc.value.code == "unknown_line"
    with pytest.raises(ApplicationError) as exc:
        order_edit(order=order, remove_lines=[line.pk], actor=system_actor)
    assert exc.value.code == "no_lines"
    assert level(sku, warehouse).allocated == 1


def test_only_the_difference_moves_so_existing_allocations_stay(channel, warehouse, system_actor):
    sku = stocked_sku(quantity=10, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 3)])
    line = order.lines.get()
    first = Allocation.objects.get(line_ref=line.stock_ref)
    order_edit(order=order, quantities={line.pk: 5}, actor=system_actor)
    first.refresh_from_db()
    assert first.quantity == 3 and first.quantity_released == 0
    order_edit(order=order, quantities={line.pk: 4}, actor=system_actor)
    line.refresh_from_db()
    assert (line.quantity, line.allocated_quantity) == (4, 4) and level(
        sku, warehouse
    ).allocated == 4
    assert (
        sum(Allocation.objects.filter(line_ref=line.stock_ref).values_list("quantity", flat=True))
        == 4
    )


def test_lowering_a_line_tells_fulfillment_so_its_pending_parcel_shrinks(
    channel, warehouse, system_actor, allocated_calls
):
    from fulfillment.models import ShipmentLine

    sku = stocked_sku(quantity=10, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 5)])
    line = order.lines.get()
    assert ShipmentLine.objects.get(order_line=line).quantity == 5
    order = order_edit(order=order, quantities={line.pk: 2}, actor=system_actor)
    assert order.status == OrderStatus.ALLOCATED
    assert allocated_calls == [(order.number, [5]), (order.number, [2])]
    assert ShipmentLine.objects.get(order_line=line).quantity == 2
    assert level(sku, warehouse).allocated == 2


def test_removing_a_line_tells_fulfillment(channel, warehouse, system_actor, allocated_calls):
    from fulfillment.models import ShipmentLine

    a, b = stocked_sku(warehouse=warehouse), stocked_sku(warehouse=warehouse)
    order = place_order(channel=channel, lines=[(a, 1), (b, 2)])
    la, lb = order.lines.order_by("line_no")
    order = order_edit(order=order, remove_lines=[lb.pk], actor=system_actor)
    assert allocated_calls[-1] == (order.number, [1, 0])
    assert list(
        ShipmentLine.objects.filter(order_line__order=order).values_list("order_line", "quantity")
    ) == [(la.pk, 1)]


def test_lowering_the_backordered_part_allocates_the_order_and_tells_fulfillment(
    backorder_channel, warehouse, system_actor, allocated_calls
):
    from fulfillment.models import ShipmentLine

    sku = stocked_sku(quantity=3, warehouse=warehouse)
    order = place_order(channel=backorder_channel, lines=[(sku, 5)])
    line = order.lines.get()
    assert order.status == OrderStatus.BACKORDERED and allocated_calls == []
    order = order_edit(order=order, quantities={line.pk: 3}, actor=system_actor)
    assert order.status == OrderStatus.ALLOCATED
    assert allocated_calls == [(order.number, [3])]
    assert ShipmentLine.objects.get(order_line=line).quantity == 3


def test_an_edit_that_moves_no_stock_does_not_call_fulfillment(
    channel, warehouse, system_actor, allocated_calls
):
    order = place_order(channel=channel, lines=[(stocked_sku(warehouse=warehouse), 1)])
    order_edit(order=order, delivery_option="express", actor=system_actor)
    assert len(allocated_calls) == 1  # intake's only
