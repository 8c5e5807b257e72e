from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from tests.factories.core import ChannelFactory
from tests.factories.fulfillment import CarrierFactory
from tests.factories.inventory import SkuFactory, WarehouseFactory, stock_on_hand
from tests.factories.orders import place_order


@pytest.fixture
def shop(db: Any) -> Any:
    return ChannelFactory(code="shop")


@pytest.fixture
def east(db: Any) -> Any:
    return WarehouseFactory(code="east", priority=1, cutoff_time=time(15, 0))


@pytest.fixture
def west(db: Any) -> Any:
    return WarehouseFactory(code="west", priority=2, cutoff_time=time(12, 0))


@pytest.fixture
def manual_carrier(db: Any) -> Any:
    return CarrierFactory(code="post")


@pytest.fixture
def stocked(east: Any) -> Any:
    """``stocked(quantity, warehouse=east)`` → a SKU with that many units on hand."""

    def make(quantity: int = 10, *, warehouse: Any = None, price: int = 2500) -> Any:
        sku = SkuFactory(price=price)
        stock_on_hand(sku=sku, warehouse=warehouse or east, quantity=quantity)
        return sku

    return make


@pytest.fixture
def order_for(shop: Any) -> Any:
    """``order_for([(sku, qty), ...])`` → an allocated order placed through intake."""

    def make(lines: list[tuple[Any, int]], **kwargs: Any) -> Any:
        from orders.models import Order

        order = place_order(channel=kwargs.pop("channel", shop), lines=lines, **kwargs)
        # Intake hands back the order with its lines cached as a list; read it afresh.
        return Order.objects.get(pk=order.pk)

    return make
