"""Dunning: what happens after a failed charge, per subscription (Kill Bill's overdue
states, Stripe's retry schedule).

- The first failure opens a ``DunningCase`` for the invoice: the subscription goes
  ``past_due``, the customer gets an email with a link to update the card, and retries are
  scheduled ``OMS_DUNNING_RETRY_DAYS`` days after that first failure (default 1, 3, 5, 7).
- ``dunning_run(as_of)`` retries what is due. Each failed retry emails again; after the
  last one the case is exhausted: the invoice is marked uncollectible and the subscription
  ends as configured (``OMS_DUNNING_END_ACTION``: cancel, or pause).
- A hard decline is not retried on the same card (it would fail again, and issuers
  penalise it): the retry day passes without a charge until the customer adds a card.
- A new card retries at once (``dunning_retry_customer``); any success recovers the case
  and the subscription.
- Operator flags (``BillingAccount``): ``no_dunning`` (no retries), ``written_off`` (no
  charges; invoices go uncollectible), ``auto_pay`` off (invoices are sent, not charged).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.errors import ApplicationError, Conflict
from oms.core.transactions import on_commit
from oms.core.transitions import check_transition

from .. import conf
from ..declines import HARD
from ..gateway import GatewayError, PaymentGateway, get_gateway
from ..models import (
    DUNNING_TRANSITIONS,
    AttemptState,
    AttemptTrigger,
    BillingEventKind,
    CollectionMethod,
    DunningCase,
    DunningState,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
)
from ..selectors import dunning_cases_active_for_customer, dunning_cases_due, payment_method_default
from . import _subscriptions
from ._common import account_flags, event

logger = logging.getLogger(__name__)


def _set_state(case: DunningCase, target: str) -> None:
    check_transition(DUNNING_TRANSITIONS, entity="Dunning case", current=case.state, target=target)
    case.state = target


def _next_retry(case: DunningCase) -> dt.datetime | None:
    schedule = case.schedule_days or []
    if case.retries_done >= len(schedule):
        return None
    return case.started_at + dt.timedelta(days=int(schedule[case.retries_done]))


def dunning_record_failure(
    *, invoice: Invoice, attempt: PaymentAttempt, actor: Actor
) -> DunningCase | None:
    """A charge of ``invoice`` failed (or needs the customer): open or advance its case.
    Runs inside the transaction that records the attempt's outcome."""
    from .. import notifications

    if invoice.collection_method != CollectionMethod.CHARGE_AUTOMATICALLY:
        return None
    flags = account_flags(invoice.customer_id)
    now = timezone.now()
    case = DunningCase.objects.select_for_update().filter(invoice=invoice).first()
    if case is None:
        if invoice.subscription_id:
            _subscriptions.mark_past_due(
                subscription=invoice.subscription,
                actor=actor,
                reason=f"Payment of {invoice.number} failed.",
            )
        if flags.no_dunning or flags.written_off:
            event(
                kind=BillingEventKind.DUNNING_STOPPED,
                actor=actor,
                invoice=invoice,
                message="No dunning for this customer.",
            )
            on_commit(notifications.send_payment_failed_email, invoice.pk, attempt.pk)
            return None
        case = DunningCase(
            invoice=invoice,
            subscription_id=invoice.subscription_id,
            customer_id=invoice.customer_id,
            schedule_days=conf.retry_days(),
            failures=1,
            started_at=now,
            last_decline_code=attempt.decline_code,
        )
        case.next_retry_at = _next_retry(case)
        case.save(force_insert=True)
        event(
            kind=BillingEventKind.DUNNING_STARTED,
            actor=actor,
            invoice=invoice,
            payload={
                "schedule_days": case.schedule_days,
                "next_retry_at": _iso(case.next_retry_at),
            },
        )
        if case.next_retry_at is None:
            _exhaust(case, invoice=invoice, actor=actor)
    else:
        case.failures += 1
        case.last_decline_code = attempt.decline_code
        if case.state == DunningState.ACTIVE and attempt.trigger == AttemptTrigger.DUNNING:
            case.retries_done += 1
            case.next_retry_at = _next_retry(case)
            event(
                kind=BillingEventKind.DUNNING_RETRY,
                actor=actor,
                invoice=invoice,
                payload={
                    "retry": case.retries_done,
                    "decline_code": attempt.decline_code,
                    "next_retry_at": _iso(case.next_retry_at),
                },
            )
        case.save(
            update_fields=[
                "failures",
                "retries_done",
                "next_retry_at",
                "last_decline_code",
                "updated_at",
            ]
        )
        if case.state == DunningState.ACTIVE and case.next_retry_at is None:
            _exhaust(case, invoice=invoice, actor=actor)
    if case.state == DunningState.EXHAUSTED:
        return case  # the exhausted email says it all
    if attempt.state == AttemptState.REQUIRES_ACTION:
        on_commit(notifications.send_action_required_email, invoice.pk, attempt.pk)
    else:
        on_commit(notifications.send_payment_failed_email, invoice.pk, attempt.pk)
    return case


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _exhaust(case: DunningCase, *, invoice: Invoice, actor: Actor) -> None:
    from .. import notifications
    from .invoices import _set_status as invoice_set_status

    _set_state(case, DunningState.EXHAUSTED)
    case.ended_at = timezone.now()
    case.next_retry_at = None
    case.end_action = conf.end_action() if case.subscription_id else ""
    case.save(update_fields=["state", "ended_at", "next_retry_at", "end_action", "updated_at"])
    if invoice.status == InvoiceStatus.OPEN:
        invoice_set_status(invoice, InvoiceStatus.UNCOLLECTIBLE)
        invoice.save(update_fields=["status", "updated_at"])
        event(
            kind=BillingEventKind.INVOICE_UNCOLLECTIBLE,
            actor=actor,
            invoice=invoice,
            message="Dunning exhausted.",
        )
    event(
        kind=BillingEventKind.DUNNING_EXHAUSTED,
        actor=actor,
        invoice=invoice,
        payload={"failures": case.failures, "end_action": case.end_action},
    )
    if case.subscription_id:
        subscription = invoice.subscription
        reason = f"Unpaid invoice {invoice.number}: payment retries exhausted."
        try:
            if case.end_action == "pause":
                # Subscriptions pauses only active subscriptions: out of past_due and into the
                # pause together, or not at all.
                with transaction.atomic():
                    _subscriptions.payment_recovered(
                        subscription=subscription, actor=actor, reason="Dunning ended; pausing."
                    )
                    _subscriptions.pause(
                        subscription=subscription,
                        actor=actor,
                        reason=reason,
                        cycles=conf.pause_cycles(),
                    )
            else:
                _subscriptions.cancel(
                    subscription=subscription, reason=reason, actor=actor, refund="none", force=True
                )
        except ApplicationError as exc:  # already cancelled by the customer, say
            logger.info(
                "Dunning end action on subscription %s refused: %s", case.subscription_id, exc
            )
    on_commit(notifications.send_dunning_exhausted_email, invoice.pk)


