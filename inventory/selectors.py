"""Inventory reads: SKUs with availability, stock levels, the ledger, drift checks."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Prefetch, Q, QuerySet, Sum

from oms.core.models import Channel

from .models import (
    Allocation,
    Backorder,
    BackorderStatus,
    BundleComponent,
    Sku,
    StockEvent,
    StockLevel,
    StockMovement,
    Transfer,
    Warehouse,
)


def warehouse_list_for_channel(*, channel: Channel | None) -> QuerySet[Warehouse]:
    """Active warehouses that serve ``channel`` (those listing no channel serve all)."""
    queryset = Warehouse.objects.filter(is_active=True)
    if channel is not None:
        queryset = queryset.filter(Q(channels__isnull=True) | Q(channels=channel)).distinct()
    return queryset.order_by("priority", "id")


def sku_list_with_availability(*, channel: Channel | None = None) -> QuerySet[Sku]:
    """SKUs with prices, bundle components and stock levels at the warehouses serving
    ``channel`` (prefetched with the warehouse); ``sku_availability`` reads them. Six
    queries for any page size."""
    warehouses = warehouse_list_for_channel(channel=channel).values("pk")
    levels = (
        StockLevel.objects.filter(warehouse__in=warehouses)
        .select_related("warehouse")
        .order_by("warehouse__priority", "warehouse_id")
    )
    components = BundleComponent.objects.filter(component__is_physical=True).select_related(
        "component"
    )
    return Sku.objects.select_related("product").prefetch_related(
        "prices",
        Prefetch("stock_levels", queryset=levels),
        Prefetch("components", queryset=components),
        Prefetch("components__component__stock_levels", queryset=levels),
    )


@dataclass(frozen=True, slots=True)
class WarehouseAvailability:
    warehouse_id: int
    warehouse_code: str
    on_hand: int
    allocated: int
    available: int


def sku_availability(sku: Sku) -> list[WarehouseAvailability] | None:
    """Per-warehouse stock of a SKU from the prefetches of ``sku_list_with_availability``.
    A bundle's availability is the number of whole bundles its components make at each
    warehouse. None for SKUs that need no stock (unlimited)."""
    if sku.is_bundle:
        parts = list(sku.components.all())
        if not parts:
            return None
        per_warehouse: dict[int, tuple[str, int]] = {}
        counted: dict[int, int] = {}
        for part in parts:
            for level in part.component.stock_levels.all():
                units = max(level.available, 0) // part.quantity
                code = level.warehouse.code
                previous = per_warehouse.get(level.warehouse_id, (code, units))[1]
                per_warehouse[level.warehouse_id] = (code, min(previous, units))
                counted[level.warehouse_id] = counted.get(level.warehouse_id, 0) + 1
        return [
            WarehouseAvailability(wid, code, units, 0, units)
            for wid, (code, units) in per_warehouse.items()
            if counted[wid] == len(parts)
        ]
    if not sku.is_physical:
        return None
    return [
        WarehouseAvailability(
            lv.warehouse_id, lv.warehouse.code, lv.on_hand, lv.allocated, lv.available
        )
        for lv in sku.stock_levels.all()
    ]


def stock_level_list(
    *, warehouse: Warehouse | None = None, below_reorder_point: bool = False
) -> QuerySet[StockLevel]:
    queryset = StockLevel.objects.select_related("sku", "warehouse")
    if warehouse is not None:
        queryset = queryset.filter(warehouse=warehouse)
    if below_reorder_point:
        queryset = queryset.filter(reorder_point__gt=0).filter(
            on_hand__lt=F("allocated") + F("reorder_point")
        )
    return queryset


def movement_list() -> QuerySet[StockMovement]:
    return StockMovement.objects.select_related("sku", "warehouse").order_by("-created_at", "-id")


def open_backorders(*, sku: Sku | None = None) -> QuerySet[Backorder]:
    queryset = Backorder.objects.filter(status=BackorderStatus.OPEN).select_related("sku")
    if sku is not None:
        queryset = queryset.filter(sku=sku)
    return queryset.order_by("created_at", "id")


def transfer_list() -> QuerySet[Transfer]:
    return Transfer.objects.select_related("sku", "source", "destination")


def low_stock_events() -> QuerySet[StockEvent]:
    return StockEvent.objects.filter(kind="low_stock").select_related("sku", "warehouse")


@dataclass(frozen=True, slots=True)
class StockDrift:
    sku_id: int
    warehouse_id: int
    on_hand: int
    ledger_on_hand: int
    allocated: int
    ledger_allocated: int


def stock_drift() -> list[StockDrift]:
    """Every (SKU, warehouse) whose balances differ from the sum of its ledger. Two queries."""
    ledger = {
        (row["sku_id"], row["warehouse_id"]): (row["on_hand"], row["allocated"])
        for row in StockMovement.objects.values("sku_id", "warehouse_id")
        .order_by()
        .annotate(on_hand=Sum("quantity"), allocated=Sum("allocated_delta"))
    }
    drift = []
    seen = set()
    for sku_id, warehouse_id, on_hand, allocated in StockLevel.objects.values_list(
        "sku_id", "warehouse_id", "on_hand", "allocated"
    ).order_by("pk"):
        key = (sku_id, warehouse_id)
        seen.add(key)
        ledger_on_hand, ledger_allocated = ledger.get(key, (0, 0))
        if (on_hand, allocated) != (ledger_on_hand, ledger_allocated):
            drift.append(
                StockDrift(
                    sku_id, warehouse_id, on_hand, ledger_on_hand, allocated, ledger_allocated
                )
            )
    for (sku_id, warehouse_id), (ledger_on_hand, ledger_allocated) in sorted(ledger.items()):
        if (sku_id, warehouse_id) not in seen and (ledger_on_hand or ledger_allocated):
            drift.append(StockDrift(sku_id, warehouse_id, 0, ledger_on_hand, 0, ledger_allocated))
    return drift


def line_allocations(*, line_refs: list[str]) -> dict[str, dict[int, int]]:
    """What each line holds now, in the line's own units per warehouse:
    ``{line_ref: {warehouse_id: units}}`` (a bundle unit counts once all its components are
    there). One query."""
    held: dict[tuple[str, int, int], list[int]] = {}
    rows = Allocation.objects.filter(line_ref__in=line_refs, quantity__gt=0).values_list(
        "line_ref", "warehouse_id", "sku_id", "per_unit", "quantity"
    )
    for line_ref, warehouse_id, sku_id, per_unit, quantity in rows:
        entry = held.setdefault((line_ref, warehouse_id, sku_id), [per_unit, 0])
        entry[1] += quantity
    result: dict[str, dict[int, int]] = {}
    for (line_ref, warehouse_id, _), (per_unit, quantity) in held.items():
        units = quantity // per_unit
        per_line = result.setdefault(line_ref, {})
        per_line[warehouse_id] = min(per_line.get(warehouse_id, units), units)
    return result
