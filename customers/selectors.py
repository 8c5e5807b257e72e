from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from oms.core.models import Channel

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