def dunning_recovered(
    *, invoice: Invoice, actor: Actor, may_have_case: bool = True
) -> DunningCase | None:
    """The invoice got paid: close its case and give the subscription back its status."""
    case = (
        DunningCase.objects.select_for_update().filter(invoice=invoice).first()
        if may_have_case
        else None
    )
    if case is not None and case.state != DunningState.RECOVERED:
        _set_state(case, DunningState.RECOVERED)
        case.ended_at = timezone.now()
        case.next_retry_at = None
        case.save(update_fields=["state", "ended_at", "next_retry_at", "updated_at"])
        event(
            kind=BillingEventKind.DUNNING_RECOVERED,
            actor=actor,
            invoice=invoice,
            payload={"failures": case.failures},
        )
    subscription = invoice.subscription if invoice.subscription_id else None
    if subscription is not None and subscription.status == "past_due":
        _subscriptions.payment_recovered(
            subscription=subscription, actor=actor, reason=f"Invoice {invoice.number} paid."
        )
    return case


def dunning_stop(*, invoice: Invoice, actor: Actor, reason: str) -> DunningCase | None:
    """Stop retrying (the invoice was voided or written off)."""
    case = (
        DunningCase.objects.select_for_update()
        .filter(invoice=invoice, state=DunningState.ACTIVE)
        .first()
    )
    if case is None:
        return None
    _set_state(case, DunningState.STOPPED)
    case.ended_at = timezone.now()
    case.next_retry_at = None
    case.save(update_fields=["state", "ended_at", "next_retry_at", "updated_at"])
    event(kind=BillingEventKind.DUNNING_STOPPED, actor=actor, invoice=invoice, message=reason)
    if invoice.status == InvoiceStatus.VOID and invoice.subscription_id:
        _subscriptions.payment_recovered(
            subscription=invoice.subscription, actor=actor, reason=reason
        )
    return case


@dataclass
class DunningRunResult:
    due: int = 0
    retried: int = 0
    recovered: int = 0
    failed: int = 0
    skipped: int = 0
    exhausted: int = 0
    reconciled: int = 0


