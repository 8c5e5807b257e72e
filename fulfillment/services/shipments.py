"""Shipments: planned from an order's allocation, split by operators, picked, packed and
shipped. Shipping moves stock through the inventory ledger (``stock_ship``) and records the
shipped units on the order, in the same transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory.models import Warehouse
from inventory.services import stock_ship
from oms.core.actors import Actor
from oms.core.bulk import Writes
from oms.core.db import is_postgres, prepared_cursor
from oms.core.errors import Conflict, ValidationError
from oms.core.rows import new_row
from oms.core.transactions import lock_in_pk_order, on_commit, retry_on_deadlock
from oms.core.transitions import check_transition
from orders.hooks import PlacedOrder
from orders.models import Order, OrderLine, OrderStatus

from .. import errors, selectors
from ..carriers import CarrierError, Label, LabelRequest, get_adapter
from ..models import (
    BinLocation,
    Carrier,
    Shipment,
    ShipmentEvent,
    ShipmentEventKind,
    ShipmentLine,
)
from ..promise import promise_for
from ..statuses import OPEN_STATUSES, SHIPMENT_TRANSITIONS, ShipmentStatus
from . import order_sync
from ._common import (
    lock_order,
    lock_shipment,
    require_quantity,
    require_reason,
    set_shipment_status,
    shipment_event,
)

S = ShipmentStatus


def _bins(warehouse_ids: set[int], sku_ids: set[int]) -> dict[tuple[int, int], str]:
    if not warehouse_ids or not sku_ids:
        return {}
    rows = BinLocation.objects.filter(
        warehouse_id__in=warehouse_ids, sku_id__in=sku_ids
    ).values_list("warehouse_id", "sku_id", "code")
    return {(w, s): code for w, s, code in rows}


def _new_shipment(
    *, order: Order, cutoff: time | None, now: datetime, is_manual: bool, **fields: Any
) -> Shipment:
    """An unsaved shipment of ``order`` with its delivery promise from the warehouse's
    ``cutoff``; ``fields`` name the warehouse (``warehouse=`` or ``warehouse_id=``)."""
    ship_by, delivery = promise_for(now=now, cutoff=cutoff, lead_days=order.delivery_lead_time_days)
    return new_row(
        Shipment,
        order=order,
        service_level=fields.pop("service_level", "") or order.delivery_option,
        promised_ship_by=ship_by,
        promised_delivery=delivery,
        is_manual=is_manual,
        **fields,
    )


def _trim_to_allocation(
    *,
    open_lines: list[ShipmentLine],
    allocated: dict[tuple[int, int], int],
    now: datetime,
    actor: Actor,
) -> None:
    """Pending parcels may not carry more than is still allocated (an order edit lowered a
    line, a unit was released): take the excess out of the newest pending parcels first and
    cancel any left empty. Parcels already being picked or packed are left to the operator;
    shipping them would be refused by the ledger."""
    planned: dict[tuple[int, int], int] = defaultdict(int)
    for row in open_lines:
        planned[(row.order_line_id, row.shipment.warehouse_id)] += row.quantity
    excess = {k: v - allocated.get(k, 0) for k, v in planned.items() if v > allocated.get(k, 0)}
    if not excess:
        return
    changed: list[ShipmentLine] = []
    removed: dict[int, dict[str, int]] = defaultdict(dict)
    for row in sorted(open_lines, key=lambda r: (-r.shipment_id, r.pk)):
        key = (row.order_line_id, row.shipment.warehouse_id)
        if excess.get(key, 0) <= 0 or row.shipment.status != S.PENDING:
            continue
        take = min(row.quantity, excess[key])
        row.quantity -= take
        row.updated_at = now
        excess[key] -= take
        changed.append(row)
        removed[row.shipment_id][str(row.order_line_id)] = take
    if not changed:
        return
    ShipmentLine.objects.filter(pk__in=[r.pk for r in changed if r.quantity == 0]).delete()
    ShipmentLine.objects.bulk_update(
        [r for r in changed if r.quantity > 0], ["quantity", "updated_at"]
    )
    shipments = {row.shipment_id: row.shipment for row in changed}
    left: dict[int, int] = defaultdict(int)
    for row in open_lines:
        left[row.shipment_id] += row.quantity
    events = []
    for shipment_id, shipment in sorted(shipments.items()):
        events.append(
            ShipmentEvent(
                shipment=shipment,
                kind=ShipmentEventKind.REPLANNED,
                message="Units no longer allocated were taken out.",
                payload={"removed": removed[shipment_id]},
                **actor.as_fields(),
            )
        )
        if left[shipment_id] == 0:
            previous = set_shipment_status(shipment, S.CANCELLED)
            shipment.save(update_fields=["status", "progress_rank", "updated_at"])
            events.append(
                ShipmentEvent(
                    shipment=shipment,
                    kind=ShipmentEventKind.CANCELLED,
                    message="Nothing left to ship: the order's allocation shrank.",
                    payload={"from": previous, "to": S.CANCELLED},
                    **actor.as_fields(),
                )
            )
    ShipmentEvent.objects.bulk_create(events)
    open_lines[:] = [r for r in open_lines if r.quantity > 0]


def _planning_state(
    order: Order,
) -> tuple[list[OrderLine], dict[tuple[int, int], int], list[ShipmentLine]]:
    """(physical lines, allocated units per (line id, warehouse id), open shipment lines)."""
    lines = [line for line in order.lines.all() if line.is_physical]
    if not lines:
        return [], {}, []
    by_ref = {line.stock_ref: line for line in lines}
    allocated = {
        (by_ref[ref].pk, warehouse_id): units
        for (ref, warehouse_id), units in selectors.allocated_units(line_refs=by_ref).items()
    }
    open_lines = list(
        ShipmentLine.objects.filter(
            order_line_id__in=[line.pk for line in lines], shipment__status__in=OPEN_STATUSES
        ).select_related("shipment")
    )
    return lines, allocated, open_lines


def shipments_reconcile_for_order(*, order: Order, actor: Actor) -> None:
    """Take out of pending parcels what the order no longer has allocated (an edit lowered
    a line without allocating anything new, so no ``order_allocated`` call came). Runs before
    picking starts; the caller holds the order lock."""
    _, allocated, open_lines = _planning_state(order)
    _trim_to_allocation(open_lines=open_lines, allocated=allocated, now=timezone.now(), actor=actor)


@transaction.atomic
def shipments_cancel_for_order(*, order: Order, actor: Actor) -> list[Shipment]:
    """The order was cancelled (``orders.hooks.order_cancelled``, inside the cancel's
    transaction, after its stock was released): drop every parcel that has not left."""
    shipments = lock_in_pk_order(Shipment.objects.filter(order=order, status__in=OPEN_STATUSES))
    events = []
    for shipment in shipments:
        previous = set_shipment_status(shipment, S.CANCELLED)
        shipment.save(update_fields=["status", "progress_rank", "updated_at"])
        events.append(
            ShipmentEvent(
                shipment=shipment,
                kind=ShipmentEventKind.CANCELLED,
                message=f"Order {order.number} was cancelled.",
                payload={"from": previous, "to": S.CANCELLED},
                **actor.as_fields(),
            )
        )
    ShipmentEvent.objects.bulk_create(events)
    return shipments


def order_cancelled_callback(*, order: Order, actor: Actor) -> None:
    """Registered in ``orders.hooks.order_cancelled`` by FulfillmentConfig.ready()."""
    shipments_cancel_for_order(order=order, actor=actor)


def shipments_create_for_order(
    *, order: Order, actor: Actor, now: datetime | None = None
) -> list[Shipment]:
    """Reconcile the order's open parcels with its allocation: plan every allocated unit no
    open shipment carries yet (one shipment per warehouse the allocation used; units for a
    warehouse that already has a pending, automatically planned shipment join it) and take
    out of pending parcels what is no longer allocated. Safe to call again: a second call
    changes nothing. Returns the shipments that received units.

    This is the ``orders.hooks.order_allocated`` callback, so it runs inside the order's
    transaction (the order row is locked by the caller) and keeps to a fixed number of
    queries: allocations, open shipment lines, warehouses, bins and three bulk INSERTs."""
    now = now or timezone.now()
    lines, allocated, open_lines = _planning_state(order)
    if not lines:
        return []
    _trim_to_allocation(open_lines=open_lines, allocated=allocated, now=now, actor=actor)
    planned: dict[tuple[int, int], int] = defaultdict(int)
    joinable: dict[int, Shipment] = {}
    existing_line: dict[tuple[int, int], ShipmentLine] = {}
    for row in open_lines:
        planned[(row.order_line_id, row.shipment.warehouse_id)] += row.quantity
        if row.shipment.status == S.PENDING and not row.shipment.is_manual:
            joinable.setdefault(row.shipment.warehouse_id, row.shipment)
            existing_line[(row.shipment_id, row.order_line_id)] = row

    by_id = {line.pk: line for line in lines}
    wanted: dict[int, list[tuple[OrderLine, int]]] = defaultdict(list)
    for (line_id, warehouse_id), units in sorted(allocated.items()):
        free = units - planned[(line_id, warehouse_id)]
        if free > 0:
            wanted[warehouse_id].append((by_id[line_id], free))
    if not wanted:
        return []

    warehouses = Warehouse.objects.in_bulk(list(wanted))
    bins = _bins(set(wanted), {line.sku_id for items in wanted.values() for line, _ in items})
    new_shipments = [
        _new_shipment(
            order=order,
            warehouse=warehouses[w],
            cutoff=warehouses[w].cutoff_time,
            now=now,
            is_manual=False,
        )  # fmt: skip
        for w in sorted(wanted)
        if w not in joinable
    ]
    Shipment.objects.bulk_create(new_shipments)
    target = {s.warehouse_id: s for s in new_shipments} | joinable

    to_create: list[ShipmentLine] = []
    to_update: list[ShipmentLine] = []
    events: list[ShipmentEvent] = []
    for warehouse_id, items in sorted(wanted.items()):
        shipment = target[warehouse_id]
        for line, units in items:
            current = existing_line.get((shipment.pk, line.pk))
            if current is not None:
                current.quantity += units
                current.updated_at = now
                to_update.append(current)
            else:
                to_create.append(
                    ShipmentLine(
                        shipment=shipment,
                        order_line=line,
                        sku_id=line.sku_id,
                        quantity=units,
                        bin_location=bins.get((warehouse_id, line.sku_id), ""),
                    )
                )
        events.append(
            ShipmentEvent(
                shipment=shipment,
                kind=ShipmentEventKind.CREATED
                if shipment in new_shipments
                else ShipmentEventKind.REPLANNED,
                message="Planned from the order's allocation.",
                payload={"added": {str(line.pk): units for line, units in items}},
                **actor.as_fields(),
            )
        )
    ShipmentLine.objects.bulk_create(to_create)
    if to_update:
        ShipmentLine.objects.bulk_update(to_update, ["quantity", "updated_at"])
    ShipmentEvent.objects.bulk_create(events)
    return [target[w] for w in sorted(wanted)]


def order_allocated_callback(*, order: Order, actor: Actor) -> None:
    """Registered in ``orders.hooks.order_allocated`` by FulfillmentConfig.ready()."""
    shipments_create_for_order(order=order, actor=actor)


def orders_placed_callback(*, placed: list[PlacedOrder], actor: Actor, writes: Writes) -> None:
    """Registered in ``orders.hooks.orders_placed`` by FulfillmentConfig.ready()."""
    shipments_plan_placed(placed=placed, actor=actor, writes=writes)


_PLANNING_READ = """
SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('fulfillment_shipment', 'id'))
             FROM generate_series(1, %s)),
       (SELECT json_agg(json_build_array(w.id, w.cutoff_time))
          FROM inventory_warehouse w WHERE w.id = ANY(%s)),
       (SELECT json_agg(json_build_array(b.warehouse_id, b.sku_id, b.code))
          FROM fulfillment_binlocation b WHERE b.warehouse_id = ANY(%s) AND b.sku_id = ANY(%s))
