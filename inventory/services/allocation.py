"""Allocation: promise stock to order lines, release it, ship it, and fill backorders.

Inventory knows nothing of orders. It is given *lines* — ``AllocationLine(line_ref, sku_id,
quantity)`` — and a ``reference`` that groups them, and answers with what it allocated where
and what it backordered, always in the line's own units (bundle units for a bundle line).

Warehouse choice (``stock_allocate``)
-------------------------------------
Candidate warehouses are the active ones that ship to the destination country (an empty
``ships_to_countries`` ships anywhere) and serve the channel (no channels listed: every
channel).

1. One parcel if possible: the first warehouse, by ``(priority, id)``, that can supply every
   line in full gets the whole order.
2. Otherwise split with as few parcels as we can find greedily: repeatedly take the
   warehouse that covers the most still-missing units (ties: priority, then id), give it
   everything it can supply, and go on with the rest until all is covered or no warehouse
   can add anything.
3. What is still missing is the shortfall. ``allow_backorder=False`` makes the order
   all-or-nothing: any shortfall raises ``OutOfStock`` (409) naming the short SKUs, and
   nothing is written. With ``allow_backorder=True`` a short line keeps what was found and
   backorders the rest where the SKU or the channel allows backorders (no channel: the
   caller decides); a short line that may not be backordered still refuses the whole order.

A bundle unit is always taken whole from one warehouse (a box ships as one parcel): its
components are allocated there together. Non-physical SKUs (and bundles with no physical
component) allocate nothing and are never backordered.

Concurrency: the SKUs are advisory-locked *shared* (receipts take them exclusive, see
``ledger.lock_skus``), then every candidate stock row is locked ``FOR UPDATE`` in
primary-key order in one statement before anything is decided, so two orders touching
overlapping SKUs queue instead of deadlocking, and the database's CheckConstraint
(allocated ≤ on hand) backs the Python check. The stock-row lock is a statement of its own,
after the one that took the SKU locks: under READ COMMITTED it then reads with a snapshot
taken after the locks were granted, so it sees a receipt that held them (a stock row the
receipt created included) — a lock taken inside the same statement would not.

Query budget on PostgreSQL, whatever the number of lines, backorders and low-stock alerts
included: 3 — SKU/bundle lookup with the SKU locks, stock-row lock, and one statement that
writes the stock UPDATE and the ledger, allocation, backorder and low-stock INSERTs
(``oms.core.bulk``). Elsewhere (SQLite) one query per step. No savepoints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.bulk import Writes
from oms.core.db import is_postgres, prepared_cursor
from oms.core.errors import ApplicationError, Conflict, NotFound, ValidationError
from oms.core.models import Channel
from oms.core.rows import new_row
from oms.core.selectors import ModelRow
from oms.core.transactions import on_commit, on_commit_once, retry_on_deadlock
from oms.core.transitions import check_transition

from .. import errors, hooks
from ..errors import OutOfStock
from ..models import (
    BACKORDER_TRANSITIONS,
    Allocation,
    Backorder,
    BackorderStatus,
    BundleComponent,
    MovementKind,
    Sku,
    StockEvent,
    StockEventKind,
    StockLevel,
    StockMovement,
    Warehouse,
)
from .ledger import (
    SKU_LOCK_CLASS,
    StockBook,
    joins_transaction,
    lock_levels,
    lock_skus,
    require_positive,
)

# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, slots=True)
class AllocationLine:
    line_ref: str
    sku_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class AllocatedPart:
    line_ref: str
    sku_id: int
    warehouse_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class BackorderedPart:
    line_ref: str
    sku_id: int
    quantity: int


@dataclass(slots=True)
class AllocationResult:
    allocations: list[AllocatedPart] = field(default_factory=list)
    backordered: list[BackorderedPart] = field(default_factory=list)

    @property
    def fully_allocated(self) -> bool:
        return not self.backordered

    def allocated_quantity(self, line_ref: str) -> int:
        return sum(p.quantity for p in self.allocations if p.line_ref == line_ref)

    def backordered_quantity(self, line_ref: str) -> int:
        return sum(p.quantity for p in self.backordered if p.line_ref == line_ref)

    @property
    def warehouse_ids(self) -> list[int]:
        return sorted({p.warehouse_id for p in self.allocations})


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    """Line units released from allocations and cancelled from open backorders."""

    released: int
    backorder_cancelled: int


@dataclass(frozen=True, slots=True)
class _SkuInfo:
    id: int
    code: str
    allow_backorder: bool
    # (component sku_id, units per line unit); empty when nothing needs stock.
    parts: tuple[tuple[int, int], ...]


# --------------------------------------------------------------------------- sku lookup


_SkuRow = tuple[int, str, bool, bool, bool, "int | None", "int | None", "bool | None"]


def _infos_from_rows(rows: Iterable[_SkuRow]) -> dict[int, _SkuInfo]:
    """(id, code, is_physical, is_bundle, allow_backorder, component id, component quantity,
    component is_physical) rows — one per bundle component — into what each SKU needs."""
    found: dict[int, dict] = {}
    for sku_id, code, physical, bundle, backorder, comp_id, comp_qty, comp_physical in rows:
        entry = found.setdefault(
            sku_id,
            {
                "code": code,
                "physical": physical,
                "bundle": bundle,
                "backorder": backorder,
                "parts": [],
            },
        )
        if bundle and comp_id is not None and comp_physical:
            entry["parts"].append((comp_id, comp_qty))
    infos = {}
    for sku_id, e in found.items():
        if e["bundle"]:
            parts = tuple(sorted(e["parts"]))
        else:
            parts = ((sku_id, 1),) if e["physical"] else ()
        infos[sku_id] = _SkuInfo(sku_id, e["code"], e["backorder"], parts)
    return infos


def sku_parts(sku_ids: Iterable[int]) -> dict[int, _SkuInfo]:
    """What stock each SKU needs, in one query (bundles joined to their components)."""
    rows = Sku.objects.filter(pk__in=set(sku_ids)).values_list(
        "id",
        "code",
        "is_physical",
        "is_bundle",
        "allow_backorder",
        "components__component_id",
        "components__quantity",
        "components__component__is_physical",
    )
    return _infos_from_rows(rows)


# The SKUs with what they need, and — in the same statement — the shared advisory locks on
# every SKU whose stock they need (the same keys as ``ledger.lock_skus``), taken in id order:
# PostgreSQL evaluates the volatile lock calls after the ORDER BY. The stock rows are locked
# by the *next* statement, so under READ COMMITTED that one takes a fresh snapshot after the
# locks were granted and sees whatever a receipt that held them committed.
_SKU_PARTS_LOCKED = """
WITH info AS MATERIALIZED (
    SELECT s.id, s.code, s.is_physical, s.is_bundle, s.allow_backorder,
           bc.component_id, bc.quantity, c.is_physical AS component_physical
    FROM inventory_sku s
    LEFT JOIN inventory_bundlecomponent bc ON bc.bundle_id = s.id
    LEFT JOIN inventory_sku c ON c.id = bc.component_id
    WHERE s.id = ANY(%s)
), locked AS MATERIALIZED (
    SELECT pg_advisory_xact_lock_shared(%s, k)
    FROM (
        SELECT DISTINCT (CASE WHEN is_bundle THEN component_id ELSE id END)::int AS k
        FROM info
        WHERE CASE WHEN is_bundle THEN component_id IS NOT NULL AND component_physical
                   ELSE is_physical END
    ) stock_skus
    ORDER BY k
)
SELECT info.*, (SELECT count(*) FROM locked) FROM info
"""


def sku_parts_locked_shared(sku_ids: Iterable[int]) -> dict[int, _SkuInfo]:
    """``sku_parts`` plus the shared SKU locks an allocation takes before it locks stock
    rows (``ledger.lock_skus``), in one round trip on PostgreSQL."""
    ids = sorted(set(sku_ids))
    if not is_postgres():
        infos = sku_parts(ids)
        lock_skus({sku for info in infos.values() for sku, _ in info.parts}, shared=True)
        return infos
    with prepared_cursor() as cursor:
        cursor.execute(_SKU_PARTS_LOCKED, [ids, SKU_LOCK_CLASS])
        return _infos_from_rows(row[:8] for row in cursor.fetchall())


# --------------------------------------------------------------------------- planning


Avail = dict[tuple[int, int], int]  # (warehouse_id, sku_id) -> available units


def _capacity(avail: Avail, warehouse_id: int, parts: tuple[tuple[int, int], ...]) -> int:
    return min(avail.get((warehouse_id, sku), 0) // per for sku, per in parts)


def _take(
    avail: Avail, warehouse_id: int, needs: Sequence[tuple[int, tuple[tuple[int, int], ...], int]]
) -> list[tuple[int, int]]:
    """Take from one warehouse as much of each need (index, parts, units) as it can, in line
    order, consuming ``avail``. Returns [(index, units taken)]."""
    taken = []
    for index, parts, units in needs:
        got = min(units, _capacity(avail, warehouse_id, parts))
        if got:
            for sku, per in parts:
                avail[(warehouse_id, sku)] -= got * per
            taken.append((index, got))
    return taken


def plan_allocation(
    needs: list[tuple[int, tuple[tuple[int, int], ...], int]],
    avail: Avail,
    warehouses: list[int],
) -> tuple[dict[int, list[tuple[int, int]]], dict[int, int]]:
    """The written strategy (module docstring). ``warehouses`` come in (priority, id) order.
    Returns ({need index: [(warehouse_id, units)]}, {need index: units short})."""
    plan: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for warehouse_id in warehouses:
        trial = dict(avail)
        taken = _take(trial, warehouse_id, needs)
        if sum(u for _, u in taken) == sum(units for _, _, units in needs):
            for index, units in taken:
                plan[index].append((warehouse_id, units))
            return plan, {}
    remaining = {index: units for index, _, units in needs}
    parts_of = {index: parts for index, parts, _ in needs}
    candidates = list(warehouses)
    while candidates and any(remaining.values()):
        open_needs = [(i, parts_of[i], u) for i, u in remaining.items() if u]
        best, best_cover = None, 0
        for warehouse_id in candidates:  # in priority order: the first best wins ties
            cover = sum(u for _, u in _take(dict(avail), warehouse_id, open_needs))
            if cover > best_cover:
                best, best_cover = warehouse_id, cover
        if best is None:
            break
        for index, units in _take(avail, best, open_needs):
            plan[index].append((best, units))
            remaining[index] -= units
        candidates.remove(best)
    return plan, {i: u for i, u in remaining.items() if u}


# --------------------------------------------------------------------------- allocate


@dataclass(frozen=True, slots=True)
class AllocationRequest:
    """One order's worth of lines for ``stock_allocate_many``."""

    lines: Sequence[AllocationLine]
    reference: str
    destination_country: str | None = None
    channel: Channel | None = None
    allow_backorder: bool = False


