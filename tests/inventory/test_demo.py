import random

import pytest
from django.core.management.base import BaseCommand

from inventory import demo
from inventory.models import Sku, StockLevel, StockMovement, Warehouse
from inventory.selectors import stock_drift
from oms.core.management.commands.demo import DemoContext

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_ledger_backed():
    ctx = DemoContext(command=BaseCommand(), rng=random.Random(1))
    demo.seed(ctx)
    counts = (Sku.objects.count(), Warehouse.objects.count(), StockMovement.objects.count())
    assert counts[0] >= 40 and counts[1] == 3
    box = Sku.objects.get(code="BOX-MONTHLY")
    assert box.is_bundle and box.components.count() == 5
    assert set(box.prices.values_list("currency", flat=True)) == {"USD", "EUR"}
    assert StockLevel.objects.filter(on_hand__gt=0).exists()
    assert stock_drift() == []
    demo.seed(DemoContext(command=BaseCommand(), rng=random.Random(2)))
    assert (Sku.objects.count(), Warehouse.objects.count(), StockMovement.objects.count()) == counts
    assert ctx.shared["subscription_box"] == box