def _skip_hard_declined_retry(case: DunningCase, *, actor: Actor) -> bool:
    """True (and the retry day consumed) when the last failure was a hard decline on the
    card that would be charged again."""
    last = (
        case.invoice.payment_attempts.exclude(state=AttemptState.SUCCEEDED)
        .order_by("-attempt_number")
        .first()
    )
    if last is None or last.decline_kind != HARD:
        return False
    from .payments import choose_payment_method

    _, current_id = choose_payment_method(case.invoice)
    if current_id and current_id != last.stripe_payment_method_id:
        return False
    with transaction.atomic():
        locked = DunningCase.objects.select_for_update().get(pk=case.pk)
        if locked.state != DunningState.ACTIVE:
            return True
        locked.retries_done += 1
        locked.next_retry_at = _next_retry(locked)
        locked.save(update_fields=["retries_done", "next_retry_at", "updated_at"])
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("subscription")
            .get(pk=locked.invoice_id)
        )
        event(
            kind=BillingEventKind.DUNNING_RETRY,
            actor=actor,
            invoice=invoice,
            message="Skipped: the card was hard-declined; waiting for a new card.",
            payload={
                "retry": locked.retries_done,
                "skipped": True,
                "next_retry_at": _iso(locked.next_retry_at),
            },
        )
        if locked.next_retry_at is None:
            _exhaust(locked, invoice=invoice, actor=actor)
    return True


def dunning_run(
    *,
    actor: Actor,
    as_of: dt.datetime | None = None,
    gateway: PaymentGateway | None = None,
    limit: int = 1000,
) -> DunningRunResult:
    """Retry every invoice whose retry is due by ``as_of`` (default now). Safe to run twice
    or concurrently: each retry is claimed under the case's row lock."""
    from .payments import invoice_pay, payments_reconcile

    as_of = as_of or timezone.now()
    gateway = gateway or get_gateway()
    result = DunningRunResult(reconciled=payments_reconcile(actor=actor, gateway=gateway))
    case_ids = list(dunning_cases_due(as_of=as_of).values_list("pk", flat=True)[:limit])
    result.due = len(case_ids)
    for case_id in case_ids:
        case = DunningCase.objects.select_related("invoice__customer", "invoice__subscription").get(
            pk=case_id
        )
        flags = account_flags(case.customer_id)
        if flags.written_off:
            from .invoices import invoice_mark_uncollectible

            invoice_mark_uncollectible(
                invoice=case.invoice, reason="Customer account written off.", actor=actor
            )
            result.skipped += 1
            continue
        if flags.no_dunning:
            with transaction.atomic():
                dunning_stop(
                    invoice=case.invoice,
                    actor=actor,
                    reason="Dunning turned off for this customer.",
                )
            result.skipped += 1
            continue
        if _skip_hard_declined_retry(case, actor=actor):
            result.skipped += 1
            continue
        try:
            attempt = invoice_pay(
                invoice=case.invoice,
                actor=actor,
                trigger=AttemptTrigger.DUNNING,
                gateway=gateway,
                dunning_case=case,
                dunning_as_of=as_of,
            )
        except Conflict:
            result.skipped += 1
            continue
        except GatewayError:
            logger.warning(
                "Dunning retry of case %s could not reach Stripe", case_id, exc_info=True
            )
            result.skipped += 1
            continue
        result.retried += 1
        if attempt.state == AttemptState.SUCCEEDED:
            result.recovered += 1
        else:
            result.failed += 1
            if DunningCase.objects.filter(pk=case_id, state=DunningState.EXHAUSTED).exists():
                result.exhausted += 1
    return result


def dunning_retry_customer(
    *, customer_id: int, actor: Actor, gateway: PaymentGateway | None = None
) -> list[PaymentAttempt]:
    """A new card: retry every invoice in dunning (or exhausted but unpaid) at once."""
    from .payments import invoice_pay

    gateway = gateway or get_gateway()
    new_card = payment_method_default(customer_id=customer_id)
    attempts = []
    for case in dunning_cases_active_for_customer(customer_id=customer_id).select_related(
        "invoice"
    ):
        try:
            attempts.append(
                invoice_pay(
                    invoice=case.invoice,
                    actor=actor,
                    trigger=AttemptTrigger.CARD_UPDATE,
                    gateway=gateway,
                    payment_method=new_card,
                )
            )
        except (Conflict, GatewayError):
            logger.info(
                "Card-update retry of invoice %s not possible now", case.invoice_id, exc_info=True
            )
    return attempts