@joins_transaction
def stock_allocate(
    *,
    lines: Sequence[AllocationLine],
    reference: str,
    destination_country: str | None = None,
    channel: Channel | None = None,
    allow_backorder: bool = False,
    actor: Actor,
    writes: Writes | None = None,
) -> AllocationResult:
    """Allocate every line by the strategy in this module's docstring. Joins the caller's
    transaction; raises ``OutOfStock`` before writing anything. ``writes``: add the stock
    writes to the caller's batch (``oms.core.bulk``) instead of running them now, so they
    share the caller's one statement."""
    (outcome,) = stock_allocate_many(
        requests=[
            AllocationRequest(
                lines=lines,
                reference=reference,
                destination_country=destination_country,
                channel=channel,
                allow_backorder=allow_backorder,
            )
        ],
        actor=actor,
        writes=writes,
    )
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _check_lines(lines: Sequence[AllocationLine]) -> None:
    refs = [line.line_ref for line in lines]
    if len(set(refs)) != len(refs):
        raise ValidationError(
            "Each line_ref may appear once.", fields={"lines": ["Duplicate line_ref."]}
        )
    for line in lines:
        require_positive(line.quantity)


@joins_transaction
def stock_allocate_many(
    *,
    requests: Sequence[AllocationRequest],
    actor: Actor,
    writes: Writes | None = None,
) -> list[AllocationResult | ApplicationError]:
    """Allocate several orders at once, in request order, each by the strategy in this
    module's docstring, with the query budget of one: the SKU locks of every request, one
    lock of every stock row they may draw from (primary-key order), one write. A request
    that cannot be served (``OutOfStock``, bad lines) gets its error in its place in the
    answer and writes nothing; the others go on. Joins the caller's transaction."""
    outcomes: list[AllocationResult | ApplicationError] = [AllocationResult() for _ in requests]
    for n, request in enumerate(requests):
        try:
            _check_lines(request.lines)
        except ApplicationError as exc:
            outcomes[n] = exc
    wanted = {line.sku_id for r in requests for line in r.lines}
    infos = sku_parts_locked_shared(wanted) if wanted else {}
    stock_sku_ids: set[int] = set()
    for n, request in enumerate(requests):
        unknown = sorted({line.sku_id for line in request.lines} - set(infos))
        if unknown and not isinstance(outcomes[n], Exception):
            outcomes[n] = NotFound(
                f"Unknown SKU id(s) {unknown}.",
                code=errors.UNKNOWN_SKU,
                fields={"sku_ids": unknown},
            )
        if not isinstance(outcomes[n], Exception):
            for line in request.lines:
                stock_sku_ids.update(sku for sku, _ in infos[line.sku_id].parts)
    if not stock_sku_ids:
        return outcomes

    levels = _candidate_levels_locked(stock_sku_ids)
    by_key = {(lv.warehouse_id, lv.sku_id): lv for lv in levels}
    sites = _sites(levels)
    avail = {key: lv.available for key, lv in by_key.items()}
    book = StockBook(actor=actor)
    allocation_rows: list[Allocation] = []
    backorders: list[Backorder] = []
    for n, request in enumerate(requests):
        if isinstance(outcomes[n], Exception):
            continue
        try:
            outcomes[n] = _allocate_one(
                request, infos=infos, sites=sites, avail=avail, by_key=by_key, book=book,
                allocation_rows=allocation_rows, backorders=backorders,
            )  # fmt: skip
        except OutOfStock as exc:
            outcomes[n] = exc
    inserts: list[tuple[type[Any], list[Any]]] = [
        (Allocation, allocation_rows),
        (Backorder, backorders),
    ]
    if writes is None:
        book.flush(inserts=inserts)
    else:
        book.flush(inserts=inserts, into=writes)
    return outcomes


