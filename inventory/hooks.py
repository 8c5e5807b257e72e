"""Registries that apps above inventory fill in their ``AppConfig.ready()``.

``backorder_filled``: callbacks ``(line_ref, sku_id, warehouse_id, quantity)`` called, inside
the receipt's transaction and after the allocation is written, when a receipt (or return,
adjustment, transfer arrival) fills a backorder. ``sku_id`` is the line's SKU and
``quantity`` is in the line's units (bundle units for a bundle line).

``renewal_demand``: providers ``(start_date, end_date) -> iterable of (sku_id, date,
quantity)`` giving the units upcoming renewals will need; the forecast sums them. Bundle
SKUs may be returned as-is: the forecast expands them to their components.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable

BackorderFilled = Callable[[str, int, int, int], None]
RenewalDemandProvider = Callable[
    [datetime.date, datetime.date], Iterable[tuple[int, datetime.date, int]]
]

backorder_filled: list[BackorderFilled] = []
# Same signature, called once the receipt's transaction has committed (each in its own
# transaction, if it opens one). A receipt holds stock-row locks until it commits; a callback
# that locks rows an order cancellation locks *before* calling inventory (the order) can
# deadlock with it when run inside. After commit there is no such cycle; the price is that
# a failing callback leaves the receipt committed (make it idempotent and reconcilable,
# e.g. from ``inventory.selectors.line_allocations``).
backorder_filled_after_commit: list[BackorderFilled] = []
renewal_demand: list[RenewalDemandProvider] = []


def register_backorder_filled(callback: BackorderFilled, *, after_commit: bool = False) -> None:
    registry = backorder_filled_after_commit if after_commit else backorder_filled
    if callback not in registry:
        registry.append(callback)


def register_renewal_demand(provider: RenewalDemandProvider) -> None:
    if provider not in renewal_demand:
        renewal_demand.append(provider)
