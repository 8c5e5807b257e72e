"""Refunds (full or partial, always to the original payment) and credit notes.

A refund is two-step like a charge: the ``Refund`` row (with an idempotency key derived
from the invoice and the refund's number) is committed ``pending`` before Stripe is asked,
and completed after. A credit note corrects an issued invoice: before payment it lowers
what is due; after payment it is paid back through a refund."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Sum

from oms.core.actors import Actor
from oms.core.errors import Conflict, ValidationError
from oms.core.transitions import check_transition

from .. import errors
from ..gateway import GatewayError, GatewayUnknownOutcome, PaymentGateway, get_gateway
from ..models import (
    INVOICE_TRANSITIONS,
    AttemptState,
    BillingEventKind,
    CreditNote,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
    Refund,
    RefundState,
)
from ._common import event, lock_invoice, next_credit_note_number, recompute_amount_due

if TYPE_CHECKING:
    from orders.models import Order

logger = logging.getLogger(__name__)


def _refunded_or_pending(attempt_id: int) -> int:
    return (
        Refund.objects.filter(payment_attempt_id=attempt_id)
        .exclude(state=RefundState.FAILED)
        .aggregate(total=Sum("amount"))["total"]
        or 0
    )


def refundable_amount(*, invoice: Invoice) -> int:
    """What can still be refunded: captured minus refunds made or in flight."""
    paid = sum(
        a.amount for a in invoice.payment_attempts.all() if a.state == AttemptState.SUCCEEDED
    )
    taken = (
        Refund.objects.filter(invoice=invoice)
        .exclude(state=RefundState.FAILED)
        .aggregate(total=Sum("amount"))["total"]
        or 0
    )
    return max(paid - taken, 0)


@transaction.atomic(durable=True)
def refund_begin(
    *, invoice: Invoice, amount: int | None, reason: str, actor: Actor, external: bool = False
) -> Refund:
    """Step one: reserve the amount on a paid attempt and commit before Stripe is called."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A refund needs a reason.", fields={"reason": ["Required."]})
    invoice = lock_invoice(invoice)
    attempts = [
        a
        for a in invoice.payment_attempts.order_by("-attempt_number")
        if a.state == AttemptState.SUCCEEDED
    ]
    remaining = {a.pk: a.amount - _refunded_or_pending(a.pk) for a in attempts}
    total_remaining = sum(remaining.values())
    if total_remaining <= 0:
        raise Conflict(
            f"Nothing left to refund on {invoice.number}.", code=errors.NOTHING_TO_REFUND
        )
    amount = total_remaining if amount is None else amount
    if amount <= 0:
        raise ValidationError(
            "A refund amount must be positive.", fields={"amount": ["Must be > 0."]}
        )
    attempt = next((a for a in attempts if remaining[a.pk] >= amount), None)
    if attempt is None:
        raise Conflict(
            f"At most {max(remaining.values())} can be refunded to one payment of {invoice.number}.",
            code=errors.REFUND_TOO_LARGE,
            fields={"amount": [f"At most {max(remaining.values())}."]},
        )
    number = Refund.objects.filter(invoice=invoice).count() + 1
    refund = Refund.objects.create(
        invoice=invoice,
        payment_attempt=attempt,
        amount=amount,
        currency=invoice.currency,
        reason=reason[:300],
        idempotency_key=f"oms-inv{invoice.pk}-r{number}",
        external=external,
    )
    refund.payment_attempt = attempt
    return refund


@transaction.atomic
def refund_complete(
    *,
    refund: Refund,
    state: str,
    actor: Actor,
    stripe_refund_id: str | None = None,
    message: str = "",
) -> Refund:
    invoice = lock_invoice(refund.invoice_id)
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.state == state or refund.state in (RefundState.SUCCEEDED, RefundState.FAILED):
        return refund
    refund.state = state
    refund.stripe_refund_id = stripe_refund_id or refund.stripe_refund_id
    refund.failure_message = message[:300]
    refund.save(update_fields=["state", "stripe_refund_id", "failure_message", "updated_at"])
    if state == RefundState.SUCCEEDED:
        invoice.amount_refunded += refund.amount
        invoice.save(update_fields=["amount_refunded", "updated_at"])
        event(
            kind=BillingEventKind.REFUND_CREATED,
            actor=actor,
            invoice=invoice,
            message=refund.reason,
            payload={
                "amount": refund.amount,
                "refund": refund.stripe_refund_id,
                "external": refund.external,
            },
        )
    elif state == RefundState.FAILED:
        event(
            kind=BillingEventKind.REFUND_FAILED,
            actor=actor,
            invoice=invoice,
            message=message,
            payload={"amount": refund.amount},
        )
    return refund


