"""Helpers every order service shares: the lock, the one status guard, event rows, address
cleaning, and the calls into inventory and up through ``orders.hooks``."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from inventory import services as inventory
from oms.core.actors import Actor
from oms.core.bulk import Writes
from oms.core.countries import is_country_code
from oms.core.errors import ApplicationError, ValidationError
from oms.core.rows import new_row
from oms.core.transactions import on_commit
from oms.core.transitions import check_transition

from .. import errors, hooks
from ..models import (
    ALLOWED_TRANSITIONS,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    OrderStatus,
)

logger = logging.getLogger(__name__)

ADDRESS_FIELDS = (
    "name",
    "company",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)
ADDRESS_REQUIRED = ("line1", "city", "country")

# The event kind written for a move into each status (others: status_changed).
_KIND_FOR_TARGET: dict[str, str] = {
    OrderStatus.PLACED: OrderEventKind.PLACED,
    OrderStatus.ON_HOLD: OrderEventKind.HELD,
    OrderStatus.CANCELLED: OrderEventKind.CANCELLED,
    OrderStatus.DELIVERED: OrderEventKind.DELIVERED,
}


def lock_order(order: Order | int) -> Order:
    """Re-read the order row FOR UPDATE. Every status change and edit takes this lock first
    (then, if needed, stock rows inside inventory): one order, one writer at a time."""
    pk = order if isinstance(order, int) else order.pk
    return Order.objects.select_for_update().get(pk=pk)


def event(
    *,
    order: Order,
    kind: str,
    actor: Actor,
    message: str = "",
    payload: dict[str, Any] | None = None,
) -> OrderEvent:
    """An unsaved event row (bulk-inserted by intake, saved at once elsewhere)."""
    return new_row(
        OrderEvent,
        order=order,
        kind=kind,
        message=message,
        payload=payload or {},
        **actor.as_fields(),
    )


def transition(
    order: Order,
    target: str,
    *,
    actor: Actor,
    kind: str | None = None,
    message: str = "",
    payload: dict[str, Any] | None = None,
    save: bool = True,
) -> OrderEvent:
    """The one place an order's status changes: check the move against ALLOWED_TRANSITIONS
    (InvalidTransition names both states), set it, and write the event. The caller holds the
    row lock (``lock_order``). With ``save=False`` nothing is written: the caller saves the
    order and bulk-inserts the returned event (intake, where every query counts)."""
    current = order.status
    check_transition(ALLOWED_TRANSITIONS, entity="Order", current=current, target=target)
    order.status = target
    row = event(
        order=order,
        kind=kind or _KIND_FOR_TARGET.get(target, OrderEventKind.STATUS_CHANGED),
        actor=actor,
        message=message,
        payload={"from": current, "to": target, **(payload or {})},
    )
    if save:
        order.save(update_fields=["status", "updated_at"])
        row.save()
    return row


def clean_address(data: dict[str, Any] | None, *, field: str) -> dict[str, str]:
    if not isinstance(data, dict):
        raise ValidationError(
            f"{field} must be an address object.",
            code=errors.INVALID_ADDRESS,
            fields={field: ["Expected an object."]},
        )
    cleaned = {f: str(data.get(f) or "").strip() for f in ADDRESS_FIELDS}
    cleaned["country"] = cleaned["country"].upper()
    problems = {f: ["Required."] for f in ADDRESS_REQUIRED if not cleaned[f]}
    if cleaned["country"] and not is_country_code(cleaned["country"]):
        problems["country"] = [f"'{cleaned['country']}' is not an ISO 3166-1 alpha-2 code."]
    if problems:
        code = errors.INVALID_COUNTRY if "country" in problems else errors.INVALID_ADDRESS
        first = next(iter(problems))
        raise ValidationError(
            f"{field}.{first}: {problems[first][0]}",
            code=code,
            fields={field: problems},
        )
    return cleaned


def status_from_lines(lines: Iterable[OrderLine]) -> str:
    """allocated when nothing waits for stock, else backordered."""
    return (
        OrderStatus.BACKORDERED
        if any(line.backordered_quantity for line in lines)
        else OrderStatus.ALLOCATED
    )


# ----------------------------------------------------------------------------- inventory


def stock_allocate(
    *,
    order: Order,
    lines: list[OrderLine],
    actor: Actor,
    quantities: dict[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Allocate units of ``lines`` (physical ones only): ``quantities`` (line pk → units) or
    each line's whole quantity. The units found are added to each line's
    ``allocated_quantity``, the shortfall to its ``backordered_quantity`` (the line's own
    units, bundles included). Returns the parts for the event payload. Raises inventory's
    OutOfStock (409) where neither the SKU nor the channel allows a backorder."""
    (outcome,) = stock_allocate_many(orders=[(order, lines)], actor=actor, quantities=quantities)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def stock_allocate_many(
    *,
    orders: list[tuple[Order, list[OrderLine]]],
    actor: Actor,
    quantities: dict[int, int] | None = None,
    writes: Writes | None = None,
) -> list[list[dict[str, Any]] | ApplicationError]:
    """``stock_allocate`` for several orders in one inventory call (intake of a batch):
    each order gets its parts, or the error that refused it (its lines unchanged).
    ``writes``: the caller's batch for the stock writes."""
    wanted_of: list[dict[str, tuple[OrderLine, int]]] = []
    requests: list[inventory.AllocationRequest] = []
    for order, lines in orders:
        wanted = {
            line.stock_ref: (line, (quantities or {}).get(line.pk, line.quantity))
            for line in lines
            if line.is_physical
        }
        wanted = {ref: item for ref, item in wanted.items() if item[1] > 0}
        wanted_of.append(wanted)
        if wanted:
            requests.append(
                inventory.AllocationRequest(
                    lines=[
                        inventory.AllocationLine(line_ref=ref, sku_id=line.sku_id, quantity=units)
                        for ref, (line, units) in wanted.items()
                    ],
                    reference=order.reference,
                    destination_country=order.shipping_address.get("country", ""),
                    channel=order.channel,
                    # Inventory backorders a short line where the SKU or the channel allows it.
                    allow_backorder=True,
                )
            )
    results = iter(
        inventory.stock_allocate_many(requests=requests, actor=actor, writes=writes)
        if requests
        else []
    )
    answers: list[list[dict[str, Any]] | ApplicationError] = []
    for wanted in wanted_of:
        if not wanted:
            answers.append([])
            continue
        result = next(results)
        if isinstance(result, Exception):
            answers.append(result)
            continue
        short: dict[str, int] = defaultdict(int)
        for part in result.backordered:
            short[part.line_ref] += part.quantity
        for ref, (line, units) in wanted.items():
            missing = min(short[ref], units)
            line.backordered_quantity += missing
            line.allocated_quantity += units - missing
        answers.append(
            [
                {
                    "line_ref": p.line_ref,
                    "sku_id": p.sku_id,
                    "warehouse_id": p.warehouse_id,
                    "quantity": p.quantity,
                }
                for p in result.allocations
            ]
            + [
                {"line_ref": p.line_ref, "sku_id": p.sku_id, "backordered": p.quantity}
                for p in result.backordered
            ]
        )
    return answers