@dataclass(frozen=True, slots=True)
class _Site:
    """A warehouse as allocation sees it."""

    id: int
    priority: int
    ships_to: tuple[str, ...]  # empty: anywhere
    channel_ids: frozenset[int]  # empty: every channel

    def serves(self, country: str | None, channel: Channel | None) -> bool:
        if country and self.ships_to and country.upper() not in self.ships_to:
            return False
        return not (channel is not None and self.channel_ids and channel.pk not in self.channel_ids)


def _sites(levels: list[StockLevel]) -> dict[int, _Site]:
    sites = {}
    for lv in levels:
        if lv.warehouse_id not in sites:
            sites[lv.warehouse_id] = _Site(
                id=lv.warehouse_id,
                priority=lv.warehouse_priority,  # type: ignore[attr-defined]
                ships_to=tuple(c.upper() for c in (lv.warehouse_ships_to or ())),  # type: ignore[attr-defined]
                channel_ids=frozenset(lv.warehouse_channel_ids or ()),  # type: ignore[attr-defined]
            )
    return sites


def _allocate_one(
    request: AllocationRequest,
    *,
    infos: dict[int, _SkuInfo],
    sites: dict[int, _Site],
    avail: Avail,
    by_key: dict[tuple[int, int], StockLevel],
    book: StockBook,
    allocation_rows: list[Allocation],
    backorders: list[Backorder],
) -> AllocationResult:
    """Plan one request against what is still available (``avail``, consumed as it goes),
    record its stock movements in ``book`` and its rows in the lists; raise ``OutOfStock``
    before recording anything."""
    lines = request.lines
    result = AllocationResult()
    needs = [
        (i, infos[line.sku_id].parts, line.quantity)
        for i, line in enumerate(lines)
        if infos[line.sku_id].parts
    ]
    if not needs:
        return result
    serving = [s for s in sites.values() if s.serves(request.destination_country, request.channel)]
    warehouses = [s.id for s in sorted(serving, key=lambda s: (s.priority, s.id))]
    # plan_allocation consumes what it is given while it splits: hand it a copy.
    skus = {sku for _, parts, _ in needs for sku, _ in parts}
    trial = {(w, sku): avail.get((w, sku), 0) for w in warehouses for sku in skus}
    plan, short = plan_allocation(needs, trial, warehouses)

    if short:
        channel = request.channel
        channel_allows = channel is None or channel.allow_backorders
        refused = {
            infos[lines[i].sku_id].code: units
            for i, units in short.items()
            if not (
                request.allow_backorder
                and (infos[lines[i].sku_id].allow_backorder or channel_allows)
            )
        }
        if refused:
            raise OutOfStock(refused)

    for index, placements in sorted(plan.items()):
        line = lines[index]
        for warehouse_id, units in placements:
            for sku_id, per in infos[line.sku_id].parts:
                avail[(warehouse_id, sku_id)] -= units * per
                book.move(
                    by_key[(warehouse_id, sku_id)],
                    kind=MovementKind.ALLOCATION,
                    allocated_delta=units * per,
                    reason=request.reference,
                    reference=line.line_ref,
                )
                allocation_rows.append(
                    new_row(
                        Allocation,
                        line_ref=line.line_ref,
                        reference=request.reference,
                        line_sku_id=line.sku_id,
                        sku_id=sku_id,
                        warehouse_id=warehouse_id,
                        per_unit=per,
                        quantity=units * per,
                    )
                )
            result.allocations.append(
                AllocatedPart(line.line_ref, line.sku_id, warehouse_id, units)
            )
    for index, units in sorted(short.items()):
        line = lines[index]
        backorders.append(
            Backorder(
                line_ref=line.line_ref,
                reference=request.reference,
                sku_id=line.sku_id,
                quantity=units,
                destination_country=(request.destination_country or "").upper(),
                channel=request.channel,
            )
        )
        result.backordered.append(BackorderedPart(line.line_ref, line.sku_id, units))
    return result


