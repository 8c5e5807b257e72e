"""Reads for orders: every list a channel or operator pages through has a fixed query count."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from oms.core.models import Channel

from .models import Order, OrderEvent, OrderLine


def _lines() -> Prefetch:
    return Prefetch("lines", queryset=OrderLine.objects.order_by("line_no"))


def order_list_for_channel(*, channel: Channel) -> QuerySet[Order]:
    """A channel's own orders with customer and lines (3 queries per page)."""
    return (
        Order.objects.filter(channel=channel)
        .select_related("customer", "channel")
        .prefetch_related(_lines())
    )


def order_get_for_channel(*, channel: Channel, pk: int) -> Order | None:
    """One order of this channel with lines and timeline, or None (another channel's order
    is indistinguishable from a missing one)."""
    return (
        order_list_for_channel(channel=channel)
        .prefetch_related(
            Prefetch("events", queryset=OrderEvent.objects.order_by("created_at", "id"))
        )
        .filter(pk=pk)
        .first()
    )


def order_get_by_external_id(*, channel: Channel, external_id: str) -> Order | None:
    return Order.objects.filter(channel=channel, external_id=external_id).first()


def order_has_backorder() -> Exists:
    return Exists(OrderLine.objects.filter(order=OuterRef("pk"), backordered_quantity__gt=0))


def order_list_for_admin() -> QuerySet[Order]:
    return Order.objects.select_related("customer", "channel").annotate(
        has_backorder=order_has_backorder()
    )


def order_timeline(*, order: Order) -> QuerySet[OrderEvent]:
    return OrderEvent.objects.filter(order=order).order_by("created_at", "id")
