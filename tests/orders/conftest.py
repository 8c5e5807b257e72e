from __future__ import annotations

from typing import Any

import pytest

from orders import hooks


@pytest.fixture
def warehouse(db: Any) -> Any:
    from tests.factories.inventory import WarehouseFactory

    return WarehouseFactory(code="main")


@pytest.fixture
def customer(db: Any) -> Any:
    from tests.factories.customers import CustomerFactory

    return CustomerFactory()


@pytest.fixture
def backorder_channel(db: Any) -> Any:
    from tests.factories.core import ChannelFactory

    return ChannelFactory(code="partner", allow_backorders=True)


@pytest.fixture
def allocated_calls() -> Any:
    """Registers order_allocated and orders_placed (intake) callbacks for the test and returns
    the orders they saw, with their lines' allocated units."""
    seen: list[Any] = []

    def callback(*, order: Any, actor: Any) -> None:
        seen.append((order.number, [line.allocated_quantity for line in order.lines.all()]))

    def placed_callback(*, placed: Any, actor: Any, writes: Any) -> None:
        for item in placed:
            seen.append((item.order.number, [line.allocated_quantity for line in item.lines]))

    hooks.order_allocated.register(callback)
    hooks.orders_placed.register(placed_callback)
    yield seen
    hooks.order_allocated.unregister(callback)
    hooks.orders_placed.unregister(placed_callback)


@pytest.fixture
def without_upper_hooks() -> Any:
    """Measure orders (and inventory) alone: the callbacks apps above registered (fulfillment's
    order_allocated, billing's tax calculator) are set aside for the test."""
    saved = {
        registry: list(registry)
        for registry in (hooks.order_allocated, hooks.orders_placed, hooks.tax_calculator)
    }
    for registry, callbacks in saved.items():
        for callback in callbacks:
            registry.unregister(callback)
    yield
    for registry, callbacks in saved.items():
        for callback in callbacks:
            registry.register(callback)


@pytest.fixture
def refunds() -> Any:
    """Registers a refund requester (billing's role) and returns the requests it got."""
    asked: list[dict[str, Any]] = []

    def requester(*, order: Any, amount: Any, reason: str, actor: Any) -> None:
        asked.append({"order": order.number, "amount": amount, "reason": reason})

    hooks.refund_requester.register(requester)
    yield asked
    hooks.refund_requester.unregister(requester)


def level(sku: Any, warehouse: Any) -> Any:
    from inventory.models import StockLevel

    return StockLevel.objects.get(sku=sku, warehouse=warehouse)