_levels_sql: tuple[str, ModelRow[StockLevel], list[Any], Any] | None = None


def _candidate_levels_locked(sku_ids: set[int]) -> list[StockLevel]:
    """Every stock row of ``sku_ids`` in an active warehouse, locked in primary-key order,
    with what each request needs to know of its warehouse (priority, countries, channels)
    — in one statement on PostgreSQL. Which of them a request may draw from is decided per
    request (``_Site.serves``), so one lock statement serves a whole batch.

    On PostgreSQL the statement is written by hand (every intake runs it; compiling it
    through the ORM cost more Python than the rest of the allocation)."""
    if is_postgres():
        return _candidate_levels_locked_sql(sku_ids)
    queryset = StockLevel.objects.filter(sku_id__in=sku_ids, warehouse__is_active=True).annotate(
        warehouse_priority=F("warehouse__priority"),
        warehouse_ships_to=F("warehouse__ships_to_countries"),
    )
    levels = lock_levels(queryset)
    through = Warehouse.channels.through.objects
    channels: dict[int, set[int]] = defaultdict(set)
    for warehouse_id, channel_id in through.filter(
        warehouse_id__in={lv.warehouse_id for lv in levels}
    ).values_list("warehouse_id", "channel_id"):
        channels[warehouse_id].add(channel_id)
    for lv in levels:
        lv.warehouse_channel_ids = channels.get(lv.warehouse_id, set())  # type: ignore[attr-defined]
    return levels


