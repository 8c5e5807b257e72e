"""A cancel racing a shipment on the same order, over two real PostgreSQL connections."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from inventory import hooks as inventory_hooks
from inventory.models import Backorder
from inventory.selectors import stock_drift
from inventory.services import stock_receive
from oms.core.actors import Actor
from oms.core.errors import InvalidTransition
from orders.models import Order, OrderStatus
from orders.services import order_cancel, order_record_shipment
from tests.concurrency import backend_pid, race, wait_until_blocked
from tests.factories.core import ChannelFactory
from tests.factories.inventory import WarehouseFactory
from tests.factories.orders import place_order, stocked_sku
from tests.orders.conftest import level


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_cancel_vs_shipment_exactly_one_wins(round_):
    warehouse = WarehouseFactory()
    sku = stocked_sku(quantity=10, warehouse=warehouse)
    order = place_order(channel=ChannelFactory(), lines=[(sku, 2)])
    line = order.lines.get()
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def run(name, call):
        try:
            barrier.wait()
            call()
            outcomes[name] = "ok"
        except InvalidTransition as exc:
            outcomes[name] = exc
        except Exception as exc:  # noqa: BLE001 - anything else is a failure below
            outcomes[name] = repr(exc)
        finally:
            connection.close()

    actor = Actor.system("race")
    cancel = threading.Thread(
        target=run,
        args=("cancel", lambda: order_cancel(order=Order(pk=order.pk), reason="race", actor=actor)),
    )
    ship = threading.Thread(
        target=run,
        args=(
            "ship",
            lambda: order_record_shipment(
                order=Order(pk=order.pk), quantities={line.pk: 2}, actor=actor
            ),
        ),
    )
    cancel.start()
    ship.start()
    cancel.join()
    ship.join()

    winners = [name for name, outcome in outcomes.items() if outcome == "ok"]
    losers = [outcome for outcome in outcomes.values() if isinstance(outcome, InvalidTransition)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    order.refresh_from_db()
    line.refresh_from_db()
    if winners == ["cancel"]:
        assert order.status == OrderStatus.CANCELLED
        assert losers[0].current == OrderStatus.CANCELLED
        assert (line.shipped_quantity, line.cancelled_quantity) == (0, 2)
        assert level(sku, warehouse).allocated == 0
    else:
        assert order.status == OrderStatus.FULFILLED
        assert (
            losers[0].current == OrderStatus.FULFILLED and losers[0].target == OrderStatus.CANCELLED
        )
        assert (line.shipped_quantity, line.cancelled_quantity) == (2, 0)
        assert (
            level(sku, warehouse).allocated == 2
        )  # fulfillment's stock_ship moves it, not the cancel
    assert order.events.filter(kind__in=["cancelled", "shipment"]).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("victim", ["cancel", "receipt"])
def test_receipt_filling_a_backorder_while_the_order_is_cancelled_both_complete(
    monkeypatch, victim
):
    """The lock-order inversion between a receipt and a cancel: the receipt holds its SKU
    and stock rows, then (filling the backorder) locks the order; the cancel holds the order,
    then releases its stock. Forced here with real connections, so PostgreSQL finds the
    deadlock and aborts the one that waited first: ``victim`` is made to wait first (the
    cancel on the receipt's SKU lock, or the receipt on the cancel's order lock). The victim
    runs again once the other commits: both complete, and the stock is whole."""
    from orders.services import lifecycle

    warehouse = WarehouseFactory()
    sku = stocked_sku(quantity=1, warehouse=warehouse)
    order = place_order(channel=ChannelFactory(allow_backorders=True), lines=[(sku, 3)])
    assert order.status == OrderStatus.BACKORDERED
    actor = Actor.system("race")
    backends: dict[str, list[int]] = {"cancel": [], "receipt": []}
    first_holds = threading.Event()
    paused: list[bool] = []

    def pause_once(other: str):
        """Hold this side's first locks until the other side waits on them."""
        if paused:  # only the first attempt pauses
            return
        paused.append(True)
        first_holds.set()
        wait_until_blocked(backends[other], other)

    if victim == "cancel":  # the receipt locks first; the cancel waits first
        monkeypatch.setattr(
            inventory_hooks,
            "backorder_filled",
            [lambda *fill: pause_once("cancel"), *inventory_hooks.backorder_filled],
        )
    else:  # the cancel locks the order first; the receipt waits on it first

        def release_after_pause(**kwargs):
            pause_once("receipt")
            return real_release(**kwargs)

        real_release = lifecycle.stock_release
        monkeypatch.setattr(lifecycle, "stock_release", release_after_pause)
    calls = {
        "receipt": lambda: stock_receive(sku=sku, warehouse=warehouse, quantity=5, actor=actor),
        "cancel": lambda: order_cancel(
            order=Order(pk=order.pk), reason="changed my mind", actor=actor
        ),
    }

    def side(name, call):
        def go():
            backends[name].append(backend_pid())
            if name == victim:
                assert first_holds.wait(timeout=30)
            call()

        return go

    outcomes = race({name: side(name, call) for name, call in calls.items()})

    assert outcomes == {"receipt": "ok", "cancel": "ok"}
    order.refresh_from_db()
    line = order.lines.get()
    assert order.status == OrderStatus.CANCELLED
    assert (line.allocated_quantity, line.backordered_quantity, line.cancelled_quantity) == (
        0,
        0,
        3,
    )
    stock = level(sku, warehouse)
    assert (stock.on_hand, stock.allocated) == (6, 0)
    assert not Backorder.objects.filter(status="open").exists()
    assert stock_drift() == []
