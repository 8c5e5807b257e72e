"""Calls from orders up to apps above it, without importing them (orders sits below billing
and fulfillment). A higher app registers an implementation in its ``AppConfig.ready()``:

    from orders import hooks
    hooks.order_allocated.register(create_shipments)        # fulfillment
    hooks.orders_placed.register(plan_new_shipments)        # fulfillment
    hooks.refund_requester.register(refund_order_payments)  # billing
    hooks.tax_calculator.register(compute_order_tax)        # billing (optional)
    hooks.order_cancelled.register(cancel_open_shipments)   # fulfillment (optional)

``order_allocated`` callbacks run inside the transaction that allocated more of an existing
order (release from hold, a filled backorder, an edit), so a failing callback rolls the
allocation back. ``orders_placed`` callbacks see the fully allocated orders of an intake
(one order, or a renewal batch) *before* they are written: they add their own rows to the
intake's ``oms.core.bulk.Writes``, so everything goes out in one statement and commits or
rolls back with the orders.
``order_cancelled`` callbacks run inside the cancel's transaction, after the stock was
released (fulfillment drops the parcels it planned). ``refund_requester`` runs after commit. With nothing registered the call is a no-op
(no refund is requested; tax is zero).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from oms.core.actors import Actor
    from oms.core.bulk import Writes

    from .models import Order, OrderLine


class OrderAllocatedCallback(Protocol):
    def __call__(self, *, order: Order, actor: Actor) -> None:
        """``order.lines.all()`` is prefetched; lines with ``allocated_quantity`` can ship."""


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """A new, fully allocated order as intake hands it to ``orders_placed``: the order and
    its lines carry their ids but are not in the database yet; ``allocated`` is what the
    allocation placed where: (line, warehouse id, units of the line)."""

    order: Order
    lines: list[OrderLine]
    allocated: list[tuple[OrderLine, int, int]]


class OrdersPlacedCallback(Protocol):
    def __call__(self, *, placed: list[PlacedOrder], actor: Actor, writes: Writes) -> None:
        """Add rows to ``writes`` (run by intake in its transaction); never read the new
        orders back from the database — they are not there yet."""


class RefundRequester(Protocol):
    def __call__(self, *, order: Order, amount: int | None, reason: str, actor: Actor) -> None:
        """Refund ``amount`` minor units of what was paid for ``order`` (``None``: everything
        captured for it). Must be safe to call for an order that was never paid."""


@dataclass(frozen=True, slots=True)
class TaxLine:
    """What a tax calculator sees for one line: the net amount after the line's discount."""

    line_no: int
    sku_id: int
    tax_category: str
    net_amount: int


class TaxCalculator(Protocol):
    def __call__(
        self, *, lines: list[TaxLine], shipping: int, currency: str, address: dict[str, Any]
    ) -> tuple[dict[int, int], int]:
        """Return (tax per line_no, tax on shipping), each rounded once to minor units."""


class Registry:
    """A named list of callables. ``register`` is idempotent and usable as a decorator."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def register(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def unregister(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def __iter__(self) -> Iterator[Callable[..., Any]]:
        return iter(list(self._callbacks))

    def __len__(self) -> int:
        return len(self._callbacks)

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def __repr__(self) -> str:
        return f"<Registry {self.name}: {len(self._callbacks)} callback(s)>"


order_allocated = Registry("order_allocated")
orders_placed = Registry("orders_placed")
order_cancelled = Registry("order_cancelled")
refund_requester = Registry("refund_requester")
tax_calculator = Registry("tax_calculator")


_batch_cache: ContextVar[dict[str, Any] | None] = ContextVar("orders_batch_cache", default=None)


@contextmanager
def batch_scope() -> Iterator[None]:
    """Intake of one batch: callbacks may keep what they read for the batch's other orders
    in ``batch_cache()`` (billing keeps its tax rates), and it is gone when the batch is."""
    token = _batch_cache.set({})
    try:
        yield
    finally:
        _batch_cache.reset(token)


def batch_cache() -> dict[str, Any]:
    """The current intake batch's cache, or a fresh, throw-away dict outside a batch."""
    cache = _batch_cache.get()
    return {} if cache is None else cache