def _candidate_levels_locked_sql(sku_ids: set[int]) -> list[StockLevel]:
    if not sku_ids:
        return []
    global _levels_sql
    if _levels_sql is None:
        row, quote = ModelRow(StockLevel, "s"), connection.ops.quote_name
        ships = Warehouse._meta.get_field("ships_to_countries")
        channels = Warehouse.channels.through._meta.db_table
        sql = (
            f"SELECT {row.columns}, w.{quote('priority')}, w.{quote(str(ships.column))}, "
            f"ARRAY(SELECT wc.{quote('channel_id')} FROM {quote(channels)} wc "
            f"WHERE wc.{quote('warehouse_id')} = s.{quote('warehouse_id')}) "
            f"FROM {quote(StockLevel._meta.db_table)} s "
            f"JOIN {quote(Warehouse._meta.db_table)} w ON w.{quote('id')} = s.{quote('warehouse_id')} "
            f"WHERE s.{quote('sku_id')} = ANY(%s) AND w.{quote('is_active')} "
            f"ORDER BY s.{quote('id')} FOR UPDATE OF s"
        )
        # ships_to_countries is JSON: converted as the ORM converts it for the annotation.
        _levels_sql = (sql, row, ships.get_db_converters(connection), ships.get_col("w"))
    sql, row, converters, expression = _levels_sql
    with prepared_cursor() as cursor:
        cursor.execute(sql, [sorted(sku_ids)])
        rows = cursor.fetchall()
    levels = []
    for found in rows:
        level = row.build(found)
        priority, ships_to, channel_ids = found[row.width :]
        for convert in converters:
            ships_to = convert(ships_to, expression, connection)
        level.warehouse_priority = priority  # type: ignore[attr-defined]
        level.warehouse_ships_to = ships_to  # type: ignore[attr-defined]
        level.warehouse_channel_ids = channel_ids  # type: ignore[attr-defined]
        levels.append(level)
    return levels


# --------------------------------------------------------------------------- release / ship


def _units_by_warehouse(rows: Iterable[Allocation]) -> dict[int, int]:
    """Line units allocated per warehouse for one line (a bundle unit needs every
    component): per warehouse, the smallest of (component units held // per unit)."""
    held: dict[tuple[int, int], int] = defaultdict(int)
    per_unit: dict[tuple[int, int], int] = {}
    for row in rows:
        held[(row.warehouse_id, row.sku_id)] += row.quantity
        per_unit[(row.warehouse_id, row.sku_id)] = row.per_unit
    units: dict[int, int] = {}
    for (warehouse_id, sku_id), quantity in held.items():
        have = quantity // per_unit[(warehouse_id, sku_id)]
        units[warehouse_id] = min(units.get(warehouse_id, have), have)
    return units


