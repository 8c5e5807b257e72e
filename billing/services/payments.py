"""Charging invoices: Kill Bill's two-step payment attempt.

1. ``payment_attempt_begin`` writes the attempt ``pending`` and **commits** (``durable``)
   before Stripe is called. Its idempotency key derives from (invoice, attempt number), and
   a partial unique index allows one attempt in flight per invoice, so two workers can never
   both charge an invoice.
2. The gateway is called outside any transaction.
3. ``payment_attempt_complete`` records the outcome (and pays the invoice, or hands it to
   dunning). If the process dies between 2 and 3, the attempt stays ``pending``; a timeout
   marks it ``unknown``. Either way ``payment_attempt_resolve`` asks Stripe what happened
   (the PaymentIntent by id, or found by the attempt key in its metadata) and completes the
   attempt from Stripe's answer — it never charges again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.errors import Conflict
from oms.core.transactions import on_commit
from oms.core.transitions import check_transition

from .. import conf, errors
from ..gateway import (
    FAILED,
    PROCESSING,
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeResult,
    GatewayError,
    GatewayUnknownOutcome,
    PaymentGateway,
    get_gateway,
)
from ..models import (
    ATTEMPT_TRANSITIONS,
    IN_FLIGHT_STATES,
    INVOICE_TRANSITIONS,
    AttemptState,
    AttemptTrigger,
    BillingEvent,
    BillingEventKind,
    DunningCase,
    DunningState,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
    PaymentMethod,
)
from ..selectors import attempts_to_reconcile, payment_method_default
from ._common import (
    account_flags,
    build_event,
    event,
    lock_attempt,
    lock_invoice,
    recompute_amount_due,
)
from .cards import customer_stripe_ensure

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

PAYABLE = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)


def attempt_key(invoice_id: int, attempt_number: int) -> str:
    """The idempotency key of an attempt: the same (invoice, attempt) always sends the same key."""
    return f"oms-inv{invoice_id}-a{attempt_number}"


# --------------------------------------------------------------------------------------
# The two-step attempt
# --------------------------------------------------------------------------------------


def _set_state(attempt: PaymentAttempt, target: str) -> None:
    check_transition(
        ATTEMPT_TRANSITIONS, entity="Payment attempt", current=attempt.state, target=target
    )
    attempt.state = target


def choose_payment_method(
    invoice: Invoice, explicit: PaymentMethod | None = None
) -> tuple[PaymentMethod | None, str]:
    """The card to charge: the one asked for; else the subscription's own card (set through
    subscriptions' change of payment method) unless it was removed; else the customer's
    default card. Returns (our row if we know the card, its Stripe id)."""
    if explicit is not None:
        return explicit, explicit.stripe_payment_method_id
    subscription_pm = invoice.subscription.payment_method if invoice.subscription_id else ""  # type: ignore[union-attr]
    if subscription_pm:
        row = PaymentMethod.objects.filter(stripe_payment_method_id=subscription_pm).first()
        if row is None:
            return None, subscription_pm  # a card saved outside billing's portal
        if row.detached_at is None and row.customer_id == invoice.customer_id:
            return row, subscription_pm
    default = payment_method_default(customer_id=invoice.customer_id)
    if default is not None:
        return default, default.stripe_payment_method_id
    return None, ""


@transaction.atomic(durable=True)
def payment_attempt_begin(
    *,
    invoice: Invoice,
    actor: Actor,
    trigger: str = AttemptTrigger.MANUAL,
    payment_method: PaymentMethod | None = None,
    dunning_case: DunningCase | None = None,
    dunning_as_of: dt.datetime | None = None,
) -> PaymentAttempt:
    """Step one: write the attempt and commit it before Stripe is called (``durable``: it
    can never be rolled back by an enclosing transaction after the charge went out)."""
    invoice = lock_invoice(invoice)
    if invoice.status not in PAYABLE or invoice.amount_due <= 0:
        raise Conflict(
            f"Invoice {invoice.number} is {invoice.status} with {invoice.amount_due} due; nothing to charge.",
            code=errors.INVOICE_NOT_PAYABLE,
        )
    flags = account_flags(invoice.customer_id)
    if flags.written_off:
        raise Conflict(
            "The customer's account is written off; no charges.", code=errors.WRITTEN_OFF
        )
    if not flags.auto_pay and trigger != AttemptTrigger.MANUAL:
        raise Conflict(
            "Auto-pay is off for this customer; the invoice is paid manually.",
            code=errors.AUTO_PAY_OFF,
        )
    if dunning_case is not None:
        # A retry is claimed under the case lock: a concurrent run that already retried
        # moved next_retry_at on, so this one does nothing.
        case = DunningCase.objects.select_for_update().get(pk=dunning_case.pk)
        if case.state != DunningState.ACTIVE or (
            dunning_as_of is not None
            and (case.next_retry_at is None or case.next_retry_at > dunning_as_of)
        ):
            raise Conflict("This dunning retry is not due (already done).", code=errors.NOT_DUE)
    attempts = list(
        invoice.payment_attempts.order_by("attempt_number").values_list("attempt_number", "state")
    )
    if any(state in IN_FLIGHT_STATES for _, state in attempts):
        raise Conflict(
            f"A payment of invoice {invoice.number} is already in flight.",
            code=errors.PAYMENT_IN_FLIGHT,
        )
    number = (attempts[-1][0] if attempts else 0) + 1
    pm, pm_id = choose_payment_method(invoice, payment_method)
    try:
        attempt = PaymentAttempt.objects.create(
            invoice=invoice,
            attempt_number=number,
            trigger=trigger,
            amount=invoice.amount_due,
            currency=invoice.currency,
            idempotency_key=attempt_key(invoice.pk, number),
            payment_method=pm,
            stripe_payment_method_id=pm_id,
        )
    except IntegrityError:  # pragma: no cover - the invoice lock makes this unreachable
        raise Conflict(
            "A payment of this invoice is already in flight.", code=errors.PAYMENT_IN_FLIGHT
        ) from None
    event(
        kind=BillingEventKind.PAYMENT_STARTED,
        actor=actor,
        invoice=invoice,
        payload={
            "attempt": number,
            "amount": attempt.amount,
            "trigger": trigger,
            "key": attempt.idempotency_key,
        },
    )
    attempt.invoice = invoice
    return attempt


def payment_attempt_charge(*, attempt: PaymentAttempt, gateway: PaymentGateway) -> ChargeResult:
    """Step two: the call to Stripe. Raises GatewayUnknownOutcome when the answer is lost."""
    if not attempt.stripe_payment_method_id:
        return ChargeResult(
            status=FAILED,
            decline_code=errors.NO_PAYMENT_METHOD,
            decline_kind="soft",
            failure_message="No card on file.",
            amount=attempt.amount,
            currency=attempt.currency,
        )
    customer = attempt.invoice.customer
    customer_id = customer_stripe_ensure(customer=customer, gateway=gateway)
    try:
        return gateway.charge_off_session(
            amount=attempt.amount,
            currency=attempt.currency,
            customer_id=customer_id,
            payment_method_id=attempt.stripe_payment_method_id,
            idempotency_key=attempt.idempotency_key,
            metadata={
                "oms_invoice": attempt.invoice.number,
                "oms_attempt": str(attempt.attempt_number),
            },
        )
    except GatewayUnknownOutcome:
        raise
    except GatewayError as exc:
        # Refused before any charge (a detached card, a bad request): a failure, not a decline.
        return ChargeResult(
            status=FAILED,
            decline_code=exc.code or "gateway_error",
            decline_kind="soft",
            failure_message=str(exc)[:300],
            amount=attempt.amount,
            currency=attempt.currency,
        )


@transaction.atomic
def payment_attempt_complete(
    *, attempt: PaymentAttempt, result: ChargeResult, actor: Actor
) -> PaymentAttempt:
    """Step three: record Stripe's answer. Safe to call twice with the same answer (a
    webhook and the caller may both report it): the second finds nothing to change."""
    invoice = lock_invoice(attempt.invoice_id)
    attempt = lock_attempt(attempt)
    attempt.invoice = invoice
    target = {
        SUCCEEDED: AttemptState.SUCCEEDED,
        REQUIRES_ACTION: AttemptState.REQUIRES_ACTION,
        FAILED: AttemptState.FAILED,
        PROCESSING: AttemptState.UNKNOWN,
    }[result.status]
    if result.payment_intent_id and not attempt.stripe_payment_intent_id:
        attempt.stripe_payment_intent_id = result.payment_intent_id
    if attempt.state == target or target not in ATTEMPT_TRANSITIONS.get(attempt.state, set()):
        if target != attempt.state:
            logger.info("Attempt %s: ignoring %s after %s", attempt.pk, target, attempt.state)
        attempt.save(update_fields=["stripe_payment_intent_id", "updated_at"])
        return attempt
    _set_state(attempt, target)
    attempt.stripe_charge_id = result.charge_id or attempt.stripe_charge_id
    attempt.client_secret = result.client_secret or attempt.client_secret
    attempt.decline_code = result.decline_code if target != AttemptState.SUCCEEDED else ""
    attempt.decline_kind = result.decline_kind if target != AttemptState.SUCCEEDED else ""
    attempt.failure_message = (
        result.failure_message[:300] if target != AttemptState.SUCCEEDED else ""
    )
    attempt.completed_at = timezone.now() if target != AttemptState.UNKNOWN else None
    attempt.save()
    if target == AttemptState.SUCCEEDED:
        _record_payment(invoice=invoice, attempt=attempt, actor=actor)
    elif target == AttemptState.UNKNOWN:
        event(
            kind=BillingEventKind.PAYMENT_UNKNOWN,
            actor=actor,
            invoice=invoice,
            payload={"attempt": attempt.attempt_number},
        )
    else:
        _record_failure(invoice=invoice, attempt=attempt, actor=actor)
    return attempt


def _record_payment(*, invoice: Invoice, attempt: PaymentAttempt, actor: Actor) -> None:
    from .. import notifications, tasks
    from .dunning import dunning_recovered

    succeeded = build_event(
        kind=BillingEventKind.PAYMENT_SUCCEEDED,
        actor=actor,
        invoice=invoice,
        payload={
            "attempt": attempt.attempt_number,
            "amount": attempt.amount,
            "payment_intent": attempt.stripe_payment_intent_id,
        },
    )
    invoice.amount_paid += attempt.amount
    if invoice.status not in PAYABLE:
        # A late success on an invoice already paid (or voided): give the money back.
        succeeded.message = "Overpayment: this payment is refunded automatically."
        succeeded.save(force_insert=True)
        invoice.save(update_fields=["amount_paid", "updated_at"])
        on_commit(tasks.refund_overpayment_task.delay, attempt.pk)
        return
    recompute_amount_due(invoice)
    fields = ["amount_paid", "amount_due", "updated_at"]
    if invoice.amount_due == 0:
        check_transition(
            INVOICE_TRANSITIONS, entity="Invoice", current=invoice.status, target=InvoiceStatus.PAID
        )
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = timezone.now()
        fields += ["status", "paid_at"]
    invoice.save(update_fields=fields)
    events = [succeeded]
    if invoice.status == InvoiceStatus.PAID:
        events.append(build_event(kind=BillingEventKind.INVOICE_PAID, actor=actor, invoice=invoice))
    BillingEvent.objects.bulk_create(events)
    if invoice.status == InvoiceStatus.PAID:
        # Only a failed attempt opens a dunning case: a first attempt cannot have one.
        dunning_recovered(invoice=invoice, actor=actor, may_have_case=attempt.attempt_number > 1)
        if attempt.trigger != AttemptTrigger.RENEWAL:
            on_commit(notifications.send_payment_receipt_email, invoice.pk, attempt.pk)


def _record_failure(*, invoice: Invoice, attempt: PaymentAttempt, actor: Actor) -> None:
    from .dunning import dunning_record_failure

    kind = (
        BillingEventKind.PAYMENT_REQUIRES_ACTION
        if attempt.state == AttemptState.REQUIRES_ACTION
        else BillingEventKind.PAYMENT_FAILED
    )
    event(
        kind=kind,
        actor=actor,
        invoice=invoice,
        message=attempt.failure_message,
        payload={
            "attempt": attempt.attempt_number,
            "decline_code": attempt.decline_code,
            "kind": attempt.decline_kind,
        },
    )
    dunning_record_failure(invoice=invoice, attempt=attempt, actor=actor)


@transaction.atomic
def payment_attempt_mark_unknown(
    *, attempt: PaymentAttempt, reason: str, actor: Actor
) -> PaymentAttempt:
    attempt = lock_attempt(attempt)
    if attempt.state != AttemptState.PENDING:
        return attempt
    _set_state(attempt, AttemptState.UNKNOWN)
    attempt.failure_message = reason[:300]
    attempt.save(update_fields=["state", "failure_message", "updated_at"])
    event(
        kind=BillingEventKind.PAYMENT_UNKNOWN,
        actor=actor,
        invoice=attempt.invoice,
        message=reason,
        payload={"attempt": attempt.attempt_number},
    )
    return attempt


def invoice_pay(
    *,
    invoice: Invoice,
    actor: Actor,
    trigger: str = AttemptTrigger.MANUAL,
    gateway: PaymentGateway | None = None,
    payment_method: PaymentMethod | None = None,
    dunning_case: DunningCase | None = None,
    dunning_as_of: dt.datetime | None = None,
) -> PaymentAttempt:
    """Charge what the invoice still owes, off-session, with the customer's card.

    Must run outside a transaction (step one commits before the charge). Returns the
    attempt; its ``state`` says what happened (``unknown``: reconcile later)."""
    gateway = gateway or get_gateway()
    _settle_waiting_attempts(invoice=invoice, gateway=gateway, actor=actor)
    attempt = payment_attempt_begin(
        invoice=invoice,
        actor=actor,
        trigger=trigger,
        payment_method=payment_method,
        dunning_case=dunning_case,
        dunning_as_of=dunning_as_of,
    )
    try:
        result = payment_attempt_charge(attempt=attempt, gateway=gateway)
    except GatewayUnknownOutcome as exc:
        return payment_attempt_mark_unknown(attempt=attempt, reason=str(exc), actor=actor)
    return payment_attempt_complete(attempt=attempt, result=result, actor=actor)


def _settle_waiting_attempts(*, invoice: Invoice, gateway: PaymentGateway, actor: Actor) -> None:
    """Before a new charge: an attempt the customer may still authenticate (requires_action)
    is settled first — if it succeeded meanwhile we record it; otherwise we cancel it, so
    the customer can never complete an old charge on top of the new one. An attempt in
    flight is resolved with Stripe."""
    for attempt in invoice.payment_attempts.filter(
        state__in=[AttemptState.REQUIRES_ACTION, *IN_FLIGHT_STATES]
    ).order_by("pk"):
        if attempt.state in IN_FLIGHT_STATES:
            # Never forced: a fresh pending attempt may be in flight in another worker right
            # now, and declaring it failed would let this call charge a second time.
            payment_attempt_resolve(attempt=attempt, gateway=gateway, actor=actor)
            continue
        if not attempt.stripe_payment_intent_id:
            continue
        current = gateway.retrieve_payment_intent(attempt.stripe_payment_intent_id)
        if current.status == REQUIRES_ACTION:
            try:
                current = gateway.cancel_payment_intent(attempt.stripe_payment_intent_id)
            except GatewayError:
                current = gateway.retrieve_payment_intent(attempt.stripe_payment_intent_id)
        if current.status == REQUIRES_ACTION:
            continue
        if current.status != SUCCEEDED:
            _close_superseded(attempt=attempt, actor=actor)
            continue
        payment_attempt_complete(attempt=attempt, result=current, actor=actor)


@transaction.atomic
def _close_superseded(*, attempt: PaymentAttempt, actor: Actor) -> None:
    attempt = lock_attempt(attempt)
    if attempt.state != AttemptState.REQUIRES_ACTION:
        return
    _set_state(attempt, AttemptState.FAILED)
    attempt.decline_code = attempt.decline_code or "authentication_required"
    attempt.failure_message = "Not authenticated; replaced by a new attempt."
    attempt.completed_at = timezone.now()
    attempt.save()


def payment_attempt_resolve(
    *,
    attempt: PaymentAttempt,
    actor: Actor,
    gateway: PaymentGateway | None = None,
    force: bool = False,
) -> PaymentAttempt:
    """Find out from Stripe what became of an attempt left pending (a crash) or unknown (a
    lost answer) and complete it. Never charges: it only reads. ``force`` skips the wait
    before a pending attempt counts as abandoned (an operator knows the worker is gone);
    "Stripe has no such charge" is believed only after the grace period, forced or not."""
    gateway = gateway or get_gateway()
    attempt = PaymentAttempt.objects.select_related("invoice__customer").get(pk=attempt.pk)
    if attempt.state not in IN_FLIGHT_STATES:
        return attempt
    if attempt.state == AttemptState.PENDING and not force:
        stale = timezone.now() - conf.seconds("OMS_PAYMENT_PENDING_STALE_SECONDS")
        if attempt.created_at > stale:
            return attempt  # probably still in flight in another worker
    if not attempt.stripe_payment_method_id:
        found: ChargeResult | None = None
    elif attempt.stripe_payment_intent_id:
        found = gateway.retrieve_payment_intent(attempt.stripe_payment_intent_id)
    else:
        found = gateway.find_payment_intent(attempt_key=attempt.idempotency_key)
    if found is None:
        grace = timezone.now() - conf.seconds("OMS_PAYMENT_NOT_FOUND_GRACE_SECONDS")
        if attempt.stripe_payment_method_id and attempt.created_at > grace:
            # Not found yet is not proof: Stripe's search lags, and the request may still be
            # in flight. Only after the grace period is "no charge" believed.
            return attempt
        found = ChargeResult(
            status=FAILED,
            decline_code="not_found",
            decline_kind="soft",
            failure_message="Stripe has no charge for this attempt; nothing was taken.",
        )
    with transaction.atomic():
        # Complete first: it locks the invoice before anything references it (an event row
        # inserted first would take a KEY SHARE lock to upgrade later, a deadlock risk).
        completed = payment_attempt_complete(attempt=attempt, result=found, actor=actor)
        event(
            kind=BillingEventKind.PAYMENT_RECONCILED,
            actor=actor,
            invoice=attempt.invoice,
            payload={
                "attempt": attempt.attempt_number,
                "stripe_status": found.status,
                "payment_intent": found.payment_intent_id,
            },
        )
        return completed


def payments_reconcile(
    *, actor: Actor, gateway: PaymentGateway | None = None, limit: int = 500
) -> int:
    """Resolve every stale pending or unknown attempt (and refund whose answer was lost).
    Returns how many were looked at."""
    from ..models import Refund, RefundState
    from .refunds import refund_resolve

    gateway = gateway or get_gateway()
    stale = timezone.now() - conf.seconds("OMS_PAYMENT_PENDING_STALE_SECONDS")
    done = 0
    for attempt in attempts_to_reconcile(started_before=stale)[:limit]:
        try:
            payment_attempt_resolve(attempt=attempt, actor=actor, gateway=gateway)
        except GatewayError:
            logger.warning("Could not reconcile attempt %s yet", attempt.pk, exc_info=True)
        done += 1
    for refund in Refund.objects.filter(state=RefundState.UNKNOWN).order_by("pk")[:limit]:
        try:
            refund_resolve(refund=refund, actor=actor, gateway=gateway)
        except GatewayError:
            logger.warning("Could not reconcile refund %s yet", refund.pk, exc_info=True)
        done += 1
    return done
