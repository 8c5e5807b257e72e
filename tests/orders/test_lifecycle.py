"""The status table, and the services that move an order through it."""

from __future__ import annotations

import pytest

from inventory.models import Backorder
from inventory.services import stock_receive
from oms.core.errors import ApplicationError, InvalidTransition
from orders.models import ALLOWED_TRANSITIONS, Order, OrderEvent, OrderStatus
from orders.services import (
    order_cancel,
    order_event_record,
    order_hold,
    order_note_add,
    order_record_delivery,
    order_record_return,
    order_record_shipment,
    order_release,
)
from orders.services._common import lock_order, transition
from tests.factories.orders import OrderFactory, place_order, stocked_sku
from tests.orders.conftest import level

pytestmark = pytest.mark.django_db

S = OrderStatus
ALLOWED = sorted(
    (current, target) for current, targets in ALLOWED_TRANSITIONS.items() for target in targets
)
FORBIDDEN = [
    (S.DRAFT, S.FULFILLED),
    (S.PLACED, S.DELIVERED),
    (S.PAYMENT_PENDING, S.ALLOCATED),
    (S.CANCELLED, S.ALLOCATED),
    (S.CANCELLED, S.PLACED),
    (S.DELIVERED, S.CANCELLED),
    (S.FULFILLED, S.ON_HOLD),
    (S.PARTIALLY_FULFILLED, S.CANCELLED),
    (S.RETURNED, S.PLACED),
    (S.ON_HOLD, S.FULFILLED),
    (S.ALLOCATED, S.DELIVERED),
]


def test_every_status_has_a_row_in_the_table():
    assert set(ALLOWED_TRANSITIONS) == set(S.values)
    assert all(target in S.values for targets in ALLOWED_TRANSITIONS.values() for target in targets)


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transition_sets_status_and_writes_event(current, target, system_actor):
    order = OrderFactory(status=current)
    locked = lock_order(order)
    transition(locked, target, actor=system_actor, message="why")
    order.refresh_from_db()
    assert order.status == target
    row = OrderEvent.objects.get(order=order)
    assert row.payload["from"] == current and row.payload["to"] == target
    assert row.actor_kind == "system" and row.message == "why"


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transition_names_both_states_and_changes_nothing(current, target, system_actor):
    assert target not in ALLOWED_TRANSITIONS[current]
    order = OrderFactory(status=current)
    with pytest.raises(InvalidTransition) as exc:
        transition(lock_order(order), target, actor=system_actor)
    assert f"'{current}'" in exc.value.message and f"'{target}'" in exc.value.message
    assert exc.value.code == "invalid_transition" and exc.value.status_code == 409
    order.refresh_from_db()
    assert order.status == current and not OrderEvent.objects.filter(order=order).exists()


# ----------------------------------------------------------------------------- cancel


def test_cancel_releases_stock_and_asks_for_a_refund_after_commit(
    channel, warehouse, system_actor, refunds, django_capture_on_commit_callbacks
):
    sku = stocked_sku(quantity=10, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 4)])
    assert level(sku, warehouse).allocated == 4
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = order_cancel(order=order, reason="customer changed their mind", actor=system_actor)
        assert refunds == []  # not before commit
    for callback in callbacks:
        callback()
    assert refunds == [
        {
            "order": order.number,
            "amount": None,
            "reason": "Order cancelled: customer changed their mind",
        }
    ]
    order.refresh_from_db()
    assert order.status == S.CANCELLED
    line = order.lines.get()
    assert (line.allocated_quantity, line.cancelled_quantity) == (0, 4)
    assert level(sku, warehouse).allocated == 0
    kinds = list(order.events.values_list("kind", flat=True))
    assert kinds[-2:] == ["cancelled", "refund_requested"]


def test_cancel_tells_the_registered_order_cancelled_callbacks(channel, warehouse, system_actor):
    from orders import hooks

    seen = []

    def callback(*, order, actor):
        seen.append((order.number, order.status, level(sku, warehouse).allocated))

    sku = stocked_sku(quantity=10, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 2)])
    hooks.order_cancelled.register(callback)
    try:
        order_cancel(order=order, reason="dup", actor=system_actor)
    finally:
        hooks.order_cancelled.unregister(callback)
    assert seen == [(order.number, S.CANCELLED, 0)]


