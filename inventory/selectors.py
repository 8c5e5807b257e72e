"""Inventory reads: SKUs with availability, stock levels, the ledger, drift checks."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Prefetch, Q, QuerySet, Sum

from oms.core.models import Channel

from .models import (
    Backorder,
    BackorderStatus,
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
    """SKUs with prices and their stock levels at the warehouses serving ``channel``
    (``stock_levels`` prefetched with the warehouse), plus ``total_on_hand`` and
    ``total_allocated`` over those warehouses. Three queries for any page."""
    warehouses = warehouse_list_for_channel(channel=channel).values("pk")
    levels = (
        StockLevel.objects.filter(warehouse__in=warehouses)
        .select_related("warehouse")
        .order_by("warehouse__priority", "warehouse_id")
    )
    in_scope = Q(stock_levels__warehouse__in=warehouses)
    return (
        Sku.objects.select_related("product")
        .prefetch_related("prices", Prefetch("stock_levels", queryset=levels))
        .annotate(
            total_on_hand=Sum("stock_levels__on_hand", filter=in_scope, default=0),
            total_allocated=Sum("stock_levels__allocated", filter=in_scope, default=0),
        )
        .order_by("code")
    )


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
