from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from oms.core.db import is_postgres, prepared_cursor
from oms.core.models import Channel
from oms.core.selectors import ModelRow

from .models import Address, Customer, CustomerReference


def customer_list_for_channel(*, channel: Channel) -> QuerySet[Customer]:
    """The customers a channel may see: those it created or holds a reference for."""
    referenced = CustomerReference.objects.filter(customer=OuterRef("pk"), channel=channel)
    return Customer.objects.filter(Q(source_channel=channel) | Exists(referenced)).prefetch_related(
        Prefetch("addresses", queryset=Address.objects.order_by("kind", "-is_default", "id")),
        Prefetch("references", queryset=CustomerReference.objects.filter(channel=channel)),
    )


def customer_get_for_channel(*, channel: Channel, pk: int) -> Customer | None:
    return customer_list_for_channel(channel=channel).filter(pk=pk).first()


_visible_sql: tuple[str, ModelRow[Customer]] | None = None
_BIGINT = range(-(2**63), 2**63)


def customer_visible_to_channel(*, channel: Channel, pk: int) -> Customer | None:
    """Customer ``pk`` if ``channel`` may see it (as ``customer_list_for_channel``), without
    addresses or references: order intake's check."""
    return customers_visible_to_channel(channel=channel, pks=[pk]).get(pk)


def customers_visible_to_channel(*, channel: Channel, pks: Iterable[int]) -> dict[int, Customer]:
    """The customers among ``pks`` that ``channel`` may see, by id (those it may not see,
    or that do not exist, are absent): one hand-written statement on PostgreSQL."""
    wanted = sorted({pk for pk in pks if pk in _BIGINT})  # out of range: no such row
    if not wanted:
        return {}
    if not is_postgres():
        found = customer_list_for_channel(channel=channel).prefetch_related(None)
        return {c.pk: c for c in found.filter(pk__in=wanted)}
    global _visible_sql
    if _visible_sql is None:
        quote, row = connection.ops.quote_name, ModelRow(Customer, "c")
        sql = (
            f"SELECT {row.columns} FROM {quote(Customer._meta.db_table)} c "
            "WHERE c.id = ANY(%s) AND (c.source_channel_id = %s OR EXISTS ("
            f"SELECT 1 FROM {quote(CustomerReference._meta.db_table)} r "
            "WHERE r.customer_id = c.id AND r.channel_id = %s))"
        )
        _visible_sql = (sql, row)
    sql, row = _visible_sql
    with prepared_cursor() as cursor:
        cursor.execute(sql, [wanted, channel.pk, channel.pk])
        rows = cursor.fetchall()
    return {customer.pk: customer for customer in map(row.build, rows)}


def customer_default_address(*, customer: Customer, kind: str) -> Address | None:
    return Address.objects.filter(customer=customer, kind=kind, is_default=True).first()


def customer_search(*, query: str) -> QuerySet[Customer]:
    return Customer.objects.filter(
        Q(email__icontains=query)
        | Q(first_name__icontains=query)
        | Q(last_name__icontains=query)
        | Q(phone__icontains=query)
        | Q(references__external_id=query)
    ).distinct()
