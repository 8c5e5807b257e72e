"""Shipping a parcel racing a receipt that fills the same order's backorder, over two real
PostgreSQL connections."""

from __future__ import annotations

import threading

import pytest

from fulfillment import services
from fulfillment.models import ShipmentStatus
from inventory import hooks as inventory_hooks
from inventory.selectors import stock_drift
from inventory.services import stock_receive
from orders.models import OrderStatus
from tests.concurrency import backend_pid, race, wait_until_blocked
from tests.factories.core import ChannelFactory
from tests.fulfillment.helpers import ACTOR, pack
from tests.orders.conftest import level


@pytest.mark.django_db(transaction=True)
def test_shipping_while_a_receipt_fills_the_orders_backorder_both_complete(
    monkeypatch, stocked, east, manual_carrier, order_for
):
    """The receipt holds the SKU's stock row, then (filling the backorder) locks the order;
    shipping holds the order, then moves the same stock row. The receipt pauses until the
    parcel waits on it, so PostgreSQL aborts the shipping as the deadlock's victim; it runs
    again once the receipt commits."""
    sku = stocked(1)
    order = order_for([(sku, 3)], channel=ChannelFactory(allow_backorders=True))
    line = order.lines.get()
    assert order.status == OrderStatus.BACKORDERED
    parcel = services.shipment_create_manual(
        order=order, warehouse=east, lines={line.pk: 1}, actor=ACTOR
    )
    pack(parcel)
    ship_backend: list[int] = []
    receipt_holds_stock = threading.Event()
    paused: list[bool] = []

    def pause_until_the_parcel_waits(*fill):
        if paused:
            return
        paused.append(True)
        receipt_holds_stock.set()
        wait_until_blocked(ship_backend, "shipping")

    monkeypatch.setattr(
        inventory_hooks,
        "backorder_filled",
        [pause_until_the_parcel_waits, *inventory_hooks.backorder_filled],
    )

    def ship():
        ship_backend.append(backend_pid())
        assert receipt_holds_stock.wait(timeout=30)
        services.shipment_ship(
            shipment=parcel, carrier=manual_carrier, tracking_number="RACE-1", actor=ACTOR
        )

    outcomes = race(
        {
            "receipt": lambda: stock_receive(sku=sku, warehouse=east, quantity=5, actor=ACTOR),
            "ship": ship,
        }
    )

    assert outcomes == {"receipt": "ok", "ship": "ok"}
    parcel.refresh_from_db()
    line.refresh_from_db()
    assert parcel.status == ShipmentStatus.SHIPPED
    assert (line.shipped_quantity, line.allocated_quantity, line.backordered_quantity) == (1, 2, 0)
    stock = level(sku, east)
    assert (stock.on_hand, stock.allocated) == (5, 2)  # 1 + 5 received, 1 shipped
    assert stock_drift() == []