def refund_create(
    *,
    invoice: Invoice,
    reason: str,
    actor: Actor,
    amount: int | None = None,
    gateway: PaymentGateway | None = None,
) -> Refund:
    """Refund ``amount`` (default: everything still refundable) to the original payment.
    Must run outside a transaction (the reservation commits before Stripe is called)."""
    gateway = gateway or get_gateway()
    refund = refund_begin(invoice=invoice, amount=amount, reason=reason, actor=actor)
    attempt: PaymentAttempt = refund.payment_attempt
    if not attempt.stripe_payment_intent_id:
        return refund_complete(
            refund=refund,
            state=RefundState.FAILED,
            actor=actor,
            message="No Stripe payment to refund.",
        )
    try:
        result = gateway.refund(
            payment_intent_id=attempt.stripe_payment_intent_id,
            amount=refund.amount,
            idempotency_key=refund.idempotency_key,
            reason=refund.reason,
        )
    except GatewayUnknownOutcome as exc:
        return refund_complete(
            refund=refund, state=RefundState.UNKNOWN, actor=actor, message=str(exc)
        )
    except GatewayError as exc:
        return refund_complete(
            refund=refund, state=RefundState.FAILED, actor=actor, message=str(exc)
        )
    state = RefundState.FAILED if result.status in ("failed", "canceled") else RefundState.SUCCEEDED
    return refund_complete(refund=refund, state=state, actor=actor, stripe_refund_id=result.id)