def test_cancel_needs_a_reason_and_changes_nothing_without_one(channel, warehouse, system_actor):
    sku = stocked_sku(quantity=10, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 1)])
    with pytest.raises(ApplicationError) as exc:
        order_cancel(order=order, reason="  ", actor=system_actor)
    assert exc.value.code == "reason_required"
    order.refresh_from_db()
    assert order.status == S.ALLOCATED and level(sku, warehouse).allocated == 1


def test_cancel_a_backordered_order_cancels_its_backorder(
    backorder_channel, warehouse, system_actor
):
    sku = stocked_sku(quantity=1, warehouse=warehouse)
    order = place_order(channel=backorder_channel, lines=[(sku, 3)])
    assert order.status == S.BACKORDERED
    order_cancel(order=order, reason="too slow", actor=system_actor)
    assert level(sku, warehouse).allocated == 0
    assert Backorder.objects.get().status == "cancelled"


def test_cancel_after_shipping_started_is_refused(channel, warehouse, system_actor):
    sku = stocked_sku(quantity=10, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 2)])
    line = order.lines.get()
    order_record_shipment(order=order, quantities={line.pk: 1}, actor=system_actor)
    with pytest.raises(InvalidTransition) as exc:
        order_cancel(order=order, reason="late", actor=system_actor)
    assert "partially_fulfilled" in exc.value.message and "cancelled" in exc.value.message
    # Nothing released (stock moves on shipment through fulfillment's stock_ship, not here).
    assert level(sku, warehouse).allocated == 2
    assert Order.objects.get(pk=order.pk).status == S.PARTIALLY_FULFILLED


# ----------------------------------------------------------------------------- hold


def test_hold_and_release_return_to_the_status_held_from(channel, warehouse, system_actor):
    order = place_order(channel=channel, lines=[(stocked_sku(warehouse=warehouse), 1)])
    order = order_hold(order=order, reason="fraud check", actor=system_actor)
    assert order.status == S.ON_HOLD
    assert order.events.filter(kind="held").get().payload["held_from"] == S.ALLOCATED
    line = order.lines.get()
    with pytest.raises(InvalidTransition):
        order_record_shipment(order=order, quantities={line.pk: 1}, actor=system_actor)
    order = order_release(order=order, actor=system_actor, reason="checked")
    assert order.status == S.ALLOCATED
    with pytest.raises(InvalidTransition):
        order_release(order=order, actor=system_actor)


def test_hold_needs_a_reason(channel, warehouse, system_actor):
    order = place_order(channel=channel, lines=[(stocked_sku(warehouse=warehouse), 1)])
    with pytest.raises(ApplicationError):
        order_hold(order=order, reason="", actor=system_actor)
    assert Order.objects.get(pk=order.pk).status == S.ALLOCATED


def test_backorder_filled_while_held_releases_to_allocated_and_tells_fulfillment(
    backorder_channel, warehouse, system_actor, allocated_calls
):
    sku = stocked_sku(quantity=0, warehouse=warehouse)
    order = place_order(channel=backorder_channel, lines=[(sku, 2)])
    assert order.status == S.BACKORDERED and allocated_calls == []
    order_hold(order=order, reason="address check", actor=system_actor)
    stock_receive(sku=sku, warehouse=warehouse, quantity=5, actor=system_actor, reference="po-1")
    order.refresh_from_db()
    assert order.status == S.ON_HOLD and order.lines.get().allocated_quantity == 2
    order = order_release(order=order, actor=system_actor)
    assert order.status == S.ALLOCATED and allocated_calls == [(order.number, [2])]


def test_receipt_fills_backorder_and_allocates_the_order(
    backorder_channel, warehouse, system_actor, allocated_calls
):
    sku = stocked_sku(quantity=1, warehouse=warehouse)
    order = place_order(channel=backorder_channel, lines=[(sku, 3)])
    stock_receive(sku=sku, warehouse=warehouse, quantity=1, actor=system_actor)
    order.refresh_from_db()
    line = order.lines.get()
    assert order.status == S.BACKORDERED and (
        line.allocated_quantity,
        line.backordered_quantity,
    ) == (2, 1)
    stock_receive(sku=sku, warehouse=warehouse, quantity=10, actor=system_actor)
    order.refresh_from_db()
    line = order.lines.get()
    assert order.status == S.ALLOCATED and (line.allocated_quantity, line.backordered_quantity) == (
        3,
        0,
    )
    assert level(sku, warehouse).allocated == 3
    assert order.events.filter(kind="backorder_filled").count() == 2
    assert allocated_calls == [(order.number, [3])]


