"""Per-customer billing flags, and billing's implementations of the hooks lower apps
declare (order tax, subscription plan-change adjustments)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from oms.core.actors import Actor
from oms.core.errors import Conflict, ValidationError
from oms.core.transactions import on_commit
from orders import hooks as order_hooks

from ..models import (
    BillingAccount,
    BillingEventKind,
    BillingReason,
    Invoice,
    InvoiceLineKind,
    InvoiceStatus,
)
from ..selectors import TaxResolver
from ..tax import TaxTreatment, line_tax
from ._common import event

logger = logging.getLogger(__name__)

FLAGS = ("auto_pay", "no_dunning", "written_off", "tax_exempt", "notes")


@transaction.atomic
def billing_account_update(*, customer: Any, actor: Actor, **flags: Any) -> BillingAccount:
    """Set operator flags (Kill Bill's account tags) for a customer."""
    unknown = set(flags) - set(FLAGS)
    if unknown:
        raise ValidationError(f"Unknown billing flags: {', '.join(sorted(unknown))}.")
    account, _ = BillingAccount.objects.select_for_update().get_or_create(customer=customer)
    changes = {}
    for name, value in flags.items():
        if getattr(account, name) != value:
            changes[name] = {"from": getattr(account, name), "to": value}
            setattr(account, name, value)
    if changes:
        account.save()
        event(
            kind=BillingEventKind.ACCOUNT_UPDATED,
            actor=actor,
            customer_id=customer.pk,
            payload=changes,
        )
    return account


def order_tax_calculator(
    *, lines: list[Any], shipping: int, currency: str, address: dict[str, Any]
) -> tuple[dict[int, int], int]:
    """``orders.hooks.tax_calculator``: tax per order line and on shipping, each rounded once
    by the written rule (``billing.tax``). Orders price exclusive of tax, so the rate is
    applied on top even where a rate is marked inclusive for subscription prices."""
    # The rates read once per intake batch (a renewal batch prices hundreds of orders).
    resolver = order_hooks.batch_cache().setdefault("billing.tax_resolver", TaxResolver())
    country = (address or {}).get("country", "")
    region = (address or {}).get("region", "")

    def tax_on(amount: int, category: str) -> int:
        treatment = resolver.treatment(country=country, region=region, category=category)
        exclusive = TaxTreatment(rate=treatment.rate, inclusive=False, name=treatment.name)
        return line_tax(amount=amount, currency=currency, treatment=exclusive).tax

    per_line = {line.line_no: tax_on(line.net_amount, line.tax_category) for line in lines}
    return per_line, (tax_on(shipping, "shipping") if shipping else 0)


def subscription_adjustments_invoice(adjustments: Sequence[Any]) -> list[Invoice]:
    """``subscriptions.hooks.adjustments_created`` (after commit): invoice immediate
    plan-change charges at once and charge them; refund the credit of an immediate
    cancellation against the last paid invoice. A credit on a live subscription is left for
    the next renewal invoice (``renewal_preview`` adds it)."""
    from .. import tasks
    from ._subscriptions import adjustments_mark_applied
    from .invoices import LineInput, invoice_create

    actor = Actor.system("billing")
    by_subscription: dict[int, list[Any]] = defaultdict(list)
    for adjustment in adjustments:
        if getattr(adjustment, "billing_invoice_id", None) is None:
            by_subscription[adjustment.subscription_id].append(adjustment)
    invoices = []
    for items in by_subscription.values():
        subscription = items[0].subscription
        total = sum(a.amount for a in items)
        if total > 0:
            with transaction.atomic():
                invoice = invoice_create(
                    customer=subscription.customer,
                    currency=subscription.currency,
                    subscription=subscription,
                    billing_reason=BillingReason.SUBSCRIPTION_UPDATE,
                    lines=[
                        LineInput(
                            kind=InvoiceLineKind.PRORATION_CHARGE
                            if a.amount > 0
                            else InvoiceLineKind.PRORATION_CREDIT,
                            description=a.description,
                            amount=a.amount,
                            unit_amount=a.amount,
                            source_ref=f"adjustment:{a.pk}",
                        )
                        for a in items
                    ],
                    actor=actor,
                    finalize=True,
                )
                adjustments_mark_applied(
                    adjustment_ids=[a.pk for a in items], invoice_id=invoice.pk
                )
                if invoice.status == InvoiceStatus.OPEN:
                    on_commit(tasks.invoice_pay_task.delay, invoice.pk, "adjustment")
            invoices.append(invoice)
        elif total < 0 and subscription.status in ("cancelled", "expired"):
            last_paid = (
                Invoice.objects.filter(
                    subscription=subscription, status=InvoiceStatus.PAID, amount_paid__gt=0
                )
                .order_by("-period_start", "-pk")
                .first()
            )
            if last_paid is None:
                continue
            from .refunds import credit_note_create, refundable_amount

            amount = min(-total, refundable_amount(invoice=last_paid))
            if amount <= 0:
                continue
            try:
                credit_note_create(
                    invoice=last_paid,
                    amount=amount,
                    reason="Unused time on cancellation",
                    actor=actor,
                )
            except Conflict as exc:
                logger.warning(
                    "Cancellation refund for subscription %s refused: %s", subscription.pk, exc
                )
                continue
            adjustments_mark_applied(adjustment_ids=[a.pk for a in items], invoice_id=last_paid.pk)
            invoices.append(last_paid)
    return invoices
