"""Invoices: create (for a subscription period, an order, or plan-change adjustments),
finalize, void, mark uncollectible, email; credit notes. An invoice is editable only as a
draft; once open every correction is a credit note."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.bulk import Writes
from oms.core.errors import Conflict, ValidationError
from oms.core.rows import new_row
from oms.core.transactions import on_commit
from oms.core.transitions import check_transition

from .. import conf, errors
from ..models import (
    INVOICE_TRANSITIONS,
    BillingAccount,
    BillingEvent,
    BillingEventKind,
    BillingReason,
    CollectionMethod,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
)
from ..selectors import TaxResolver
from ..tax import LineTax, TaxTreatment, breakdown, line_tax
from ._common import (
    account_flags,
    build_event,
    event,
    lock_invoice,
    next_invoice_number,
    next_invoice_numbers,
    recompute_amount_due,
)

if TYPE_CHECKING:
    from customers.models import Customer
    from orders.models import Order
    from subscriptions.models import Subscription


@dataclass(frozen=True, slots=True)
class LineInput:
    """One line to invoice. ``amount`` defaults to quantity × unit_amount − discount.
    ``tax`` overrides the computed tax (an order's lines carry the tax already charged)."""

    kind: str
    description: str
    quantity: int = 1
    unit_amount: int = 0
    discount: int = 0
    amount: int | None = None
    tax: int | None = None
    sku_code: str = ""
    tax_category: str = ""
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    source_ref: str = ""

    @property
    def line_amount(self) -> int:
        if self.amount is not None:
            return self.amount
        return self.quantity * self.unit_amount - self.discount


def _address_for(customer: Customer, fallback: dict[str, Any] | None) -> dict[str, Any]:
    from customers.selectors import customer_default_address

    address = customer_default_address(customer=customer, kind="billing")
    if address is not None:
        return address.snapshot()
    if fallback:
        return dict(fallback)
    shipping = customer_default_address(customer=customer, kind="shipping")
    return shipping.snapshot() if shipping is not None else {}


def _set_status(invoice: Invoice, target: str) -> None:
    check_transition(INVOICE_TRANSITIONS, entity="Invoice", current=invoice.status, target=target)
    invoice.status = target


@dataclass
class _Draft:
    """An invoice with its lines and timeline rows, built in memory, not yet saved."""

    invoice: Invoice
    lines: list[InvoiceLine]
    events: list[BillingEvent]


def _build(
    *,
    customer: Customer,
    currency: str,
    lines: Sequence[LineInput],
    actor: Actor,
    billing_reason: str,
    number: str,
    flags: BillingAccount,
    resolver: TaxResolver,
    subscription: Subscription | None = None,
    period_start: dt.date | None = None,
    period_end: dt.date | None = None,
    order: Order | None = None,
    address: dict[str, Any] | None = None,
    memo: str = "",
    finalize: bool = False,
) -> _Draft:
    if not lines:
        raise ValidationError("An invoice needs at least one line.", code=errors.INVOICE_EMPTY)
    currency = currency.upper()
    snapshot = _address_for(customer, address) if address is None else dict(address)
    country = (snapshot.get("country") or "").upper()
    region = snapshot.get("region") or ""
    rows: list[tuple[LineInput, TaxTreatment, LineTax]] = []
    for item in lines:
        treatment = resolver.treatment(
            country=country, region=region, category=item.tax_category, exempt=flags.tax_exempt
        )
        if item.tax is not None:
            # The tax already charged (an order, priced exclusive of tax): kept to the cent.
            treatment = TaxTreatment(
                rate=treatment.rate,
                inclusive=False,
                name=treatment.name,
                tax_rate_id=treatment.tax_rate_id,
            )
            computed = LineTax(
                net=item.line_amount, tax=item.tax, gross=item.line_amount + item.tax
            )
        else:
            computed = line_tax(amount=item.line_amount, currency=currency, treatment=treatment)
        rows.append((item, treatment, computed))
    subtotal = sum(lt.net for _, _, lt in rows)
    tax = sum(lt.tax for _, _, lt in rows)
    invoice = new_row(
        Invoice,
        number=number,
        customer=customer,
        subscription=subscription,
        period_start=period_start,
        period_end=period_end,
        order=order,
        billing_reason=billing_reason,
        collection_method=(
            CollectionMethod.CHARGE_AUTOMATICALLY
            if flags.auto_pay
            else CollectionMethod.SEND_INVOICE
        ),
        currency=currency,
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        tax_breakdown=[row.as_dict() for row in breakdown((t, lt) for _, t, lt in rows if t.rate)],
        billing_address=snapshot,
        memo=memo,
    )
    recompute_amount_due(invoice)
    events = [
        build_event(
            kind=BillingEventKind.INVOICE_CREATED,
            actor=actor,
            invoice=invoice,
            payload={"total": invoice.total, "currency": currency, "reason": billing_reason},
        )
    ]
    if finalize:  # open at once: one INSERT instead of an INSERT and an UPDATE
        _apply_finalize(invoice)
        events += _finalize_events(invoice, actor=actor)
    invoice_lines = [
        new_row(
            InvoiceLine,
            invoice=invoice,
            position=position,
            kind=item.kind,
            description=item.description[:300],
            sku_code=item.sku_code,
            quantity=item.quantity,
            unit_amount=item.unit_amount,
            amount=item.line_amount,
            net=lt.net,
            tax=lt.tax,
            total=lt.net + lt.tax,
            tax_category=item.tax_category,
            tax_rate_id=treatment.tax_rate_id,
            tax_rate_value=treatment.rate,
            tax_name=treatment.name,
            tax_inclusive=treatment.inclusive,
            period_start=item.period_start,
            period_end=item.period_end,
            source_ref=item.source_ref,
        )
        for position, (item, treatment, lt) in enumerate(rows, start=1)
    ]
    return _Draft(invoice=invoice, lines=invoice_lines, events=events)


def _save(drafts: Sequence[_Draft]) -> None:
    """Two statements for any number of invoices: the invoices (their ids come back), then
    their lines and timeline rows (``oms.core.bulk``)."""
    first = Writes()
    first.insert(Invoice, [d.invoice for d in drafts])
    first.run()
    for d in drafts:  # the invoices have their ids now
        for line in d.lines:
            line.invoice_id = d.invoice.pk
        for row in d.events:
            row.invoice_id = d.invoice.pk
    rest = Writes()
    rest.insert(InvoiceLine, [line for d in drafts for line in d.lines])
    rest.insert(BillingEvent, [e for d in drafts for e in d.events])
    rest.run()


def _create(
    *,
    customer: Customer,
    currency: str,
    lines: Sequence[LineInput],
    actor: Actor,
    billing_reason: str,
    subscription: Subscription | None = None,
    period_start: dt.date | None = None,
    period_end: dt.date | None = None,
    order: Order | None = None,
    address: dict[str, Any] | None = None,
    resolver: TaxResolver | None = None,
    memo: str = "",
    finalize: bool = False,
) -> Invoice:
    draft = _build(
        customer=customer, currency=currency, lines=lines, actor=actor, billing_reason=billing_reason,
        number=next_invoice_number(), flags=account_flags(customer.pk), resolver=resolver or TaxResolver(),
        subscription=subscription, period_start=period_start, period_end=period_end, order=order,
        address=address, memo=memo, finalize=finalize,
    )  # fmt: skip
    _save([draft])
    return draft.invoice


def _apply_finalize(invoice: Invoice) -> list[str]:
    """Draft → open in memory (→ paid when nothing is due). Returns the changed fields."""
    _set_status(invoice, InvoiceStatus.OPEN)
    now = timezone.now()
    invoice.finalized_at = now
    invoice.due_date = (
        now.date()
        if invoice.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
        else now.date() + dt.timedelta(days=int(conf.get("OMS_INVOICE_DUE_DAYS")))
    )
    recompute_amount_due(invoice)
    fields = ["status", "finalized_at", "due_date", "amount_due", "updated_at"]
    if invoice.amount_due == 0:
        # Nothing to collect (a free period, or credits cover it): paid on finalization.
        _set_status(invoice, InvoiceStatus.PAID)
        invoice.paid_at = now
        fields.append("paid_at")
    return fields


def _finalize_events(invoice: Invoice, *, actor: Actor) -> list[BillingEvent]:
    events = [
        build_event(
            kind=BillingEventKind.INVOICE_FINALIZED,
            actor=actor,
            invoice=invoice,
            payload={"due": invoice.amount_due},
        )
    ]
    if invoice.status == InvoiceStatus.PAID:
        events.append(
            build_event(
                kind=BillingEventKind.INVOICE_PAID,
                actor=actor,
                invoice=invoice,
                message="Nothing to collect.",
            )
        )
    elif invoice.collection_method == CollectionMethod.SEND_INVOICE:
        from .. import notifications

        # Read the id when the email goes out (after commit): a draft has none yet.
        on_commit(lambda: notifications.send_invoice_email(invoice.pk))
    return events


def _finalize(invoice: Invoice, *, actor: Actor) -> Invoice:
    fields = _apply_finalize(invoice)
    invoice.save(update_fields=fields)
    BillingEvent.objects.bulk_create(_finalize_events(invoice, actor=actor))
    return invoice


def invoice_create_for_period(
    *,
    subscription: Subscription,
    period_start: dt.date,
    actor: Actor,
    period_end: dt.date | None = None,
    lines: Sequence[LineInput] | None = None,
    finalize: bool = True,
    resolver: TaxResolver | None = None,
) -> Invoice:
    """The invoice for one subscription period, created once: if it exists it is returned
    unchanged (Kill Bill: insert only what is missing). Lines default to what
    ``subscriptions.selectors.renewal_preview`` says the period costs. Callers renewing the
    same subscription concurrently must serialise on the subscription row (the renewal
    claim does); the unique constraint (subscription, period_start) is the last guard."""
    with transaction.atomic(savepoint=False):
        existing = Invoice.objects.filter(
            subscription=subscription, period_start=period_start
        ).first()
        if existing is not None:
            return existing
        if lines is None:
            lines, period_end = _renewal_lines(subscription=subscription, period_start=period_start)
        invoice = _create(
            customer=subscription.customer,
            currency=subscription.currency,
            lines=lines,
            actor=actor,
            billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
            subscription=subscription,
            period_start=period_start,
            period_end=period_end,
            address=subscription.shipping_address or None,
            resolver=resolver,
            finalize=finalize,
        )
        _mark_adjustments(invoice, lines)
        return invoice


@dataclass(frozen=True)
class PeriodInput:
    """One subscription period to invoice (``invoices_create_for_periods``)."""

    subscription: Subscription
    period_start: dt.date
    period_end: dt.date | None
    lines: Sequence[LineInput]


def invoices_create_for_periods(
    *,
    periods: Sequence[PeriodInput],
    actor: Actor,
    finalize: bool = True,
    resolver: TaxResolver | None = None,
) -> list[Invoice]:
    """``invoice_create_for_period`` for a batch (the renewal claim's), in a constant number
    of queries: one read of the invoices that already exist (returned unchanged), one of the
    customers' billing flags, one for the numbers, three INSERTs. Same rows, same rules;
    joins the caller's transaction (which holds the subscriptions' locks)."""
    with transaction.atomic(savepoint=False):
        wanted = {(p.subscription.pk, p.period_start) for p in periods}
        existing = {
            (i.subscription_id, i.period_start): i
            for i in Invoice.objects.filter(
                subscription_id__in={s for s, _ in wanted}, period_start__in={d for _, d in wanted}
            )
            if (i.subscription_id, i.period_start) in wanted
        }
        todo = [p for p in periods if (p.subscription.pk, p.period_start) not in existing]
        customer_ids = {p.subscription.customer_id for p in todo}
        flags = {
            a.customer_id: a for a in BillingAccount.objects.filter(customer_id__in=customer_ids)
        }
        customers = _customers_of([p.subscription for p in todo])
        resolver = resolver or TaxResolver()
        drafts = [
            _build(
                customer=customers[p.subscription.customer_id], currency=p.subscription.currency, lines=p.lines,
                actor=actor, billing_reason=BillingReason.SUBSCRIPTION_CYCLE, number=number,
                flags=flags.get(p.subscription.customer_id) or BillingAccount(customer_id=p.subscription.customer_id),
                resolver=resolver, subscription=p.subscription, period_start=p.period_start,
                period_end=p.period_end, address=p.subscription.shipping_address or None, finalize=finalize,
            )
            for p, number in zip(todo, next_invoice_numbers(len(todo)), strict=True)
        ]  # fmt: skip
        _save(drafts)
        for p, draft in zip(todo, drafts, strict=True):
            _mark_adjustments(draft.invoice, p.lines)
            existing[(p.subscription.pk, p.period_start)] = draft.invoice
        return [existing[(p.subscription.pk, p.period_start)] for p in periods]


def _customers_of(subscriptions: Sequence[Subscription]) -> dict[int, Customer]:
    """The subscriptions' customers: those already loaded, the rest in one query."""
    from customers.models import Customer as CustomerModel

    known = {s.customer_id: s.customer for s in subscriptions if _customer_cached(s)}
    missing = {s.customer_id for s in subscriptions} - set(known)
    return {**known, **CustomerModel.objects.in_bulk(missing)} if missing else known


def _customer_cached(subscription: Subscription) -> bool:
    return subscription._meta.get_field("customer").is_cached(subscription)


def _renewal_lines(
    *, subscription: Subscription, period_start: dt.date
) -> tuple[list[LineInput], dt.date | None]:
    from subscriptions.selectors import renewal_preview

    preview = renewal_preview(subscription=subscription, period_start=period_start)
    return lines_from_preview(preview), getattr(preview, "period_end", None)


# The kinds subscriptions' preview lines use, mapped to invoice line kinds.
_PREVIEW_KINDS = {
    "plan": InvoiceLineKind.PLAN,
    "addon": InvoiceLineKind.ITEM,
    "item": InvoiceLineKind.ITEM,
    "setup_fee": InvoiceLineKind.SETUP_FEE,
    "proration": InvoiceLineKind.PRORATION_CHARGE,
    "adjustment": InvoiceLineKind.PRORATION_CHARGE,
    "discount": InvoiceLineKind.DISCOUNT,
    "shipping": InvoiceLineKind.SHIPPING,
}


def lines_from_preview(preview: Any) -> list[LineInput]:
    """Invoice lines from a renewal preview's lines (kind, description, amount, quantity,
    sku, adjustment). Adjustment lines keep their id in ``source_ref`` so the invoice marks
    them applied."""
    sku_ids = {line.sku_id for line in preview.lines if getattr(line, "sku_id", None)}
    categories: dict[int, tuple[str, str]] = {}
    if sku_ids:
        from inventory.models import Sku

        categories = {
            pk: (code, cat or "")
            for pk, code, cat in Sku.objects.filter(pk__in=sku_ids).values_list(
                "pk", "code", "tax_category"
            )
        }
    result = []
    for line in preview.lines:
        kind = _PREVIEW_KINDS.get(line.kind, InvoiceLineKind.ITEM)
        if kind == InvoiceLineKind.PRORATION_CHARGE and line.amount < 0:
            kind = InvoiceLineKind.PRORATION_CREDIT
        quantity = getattr(line, "quantity", 1) or 1
        if line.amount % quantity:
            quantity = 1
        sku_code, category = categories.get(getattr(line, "sku_id", None) or 0, ("", ""))
        adjustment_id = getattr(line, "adjustment_id", None)
        result.append(
            LineInput(
                kind=kind,
                description=line.description,
                quantity=quantity,
                unit_amount=line.amount // quantity,
                amount=line.amount,
                tax_category=category,
                sku_code=sku_code,
                period_start=getattr(preview, "period_start", None),
                period_end=getattr(preview, "period_end", None),
                source_ref=f"adjustment:{adjustment_id}" if adjustment_id else "",
            )
        )
    return result


def _mark_adjustments(invoice: Invoice, lines: Sequence[LineInput]) -> None:
    ids = [
        int(item.source_ref.split(":", 1)[1])
        for item in lines
        if item.source_ref.startswith("adjustment:")
    ]
    if ids:
        from ._subscriptions import adjustments_mark_applied

        adjustments_mark_applied(adjustment_ids=ids, invoice_id=invoice.pk)


def invoice_create_for_order(*, order: Order, actor: Actor, finalize: bool = True) -> Invoice:
    """The invoice of a one-off order, with the order's own amounts (its tax was computed by
    billing's calculator at intake), so the invoice total equals the order total."""
    with transaction.atomic(savepoint=False):
        existing = (
            Invoice.objects.filter(order=order)
            .exclude(status=InvoiceStatus.VOID)
            .order_by("pk")
            .first()
        )
        if existing is not None:
            return existing
        lines: list[LineInput] = []
        order_lines = list(order.lines.select_related("sku").order_by("line_no"))
        for ol in order_lines:
            quantity = ol.quantity - ol.cancelled_quantity
            if quantity <= 0:
                continue
            lines.append(
                LineInput(
                    kind=InvoiceLineKind.ITEM,
                    description=getattr(ol.sku, "name", "") or ol.sku.code,
                    sku_code=ol.sku.code,
                    quantity=quantity,
                    unit_amount=ol.unit_price,
                    discount=ol.discount,
                    tax=ol.tax,
                    tax_category=getattr(ol.sku, "tax_category", "") or "",
                    source_ref=f"order_line:{ol.pk}",
                )
            )
        if order.shipping_total:
            line_tax_total = sum(ol.tax for ol in order_lines)
            lines.append(
                LineInput(
                    kind=InvoiceLineKind.SHIPPING,
                    description=f"Shipping ({order.get_delivery_option_display()})",
                    unit_amount=order.shipping_total,
                    tax=max(order.tax_total - line_tax_total, 0),
                    tax_category="shipping",
                    source_ref=f"order:{order.pk}:shipping",
                )
            )
        invoice = _create(
            customer=order.customer,
            currency=order.currency,
            lines=lines,
            actor=actor,
            billing_reason=BillingReason.ORDER,
            order=order,
            address=(order.billing_address or order.shipping_address or None),
            finalize=finalize,
        )
        return invoice


def invoice_create(
    *,
    customer: Customer,
    currency: str,
    lines: Sequence[LineInput],
    actor: Actor,
    subscription: Subscription | None = None,
    billing_reason: str = BillingReason.MANUAL,
    finalize: bool = False,
    memo: str = "",
) -> Invoice:
    """A free-form invoice (operator, plan-change adjustments)."""
    with transaction.atomic(savepoint=False):
        invoice = _create(
            customer=customer,
            currency=currency,
            lines=lines,
            actor=actor,
            billing_reason=billing_reason,
            subscription=subscription,
            address=(subscription.shipping_address or None) if subscription is not None else None,
            memo=memo,
            finalize=finalize,
        )
        return invoice


@transaction.atomic
def invoice_line_add(*, invoice: Invoice, line: LineInput, actor: Actor) -> Invoice:
    """Add a line to a draft (open invoices are immutable: use a credit note)."""
    invoice = lock_invoice(invoice)
    if not invoice.is_editable:
        raise Conflict(
            f"Invoice {invoice.number} is {invoice.status}; only drafts can change. Issue a credit note.",
            code=errors.INVOICE_NOT_EDITABLE,
        )
    resolver = TaxResolver()
    flags = account_flags(invoice.customer_id)
    treatment = resolver.treatment(
        country=invoice.billing_address.get("country", ""),
        region=invoice.billing_address.get("region", ""),
        category=line.tax_category,
        exempt=flags.tax_exempt,
    )
    lt = line_tax(amount=line.line_amount, currency=invoice.currency, treatment=treatment)
    position = invoice.lines.count() + 1
    InvoiceLine.objects.create(
        invoice=invoice, position=position, kind=line.kind, description=line.description,
        sku_code=line.sku_code, quantity=line.quantity, unit_amount=line.unit_amount,
        amount=line.line_amount, net=lt.net, tax=lt.tax, total=lt.net + lt.tax,
        tax_category=line.tax_category, tax_rate_id=treatment.tax_rate_id,
        tax_rate_value=treatment.rate, tax_name=treatment.name, tax_inclusive=treatment.inclusive,
    )  # fmt: skip
    _recompute_from_lines(invoice)
    return invoice


def _recompute_from_lines(invoice: Invoice) -> None:
    lines = list(invoice.lines.all())
    invoice.subtotal = sum(line.net for line in lines)
    invoice.tax = sum(line.tax for line in lines)
    invoice.total = invoice.subtotal + invoice.tax
    rows = [
        (TaxTreatment(rate=line.tax_rate_value, inclusive=line.tax_inclusive, name=line.tax_name),
         LineTax(net=line.net, tax=line.tax, gross=line.total))
        for line in lines
        if line.tax_rate_value
    ]  # fmt: skip
    invoice.tax_breakdown = [row.as_dict() for row in breakdown(rows)]
    recompute_amount_due(invoice)
    invoice.save(
        update_fields=["subtotal", "tax", "total", "tax_breakdown", "amount_due", "updated_at"]
    )


@transaction.atomic
def invoice_finalize(*, invoice: Invoice, actor: Actor) -> Invoice:
    """Draft → open: the invoice becomes immutable and collectable."""
    invoice = lock_invoice(invoice)
    return _finalize(invoice, actor=actor)


@transaction.atomic
def invoice_void(*, invoice: Invoice, reason: str, actor: Actor) -> Invoice:
    """Cancel an invoice issued in error. Money already taken must be refunded first (a
    credit note with a refund), so a void never hides a payment."""
    invoice = lock_invoice(invoice)
    if invoice.amount_paid - invoice.amount_refunded > 0:
        raise Conflict(
            f"Invoice {invoice.number} has payments; refund them (credit note) before voiding.",
            code=errors.INVOICE_NOT_PAYABLE,
        )
    _ensure_no_payment_in_flight(invoice)
    _set_status(invoice, InvoiceStatus.VOID)
    invoice.voided_at = timezone.now()
    invoice.amount_due = 0
    invoice.save(update_fields=["status", "voided_at", "amount_due", "updated_at"])
    event(kind=BillingEventKind.INVOICE_VOIDED, actor=actor, invoice=invoice, message=reason)
    from .dunning import dunning_stop

    dunning_stop(invoice=invoice, actor=actor, reason=f"invoice voided: {reason}")
    return invoice


@transaction.atomic
def invoice_mark_uncollectible(*, invoice: Invoice, reason: str, actor: Actor) -> Invoice:
    invoice = lock_invoice(invoice)
    _ensure_no_payment_in_flight(invoice)
    _set_status(invoice, InvoiceStatus.UNCOLLECTIBLE)
    invoice.save(update_fields=["status", "updated_at"])
    event(kind=BillingEventKind.INVOICE_UNCOLLECTIBLE, actor=actor, invoice=invoice, message=reason)
    from .dunning import dunning_stop

    dunning_stop(invoice=invoice, actor=actor, reason=f"marked uncollectible: {reason}")
    return invoice


def _ensure_no_payment_in_flight(invoice: Invoice) -> None:
    from ..models import IN_FLIGHT_STATES

    if invoice.payment_attempts.filter(state__in=IN_FLIGHT_STATES).exists():
        raise Conflict(
            f"A payment of invoice {invoice.number} is in flight; reconcile it first.",
            code=errors.PAYMENT_IN_FLIGHT,
        )


@transaction.atomic
def invoice_send_email(*, invoice: Invoice, actor: Actor) -> Invoice:
    from .. import notifications

    if invoice.status == InvoiceStatus.DRAFT:
        raise Conflict("Finalize the invoice before sending it.", code=errors.INVOICE_NOT_EDITABLE)
    event(
        kind=BillingEventKind.INVOICE_SENT,
        actor=actor,
        invoice=invoice,
        payload={"to": invoice.customer.email},
    )
    on_commit(notifications.send_invoice_email, invoice.pk)
    return invoice
