"""Reads for fulfillment: shipment lists for the console and API, pick lists, lateness and
what is still unplanned on an order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Prefetch, Q, QuerySet, Sum

from inventory.models import Allocation, BundleComponent, Sku
from oms.core.models import Channel
from orders.models import Order, OrderLine, OrderStatus

from .models import (
    BinLocation,
    Carrier,
    ReturnLine,
    ReturnRequest,
    Shipment,
    ShipmentEvent,
    ShipmentLine,
    TrackingEvent,
)
from .promise import business_date
from .statuses import (
    DISPATCHED_STATUSES,
    OPEN_STATUSES,
    ReturnStatus,
    ShipmentStatus,
)

# --------------------------------------------------------------------------- planning


def allocated_units(*, line_refs: Iterable[str]) -> dict[tuple[str, int], int]:
    """Line units still allocated (not shipped, not released) per (line_ref, warehouse_id).
    A bundle unit counts only where every component is allocated."""
    per_sku: dict[tuple[str, int, int], int] = defaultdict(int)
    per_unit: dict[tuple[str, int, int], int] = {}
    rows = Allocation.objects.filter(line_ref__in=list(line_refs), quantity__gt=0).values_list(
        "line_ref", "warehouse_id", "sku_id", "per_unit", "quantity"
    )
    for line_ref, warehouse_id, sku_id, unit, quantity in rows:
        per_sku[(line_ref, warehouse_id, sku_id)] += quantity
        per_unit[(line_ref, warehouse_id, sku_id)] = unit
    units: dict[tuple[str, int], int] = {}
    for key, quantity in per_sku.items():
        line_ref, warehouse_id, _ = key
        have = quantity // per_unit[key]
        pair = (line_ref, warehouse_id)
        units[pair] = min(units.get(pair, have), have)
    return units


def planned_units(*, order_line_ids: Iterable[int]) -> dict[tuple[int, int], int]:
    """Units already in shipments that have not left yet, per (order_line_id, warehouse_id)."""
    rows = (
        ShipmentLine.objects.filter(
            order_line_id__in=list(order_line_ids), shipment__status__in=OPEN_STATUSES
        )
        .values("order_line_id", "shipment__warehouse_id")
        .annotate(units=Sum("quantity"))
    )
    return {(r["order_line_id"], r["shipment__warehouse_id"]): r["units"] for r in rows}


def unplanned_units(*, order: Order) -> dict[tuple[int, int], int]:
    """Allocated units no open shipment carries yet, per (order_line_id, warehouse_id)."""
    lines = [line for line in order.lines.all() if line.is_physical]
    allocated = allocated_units(line_refs=[line.stock_ref for line in lines])
    planned = planned_units(order_line_ids=[line.pk for line in lines])
    result: dict[tuple[int, int], int] = {}
    for line in lines:
        for (ref, warehouse_id), units in allocated.items():
            if ref != line.stock_ref:
                continue
            free = units - planned.get((line.pk, warehouse_id), 0)
            if free > 0:
                result[(line.pk, warehouse_id)] = free
    return result


# --------------------------------------------------------------------------- shipments


def shipment_list() -> QuerySet[Shipment]:
    """Shipments with what list pages show; the stored label (bytes) is left in the table."""
    return (
        Shipment.objects.select_related("order", "warehouse", "carrier")
        .defer("label_data")
        .prefetch_related(
            Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line"))
        )
    )


def shipment_list_for_channel(*, channel: Channel) -> QuerySet[Shipment]:
    return shipment_list().filter(order__channel=channel)


def shipment_get_for_channel(*, channel: Channel, pk: int) -> Shipment | None:
    return shipment_list_for_channel(channel=channel).filter(pk=pk).first()


def shipment_detail(*, pk: int) -> Shipment | None:
    return (
        shipment_list()
        .defer(None)
        .select_related("order__customer")
        .prefetch_related(
            Prefetch("events", queryset=ShipmentEvent.objects.order_by("created_at", "id")),
            Prefetch(
                "tracking_events", queryset=TrackingEvent.objects.order_by("occurred_at", "id")
            ),
        )
        .filter(pk=pk)
        .first()
    )


def carrier_get(*, code: str) -> Carrier | None:
    return Carrier.objects.filter(code=code).first()


def late_filter(now: datetime) -> Q:
    """Shipments that broke their promise and are not done: still in the warehouse after
    the ship-by cut-off, or on the road after the promised delivery day."""
    today: date = business_date(now)
    return Q(status__in=OPEN_STATUSES, promised_ship_by__lt=now) & ~Q(
        order__status=OrderStatus.CANCELLED
    ) | Q(
        status__in=DISPATCHED_STATUSES
        - {ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED_TO_SENDER},
        promised_delivery__lt=today,
    )


def shipment_is_late(shipment: Shipment, now: datetime) -> bool:
    """``late_filter`` for one loaded row (list pages, API)."""
    if shipment.status in OPEN_STATUSES:
        if shipment.order.status == OrderStatus.CANCELLED:
            return False
        return bool(shipment.promised_ship_by and shipment.promised_ship_by < now)
    if shipment.status in DISPATCHED_STATUSES and shipment.status not in (
        ShipmentStatus.DELIVERED,
        ShipmentStatus.RETURNED_TO_SENDER,
    ):
        return bool(shipment.promised_delivery and shipment.promised_delivery < business_date(now))
    return False


def shipments_late(now: datetime) -> QuerySet[Shipment]:
    return shipment_list().filter(late_filter(now)).order_by("promised_ship_by", "id")


def shipments_to_poll(*, limit: int = 500) -> list[int]:
    """Parcels on the road with a carrier whose API can be asked for tracking, least
    recently updated first."""
    return list(
        Shipment.objects.filter(
            status__in=[
                ShipmentStatus.SHIPPED,
                ShipmentStatus.IN_TRANSIT,
                ShipmentStatus.OUT_FOR_DELIVERY,
                ShipmentStatus.EXCEPTION,
            ],
            carrier__adapter="http",
            carrier__is_active=True,
        )
        .exclude(tracking_number="")
        .order_by("updated_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def order_promised_delivery(*, order: Order) -> date | None:
    """The order's promise: the latest promised delivery of its live shipments."""
    return (
        Shipment.objects.filter(order=order)
        .exclude(status=ShipmentStatus.CANCELLED)
        .order_by("-promised_delivery")
        .values_list("promised_delivery", flat=True)
        .first()
    )


