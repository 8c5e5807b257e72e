"""Helpers shared by billing services: timeline events, document numbers, locks."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from oms.core.actors import Actor
from oms.core.db import next_values
from oms.core.rows import new_row

from ..models import (
    CREDIT_NOTE_NUMBER_SEQUENCE,
    INVOICE_NUMBER_SEQUENCE,
    BillingAccount,
    BillingEvent,
    Invoice,
    PaymentAttempt,
)


def build_event(
    *,
    kind: str,
    actor: Actor,
    invoice: Invoice | None = None,
    customer_id: int | None = None,
    message: str = "",
    payload: dict[str, Any] | None = None,
) -> BillingEvent:
    """An unsaved event row (for ``bulk_create`` where one flow writes several)."""
    return new_row(
        BillingEvent,
        invoice=invoice,
        customer_id=customer_id
        if customer_id is not None
        else (invoice.customer_id if invoice else None),
        kind=kind,
        message=message[:2000],
        payload=payload or {},
        **actor.as_fields(),
    )


def event(
    *,
    kind: str,
    actor: Actor,
    invoice: Invoice | None = None,
    customer_id: int | None = None,
    message: str = "",
    payload: dict[str, Any] | None = None,
) -> BillingEvent:
    row = build_event(
        kind=kind,
        actor=actor,
        invoice=invoice,
        customer_id=customer_id,
        message=message,
        payload=payload,
    )
    row.save(force_insert=True)
    return row


def _numbers(sequence: str, prefix: str, count: int) -> list[str]:
    """``PREFIX-YYYY-NNNNNNN`` from a sequence (oms.core.db: ``nextval`` on PostgreSQL, one
    cheap query that never blocks concurrent renewals). Numbers are unique and increasing; a
    rolled-back transaction leaves a gap (documented: gaps are allowed, duplicates are not)."""
    year = timezone.now().year
    return [f"{prefix}-{year}-{value:07d}" for value in next_values(sequence, count)]


def next_invoice_number() -> str:
    return _numbers(INVOICE_NUMBER_SEQUENCE, "INV", 1)[0]


def next_invoice_numbers(count: int) -> list[str]:
    """``count`` invoice numbers in one query."""
    return _numbers(INVOICE_NUMBER_SEQUENCE, "INV", count)


def next_credit_note_number() -> str:
    return _numbers(CREDIT_NOTE_NUMBER_SEQUENCE, "CN", 1)[0]


def lock_invoice(invoice: Invoice | int) -> Invoice:
    pk = invoice if isinstance(invoice, int) else invoice.pk
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("customer", "subscription")
        .get(pk=pk)
    )


def lock_attempt(attempt: PaymentAttempt | int) -> PaymentAttempt:
    pk = attempt if isinstance(attempt, int) else attempt.pk
    return PaymentAttempt.objects.select_for_update().get(pk=pk)


def account_flags(customer_id: int) -> BillingAccount:
    """The customer's flags, or the defaults (not saved) when none were set."""
    account = BillingAccount.objects.filter(customer_id=customer_id).first()
    return account or BillingAccount(customer_id=customer_id)


def recompute_amount_due(invoice: Invoice) -> None:
    invoice.amount_due = max(invoice.total - invoice.amount_paid - invoice.amount_credited, 0)
