"""Subscription-aware demand forecast.

For each SKU: the units that upcoming demand (registered providers in
``inventory.hooks.renewal_demand`` — the subscriptions app registers one for renewals)
will need over the next N days, set against available stock per warehouse. Bundles are
expanded to their physical components; non-physical SKUs are left out. A SKU is flagged
short on the first date its cumulative demand exceeds its usable stock: available
(on hand − allocated) over active warehouses, minus their safety stock."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils import timezone

from . import hooks
from .models import BundleComponent, Sku, StockLevel


@dataclass(slots=True)
class SkuForecast:
    sku_id: int
    code: str
    name: str
    demand: int = 0
    demand_by_date: dict[datetime.date, int] = field(default_factory=dict)
    available: int = 0
    safety_stock: int = 0
    available_by_warehouse: dict[str, int] = field(default_factory=dict)
    short_on: datetime.date | None = None

    @property
    def usable(self) -> int:
        return max(0, self.available - self.safety_stock)

    @property
    def shortfall(self) -> int:
        return max(0, self.demand - self.usable)

    @property
    def is_short(self) -> bool:
        return self.short_on is not None


def collect_demand(
    start: datetime.date, end: datetime.date
) -> Iterable[tuple[int, datetime.date, int]]:
    for provider in list(hooks.renewal_demand):
        for sku_id, day, quantity in provider(start, end):
            if start <= day <= end and quantity > 0:
                yield sku_id, day, quantity


def demand_forecast(
    *, days: int = 30, start: datetime.date | None = None, only_short: bool = False
) -> list[SkuForecast]:
    """Forecast for ``days`` days from ``start`` (today by default), shortest first:
    SKUs that run short soonest come first, then the rest by code. Four queries."""
    start = start or timezone.localdate()
    end = start + datetime.timedelta(days=days - 1)
    raw: dict[tuple[int, datetime.date], int] = defaultdict(int)
    for sku_id, day, quantity in collect_demand(start, end):
        raw[(sku_id, day)] += quantity

    ordered = {sku_id for sku_id, _ in raw}
    parts: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for bundle_id, component_id, quantity in BundleComponent.objects.filter(
        bundle_id__in=ordered, component__is_physical=True
    ).values_list("bundle_id", "component_id", "quantity"):
        parts[bundle_id].append((component_id, quantity))
    kinds = {
        pk: (physical, bundle)
        for pk, physical, bundle in Sku.objects.filter(pk__in=ordered)
        .values_list("pk", "is_physical", "is_bundle")
        .order_by()
    }

    demand: dict[int, dict[datetime.date, int]] = defaultdict(lambda: defaultdict(int))
    for (sku_id, day), quantity in raw.items():
        physical, bundle = kinds.get(sku_id, (False, False))
        if bundle:
            for component_id, per in parts.get(sku_id, []):
                demand[component_id][day] += per * quantity
        elif physical:
            demand[sku_id][day] += quantity

    forecasts = {
        sku.pk: SkuForecast(sku_id=sku.pk, code=sku.code, name=sku.name)
        for sku in Sku.objects.filter(pk__in=demand.keys())
    }
    for level in (
        StockLevel.objects.filter(sku_id__in=forecasts.keys(), warehouse__is_active=True)
        .select_related("warehouse")
        .order_by("warehouse__priority", "warehouse_id")
    ):
        forecast = forecasts[level.sku_id]
        forecast.available += level.available
        forecast.safety_stock += level.safety_stock
        forecast.available_by_warehouse[level.warehouse.code] = level.available

    for sku_id, by_day in demand.items():
        forecast = forecasts[sku_id]
        forecast.demand_by_date = dict(sorted(by_day.items()))
        running = 0
        for day, quantity in forecast.demand_by_date.items():
            running += quantity
            if forecast.short_on is None and running > forecast.usable:
                forecast.short_on = day
        forecast.demand = running

    rows = [f for f in forecasts.values() if f.is_short or not only_short]
    return sorted(rows, key=lambda f: (f.short_on is None, f.short_on or end, f.code))
