"""Order helpers for tests: orders are placed through the real intake service so every test
order has lines, allocation and a timeline that match production."""

from __future__ import annotations

from typing import Any

from customers.models import Customer
from inventory.models import Sku, Warehouse
from oms.core.actors import Actor
from oms.core.models import Channel
from orders.models import Order
from orders.services import order_place
from tests.factories.customers import CustomerFactory
from tests.factories.inventory import SkuFactory, WarehouseFactory, stock_on_hand

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Analytical Way",
    "city": "Portland",
    "postal_code": "97201",
    "country": "US",
}


def stocked_sku(
    *, quantity: int = 100, price: int = 2500, warehouse: Warehouse | None = None, **kwargs: Any
) -> Sku:
    sku = SkuFactory(price=price, **kwargs)
    stock_on_hand(sku=sku, warehouse=warehouse or WarehouseFactory(code="main"), quantity=quantity)
    return sku


def place_order(
    *,
    channel: Channel,
    lines: list[tuple[Sku, int]] | None = None,
    customer: Customer | None = None,
    actor: Actor | None = None,
    **kwargs: Any,
) -> Order:
    lines = lines if lines is not None else [(stocked_sku(), 1)]
    return order_place(
        channel=channel,
        customer=customer or CustomerFactory(),
        lines=[{"sku": sku.code, "quantity": qty} for sku, qty in lines],
        shipping_address=kwargs.pop("shipping_address", ADDRESS),
        actor=actor or Actor.for_channel(channel),
        **kwargs,
    )
