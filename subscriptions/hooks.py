"""Registries that apps above subscriptions fill in their ``AppConfig.ready()``.

``adjustments_created``: callbacks ``(adjustments: list[ProrationAdjustment])`` called after
the transaction that created them commits (proration of an immediate change, the refund of an
immediate cancellation). Billing registers one that invoices (or credits) them at once and
records ``billing_invoice_id`` through ``subscriptions.services.adjustments_mark_applied``.
Adjustments no callback applied are added to the next renewal by
``subscriptions.selectors.renewal_preview``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

AdjustmentsCreated = Callable[[Sequence[Any]], None]

adjustments_created: list[AdjustmentsCreated] = []


def register_adjustments_created(callback: AdjustmentsCreated) -> None:
    if callback not in adjustments_created:
        adjustments_created.append(callback)


def unregister_adjustments_created(callback: AdjustmentsCreated) -> None:
    if callback in adjustments_created:
        adjustments_created.remove(callback)


def notify_adjustments_created(adjustments: Sequence[Any]) -> None:
    for callback in list(adjustments_created):
        callback(adjustments)
