"""Charging many invoices at once (the renewal run's batches), with the guarantees of
``invoice_pay`` and a constant number of queries per batch instead of per invoice.

1. One durable transaction locks the invoices (primary-key order) and writes every pending
   attempt — committed before any gateway call, each with its (invoice, attempt number)
   idempotency key, each blocked by the one-in-flight index.
2. The gateway is called for each attempt, outside any transaction.
3. One transaction records the successes (attempts, invoices, timeline rows in bulk).
   Everything else — declines, authentication required, lost answers — goes through the
   one-invoice completion, which opens dunning and sends the emails.

Invoices this path does not take (an attempt already in flight or waiting for the
customer, auto-pay off, written off, nothing due) come back with the reason; the caller may
hand them to ``invoice_pay``, which settles the leftovers first."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.bulk import Writes
from oms.core.errors import ApplicationError, Conflict
from oms.core.rows import new_row

from .. import errors
from ..gateway import SUCCEEDED, ChargeResult, GatewayUnknownOutcome, PaymentGateway, get_gateway
from ..models import (
    IN_FLIGHT_STATES,
    AttemptState,
    AttemptTrigger,
    BillingAccount,
    BillingEvent,
    BillingEventKind,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
    PaymentMethod,
)
from ._common import build_event, recompute_amount_due
from .cards import customer_stripe_ensure
from .payments import (
    PAYABLE,
    attempt_key,
    payment_attempt_charge,
    payment_attempt_complete,
    payment_attempt_mark_unknown,
)


@dataclass
class BatchItem:
    invoice_id: int
    attempt: PaymentAttempt | None = None
    error: ApplicationError | None = None
    # The invoice as the batch left it, where the batch itself wrote it (a success recorded
    # in bulk); None: the caller reads it afresh if it needs it.
    invoice: Invoice | None = None


def invoices_pay_batch(
    *,
    invoices: Sequence[Invoice],
    actor: Actor,
    trigger: str = AttemptTrigger.RENEWAL,
    gateway: PaymentGateway | None = None,
    concurrency: int = 1,
) -> list[BatchItem]:
    """Charge each invoice once; returns one item per invoice, in the order given. Must run
    outside a transaction (the attempts commit before the gateway is called).
    ``concurrency`` > 1 makes that many gateway calls at once (threads; they touch no
    database: the Stripe customers are ensured first, in this thread)."""
    gateway = gateway or get_gateway()
    items = {invoice.pk: BatchItem(invoice_id=invoice.pk) for invoice in invoices}
    attempts = _begin(items=items, actor=actor, trigger=trigger)
    results: list[tuple[PaymentAttempt, ChargeResult]] = []
    for attempt, outcome in _charge_all(attempts, gateway=gateway, concurrency=concurrency):
        if isinstance(outcome, GatewayUnknownOutcome):
            items[attempt.invoice_id].attempt = payment_attempt_mark_unknown(
                attempt=attempt, reason=str(outcome), actor=actor
            )
        else:
            results.append((attempt, outcome))
    succeeded = [(a, r) for a, r in results if r.status == SUCCEEDED]
    for attempt, invoice in _complete_successes(succeeded, actor=actor):
        items[attempt.invoice_id].attempt = attempt
        items[attempt.invoice_id].invoice = invoice
    for attempt, result in results:
        if result.status != SUCCEEDED:
            items[attempt.invoice_id].attempt = payment_attempt_complete(
                attempt=attempt, result=result, actor=actor
            )
    return [items[invoice.pk] for invoice in invoices]


def _charge_all(
    attempts: list[PaymentAttempt], *, gateway: PaymentGateway, concurrency: int
) -> list[tuple[PaymentAttempt, ChargeResult | GatewayUnknownOutcome]]:
    for attempt in attempts:
        if attempt.stripe_payment_method_id:
            customer_stripe_ensure(customer=attempt.invoice.customer, gateway=gateway)

    def one(attempt: PaymentAttempt) -> tuple[PaymentAttempt, ChargeResult | GatewayUnknownOutcome]:
        try:
            return attempt, payment_attempt_charge(attempt=attempt, gateway=gateway)
        except GatewayUnknownOutcome as exc:
            return attempt, exc

    if concurrency <= 1 or len(attempts) <= 1:
        return [one(attempt) for attempt in attempts]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, attempts))


@transaction.atomic(durable=True)
def _begin(*, items: dict[int, BatchItem], actor: Actor, trigger: str) -> list[PaymentAttempt]:
    invoices = list(
        Invoice.objects.select_for_update(of=("self",))
        .select_related("customer")
        # The subscription's own card is all this needs of it: a column, not an instance.
        .annotate(subscription_card=F("subscription__payment_method"))
        .filter(pk__in=list(items))
        .order_by("pk")
    )
    history = {
        row["invoice_id"]: row
        for row in PaymentAttempt.objects.filter(invoice_id__in=[i.pk for i in invoices])
        .values("invoice_id")
        .annotate(
            last=Max("attempt_number"),
            busy=Max("pk", filter=Q(state__in=[*IN_FLIGHT_STATES, AttemptState.REQUIRES_ACTION])),
        )
    }
    customer_ids = {invoice.customer_id for invoice in invoices}
    flags = {a.customer_id: a for a in BillingAccount.objects.filter(customer_id__in=customer_ids)}
    cards = _cards(invoices)
    attempts: list[PaymentAttempt] = []
    for invoice in invoices:
        item = items[invoice.pk]
        account = flags.get(invoice.customer_id)
        seen = history.get(invoice.pk)
        if invoice.status not in PAYABLE or invoice.amount_due <= 0:
            item.error = Conflict(
                f"Invoice {invoice.number} has nothing to charge.", code=errors.INVOICE_NOT_PAYABLE
            )
        elif account is not None and account.written_off:
            item.error = Conflict("The customer's account is written off.", code=errors.WRITTEN_OFF)
        elif account is not None and not account.auto_pay and trigger != AttemptTrigger.MANUAL:
            item.error = Conflict("Auto-pay is off for this customer.", code=errors.AUTO_PAY_OFF)
        elif seen is not None and seen["busy"] is not None:
            item.error = Conflict(
                f"Invoice {invoice.number} has a payment in flight or awaiting the customer.",
                code=errors.PAYMENT_IN_FLIGHT,
            )
        else:
            number = (seen["last"] if seen else 0) + 1
            pm, pm_id = cards.get(invoice.pk, (None, ""))
            attempt = new_row(
                PaymentAttempt,
                invoice=invoice, attempt_number=number, trigger=trigger, amount=invoice.amount_due,
                currency=invoice.currency, idempotency_key=attempt_key(invoice.pk, number),
                payment_method=pm, stripe_payment_method_id=pm_id,
            )  # fmt: skip
            attempts.append(attempt)
    writes = Writes()
    writes.insert(PaymentAttempt, attempts)
    writes.insert(
        BillingEvent,
        [
            build_event(
                kind=BillingEventKind.PAYMENT_STARTED,
                actor=actor,
                invoice=a.invoice,
                payload={
                    "attempt": a.attempt_number,
                    "amount": a.amount,
                    "trigger": trigger,
                    "key": a.idempotency_key,
                },
            )
            for a in attempts
        ],
    )
    writes.run()
    return attempts


def _cards(invoices: Sequence[Invoice]) -> dict[int, tuple[PaymentMethod | None, str]]:
    """``choose_payment_method`` for many invoices in two queries (each invoice annotated
    with its subscription's ``subscription_card``)."""
    own = {
        invoice.pk: invoice.subscription_card  # type: ignore[attr-defined]
        for invoice in invoices
        if invoice.subscription_card  # type: ignore[attr-defined]
    }
    known = {
        pm.stripe_payment_method_id: pm
        for pm in PaymentMethod.objects.filter(stripe_payment_method_id__in=set(own.values()))
    }
    defaults: dict[int, PaymentMethod] = {}
    for pm in PaymentMethod.objects.filter(
        customer_id__in={i.customer_id for i in invoices}, detached_at__isnull=True
    ).order_by("customer_id", "-is_default", "-created_at"):
        defaults.setdefault(pm.customer_id, pm)
    chosen: dict[int, tuple[PaymentMethod | None, str]] = {}
    for invoice in invoices:
        pm_id = own.get(invoice.pk)
        if pm_id:
            row = known.get(pm_id)
            if row is None:
                chosen[invoice.pk] = (None, pm_id)
                continue
            if row.detached_at is None and row.customer_id == invoice.customer_id:
                chosen[invoice.pk] = (row, pm_id)
                continue
        default = defaults.get(invoice.customer_id)
        chosen[invoice.pk] = (default, default.stripe_payment_method_id) if default else (None, "")
    return chosen


def _complete_successes(
    succeeded: list[tuple[PaymentAttempt, ChargeResult]], *, actor: Actor
) -> list[tuple[PaymentAttempt, Invoice | None]]:
    """Record the successful charges in one transaction; each attempt comes back with its
    invoice as written here. An attempt someone else completed meanwhile (a webhook) goes
    through the one-invoice path, which sees it is done (its invoice: None, unknown here)."""
    if not succeeded:
        return []
    done: list[tuple[PaymentAttempt, Invoice | None]] = []
    leftovers: list[tuple[PaymentAttempt, ChargeResult]] = []
    with transaction.atomic():
        by_invoice = {a.invoice_id: (a, r) for a, r in succeeded}
        invoices = {
            i.pk: i
            for i in Invoice.objects.select_for_update(of=("self",))
            .annotate(subscription_status=F("subscription__status"))
            .filter(pk__in=list(by_invoice))
            .order_by("pk")
        }
        pending = set(
            PaymentAttempt.objects.select_for_update()
            .filter(pk__in=[a.pk for a, _ in succeeded], state=AttemptState.PENDING)
            .values_list("pk", flat=True)
        )
        now = timezone.now()
        attempts, rows, events = [], [], []
        for invoice_id, (attempt, result) in sorted(by_invoice.items()):
            invoice = invoices[invoice_id]
            simple = (
                attempt.pk in pending
                and invoice.status in PAYABLE
                and attempt.attempt_number == 1  # no dunning case can exist yet
                and invoice.subscription_status != "past_due"  # type: ignore[attr-defined]
            )
            if not simple:
                leftovers.append((attempt, result))
                continue
            attempt.state = AttemptState.SUCCEEDED
            attempt.stripe_payment_intent_id = result.payment_intent_id
            attempt.stripe_charge_id = result.charge_id or ""
            attempt.client_secret = result.client_secret or ""
            attempt.completed_at = now
            attempt.updated_at = now
            invoice.amount_paid += attempt.amount
            recompute_amount_due(invoice)
            invoice.updated_at = now
            events.append(
                build_event(
                    kind=BillingEventKind.PAYMENT_SUCCEEDED, actor=actor, invoice=invoice,
                    payload={"attempt": 1, "amount": attempt.amount, "payment_intent": result.payment_intent_id},
                )
            )  # fmt: skip
            if invoice.amount_due == 0:
                invoice.status = InvoiceStatus.PAID  # open/uncollectible → paid (allowed)
                invoice.paid_at = now
                events.append(
                    build_event(kind=BillingEventKind.INVOICE_PAID, actor=actor, invoice=invoice)
                )
            attempts.append(attempt)
            rows.append(invoice)
        # One statement: the attempts, the invoices (UNNEST updates) and the timeline.
        writes = Writes()
        writes.update(
            PaymentAttempt,
            attempts,
            ["state", "stripe_payment_intent_id", "stripe_charge_id", "client_secret",
             "completed_at", "updated_at"],
        )  # fmt: skip
        writes.update(
            Invoice, rows, ["amount_paid", "amount_due", "status", "paid_at", "updated_at"]
        )
        writes.insert(BillingEvent, events)
        writes.run()
        done.extend(zip(attempts, rows, strict=True))
    for attempt, result in leftovers:
        done.append((payment_attempt_complete(attempt=attempt, result=result, actor=actor), None))
    return done
