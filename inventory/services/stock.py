"""Stock in and out that is not allocation: receipts, adjustments, write-offs, returns.

Every stock increase (receipt, positive adjustment, restocked return, transfer arrival) first
fills waiting backorders at that warehouse, oldest first, then announces the fills through
``inventory.hooks.backorder_filled``."""

from __future__ import annotations

from django.db.models import Q, Sum
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.errors import Conflict, NotFound, ValidationError
from oms.core.transactions import retry_on_deadlock

from .. import errors
from ..models import MovementKind, Sku, StockLevel, StockMovement, Warehouse
from .allocation import announce_fills, backorder_fill_candidates, fill_backorders, sku_parts
from .ledger import (
    StockBook,
    ensure_and_lock_levels,
    joins_transaction,
    lock_levels,
    lock_skus,
    require_positive,
    require_reason,
)


def _stockable(sku: Sku) -> None:
    if not sku.is_physical or sku.is_bundle:
        raise ValidationError(
            f"{sku.code} holds no stock of its own ({'a bundle' if sku.is_bundle else 'not physical'}).",
            code=errors.NOT_STOCKABLE,
            fields={"sku": ["Not a stocked SKU."]},
        )


def stock_in(
    *,
    warehouse: Warehouse,
    quantities: dict[int, int],
    kind: str,
    actor: Actor,
    reason: str = "",
    reference: str = "",
    fill: bool = True,
) -> tuple[dict[int, StockLevel], list[StockMovement]]:
    """Add units of several SKUs at one warehouse, then fill backorders from them. Must run
    inside a transaction (the public services open one). Returns the levels by sku_id and
    the ledger rows written."""
    if fill:
        lock_skus(quantities, shared=False)
    candidates, infos = backorder_fill_candidates(set(quantities)) if fill else ([], {})
    pairs = {(sku_id, warehouse.pk) for sku_id in quantities}
    for backorder in candidates:
        pairs |= {(sku_id, warehouse.pk) for sku_id, _ in infos[backorder.sku_id].parts}
    levels = ensure_and_lock_levels(pairs)
    book = StockBook(actor=actor)
    for sku_id, quantity in sorted(quantities.items()):
        book.move(
            levels[(sku_id, warehouse.pk)],
            kind=kind,
            quantity=quantity,
            reason=reason,
            reference=reference,
        )
    fills = fill_backorders(
        book=book,
        warehouse=warehouse,
        levels=levels,
        candidates=candidates,
        infos=infos,
        actor=actor,
    )
    book.flush()
    announce_fills(fills)
    return {sku_id: levels[(sku_id, warehouse.pk)] for sku_id in quantities}, book.written


def _lock_one(sku: Sku, warehouse: Warehouse) -> StockLevel:
    return ensure_and_lock_levels([(sku.pk, warehouse.pk)])[(sku.pk, warehouse.pk)]


def _check_capacity(warehouse: Warehouse, quantity: int) -> None:
    capacity = (
        Warehouse.objects.select_for_update()
        .values_list("capacity_units", flat=True)
        .get(pk=warehouse.pk)
    )
    if capacity is None:
        return
    held = StockLevel.objects.filter(warehouse=warehouse).aggregate(
        total=Sum("on_hand", default=0)
    )["total"]
    if held + quantity > capacity:
        raise Conflict(
            f"Warehouse {warehouse.code} holds {held} of {capacity} units; "
            f"{quantity} more do not fit.",
            code=errors.OVER_CAPACITY,
            fields={"quantity": [f"At most {max(capacity - held, 0)} fit."]},
        )


@retry_on_deadlock
@joins_transaction
def stock_receive(
    *,
    sku: Sku,
    warehouse: Warehouse,
    quantity: int,
    actor: Actor,
    reference: str = "",
    reason: str = "",
) -> StockLevel:
    """Goods arrived: on hand rises, then waiting backorders are filled first-in first-out.
    A warehouse with ``capacity_units`` refuses a receipt that would overfill it (receipts
    there queue on the warehouse row so two cannot both squeeze in)."""
    require_positive(quantity)
    _stockable(sku)
    if warehouse.capacity_units is not None:
        _check_capacity(warehouse, quantity)
    levels, _ = stock_in(
        warehouse=warehouse,
        quantities={sku.pk: quantity},
        kind=MovementKind.RECEIPT,
        actor=actor,
        reason=reason or "receipt",
        reference=reference,
    )
    return levels[sku.pk]