def _drain(rows: list[Allocation], amount: int) -> list[tuple[Allocation, int]]:
    """Take ``amount`` component units from rows of one (sku, warehouse), newest first."""
    taken = []
    for row in sorted(rows, key=lambda r: -r.pk):
        if not amount:
            break
        take = min(row.quantity, amount)
        if take:
            taken.append((row, take))
            amount -= take
    return taken


@joins_transaction
def stock_release(
    *, line_ref: str, quantity: int | None = None, actor: Actor, reason: str
) -> ReleaseResult:
    """Give back a line's stock (cancellation, order edit). ``quantity`` in line units, None
    for everything. Open backorders are cancelled first (they hold no stock), then
    allocations, newest warehouse first. Releasing a line with nothing outstanding is a
    no-op; releasing more than is outstanding is refused (nothing changes). Freed units go
    to waiting backorders once the release commits (``_offer_freed_stock``)."""
    if quantity is not None:
        require_positive(quantity)
    return _release({line_ref: quantity}, actor=actor, reason=reason)[line_ref]


@joins_transaction
def stock_release_lines(
    *, line_refs: Sequence[str], actor: Actor, reason: str
) -> dict[str, ReleaseResult]:
    """Release everything several lines hold (an order cancellation) with the same,
    constant number of queries as one line."""
    return _release(dict.fromkeys(line_refs), actor=actor, reason=reason)


def _release(
    wanted_by_line: dict[str, int | None], *, actor: Actor, reason: str
) -> dict[str, ReleaseResult]:
    refs = list(wanted_by_line)
    rows = list(
        Allocation.objects.select_for_update()
        .filter(line_ref__in=refs, quantity__gt=0)
        .order_by("pk")
    )
    pairs = {(r.sku_id, r.warehouse_id) for r in rows}
    levels = {}
    if pairs:
        match = Q()
        for s, w in sorted(pairs):
            match |= Q(sku_id=s, warehouse_id=w)
        levels = {
            (lv.sku_id, lv.warehouse_id): lv for lv in lock_levels(StockLevel.objects.filter(match))
        }
    open_backorders = list(
        Backorder.objects.select_for_update()
        .filter(line_ref__in=refs, status=BackorderStatus.OPEN)
        .order_by("pk")
    )
    rows_of: dict[str, list[Allocation]] = defaultdict(list)
    for row in rows:
        rows_of[row.line_ref].append(row)
    backorders_of: dict[str, list[Backorder]] = defaultdict(list)
    for backorder in open_backorders:
        backorders_of[backorder.line_ref].append(backorder)

    now = timezone.now()
    book = StockBook(actor=actor)
    changed_rows: dict[int, Allocation] = {}
    changed_backorders = []
    results = {}
    for line_ref, quantity in wanted_by_line.items():
        line_rows = rows_of[line_ref]
        units_at = _units_by_warehouse(line_rows)
        allocated_units = sum(units_at.values())
        backordered_units = sum(b.quantity for b in backorders_of[line_ref])
        wanted = allocated_units + backordered_units if quantity is None else quantity
        if wanted > allocated_units + backordered_units:
            raise Conflict(
                f"Line {line_ref} has {allocated_units} allocated and {backordered_units} "
                f"backordered; cannot release {wanted}.",
                code=errors.NOT_ALLOCATED,
            )
        cancelled = 0
        for backorder in backorders_of[line_ref]:
            if cancelled == wanted:
                break
            take = min(backorder.quantity, wanted - cancelled)
            backorder.quantity -= take
            cancelled += take
            if backorder.quantity == 0:
                check_transition(
                    BACKORDER_TRANSITIONS,
                    entity="Backorder",
                    current=backorder.status,
                    target=BackorderStatus.CANCELLED,
                )
                backorder.status = BackorderStatus.CANCELLED
            backorder.updated_at = now
            changed_backorders.append(backorder)
        to_release, released = wanted - cancelled, 0
        newest = {w: max(r.pk for r in line_rows if r.warehouse_id == w) for w in units_at}
        for warehouse_id in sorted(units_at, key=lambda w: -newest[w]):
            units = min(units_at[warehouse_id], to_release - released)
            if not units:
                continue
            by_sku: dict[int, list[Allocation]] = defaultdict(list)
            for row in line_rows:
                if row.warehouse_id == warehouse_id:
                    by_sku[row.sku_id].append(row)
            for sku_id, sku_rows in sorted(by_sku.items()):
                amount = units * sku_rows[0].per_unit
                book.move(
                    levels[(sku_id, warehouse_id)],
                    kind=MovementKind.RELEASE,
                    allocated_delta=-amount,
                    reason=reason,
                    reference=line_ref,
                )
                for row, take in _drain(sku_rows, amount):
                    row.quantity -= take
                    row.quantity_released += take
                    row.updated_at = now
                    changed_rows[row.pk] = row
            released += units
        results[line_ref] = ReleaseResult(released=released, backorder_cancelled=cancelled)
    book.flush()
    if changed_rows:
        Allocation.objects.bulk_update(
            list(changed_rows.values()), ["quantity", "quantity_released", "updated_at"]
        )
        on_commit_once(_offer_freed_stock)
    if changed_backorders:
        Backorder.objects.bulk_update(changed_backorders, ["quantity", "status", "updated_at"])
    return results


