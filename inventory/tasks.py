"""Thin Celery tasks for inventory: safe to run twice."""

from __future__ import annotations

from celery import shared_task

from oms.core.actors import Actor

from . import services


@shared_task(name="inventory.fill_backorders_from_stock")
def fill_backorders_from_stock(sku_ids: list[int] | None = None) -> int:
    """Give stock freed by cancellations to waiting backorders (oldest first)."""
    return len(
        services.backorders_fill_from_stock(actor=Actor.system("backorder-sweep"), sku_ids=sku_ids)
    )
