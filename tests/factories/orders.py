"""Order helpers for tests: orders are placed through the real intake service so every test
order has lines, allocation and a timeline that match production."""

from __future__ import annotations

from typing import Any

import factory

from customers.models import Customer
from inventory.models import Sku, Warehouse
from oms.core.actors import Actor
from oms.core.models import Channel
from orders.models import Order
from orders.services import order_place
from tests.factories.core import ChannelFactory
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


class OrderFactory(factory.django.DjangoModelFactory):
    """A bare order row (no lines, no stock) for status-table tests. Real orders come from
    ``place_order``."""

    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"SO-2026-9{n:05d}")
    channel = factory.SubFactory(ChannelFactory)
    customer = factory.SubFactory(CustomerFactory)
    currency = "USD"
    shipping_address = ADDRESS
    billing_address = ADDRESS