def _offer_freed_stock() -> None:
    """Once a release has committed, give the units it freed to the backorders waiting for
    them, oldest first (``inventory.fill_backorders_from_stock``: queued on the broker, run
    here when Celery runs eagerly). All open backorders are looked at, not only the freed
    SKUs': a bundle's backorder waits on its components' stock. With none open it is one
    query."""
    from ..tasks import fill_backorders_from_stock

    fill_backorders_from_stock.delay()


@joins_transaction
def stock_ship(
    *, line_ref: str, warehouse_id: int, quantity: int, reference: str, actor: Actor
) -> list[StockMovement]:
    """A parcel left ``warehouse_id`` with ``quantity`` line units: the allocation becomes a
    shipment (on hand and allocated both drop). Refused unless that much is allocated
    there. Returns the ledger rows written."""
    require_positive(quantity)
    rows = list(
        Allocation.objects.select_for_update()
        .filter(line_ref=line_ref, warehouse_id=warehouse_id, quantity__gt=0)
        .order_by("pk")
    )
    have = _units_by_warehouse(rows).get(warehouse_id, 0)
    if have < quantity:
        raise Conflict(
            f"Line {line_ref} has {have} unit(s) allocated at warehouse {warehouse_id}; "
            f"cannot ship {quantity}.",
            code=errors.NOT_ALLOCATED,
            fields={"allocated": have},
        )
    match = Q()
    for row in rows:
        match |= Q(sku_id=row.sku_id, warehouse_id=warehouse_id)
    levels = {lv.sku_id: lv for lv in lock_levels(StockLevel.objects.filter(match))}
    book = StockBook(actor=actor)
    now = timezone.now()
    remaining = {row.sku_id: quantity * row.per_unit for row in rows}
    for row in rows:
        amount = min(row.quantity, remaining[row.sku_id])
        if not amount:
            continue
        remaining[row.sku_id] -= amount
        book.move(
            levels[row.sku_id],
            kind=MovementKind.SHIPMENT,
            quantity=-amount,
            allocated_delta=-amount,
            reason=f"shipped for {line_ref}",
            reference=reference,
            payload={"line_ref": line_ref},
        )
        row.quantity -= amount
        row.quantity_shipped += amount
        row.updated_at = now
    written = book.flush()
    Allocation.objects.bulk_update(rows, ["quantity", "quantity_shipped", "updated_at"])
    return written


# --------------------------------------------------------------------------- backorders


def backorder_fill_candidates(sku_ids: set[int]) -> tuple[list[Backorder], dict[int, _SkuInfo]]:
    """Open backorders that stock of ``sku_ids`` could help (plain SKUs or bundles holding
    them), unlocked, and what each of their SKUs needs. Two queries."""
    bundles = BundleComponent.objects.filter(component_id__in=sku_ids).values("bundle_id")
    backorders = list(
        Backorder.objects.filter(status=BackorderStatus.OPEN).filter(
            Q(sku_id__in=sku_ids) | Q(sku_id__in=bundles)
        )
    )
    infos = sku_parts({b.sku_id for b in backorders}) if backorders else {}
    return backorders, infos


