"""Renewal fixtures: a catalog with stock in two warehouses, box plans, due subscriptions and
the in-process payment gateway (localstripe for the end-to-end test: tests/billing/conftest)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from tests.billing.conftest import localstripe_server, stripe_gateway, stripe_settings  # noqa: F401

D = dt.date


@pytest.fixture
def gateway() -> Iterator[Any]:
    from billing.gateway import InProcessGateway, use_gateway

    gw = InProcessGateway()
    with use_gateway(gw):
        yield gw


@pytest.fixture
def catalog(db: Any) -> dict[str, Any]:
    """Two SKUs with 100 units each spread over two warehouses, and one SKU with no stock."""
    from tests.factories.inventory import SkuFactory, WarehouseFactory, stock_on_hand

    east = WarehouseFactory(code="east", priority=10)
    west = WarehouseFactory(code="west", priority=20)
    beans = SkuFactory(code="BEANS", price=1200)
    filters = SkuFactory(code="FILTERS", price=300)
    rare = SkuFactory(code="RARE", price=900)
    for sku in (beans, filters):
        stock_on_hand(sku=sku, warehouse=east, quantity=60)
        stock_on_hand(sku=sku, warehouse=west, quantity=40)
    return {"beans": beans, "filters": filters, "rare": rare, "east": east, "west": west}


@pytest.fixture
def box_plan(catalog: dict[str, Any]) -> Any:
    from tests.factories.subscriptions import make_plan

    return make_plan(
        price=2500, items=[(catalog["beans"], 1), (catalog["filters"], 2)], interval_unit="month",
        name="Coffee box",
    )  # fmt: skip


def subscribe(
    plan: Any, *, start: dt.date | None = None, card: str = "pm_card_visa", **kwargs: Any
) -> Any:
    """A subscription started on ``start`` whose first renewal is one interval later."""
    from tests.factories.subscriptions import make_subscription

    start = start or D(2026, 1, 15)
    return make_subscription(
        plan=plan, start_date=start, today=start, payment_method=card, **kwargs
    )
