"""Thin Celery tasks: ids in, one service call, safe to run twice."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.errors import Conflict

ACTOR = Actor.system("billing")


@shared_task(acks_late=True)
def webhook_process_task(event_id: int) -> None:
    from .services import webhook_process

    webhook_process(event_id=event_id)


@shared_task
def webhook_retry_unprocessed_task() -> int:
    from .services import webhook_retry_unprocessed

    return webhook_retry_unprocessed()


@shared_task
def dunning_run_task(as_of: str | None = None) -> dict[str, int]:
    """The daily dunning run (celery-beat). Safe twice: retries are claimed under locks."""
    from .services import dunning_run

    when = dt.datetime.fromisoformat(as_of) if as_of else timezone.now()
    return vars(dunning_run(actor=Actor.system("dunning"), as_of=when))


@shared_task
def payments_reconcile_task() -> int:
    from .services import payments_reconcile

    return payments_reconcile(actor=ACTOR)


@shared_task
def dunning_retry_customer_task(customer_id: int) -> int:
    from .services import dunning_retry_customer

    return len(dunning_retry_customer(customer_id=customer_id, actor=ACTOR))


@shared_task
def invoice_pay_task(invoice_id: int, trigger: str = "manual") -> str | None:
    from .models import Invoice, InvoiceStatus
    from .services import invoice_pay

    invoice = Invoice.objects.filter(pk=invoice_id, status=InvoiceStatus.OPEN).first()
    if invoice is None:
        return None
    try:
        return invoice_pay(invoice=invoice, actor=ACTOR, trigger=trigger).state
    except Conflict:
        return None


@shared_task
def refund_overpayment_task(attempt_id: int) -> None:
    from .models import PaymentAttempt
    from .services import refund_overpayment

    attempt = PaymentAttempt.objects.select_related("invoice").get(pk=attempt_id)
    refund_overpayment(attempt=attempt, actor=ACTOR)


@shared_task
def refund_for_order_task(order_id: int, amount: int | None, reason: str) -> int:
    from orders.models import Order

    from .services import refund_for_order

    order = Order.objects.get(pk=order_id)
    return len(refund_for_order(order=order, amount=amount, reason=reason, actor=ACTOR))


@shared_task
def card_expiry_reminders_task() -> int:
    """Weekly: remind customers whose card expires within 30 days (once per card)."""
    from .services import card_expiry_reminders_send

    return card_expiry_reminders_send(as_of=timezone.localdate(), actor=ACTOR)
