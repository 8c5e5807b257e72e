"""A cancel racing a shipment on the same order, over two real PostgreSQL connections."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from oms.core.actors import Actor
from oms.core.errors import InvalidTransition
from orders.models import Order, OrderStatus
from orders.services import order_cancel, order_record_shipment
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