@retry_on_deadlock
@joins_transaction
def stock_adjust(
    *, sku: Sku, warehouse: Warehouse, quantity: int, reason: str, actor: Actor, reference: str = ""
) -> StockLevel:
    """A stock count correction by ``quantity`` (positive or negative). A reason is
    required; on hand may not drop below what is allocated."""
    reason = require_reason(reason)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity == 0:
        raise ValidationError(
            "An adjustment must change stock.",
            code=errors.INVALID_QUANTITY,
            fields={"quantity": ["Must be a non-zero integer."]},
        )
    _stockable(sku)
    if quantity > 0:
        levels, _ = stock_in(
            warehouse=warehouse,
            quantities={sku.pk: quantity},
            kind=MovementKind.ADJUSTMENT,
            actor=actor,
            reason=reason,
            reference=reference,
        )
        return levels[sku.pk]
    level = _lock_one(sku, warehouse)
    book = StockBook(actor=actor)
    book.move(
        level, kind=MovementKind.ADJUSTMENT, quantity=quantity, reason=reason, reference=reference
    )
    book.flush()
    return level


@joins_transaction
def stock_write_off(
    *, sku: Sku, warehouse: Warehouse, quantity: int, reason: str, actor: Actor, reference: str = ""
) -> StockLevel:
    """Damaged, expired or lost units leave stock. Allocated units cannot be written off
    (release them first)."""
    reason = require_reason(reason)
    require_positive(quantity)
    _stockable(sku)
    level = _lock_one(sku, warehouse)
    book = StockBook(actor=actor)
    book.move(
        level, kind=MovementKind.WRITE_OFF, quantity=-quantity, reason=reason, reference=reference
    )
    book.flush()
    return level


@retry_on_deadlock
@joins_transaction
def stock_return(
    *,
    sku_id: int,
    warehouse_id: int,
    quantity: int,
    reference: str,
    actor: Actor,
    restock: bool = True,
    reason: str = "",
) -> list[StockMovement]:
    """Returned goods arrive at ``warehouse_id``. ``restock``: back to sellable stock (and
    waiting backorders); otherwise they are recorded and written off at once. A bundle is
    returned as its components. Returns the ledger rows written."""
    require_positive(quantity)
    info = sku_parts([sku_id]).get(sku_id)
    if info is None:
        raise NotFound(f"Unknown SKU id {sku_id}.", code=errors.UNKNOWN_SKU)
    warehouse = Warehouse.objects.filter(pk=warehouse_id).first()
    if warehouse is None:
        raise NotFound(f"Unknown warehouse id {warehouse_id}.")
    quantities: dict[int, int] = {}
    for component_id, per in info.parts:
        quantities[component_id] = quantities.get(component_id, 0) + per * quantity
    if not quantities:
        return []
    _, written = stock_in(
        warehouse=warehouse,
        quantities=quantities,
        kind=MovementKind.RETURN,
        actor=actor,
        reason=reason or "returned",
        reference=reference,
        fill=restock,
    )
    if not restock:
        match = Q()
        for component_id in quantities:
            match |= Q(sku_id=component_id, warehouse_id=warehouse_id)
        book = StockBook(actor=actor)
        for level in lock_levels(StockLevel.objects.filter(match)):
            book.move(
                level,
                kind=MovementKind.WRITE_OFF,
                quantity=-quantities[level.sku_id],
                reason=reason or "returned, not restockable",
                reference=reference,
            )
        written += book.flush()
    return written


@joins_transaction
def stock_level_set_thresholds(
    *, level: StockLevel, reorder_point: int, safety_stock: int, actor: Actor
) -> StockLevel:
    if reorder_point < 0 or safety_stock < 0:
        raise ValidationError("Thresholds cannot be negative.")
    StockLevel.objects.filter(pk=level.pk).update(
        reorder_point=reorder_point, safety_stock=safety_stock, updated_at=timezone.now()
    )
    level.reorder_point, level.safety_stock = reorder_point, safety_stock
    return level
