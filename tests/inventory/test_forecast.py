import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from inventory import hooks
from inventory.forecast import demand_forecast
from inventory.services import AllocationLine, stock_allocate
from tests.factories.inventory import SkuFactory, WarehouseFactory, bundle_sku, stock_on_hand

pytestmark = pytest.mark.django_db

START = datetime.date(2026, 12, 1)


@pytest.fixture
def demand():
    entries = []

    def provider(start, end):
        return [e for e in entries if start <= e[1] <= end]

    hooks.register_renewal_demand(provider)
    yield entries
    hooks.renewal_demand.remove(provider)


def day(n):
    return START + datetime.timedelta(days=n)


def test_forecast_flags_the_day_stock_runs_out(demand, system_actor):
    coffee, mug = SkuFactory(code="COFFEE"), SkuFactory(code="MUG")
    saas = SkuFactory(code="APP", is_physical=False)
    box = bundle_sku([(coffee, 2), (mug, 1), (saas, 1)], code="BOX")
    us, eu = WarehouseFactory(code="us", priority=1), WarehouseFactory(code="eu", priority=2)
    lv = stock_on_hand(sku=coffee, warehouse=us, quantity=10)
    lv.safety_stock = 2
    lv.save()
    stock_on_hand(sku=coffee, warehouse=eu, quantity=4)
    stock_on_hand(sku=mug, warehouse=us, quantity=50)
    stock_allocate(lines=[AllocationLine("x", coffee.pk, 2)], reference="o", actor=system_actor)
    # coffee: 14 on hand, 2 allocated, safety 2 -> 10 usable
    demand += [
        (box.pk, day(0), 2),  # 4 coffee, 2 mugs
        (coffee.pk, day(3), 3),  # 7 coffee
        (box.pk, day(5), 1),  # 9 coffee
        (box.pk, day(9), 1),  # 11 coffee -> short on day 9
        (box.pk, day(40), 50),  # beyond the horizon
        (saas.pk, day(1), 9),
    ]
    rows = demand_forecast(days=30, start=START)
    assert [r.code for r in rows] == ["COFFEE", "MUG"]
    coffee_row, mug_row = rows
    assert coffee_row.demand == 11
    assert (coffee_row.available, coffee_row.safety_stock, coffee_row.usable) == (12, 2, 10)
    assert coffee_row.available_by_warehouse == {"us": 8, "eu": 4}
    assert coffee_row.short_on == day(9)
    assert coffee_row.shortfall == 1
    assert coffee_row.demand_by_date[day(0)] == 4
    assert (mug_row.demand, mug_row.short_on) == (4, None)
    assert [r.code for r in demand_forecast(days=30, start=START, only_short=True)] == ["COFFEE"]
    # A shorter horizon sees no shortage.
    assert demand_forecast(days=9, start=START, only_short=True) == []


def test_forecast_with_no_provider_is_empty():
    assert demand_forecast(days=30) == []


def test_forecast_command_prints_short_skus(demand, capsys):
    sku = SkuFactory(code="TEA")
    stock_on_hand(sku=sku, warehouse=WarehouseFactory(), quantity=1)
    today = timezone.localdate()
    demand.append((sku.pk, today + datetime.timedelta(days=2), 3))
    call_command("stock_forecast", "--days", "10", "--short")
    out = capsys.readouterr().out
    assert "TEA" in out and str(today + datetime.timedelta(days=2)) in out
