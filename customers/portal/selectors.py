"""Reads scoped to one customer. Every lookup by id takes the customer too, so a guessed id
of someone else's row is simply not found."""

from __future__ import annotations

from django.db.models import QuerySet

from customers.models import Address, Customer


def portal_addresses(*, customer: Customer) -> QuerySet[Address]:
    return Address.objects.filter(customer=customer).order_by("kind", "-is_default", "id")


def portal_address_get(*, customer: Customer, pk: int) -> Address | None:
    return Address.objects.filter(customer=customer, pk=pk).first()