"""


def _planning_read(
    *, shipments: int, warehouse_ids: set[int], sku_ids: set[int]
) -> tuple[list[int] | None, dict[int, time | None], dict[tuple[int, int], str]]:
    """(ids for ``shipments`` new shipments — None where the database assigns them on insert,
    the warehouses' cut-off times, the bins) in one round trip on PostgreSQL."""
    if not is_postgres():
        cutoffs = dict(
            Warehouse.objects.filter(pk__in=warehouse_ids).values_list("pk", "cutoff_time")
        )
        return None, cutoffs, _bins(warehouse_ids, sku_ids)
    with prepared_cursor() as cursor:
        cursor.execute(
            _PLANNING_READ,
            [shipments, sorted(warehouse_ids), sorted(warehouse_ids), sorted(sku_ids)],
        )
        ids, warehouses, bins = cursor.fetchone()
    cutoffs = {w: time.fromisoformat(c) if c else None for w, c in warehouses or ()}
    return list(ids), cutoffs, {(w, s): code for w, s, code in bins or ()}


def shipments_plan_placed(*, placed: list[PlacedOrder], actor: Actor, writes: Writes) -> None:
    """Plan the parcels of new, fully allocated orders (intake, a renewal batch): one shipment
    per order and warehouse the allocation used, carrying every allocated unit. Nothing is
    read back: the rows go into intake's ``writes`` and are inserted with the orders. One
    query for the whole batch (shipment ids, cut-off times and bins)."""
    wanted: list[tuple[Order, int, list[tuple[OrderLine, int]]]] = []
    for item in placed:
        by_warehouse: dict[int, dict[int, tuple[OrderLine, int]]] = defaultdict(dict)
        for line, warehouse_id, units in item.allocated:
            if not line.is_physical or units <= 0:
                continue
            _, before = by_warehouse[warehouse_id].get(line.pk, (line, 0))
            by_warehouse[warehouse_id][line.pk] = (line, before + units)
        for warehouse_id in sorted(by_warehouse):
            rows = sorted(by_warehouse[warehouse_id].values(), key=lambda r: r[0].line_no)
            wanted.append((item.order, warehouse_id, rows))
    if not wanted:
        return
    ids, cutoffs, bins = _planning_read(
        shipments=len(wanted),
        warehouse_ids={w for _, w, _ in wanted},
        sku_ids={line.sku_id for _, _, rows in wanted for line, _ in rows},
    )
    now = timezone.now()
    shipments: list[Shipment] = []
    lines: list[ShipmentLine] = []
    events: list[ShipmentEvent] = []
    for n, (order, warehouse_id, rows) in enumerate(wanted):
        shipment = _new_shipment(
            order=order, warehouse_id=warehouse_id, cutoff=cutoffs.get(warehouse_id), now=now,
            is_manual=False, pk=ids[n] if ids else None, created_at=now,
        )  # fmt: skip
        shipments.append(shipment)
        for line, units in rows:
            lines.append(
                new_row(
                    ShipmentLine,
                    shipment=shipment,
                    order_line=line,
                    sku_id=line.sku_id,
                    quantity=units,
                    bin_location=bins.get((warehouse_id, line.sku_id), ""),
                    created_at=now,
                )
            )
        events.append(
            new_row(
                ShipmentEvent,
                shipment=shipment,
                kind=ShipmentEventKind.CREATED,
                message="Planned from the order's allocation.",
                payload={"added": {str(line.pk): units for line, units in rows}},
                created_at=now,
                **actor.as_fields(),
            )
        )
    writes.insert(Shipment, shipments)
    writes.insert(ShipmentLine, lines)
    writes.insert(ShipmentEvent, events)


def _clean_quantities(lines: Mapping[Any, int]) -> dict[int, int]:
    cleaned: dict[int, int] = {}
    for key, quantity in lines.items():
        line_id = key.pk if isinstance(key, OrderLine) else int(key)
        cleaned[line_id] = cleaned.get(line_id, 0) + require_quantity(quantity)
    if not cleaned:
        raise ValidationError("Name at least one line.", code=errors.NOTHING_TO_SHIP)
    return cleaned


@transaction.atomic
def shipment_create_manual(
    *,
    order: Order,
    warehouse: Warehouse,
    lines: Mapping[Any, int],
    actor: Actor,
    carrier: Carrier | None = None,
    service_level: str = "",
) -> Shipment:
    """An operator plans a parcel by hand: ``lines`` maps order lines (or their ids) to units.
    Only units allocated at ``warehouse`` that no open shipment carries can be planned."""
    order = lock_order(order)
    quantities = _clean_quantities(lines)
    order_lines = {
        line.pk: line for line in OrderLine.objects.filter(order=order, pk__in=quantities)
    }
    unknown = set(quantities) - set(order_lines)
    if unknown:
        raise ValidationError(
            f"Lines {sorted(unknown)} are not on order {order.number}.",
            code=errors.UNKNOWN_LINE,
            fields={"lines": [str(i) for i in sorted(unknown)]},
        )
    free = selectors.unplanned_units(order=_with_lines(order))
    short = {
        line_id: free.get((line_id, warehouse.pk), 0)
        for line_id, quantity in quantities.items()
        if quantity > free.get((line_id, warehouse.pk), 0)
    }
    if short:
        raise Conflict(
            f"Only {short} unit(s) of those lines are allocated at {warehouse.code} and not yet "
            "in another shipment.",
            code=errors.NOT_ALLOCATED_HERE,
            fields={"available": {str(k): v for k, v in short.items()}},
        )
    shipment = _new_shipment(
        order=order,
        warehouse=warehouse,
        cutoff=warehouse.cutoff_time,
        now=timezone.now(),
        is_manual=True,
        carrier=carrier,
        service_level=service_level,
    )
    shipment.save()
    bins = _bins({warehouse.pk}, {line.sku_id for line in order_lines.values()})
    ShipmentLine.objects.bulk_create(
        ShipmentLine(
            shipment=shipment,
            order_line=order_lines[line_id],
            sku_id=order_lines[line_id].sku_id,
            quantity=quantity,
            bin_location=bins.get((warehouse.pk, order_lines[line_id].sku_id), ""),
        )
        for line_id, quantity in sorted(quantities.items())
    )
    shipment_event(
        shipment=shipment,
        kind=ShipmentEventKind.CREATED,
        actor=actor,
        message="Created by hand.",
        payload={"lines": {str(k): v for k, v in quantities.items()}},
    )
    return shipment


def _with_lines(order: Order) -> Order:
    """The selectors read ``order.lines.all()``; give them every line of the order."""
    return Order.objects.prefetch_related("lines").get(pk=order.pk)


@transaction.atomic
def shipment_split(*, shipment: Shipment, lines: Mapping[Any, int], actor: Actor) -> Shipment:
    """Move ``lines`` (order line → units) out of a shipment that has not been packed into a
    new shipment from the same warehouse (a partial or split parcel). The original keeps
    the rest and must keep at least one unit."""
    lock_order(shipment.order_id)
    shipment = lock_shipment(shipment)
    if shipment.status not in (S.PENDING, S.PICKING):
        raise Conflict(
            f"Shipment {shipment} is {shipment.get_status_display().lower()}; only pending or "
            "picking shipments can be split.",
            code=errors.SPLIT_INVALID,
        )
    quantities = _clean_quantities(lines)
    rows = {row.order_line_id: row for row in shipment.lines.select_for_update().order_by("pk")}
    problems = {
        str(line_id): rows[line_id].quantity if line_id in rows else 0
        for line_id, quantity in quantities.items()
        if line_id not in rows or quantity > rows[line_id].quantity
    }
    if problems:
        raise ValidationError(
            "Cannot move more units than the shipment holds.",
            code=errors.SPLIT_INVALID,
            fields={"lines": problems},
        )
    if sum(quantities.values()) >= sum(row.quantity for row in rows.values()):
        raise ValidationError(
            "A split must leave at least one unit in the original shipment.",
            code=errors.SPLIT_INVALID,
        )
    new = Shipment.objects.create(
        order_id=shipment.order_id,
        warehouse_id=shipment.warehouse_id,
        carrier=shipment.carrier,
        service_level=shipment.service_level,
        promised_ship_by=shipment.promised_ship_by,
        promised_delivery=shipment.promised_delivery,
        is_manual=True,
    )
    moved = []
    now = timezone.now()
    for line_id, quantity in sorted(quantities.items()):
        row = rows[line_id]
        moved.append(
            ShipmentLine(
                shipment=new,
                order_line_id=line_id,
                sku_id=row.sku_id,
                quantity=quantity,
                bin_location=row.bin_location,
            )
        )
        row.quantity -= quantity
        row.updated_at = now
    ShipmentLine.objects.bulk_create(moved)
    emptied = [row.pk for row in rows.values() if row.quantity == 0]
    ShipmentLine.objects.filter(pk__in=emptied).delete()
    ShipmentLine.objects.bulk_update(
        [row for row in rows.values() if row.quantity > 0], ["quantity", "updated_at"]
    )
    payload = {"lines": {str(k): v for k, v in quantities.items()}}
    shipment_event(
        shipment=shipment,
        kind=ShipmentEventKind.SPLIT,
        actor=actor,
        message=f"Units moved to {new}.",
        payload={**payload, "to_shipment": new.pk},
    )
    shipment_event(
        shipment=new,
        kind=ShipmentEventKind.CREATED,
        actor=actor,
        message=f"Split from {shipment}.",
        payload={**payload, "from_shipment": shipment.pk},
    )
    return new


# Orders whose parcels may be worked on: not held, not cancelled.
SHIPPABLE_ORDER_STATUSES = frozenset(
    {OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_FULFILLED}
)


def _simple_move(
    *, shipment: Shipment, target: str, kind: str, actor: Actor, message: str = "", **fields: Any
) -> Shipment:
    order = lock_order(shipment.order_id)
    if target in (S.PICKING, S.PACKED) and order.status not in SHIPPABLE_ORDER_STATUSES:
        raise Conflict(
            f"Order {order.number} is {order.get_status_display().lower()}; its parcels cannot "
            "be picked or packed.",
            code=errors.NOT_SHIPPABLE,
        )
    if target == S.PICKING:
        shipments_reconcile_for_order(order=order, actor=actor)
    shipment = lock_shipment(shipment)
    previous = set_shipment_status(shipment, target)
    for name, value in fields.items():
        setattr(shipment, name, value)
    shipment.save()
    shipment_event(
        shipment=shipment,
        kind=kind,
        actor=actor,
        message=message,
        payload={"from": previous, "to": target},
    )
    return shipment


@transaction.atomic
def shipment_start_picking(*, shipment: Shipment, actor: Actor) -> Shipment:
    return _simple_move(
        shipment=shipment,
        target=S.PICKING,
        kind=ShipmentEventKind.PICKING_STARTED,
        actor=actor,
        picking_started_at=timezone.now(),
    )


@transaction.atomic
def shipment_return_to_pending(*, shipment: Shipment, reason: str, actor: Actor) -> Shipment:
    return _simple_move(
        shipment=shipment,
        target=S.PENDING,
        kind=ShipmentEventKind.PICKING_UNDONE,
        actor=actor,
        message=require_reason(reason),
        picking_started_at=None,
    )


@transaction.atomic
def shipment_mark_packed(
    *,
    shipment: Shipment,
    actor: Actor,
    weight_grams: int | None = None,
    length_mm: int | None = None,
    width_mm: int | None = None,
    height_mm: int | None = None,
) -> Shipment:
    parcel: dict[str, Any] = {
        name: value
        for name, value in {
            "weight_grams": weight_grams,
            "length_mm": length_mm,
            "width_mm": width_mm,
            "height_mm": height_mm,
        }.items()
        if value is not None
    }
    for name, value in parcel.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError(
                f"{name} must be a positive whole number.", fields={name: ["Invalid."]}
            )
    return _simple_move(
        shipment=shipment,
        target=S.PACKED,
        kind=ShipmentEventKind.PACKED,
        actor=actor,
        packed_at=timezone.now(),
        **parcel,
    )


@transaction.atomic
def shipment_cancel(*, shipment: Shipment, reason: str, actor: Actor) -> Shipment:
    """Drop a parcel that has not left. Its units stay allocated to the order and can be
    planned again (``shipment_create_manual`` or the next allocation)."""
    return _simple_move(
        shipment=shipment,
        target=S.CANCELLED,
        kind=ShipmentEventKind.CANCELLED,
        actor=actor,
        message=require_reason(reason),
    )


def label_request_for(shipment: Shipment, *, tracking_number: str = "") -> LabelRequest:
    warehouse = shipment.warehouse
    return LabelRequest(
        reference=shipment.reference,
        service_level=shipment.service_level,
        ship_from={
            "code": warehouse.code,
            "name": warehouse.name,
            "line1": warehouse.line1,
            "city": warehouse.city,
            "postal_code": warehouse.postal_code,
            "country": warehouse.country,
        },
        ship_to=dict(shipment.order.shipping_address),
        weight_grams=shipment.weight_grams,
        length_mm=shipment.length_mm,
        width_mm=shipment.width_mm,
        height_mm=shipment.height_mm,
        items=[
            {"sku": row.order_line.sku_code, "quantity": row.quantity}
            for row in shipment.lines.select_related("order_line")
        ],
        tracking_number=tracking_number,
    )


def shipment_ship(
    *,
    shipment: Shipment,
    actor: Actor,
    carrier: Carrier | None = None,
    tracking_number: str = "",
    service_level: str = "",
) -> Shipment:
    """Hand a packed parcel to the carrier. With a ``tracking_number`` (a label bought
    elsewhere, or the manual carrier) it is recorded as given; otherwise the carrier's
    adapter buys a label. Then, in one transaction: every line leaves stock through the
    ledger (``stock_ship``), the order records the shipped units (partially fulfilled /
    fulfilled), and the customer is emailed after commit.

    The label is bought before the transaction opens so no row lock is held across a
    network call; if the shipment changed meanwhile the transaction refuses and the label
    is left unused (its number is on the refusal)."""
    shipment = Shipment.objects.select_related("order", "warehouse", "carrier").get(pk=shipment.pk)
    check_transition(
        SHIPMENT_TRANSITIONS, entity="Shipment", current=shipment.status, target=S.SHIPPED
    )
    carrier = carrier or shipment.carrier
    if carrier is None:
        raise ValidationError(
            "Choose the carrier.", code=errors.CARRIER_REQUIRED, fields={"carrier": ["Required."]}
        )
    if not carrier.is_active:
        raise Conflict(f"Carrier {carrier.code} is inactive.", code=errors.CARRIER_INACTIVE)
    if service_level:
        shipment.service_level = service_level
    tracking_number = (tracking_number or "").strip()
    adapter = _adapter(carrier)
    if tracking_number:
        label = Label(tracking_number=tracking_number[:100])
    elif adapter.supports_labels:
        try:
            label = adapter.create_label(label_request_for(shipment))
        except CarrierError as exc:
            raise Conflict(str(exc), code=errors.CARRIER_ERROR) from None
    else:
        raise ValidationError(
            f"Carrier {carrier.code} needs the tracking number typed in.",
            code=errors.TRACKING_REQUIRED,
            fields={"tracking_number": ["Required."]},
        )
    return _ship(
        shipment_id=shipment.pk,
        carrier=carrier,
        label=label,
        tracking_url=adapter.tracking_url(label.tracking_number),
        service_level=shipment.service_level,
        bought=not tracking_number,
        actor=actor,
    )


def _adapter(carrier: Carrier) -> Any:
    try:
        return get_adapter(carrier.config(), carrier.adapter)
    except CarrierError as exc:
        raise Conflict(str(exc), code=errors.CARRIER_ERROR) from None


@retry_on_deadlock  # the order, then stock: the inverse of a receipt filling its backorder
@transaction.atomic
def _ship(
    *,
    shipment_id: int,
    carrier: Carrier,
    label: Label,
    tracking_url: str,
    service_level: str,
    bought: bool,
    actor: Actor,
) -> Shipment:
    shipment = Shipment.objects.select_related("order").get(pk=shipment_id)
    order = lock_order(shipment.order_id)
    shipment = lock_shipment(shipment_id)
    previous = set_shipment_status(shipment, S.SHIPPED)
    now = timezone.now()
    rows = list(shipment.lines.select_related("order_line").order_by("pk"))
    if not rows:
        raise Conflict(f"Shipment {shipment} has no lines.", code=errors.NOTHING_TO_SHIP)
    for row in rows:
        stock_ship(
            line_ref=row.order_line.stock_ref,
            warehouse_id=shipment.warehouse_id,
            quantity=row.quantity,
            reference=shipment.reference,
            actor=actor,
        )
    shipment.carrier = carrier
    shipment.service_level = service_level
    shipment.tracking_number = label.tracking_number
    shipment.tracking_url = tracking_url
    shipment.label_url = label.label_url
    shipment.label_data = label.label_data
    shipment.label_format = label.label_format
    shipment.shipped_at = now
    try:
        with transaction.atomic():
            shipment.save()
    except IntegrityError:
        raise Conflict(
            f"Tracking number {label.tracking_number} is already used on another "
            f"{carrier.code} shipment.",
            code=errors.DUPLICATE_TRACKING,
            fields={"tracking_number": ["Already used."]},
        ) from None
    if bought:
        shipment_event(
            shipment=shipment,
            kind=ShipmentEventKind.LABEL_CREATED,
            actor=actor,
            payload={"carrier": carrier.code, "tracking_number": label.tracking_number},
        )
    shipment_event(
        shipment=shipment,
        kind=ShipmentEventKind.SHIPPED,
        actor=actor,
        payload={
            "from": previous,
            "to": S.SHIPPED,
            "carrier": carrier.code,
            "tracking_number": label.tracking_number,
            "lines": {str(row.order_line_id): row.quantity for row in rows},
        },
    )
    order_sync.record_shipment(
        order=order,
        shipment=shipment,
        quantities={row.order_line_id: row.quantity for row in rows},
        actor=actor,
    )
    from .notifications import send_shipment_email

    on_commit(send_shipment_email, shipment_id=shipment.pk, kind=S.SHIPPED)
    return shipment
