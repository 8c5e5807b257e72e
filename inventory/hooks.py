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
renewal_demand: list[RenewalDemandProvider] = []


def register_backorder_filled(callback: BackorderFilled) -> None:
    if callback not in backorder_filled:
        backorder_filled.append(callback)


def register_renewal_demand(provider: RenewalDemandProvider) -> None:
    if provider not in renewal_demand:
        renewal_demand.append(provider)
