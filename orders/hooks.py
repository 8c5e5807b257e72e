"""Calls from orders up to apps above it, without importing them (orders sits below billing
and fulfillment). A higher app registers an implementation in its ``AppConfig.ready()``:

    from orders import hooks
    hooks.order_allocated.register(create_shipments)        # fulfillment
    hooks.refund_requester.register(refund_order_payments)  # billing
    hooks.tax_calculator.register(compute_order_tax)        # billing (optional)
    hooks.order_cancelled.register(cancel_open_shipments)   # fulfillment (optional)

``order_allocated`` callbacks run inside the transaction that allocated the order (intake,
release from hold, a filled backorder), so a failing callback rolls the allocation back.
``order_cancelled`` callbacks run inside the cancel's transaction, after the stock was
released (fulfillment drops the parcels it planned). ``refund_requester`` runs after commit. With nothing registered the call is a no-op
(no refund is requested; tax is zero).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from oms.core.actors import Actor

    from .models import Order


class OrderAllocatedCallback(Protocol):
    def __call__(self, *, order: Order, actor: Actor) -> None:
        """``order.lines.all()`` is prefetched; lines with ``allocated_quantity`` can ship."""


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
order_cancelled = Registry("order_cancelled")
refund_requester = Registry("refund_requester")
tax_calculator = Registry("tax_calculator")
