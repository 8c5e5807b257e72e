import pytest
from django.db import IntegrityError, transaction

from inventory.models import SkuPrice, StockLevel, StockMovement
from tests.factories.inventory import SkuFactory, WarehouseFactory, bundle_sku, stock_on_hand

pytestmark = pytest.mark.django_db


def test_factories_build_a_priced_sku_with_stock():
    sku = SkuFactory()
    warehouse = WarehouseFactory()
    level = stock_on_hand(sku=sku, warehouse=warehouse, quantity=7)
    assert SkuPrice.objects.get(sku=sku, currency="USD").amount == 2500
    assert level.available == 7
    assert StockMovement.objects.get(sku=sku).on_hand_after == 7


def test_bundle_helper_links_components():
    a, b = SkuFactory(), SkuFactory()
    box = bundle_sku([(a, 2), (b, 1)])
    assert box.is_bundle
    assert {(c.component_id, c.quantity) for c in box.components.all()} == {(a.pk, 2), (b.pk, 1)}


def test_database_refuses_allocated_above_on_hand():
    level = stock_on_hand(sku=SkuFactory(), warehouse=WarehouseFactory(), quantity=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(pk=level.pk).update(allocated=6)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(pk=level.pk).update(on_hand=-1, allocated=0)
    level.refresh_from_db()
    assert (level.on_hand, level.allocated) == (5, 0)
