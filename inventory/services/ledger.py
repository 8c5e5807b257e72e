"""The one way stock numbers change: lock the stock rows, record movements in a ``StockBook``,
then ``flush`` it (the bulk UPDATE of the levels, the bulk INSERT of ledger rows and low-stock
alerts, and the caller's own rows — one statement on PostgreSQL). Every inventory service goes through here, so the ledger and the balances can never
drift apart and the number of queries does not grow with the number of rows touched."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.bulk import Writes
from oms.core.db import is_postgres
from oms.core.errors import Conflict
from oms.core.rows import new_row
from oms.core.transactions import lock_in_pk_order, on_commit
from oms.core.validation import require_positive, require_reason  # noqa: F401 - re-exported

from .. import errors
from ..models import MovementKind, StockEvent, StockEventKind, StockLevel, StockMovement

P = ParamSpec("P")
R = TypeVar("R")


def joins_transaction(func: Callable[P, R]) -> Callable[P, R]:
    """Run inside the caller's transaction as-is (no SAVEPOINT, so hot paths such as order
    intake keep their query budget, and a refusal raised before any write leaves the caller's
    transaction usable); open one when there is none. Services using this raise their
    domain errors before they write."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block:
            return func(*args, **kwargs)
        with transaction.atomic():
            return func(*args, **kwargs)

    return wrapper


# Advisory-lock namespace for "backorders of this SKU may be created or filled".
SKU_LOCK_CLASS = 7806


def lock_skus(sku_ids: Iterable[int], *, shared: bool) -> None:
    """Transaction-scoped advisory locks on SKUs, in id order, in one query. Allocations
    take them shared (they never wait for each other); anything that fills backorders
    (receipts, restocked returns, transfer arrivals) takes them exclusive *before* locking
    stock rows. So a receipt never misses a backorder that a concurrent allocation is
    about to commit — even at a warehouse whose stock row that allocation never saw — and
    a new allocation always sees the receipt's stock."""
    ids = sorted(set(sku_ids))
    if not ids or not is_postgres():
        return  # SQLite (quick start) has one writer at a time: nothing to serialise
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        # Postgres evaluates volatile target-list functions after ORDER BY: locks in id order.
        cursor.execute(
            f"SELECT {function}(%s, k) FROM unnest(%s::int[]) AS k ORDER BY k",
            [SKU_LOCK_CLASS, ids],
        )


def lock_levels(queryset: QuerySet[StockLevel]) -> list[StockLevel]:
    """Lock stock rows (only them, never the joined warehouse) in primary-key order."""
    return lock_in_pk_order(queryset, of=("self",))