def fill_backorders(
    *,
    book: StockBook,
    warehouse: Warehouse,
    levels: dict[tuple[int, int], StockLevel],
    candidates: list[Backorder],
    infos: dict[int, _SkuInfo],
    actor: Actor,
) -> list[tuple[str, int, int, int]]:
    """Allocate stock at ``warehouse`` (already locked in ``levels`` by (sku_id,
    warehouse_id), with the book's pending moves applied) to open backorders, oldest first.
    A backorder that cannot be filled does not block younger ones. Returns the
    (line_ref, sku_id, warehouse_id, quantity) fills to announce."""
    if not candidates or not warehouse.is_active:
        return []
    channel_ids = set(warehouse.channels.values_list("id", flat=True))
    eligible = [
        b.pk
        for b in candidates
        if (not b.destination_country or warehouse.ships_to(b.destination_country))
        and (not channel_ids or b.channel_id is None or b.channel_id in channel_ids)
    ]
    if not eligible:
        return []
    locked = list(
        Backorder.objects.select_for_update()
        .filter(pk__in=eligible, status=BackorderStatus.OPEN)
        .order_by("pk")
    )
    locked.sort(key=lambda b: (b.created_at, b.pk))
    now = timezone.now()
    fills = []
    allocation_rows = []
    events = []
    changed = []
    for backorder in locked:
        parts = infos[backorder.sku_id].parts
        if not parts:
            continue
        capacity = min(
            (levels[(sku, warehouse.pk)].available // per) if (sku, warehouse.pk) in levels else 0
            for sku, per in parts
        )
        units = min(capacity, backorder.quantity)
        if not units:
            continue
        for sku, per in parts:
            book.move(
                levels[(sku, warehouse.pk)],
                kind=MovementKind.ALLOCATION,
                allocated_delta=units * per,
                reason=f"backorder {backorder.pk} filled",
                reference=backorder.line_ref,
            )
            allocation_rows.append(
                Allocation(
                    line_ref=backorder.line_ref,
                    reference=backorder.reference,
                    line_sku_id=backorder.sku_id,
                    sku_id=sku,
                    warehouse_id=warehouse.pk,
                    per_unit=per,
                    quantity=units * per,
                )
            )
        backorder.quantity -= units
        backorder.quantity_filled += units
        backorder.updated_at = now
        if backorder.quantity == 0:
            check_transition(
                BACKORDER_TRANSITIONS,
                entity="Backorder",
                current=backorder.status,
                target=BackorderStatus.FILLED,
            )
            backorder.status = BackorderStatus.FILLED
        changed.append(backorder)
        events.append(
            StockEvent(
                kind=StockEventKind.BACKORDER_FILLED,
                sku_id=backorder.sku_id,
                warehouse=warehouse,
                message=f"{units} unit(s) for {backorder.line_ref} ({backorder.reference})",
                payload={
                    "backorder_id": backorder.pk,
                    "line_ref": backorder.line_ref,
                    "quantity": units,
                },
                **actor.as_fields(),
            )
        )
        fills.append((backorder.line_ref, backorder.sku_id, warehouse.pk, units))
    if changed:
        book.flush()
        Allocation.objects.bulk_create(allocation_rows)
        Backorder.objects.bulk_update(
            changed, ["quantity", "quantity_filled", "status", "updated_at"]
        )
        StockEvent.objects.bulk_create(events)
    return fills


def announce_fills(fills: list[tuple[str, int, int, int]]) -> None:
    for line_ref, sku_id, warehouse_id, quantity in fills:
        for callback in list(hooks.backorder_filled):
            callback(line_ref, sku_id, warehouse_id, quantity)
        for callback in list(hooks.backorder_filled_after_commit):
            on_commit(callback, line_ref, sku_id, warehouse_id, quantity)


@retry_on_deadlock
@joins_transaction
def backorders_fill_from_stock(
    *, actor: Actor, sku_ids: Sequence[int] | None = None
) -> list[tuple[str, int, int, int]]:
    """Sweep: fill open backorders (oldest first) from stock that is available now — stock
    freed by cancellations or edits, which no receipt announces. Warehouses are tried by
    priority. Returns the fills, announced through ``hooks.backorder_filled`` like a
    receipt's. Runs on its own (a task or an operator action), never inside an order's
    transaction."""
    queryset = Backorder.objects.filter(status=BackorderStatus.OPEN)
    if sku_ids is not None:
        queryset = queryset.filter(sku_id__in=sku_ids)
    ordered = set(queryset.values_list("sku_id", flat=True))
    if not ordered:
        return []
    stock_skus = {sku for info in sku_parts(ordered).values() for sku, _ in info.parts}
    if not stock_skus:
        return []
    lock_skus(stock_skus, shared=False)
    candidates, infos = backorder_fill_candidates(stock_skus)
    if sku_ids is not None:
        candidates = [b for b in candidates if b.sku_id in ordered]
    levels = {
        (lv.sku_id, lv.warehouse_id): lv
        for lv in lock_levels(
            StockLevel.objects.filter(sku_id__in=stock_skus, warehouse__is_active=True)
        )
    }
    warehouse_ids = {w for _, w in levels}
    book = StockBook(actor=actor)
    fills: list[tuple[str, int, int, int]] = []
    for warehouse in Warehouse.objects.filter(pk__in=warehouse_ids).order_by("priority", "id"):
        fills += fill_backorders(
            book=book,
            warehouse=warehouse,
            levels=levels,
            candidates=candidates,
            infos=infos,
            actor=actor,
        )
    book.flush()
    announce_fills(fills)
    return fills
