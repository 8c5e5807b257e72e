import pytest
from django.core.management import CommandError, call_command

from inventory.models import StockLevel
from inventory.services import AllocationLine, stock_allocate, stock_receive
from tests.factories.inventory import SkuFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


def test_verify_stock_passes_then_reports_drift(system_actor, capsys):
    sku, wh = SkuFactory(code="DRIFTY"), WarehouseFactory()
    stock_receive(sku=sku, warehouse=wh, quantity=5, actor=system_actor)
    stock_allocate(lines=[AllocationLine("l1", sku.pk, 2)], reference="o:1", actor=system_actor)
    call_command("verify_stock")
    assert "1 stock level(s) match" in capsys.readouterr().out

    StockLevel.objects.filter(sku=sku).update(on_hand=6)  # a write that bypassed the ledger
    with pytest.raises(CommandError, match="1 of 1"):
        call_command("verify_stock")
    out = capsys.readouterr().out
    assert f"sku={sku.pk}" in out and "on_hand 6 vs ledger 5" in out