def credit_note_create(
    *,
    invoice: Invoice,
    amount: int,
    reason: str,
    actor: Actor,
    gateway: PaymentGateway | None = None,
) -> CreditNote:
    """Correct an issued invoice by ``amount``: what is still due is reduced first; the rest
    (money already paid) is refunded to the original payment."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A credit note needs a reason.", fields={"reason": ["Required."]})
    if amount <= 0:
        raise ValidationError(
            "A credit note amount must be positive.", fields={"amount": ["Must be > 0."]}
        )
    with transaction.atomic():
        invoice = lock_invoice(invoice)
        if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            raise Conflict(
                f"Invoice {invoice.number} is {invoice.status}: edit the draft or nothing to credit.",
                code=errors.INVOICE_NOT_EDITABLE,
            )
        credited_before = invoice.amount_credited + invoice.amount_refunded
        if amount > invoice.total - credited_before:
            raise Conflict(
                f"At most {invoice.total - credited_before} can still be credited on {invoice.number}.",
                code=errors.CREDIT_TOO_LARGE,
                fields={"amount": [f"At most {invoice.total - credited_before}."]},
            )
        against_due = min(amount, invoice.amount_due)
        to_refund = amount - against_due
        if to_refund > refundable_amount(invoice=invoice):
            raise Conflict(
                "That credit exceeds what was paid and can be refunded.",
                code=errors.CREDIT_TOO_LARGE,
            )
        note = CreditNote.objects.create(
            number=next_credit_note_number(),
            invoice=invoice,
            amount=amount,
            currency=invoice.currency,
            reason=reason[:300],
        )
        if against_due:
            invoice.amount_credited += against_due
            recompute_amount_due(invoice)
            fields = ["amount_credited", "amount_due", "updated_at"]
            if invoice.amount_due == 0 and invoice.status in (
                InvoiceStatus.OPEN,
                InvoiceStatus.UNCOLLECTIBLE,
            ):
                check_transition(
                    INVOICE_TRANSITIONS,
                    entity="Invoice",
                    current=invoice.status,
                    target=InvoiceStatus.PAID,
                )
                invoice.status = InvoiceStatus.PAID
                fields.append("status")
                from .dunning import dunning_stop

                dunning_stop(
                    invoice=invoice, actor=actor, reason=f"credited in full by {note.number}"
                )
            invoice.save(update_fields=fields)
        event(
            kind=BillingEventKind.CREDIT_NOTE,
            actor=actor,
            invoice=invoice,
            message=reason,
            payload={
                "credit_note": note.number,
                "amount": amount,
                "against_due": against_due,
                "refund": to_refund,
            },
        )
    if to_refund:
        refund = refund_create(
            invoice=invoice,
            amount=to_refund,
            reason=f"{note.number}: {reason}",
            actor=actor,
            gateway=gateway,
        )
        CreditNote.objects.filter(pk=note.pk).update(refund=refund)
        note.refund = refund
    return note


def refund_resolve(
    *, refund: Refund, actor: Actor, gateway: PaymentGateway | None = None
) -> Refund:
    """A refund whose answer was lost (unknown): ask Stripe for it by its key. Found: it
    happened; not found: it did not (the amount is free to refund again). Reads only."""
    if refund.state != RefundState.UNKNOWN:
        return refund
    gateway = gateway or get_gateway()
    found = gateway.find_refund(refund_key=refund.idempotency_key)
    if found is None:
        return refund_complete(
            refund=refund,
            state=RefundState.FAILED,
            actor=actor,
            message="Stripe has no such refund.",
        )
    state = RefundState.FAILED if found.status in ("failed", "canceled") else RefundState.SUCCEEDED
    return refund_complete(refund=refund, state=state, actor=actor, stripe_refund_id=found.id)


def refund_for_order(
    *, order: Order, amount: int | None, reason: str, actor: Actor
) -> list[CreditNote]:
    """``orders.hooks.refund_requester``: pay back what was paid for ``order`` (``None``:
    everything), as credit notes with refunds. Safe for an unpaid or already refunded order.
    Unpaid open invoices of the order are voided instead."""
    notes: list[CreditNote] = []
    remaining = amount
    for invoice in Invoice.objects.filter(order=order).order_by("pk"):
        if invoice.status == InvoiceStatus.OPEN and invoice.amount_paid == 0:
            from .invoices import invoice_void

            invoice_void(invoice=invoice, reason=reason or "Order cancelled.", actor=actor)
            continue
        refundable = refundable_amount(invoice=invoice)
        take = refundable if remaining is None else min(refundable, remaining)
        if take <= 0:
            continue
        try:
            notes.append(
                credit_note_create(
                    invoice=invoice, amount=take, reason=reason or "Order cancelled.", actor=actor
                )
            )
        except Conflict as exc:
            logger.warning("Refund for order %s on %s refused: %s", order.pk, invoice.number, exc)
            continue
        if remaining is not None:
            remaining -= take
            if remaining <= 0:
                break
    return notes


def order_cancel_and_refund(
    *, order: Order, reason: str, actor: Actor
) -> tuple[Order, list[CreditNote]]:
    """Cancel the order (orders' service), then refund what was paid for it. The order's
    own hook may already have refunded after its commit; the refund step then finds
    nothing left and is a no-op."""
    from orders.services import order_cancel

    order = order_cancel(order=order, reason=reason, actor=actor)
    return order, refund_for_order(
        order=order, amount=None, reason=f"Order cancelled: {reason}", actor=actor
    )


def refund_overpayment(
    *, attempt: PaymentAttempt, actor: Actor, gateway: PaymentGateway | None = None
) -> Refund | None:
    """A late success on an invoice that was already settled: give that payment back."""
    invoice = attempt.invoice
    try:
        return refund_create(
            invoice=invoice,
            amount=attempt.amount,
            reason="Duplicate payment refunded automatically.",
            actor=actor,
            gateway=gateway,
        )
    except Conflict:
        return None


def refund_sync_from_stripe(
    *,
    payment_intent_id: str,
    amount_refunded: int,
    actor: Actor,
    refund_ids: list[str] | None = None,
) -> Refund | None:
    """``charge.refunded``: Stripe's cumulative refunded amount for a payment. Refunds we
    made are already recorded; a difference (a refund made in the Stripe dashboard) is
    recorded as an external refund. Cumulative, so duplicates and reordering are harmless."""
    attempt = PaymentAttempt.objects.filter(stripe_payment_intent_id=payment_intent_id).first()
    if attempt is None:
        return None
    with transaction.atomic():
        invoice = lock_invoice(attempt.invoice_id)
        known = _refunded_or_pending(attempt.pk)
        missing = amount_refunded - known
        if missing <= 0:
            return None
        refund = Refund.objects.create(
            invoice=invoice,
            payment_attempt=attempt,
            amount=missing,
            currency=invoice.currency,
            reason="Refunded in Stripe",
            idempotency_key=f"stripe-{payment_intent_id}-{amount_refunded}",
            external=True,
            state=RefundState.PENDING,
        )
        return refund_complete(refund=refund, state=RefundState.SUCCEEDED, actor=actor)