# --------------------------------------------------------------------------- pick lists


# Parcels of held or cancelled orders stay off the pick list.
NOT_TO_PICK = (OrderStatus.ON_HOLD, OrderStatus.CANCELLED)


@dataclass
class PickRow:
    bin_location: str
    sku_id: int
    sku_code: str
    sku_name: str
    quantity: int
    shipments: list[int] = field(default_factory=list)


def pick_list(
    *, warehouse_id: int, statuses: Iterable[str] = (ShipmentStatus.PENDING,)
) -> list[PickRow]:
    """The units to pick at a warehouse for its shipments in ``statuses``, batched by SKU and
    bin (bundles expanded into the components a picker takes off the shelf), in bin order.
    Four queries (lines, bundle components, SKUs, bins) whatever the number of shipments."""
    lines = list(
        ShipmentLine.objects.filter(
            shipment__warehouse_id=warehouse_id, shipment__status__in=list(statuses)
        )
        .exclude(shipment__order__status__in=NOT_TO_PICK)
        .values_list("shipment_id", "sku_id", "quantity", "bin_location")
    )
    sku_ids = {sku_id for _, sku_id, _, _ in lines}
    components: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for bundle_id, component_id, quantity in BundleComponent.objects.filter(
        bundle_id__in=sku_ids
    ).values_list("bundle_id", "component_id", "quantity"):
        components[bundle_id].append((component_id, quantity))
    needed: dict[int, int] = defaultdict(int)
    by_sku_shipments: dict[int, set[int]] = defaultdict(set)
    snapshot_bin: dict[int, str] = {}
    for shipment_id, sku_id, quantity, bin_code in lines:
        parts = components.get(sku_id) or [(sku_id, 1)]
        for part_id, per in parts:
            needed[part_id] += quantity * per
            by_sku_shipments[part_id].add(shipment_id)
            if part_id == sku_id and bin_code:
                snapshot_bin[part_id] = bin_code
    if not needed:
        return []
    skus = {s.pk: s for s in Sku.objects.filter(pk__in=needed).only("id", "code", "name")}
    bins = dict(
        BinLocation.objects.filter(warehouse_id=warehouse_id, sku_id__in=needed).values_list(
            "sku_id", "code"
        )
    )
    rows = [
        PickRow(
            bin_location=snapshot_bin.get(sku_id) or bins.get(sku_id, ""),
            sku_id=sku_id,
            sku_code=skus[sku_id].code,
            sku_name=skus[sku_id].name,
            quantity=quantity,
            shipments=sorted(by_sku_shipments[sku_id]),
        )
        for sku_id, quantity in needed.items()
    ]
    rows.sort(key=lambda r: (r.bin_location == "", r.bin_location, r.sku_code))
    return rows


def shipments_for_pick_list(*, warehouse_id: int, statuses: Iterable[str]) -> QuerySet[Shipment]:
    return (
        Shipment.objects.filter(warehouse_id=warehouse_id, status__in=list(statuses))
        .exclude(order__status__in=NOT_TO_PICK)
        .select_related("order")
        .order_by("promised_ship_by", "id")
    )


# --------------------------------------------------------------------------- returns


def return_list() -> QuerySet[ReturnRequest]:
    return ReturnRequest.objects.select_related("order", "warehouse", "carrier").prefetch_related(
        Prefetch("lines", queryset=ReturnLine.objects.select_related("order_line"))
    )


def return_list_for_channel(*, channel: Channel) -> QuerySet[ReturnRequest]:
    return return_list().filter(order__channel=channel)


def return_get_for_channel(*, channel: Channel, pk: int) -> ReturnRequest | None:
    return return_list_for_channel(channel=channel).filter(pk=pk).first()


def returnable_units(*, order_lines: Iterable[OrderLine]) -> dict[int, int]:
    """Per order line: shipped, minus already returned, minus units in returns that are
    requested but not received yet."""
    lines = list(order_lines)
    pending = dict(
        ReturnLine.objects.filter(
            order_line_id__in=[line.pk for line in lines],
            return_request__status__in=[
                ReturnStatus.REQUESTED,
                ReturnStatus.APPROVED,
                ReturnStatus.LABEL_SENT,
            ],
        )
        .values("order_line_id")
        .annotate(units=Sum("quantity"))
        .values_list("order_line_id", "units")
    )
    return {
        line.pk: line.shipped_quantity - line.returned_quantity - pending.get(line.pk, 0)
        for line in lines
    }
