"""Catalog, warehouse and stock factories.

``stock_on_hand(sku=, warehouse=, quantity=)`` puts units on hand the way a receipt does (a
stock level plus a ``receipt`` ledger row), so the ledger invariant holds in every test."""

from __future__ import annotations

from typing import Any

import factory

from inventory.models import (
    BundleComponent,
    MovementKind,
    Product,
    Sku,
    SkuPrice,
    StockLevel,
    StockMovement,
    Warehouse,
)
from oms.core.actors import Actor


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")


class SkuFactory(factory.django.DjangoModelFactory):
    """A physical SKU with a USD price (``price__amount=2500`` / ``price=None`` to skip)."""

    class Meta:
        model = Sku
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    product = factory.SubFactory(ProductFactory)
    code = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.LazyAttribute(lambda o: f"{o.product.name} ({o.code})")
    is_physical = True
    weight_grams = 500

    @factory.post_generation
    def price(obj: Sku, create: bool, extracted: Any, **kwargs: Any) -> None:  # noqa: N805
        if not create or extracted is False:
            return
        amount = extracted if isinstance(extracted, int) else kwargs.get("amount", 2500)
        currency = kwargs.get("currency", "USD")
        SkuPrice.objects.get_or_create(sku=obj, currency=currency, defaults={"amount": amount})


class SkuPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SkuPrice

    sku = factory.SubFactory(SkuFactory, price=False)
    currency = "EUR"
    amount = 2300


class BundleComponentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BundleComponent

    bundle = factory.SubFactory(SkuFactory, is_bundle=True)
    component = factory.SubFactory(SkuFactory)
    quantity = 1


def bundle_sku(components: list[tuple[Sku, int]], **kwargs: Any) -> Sku:
    """A bundle SKU made of ``[(component_sku, quantity), ...]``."""
    bundle = SkuFactory(is_bundle=True, **kwargs)
    for component, quantity in components:
        BundleComponent.objects.create(bundle=bundle, component=component, quantity=quantity)
    return bundle


class WarehouseFactory(factory.django.DjangoModelFactory):
    """Active, ships anywhere, serves every channel, priority 100."""

    class Meta:
        model = Warehouse
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"wh-{n}")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")
    country = "US"
    priority = 100


class StockLevelFactory(factory.django.DjangoModelFactory):
    """A bare stock level (no ledger rows) — for 0 units; use ``stock_on_hand`` for N > 0."""

    class Meta:
        model = StockLevel
        django_get_or_create = ("sku", "warehouse")

    sku = factory.SubFactory(SkuFactory)
    warehouse = factory.SubFactory(WarehouseFactory)


def stock_on_hand(
    *, sku: Sku, warehouse: Warehouse, quantity: int, reorder_point: int = 0
) -> StockLevel:
    """Receive ``quantity`` units directly (a stock level and a receipt ledger row), without
    the side effects of the receipt service (no backorder filling, no alerts)."""
    level, _ = StockLevel.objects.get_or_create(sku=sku, warehouse=warehouse)
    level.on_hand += quantity
    level.reorder_point = reorder_point
    level.save(update_fields=["on_hand", "reorder_point", "updated_at"])
    if quantity:
        StockMovement.objects.create(
            sku=sku,
            warehouse=warehouse,
            kind=MovementKind.RECEIPT,
            quantity=quantity,
            on_hand_after=level.on_hand,
            allocated_after=level.allocated,
            reason="test stock",
            **Actor.system("tests").as_fields(),
        )
    return level