# ----------------------------------------------------------------------------- fulfillment


def test_shipments_then_delivery(channel, warehouse, system_actor):
    a, b = stocked_sku(warehouse=warehouse), stocked_sku(warehouse=warehouse)
    order = place_order(channel=channel, lines=[(a, 2), (b, 1)])
    la, lb = order.lines.order_by("line_no")
    order = order_record_shipment(
        order=order, quantities={la.pk: 2}, actor=system_actor, reference="shp-1"
    )
    assert order.status == S.PARTIALLY_FULFILLED
    with pytest.raises(ApplicationError) as exc:
        order_record_shipment(order=order, quantities={lb.pk: 2}, actor=system_actor)
    assert exc.value.code == "nothing_to_ship"
    with pytest.raises(InvalidTransition):
        order_record_delivery(order=order, actor=system_actor)
    order = order_record_shipment(
        order=order, quantities={lb.pk: 1}, actor=system_actor, reference="shp-2"
    )
    assert order.status == S.FULFILLED
    la.refresh_from_db()
    assert (la.allocated_quantity, la.shipped_quantity) == (0, 2)
    order = order_record_delivery(order=order, actor=system_actor, all_delivered=False)
    assert order.status == S.FULFILLED
    order = order_record_delivery(order=order, actor=system_actor)
    assert order.status == S.DELIVERED
    assert order.events.filter(kind="shipment").count() == 2


def test_returns_partial_then_full_with_refund_amounts(
    channel, warehouse, system_actor, refunds, django_capture_on_commit_callbacks
):
    sku = stocked_sku(price=1000, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 3)], delivery_option="pickup")
    line = order.lines.get()
    order_record_shipment(order=order, quantities={line.pk: 3}, actor=system_actor)
    order_record_delivery(order=order, actor=system_actor)
    with django_capture_on_commit_callbacks(execute=True):
        order = order_record_return(
            order=order, quantities={line.pk: 1}, actor=system_actor, reason="damaged"
        )
    assert order.status == S.PARTIALLY_RETURNED and refunds[-1]["amount"] == 1000
    with pytest.raises(ApplicationError) as exc:
        order_record_return(order=order, quantities={line.pk: 3}, actor=system_actor, reason="x")
    assert exc.value.code == "nothing_to_return"
    with django_capture_on_commit_callbacks(execute=True):
        order = order_record_return(
            order=order, quantities={line.pk: 2}, actor=system_actor, reason="unwanted"
        )
    assert order.status == S.RETURNED and refunds[-1]["amount"] == 2000
    line.refresh_from_db()
    assert line.returned_quantity == 3


def test_notes_and_recorded_events(channel, warehouse, system_actor):
    order = place_order(channel=channel, lines=[(stocked_sku(warehouse=warehouse), 1)])
    note = order_note_add(order=order, text="Gift wrap", actor=system_actor)
    assert note.kind == "note" and note.message == "Gift wrap"
    email = order_event_record(
        order=order, kind="email_sent", actor=system_actor, payload={"to": "a@b.c"}
    )
    assert email.payload == {"to": "a@b.c"}
    with pytest.raises(ApplicationError):
        order_event_record(order=order, kind="cancelled", actor=system_actor)
    with pytest.raises(ApplicationError):
        order_note_add(order=order, text=" ", actor=system_actor)


def test_the_timeline_is_append_only_in_the_database(channel, warehouse):
    from django.db import IntegrityError, transaction

    order = place_order(channel=channel, lines=[(stocked_sku(warehouse=warehouse), 1)])
    first = order.events.order_by("id").first()
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderEvent.objects.filter(pk=first.pk).update(message="rewritten")
    first.refresh_from_db()
    assert first.message == "" and first.kind == "placed"