def ensure_and_lock_levels(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], StockLevel]:
    """Create missing (sku_id, warehouse_id) levels (INSERT ... ON CONFLICT DO NOTHING, safe
    under races) and lock them all. Returns them keyed by (sku_id, warehouse_id)."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    StockLevel.objects.bulk_create(
        [StockLevel(sku_id=s, warehouse_id=w) for s, w in pairs], ignore_conflicts=True
    )
    match = Q()
    for s, w in pairs:
        match |= Q(sku_id=s, warehouse_id=w)
    return {
        (lv.sku_id, lv.warehouse_id): lv for lv in lock_levels(StockLevel.objects.filter(match))
    }


class StockBook:
    """Collects movements against locked ``StockLevel`` rows, checks each one against the same
    rules the database enforces, and writes them all at once in ``flush``."""

    def __init__(self, *, actor: Actor) -> None:
        self.actor = actor
        self.movements: list[StockMovement] = []
        self.written: list[StockMovement] = []  # every row flushed so far
        self._touched: dict[int, StockLevel] = {}
        self._available_before: dict[int, int] = {}

    def move(
        self,
        level: StockLevel,
        *,
        kind: str,
        quantity: int = 0,
        allocated_delta: int = 0,
        reason: str = "",
        reference: str = "",
        payload: dict[str, Any] | None = None,
    ) -> StockMovement:
        on_hand = level.on_hand + quantity
        allocated = level.allocated + allocated_delta
        if on_hand < 0 or allocated < 0 or allocated > on_hand:
            raise Conflict(
                f"Not enough stock of SKU {level.sku_id} at warehouse {level.warehouse_id}: "
                f"{level.on_hand} on hand, {level.allocated} allocated; "
                f"{kind} {quantity:+d}/{allocated_delta:+d} refused.",
                code=errors.INSUFFICIENT_STOCK,
                fields={"available": level.available},
            )
        self._available_before.setdefault(level.pk, level.available)
        level.on_hand, level.allocated = on_hand, allocated
        self._touched[level.pk] = level
        movement = new_row(
            StockMovement,
            sku_id=level.sku_id,
            warehouse_id=level.warehouse_id,
            kind=kind,
            quantity=quantity,
            allocated_delta=allocated_delta,
            on_hand_after=on_hand,
            allocated_after=allocated,
            reason=reason[:500],
            reference=reference[:200],
            payload=payload or {},
            **self.actor.as_fields(),
        )
        self.movements.append(movement)
        return movement

    def flush(
        self,
        *,
        inserts: Sequence[tuple[type[Model], Sequence[Model]]] = (),
        into: Writes | None = None,
    ) -> list[StockMovement]:
        """Write the balances and the ledger; raise low-stock alerts for every level whose
        available stock crossed below its reorder point in this book. ``inserts``: rows of
        other tables that belong to the same change (an allocation's Allocation and
        Backorder rows). On PostgreSQL all of it is one statement (``oms.core.bulk``).
        ``into``: add the writes to the caller's batch, which the caller runs (before its
        transaction commits) together with its own."""
        writes = Writes() if into is None else into
        levels = list(self._touched.values())
        movements, self.movements = self.movements, []
        events: list[StockEvent] = []
        if movements:
            now = timezone.now()
            for level in levels:
                level.updated_at = now
            for movement in movements:
                movement.created_at = now
            events = self._low_stock_events(levels, now)
            writes.update(StockLevel, levels, ["on_hand", "allocated", "updated_at"])
            writes.insert(StockMovement, movements)
            writes.insert(StockEvent, events)
        for model, objs in inserts:
            writes.insert(model, objs)
        if into is None:
            writes.run()
        self.written.extend(movements)
        self._touched = {}
        self._available_before = {}
        if events:
            # The events have their ids once the batch ran, which is before the commit.
            on_commit(_send_low_stock_events, events)
        return movements

    def _low_stock_events(self, levels: list[StockLevel], now: Any) -> list[StockEvent]:
        return [
            StockEvent(
                kind=StockEventKind.LOW_STOCK,
                sku_id=level.sku_id,
                warehouse_id=level.warehouse_id,
                created_at=now,
                message=(
                    f"Available stock of SKU {level.sku_id} at warehouse {level.warehouse_id} "
                    f"fell to {level.available} (reorder point {level.reorder_point})."
                ),
                payload={
                    "available": level.available,
                    "on_hand": level.on_hand,
                    "allocated": level.allocated,
                    "reorder_point": level.reorder_point,
                },
                **self.actor.as_fields(),
            )
            for level in levels
            if level.reorder_point
            and self._available_before[level.pk] >= level.reorder_point > level.available
        ]


def _send_low_stock_events(events: list[StockEvent]) -> None:
    _send_low_stock_email([e.pk for e in events])


def _send_low_stock_email(event_ids: list[int]) -> None:
    events = list(
        StockEvent.objects.filter(pk__in=event_ids)
        .select_related("sku", "warehouse")
        .order_by("id")
    )
    if not events:
        return
    lines = [
        f"- {e.sku.code} ({e.sku.name}) at {e.warehouse.code if e.warehouse else '?'}: "
        f"{e.payload.get('available')} available, reorder point {e.payload.get('reorder_point')}"
        for e in events
    ]
    send_mail(
        subject=f"Low stock: {len(events)} SKU(s) below reorder point",
        message="These stock levels fell below their reorder point:\n\n" + "\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[str(settings.OMS_INVENTORY_CONTACT_EMAIL)],
    )


__all__ = [
    "MovementKind",
    "StockBook",
    "ensure_and_lock_levels",
    "joins_transaction",
    "lock_levels",
    "lock_skus",
    "require_positive",
    "require_reason",
]