def stock_release(
    *, line: OrderLine, actor: Actor, reason: str, quantity: int | None = None
) -> None:
    """Give back ``quantity`` of the line's units (None: everything it holds). Inventory
    cancels the line's open backorder first, then releases allocated units; the line's
    quantities follow the same order."""
    held = line.allocated_quantity + line.backordered_quantity
    units = held if quantity is None else min(quantity, held)
    if not line.is_physical or units <= 0:
        return
    inventory.stock_release(line_ref=line.stock_ref, quantity=units, actor=actor, reason=reason)
    from_backorder = min(line.backordered_quantity, units)
    line.backordered_quantity -= from_backorder
    line.allocated_quantity -= units - from_backorder


# ----------------------------------------------------------------------------- hooks


def cache_lines(order: Order, lines: list[OrderLine]) -> None:
    """Make ``order.lines.all()`` answer from ``lines`` without a query (as a prefetch would)."""
    queryset = OrderLine.objects.filter(order=order).order_by("line_no")
    queryset._result_cache = sorted(lines, key=lambda line: line.line_no)
    queryset._prefetch_done = True  # type: ignore[attr-defined]
    order._prefetched_objects_cache = {"lines": queryset}  # type: ignore[attr-defined]


def forget_lines(order: Order) -> None:
    """Drop the lines ``cache_lines`` gave the order: from here on ``order.lines`` reads the
    database, as on any instance (a caller that later ships or edits the order must not see
    the lines as they were)."""
    cache = getattr(order, "_prefetched_objects_cache", None)
    if cache:
        cache.pop("lines", None)


def notify_allocated(*, order: Order, lines: list[OrderLine], actor: Actor) -> None:
    """Tell fulfillment (``hooks.order_allocated``) inside the current transaction. The lines
    are handed over prefetched so a callback reads them without a query; the caller gets the
    order back without that cache."""
    if not hooks.order_allocated:
        return
    cache_lines(order, lines)
    try:
        for callback in hooks.order_allocated:
            callback(order=order, actor=actor)
    finally:
        forget_lines(order)


def request_refund(*, order: Order, amount: int | None, reason: str, actor: Actor) -> bool:
    """Ask billing, after commit, to refund ``amount`` (None: all that was paid). Returns
    whether anyone was asked (so the caller can record it on the timeline)."""
    if not hooks.refund_requester:
        return False
    for requester in hooks.refund_requester:
        on_commit(requester, order=order, amount=amount, reason=reason, actor=actor)
    return True