def test_backorder_filled_on_a_partially_fulfilled_order_is_handed_to_fulfillment(
    backorder_channel, warehouse, system_actor, allocated_calls
):
    """One line shipped, the other waiting: when its stock arrives the order stays partially
    fulfilled, and fulfillment is told so the filled units get a parcel."""
    from fulfillment.models import ShipmentLine
    from inventory.services import stock_ship

    a = stocked_sku(quantity=5, warehouse=warehouse)
    b = stocked_sku(quantity=0, warehouse=warehouse)
    order = place_order(channel=backorder_channel, lines=[(a, 2), (b, 2)])
    la, lb = order.lines.order_by("line_no")
    assert order.status == S.BACKORDERED and allocated_calls == []
    stock_ship(
        line_ref=la.stock_ref,
        warehouse_id=warehouse.pk,
        quantity=2,
        reference="shp-1",
        actor=system_actor,
    )
    order = order_record_shipment(
        order=order, quantities={la.pk: 2}, actor=system_actor, reference="shp-1"
    )
    assert order.status == S.PARTIALLY_FULFILLED
    stock_receive(sku=b, warehouse=warehouse, quantity=5, actor=system_actor, reference="po-9")
    order.refresh_from_db()
    assert order.status == S.PARTIALLY_FULFILLED
    assert allocated_calls == [(order.number, [0, 2])]
    assert list(
        ShipmentLine.objects.filter(order_line__order=order).values_list("order_line", "quantity")
    ) == [(lb.pk, 2)]


def test_backorder_partly_filled_on_a_backordered_order_waits_for_the_rest(
    backorder_channel, warehouse, system_actor, allocated_calls
):
    a = stocked_sku(quantity=0, warehouse=warehouse)
    b = stocked_sku(quantity=0, warehouse=warehouse)
    order = place_order(channel=backorder_channel, lines=[(a, 1), (b, 1)])
    stock_receive(sku=a, warehouse=warehouse, quantity=5, actor=system_actor)
    order.refresh_from_db()
    assert order.status == S.BACKORDERED and allocated_calls == []


def test_units_a_cancel_frees_go_to_the_oldest_waiting_backorders(
    backorder_channel, warehouse, system_actor, django_capture_on_commit_callbacks
):
    """Once the cancel commits, inventory's backorder sweep gives the freed units to the
    orders waiting for them, oldest first (one sweep for the whole cancel)."""
    from inventory.selectors import stock_drift
    from inventory.services.allocation import _offer_freed_stock

    sku = stocked_sku(quantity=3, warehouse=warehouse)
    other = stocked_sku(quantity=5, warehouse=warehouse)
    first = place_order(channel=backorder_channel, lines=[(sku, 3), (other, 1)])
    waiting = place_order(channel=backorder_channel, lines=[(sku, 2)])
    later = place_order(channel=backorder_channel, lines=[(sku, 2)])
    assert (first.status, waiting.status, later.status) == (
        S.ALLOCATED,
        S.BACKORDERED,
        S.BACKORDERED,
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        order_cancel(order=first, reason="not needed", actor=system_actor)

    assert sum(getattr(c, "func", None) is _offer_freed_stock for c in callbacks) == 1
    waiting.refresh_from_db()
    later.refresh_from_db()
    assert waiting.status == S.ALLOCATED
    assert waiting.lines.get().allocated_quantity == 2
    assert later.status == S.BACKORDERED
    line = later.lines.get()
    assert (line.allocated_quantity, line.backordered_quantity) == (1, 1)
    assert level(sku, warehouse).allocated == 3 and level(other, warehouse).allocated == 0
    assert waiting.events.filter(kind="backorder_filled").count() == 1
    assert stock_drift() == []


def test_a_cancel_that_frees_no_stock_asks_for_no_sweep(
    backorder_channel, warehouse, system_actor, django_capture_on_commit_callbacks
):
    from inventory.services.allocation import _offer_freed_stock

    sku = stocked_sku(quantity=0, warehouse=warehouse)
    order = place_order(channel=backorder_channel, lines=[(sku, 2)])  # backordered only
    with django_capture_on_commit_callbacks() as callbacks:
        order_cancel(order=order, reason="too slow", actor=system_actor)
    assert not any(getattr(c, "func", None) is _offer_freed_stock for c in callbacks)
