"""A subscription's life: create (with a trial), cancel now or at period end, reactivate,
pause and resume, and the calls the renewal cycle and dunning make (advance one period,
past due, recovered)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from customers.models import Address, AddressKind, Customer, CustomerStatus
from customers.selectors import customer_default_address
from oms.core.actors import Actor
from oms.core.bulk import Writes, historical_model, history_rows
from oms.core.errors import Conflict, ValidationError
from oms.core.models import Channel

from .. import errors
from ..models import (
    Plan,
    PlanVersion,
    ProrationAdjustment,
    ScheduledChange,
    Subscription,
    SubscriptionEvent,
    SubscriptionEventKind,
    SubscriptionStatus,
)
from ..periods import next_period_start_on_or_after, period_bounds, period_index_for, period_start
from ..selectors import Outcome, RenewalLine, effective_terms, open_override, renewal_preview
from ._common import (
    AmountLine,
    ChangePreview,
    apply_changes,
    event,
    event_row,
    guard,
    lock,
    period_total,
    price_for,
    proration_state,
    set_status,
    today_or,
    write_adjustments,
)
from .plans import plan_latest_version
from .proration import prorate

S = SubscriptionStatus
ADDRESS_FIELDS = (
    "name",
    "company",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)


def clean_address_snapshot(address: dict[str, Any]) -> dict[str, str]:
    snapshot = {f: str(address.get(f) or "").strip() for f in ADDRESS_FIELDS}
    snapshot["country"] = snapshot["country"].upper()
    missing = [f for f in ("line1", "city", "country") if not snapshot[f]]
    if missing or len(snapshot["country"]) != 2:
        raise ValidationError(
            "A shipping address needs line1, city and a two-letter country.",
            fields={
                "shipping_address": [f"Missing or invalid: {', '.join(missing) or 'country'}."]
            },
        )
    return snapshot


# --- create ---------------------------------------------------------------------------------


@dataclass
class CreatePreview:
    plan_version_id: int
    currency: str
    quantity: int
    status: str
    start_date: dt.date
    trial_end: dt.date | None
    first_renewal_date: dt.date
    first_period_start: dt.date
    first_period_end: dt.date
    lines: list[RenewalLine] = field(default_factory=list)
    address: dict[str, str] = field(default_factory=dict)

    @property
    def first_renewal_total(self) -> int:
        return sum(line.amount for line in self.lines)


def _resolve_version(plan: Plan | None, plan_version: PlanVersion | None) -> PlanVersion:
    if plan_version is not None:
        return plan_version
    if plan is None:
        raise ValidationError("Give a plan or a plan version.", fields={"plan": ["Required."]})
    return plan_latest_version(plan)


def preview_subscription_create(
    *,
    customer: Customer,
    plan: Plan | None = None,
    plan_version: PlanVersion | None = None,
    currency: str | None = None,
    quantity: int = 1,
    start_date: dt.date | None = None,
    trial_days: int | None = None,
    shipping_address: dict[str, Any] | None = None,
    shipping_address_ref: Address | None = None,
    today: dt.date | None = None,
    **_: Any,
) -> CreatePreview:
    """The subscription a create would make. Without a trial, the first period starts on the
    start date and is billed by the renewal cycle that day (like every later period); with a
    trial of N days the trial runs [start, start + N) free and the first paid period starts
    at the trial end, which is also the billing anchor."""
    version = _resolve_version(plan, plan_version)
    today = today_or(today)
    if not version.plan.is_active:
        raise Conflict(
            f"Plan {version.plan.code} takes no new subscribers.", code=errors.PLAN_INACTIVE
        )
    if customer.status != CustomerStatus.ACTIVE:
        raise Conflict(f"Customer {customer.email} is inactive.", code=errors.CUSTOMER_INACTIVE)
    if quantity < 1:
        raise ValidationError("Quantity is at least 1.", fields={"quantity": ["At least 1."]})
    prices = list(version.prices.all())
    if currency is None and len(prices) == 1:
        currency = prices[0].currency
    if currency is None:
        raise ValidationError(
            "Choose a currency.", fields={"currency": ["Required for this plan."]}
        )
    price = price_for(version, currency.upper())
    start = start_date or today
    if start < today:
        raise ValidationError(
            "A subscription cannot start in the past.",
            code=errors.INVALID_DATE,
            fields={"start_date": ["In the past."]},
        )
    trial = version.trial_days if trial_days is None else trial_days
    if trial < 0:
        raise ValidationError(
            "Trial days cannot be negative.", fields={"trial_days": ["Negative."]}
        )
    address: dict[str, str] = {}
    if shipping_address_ref is not None:
        if shipping_address_ref.customer_id != customer.pk:
            raise ValidationError(
                "That address belongs to another customer.",
                fields={"shipping_address_id": ["Not yours."]},
            )
        address = shipping_address_ref.snapshot()
    elif shipping_address:
        address = clean_address_snapshot(shipping_address)
    else:
        default = customer_default_address(customer=customer, kind=AddressKind.SHIPPING)
        address = default.snapshot() if default else {}
    if not address and version.items.exists():
        raise ValidationError(
            "This plan ships goods; give a shipping address.",
            fields={"shipping_address": ["Required."]},
        )
    trial_end = start + dt.timedelta(days=trial) if trial else None
    anchor = trial_end or start
    first_start, first_end = period_bounds(anchor, version.interval_unit, version.interval_count, 0)
    lines = [
        RenewalLine(
            kind="plan",
            description=f"{version.plan.name} × {quantity}",
            amount=price.amount * quantity,
            quantity=quantity,
        )
    ]
    if price.setup_fee:
        lines.append(
            RenewalLine(
                kind="setup_fee",
                description=f"Setup fee, {version.plan.name}",
                amount=price.setup_fee,
            )
        )
    return CreatePreview(
        plan_version_id=version.pk,
        currency=price.currency,
        quantity=quantity,
        status=S.TRIALING if trial_end else S.ACTIVE,
        start_date=start,
        trial_end=trial_end,
        first_renewal_date=anchor,
        first_period_start=first_start,
        first_period_end=first_end,
        lines=lines,
        address=address,
    )


@transaction.atomic
def subscription_create(
    *,
    customer: Customer,
    actor: Actor,
    plan: Plan | None = None,
    plan_version: PlanVersion | None = None,
    currency: str | None = None,
    quantity: int = 1,
    start_date: dt.date | None = None,
    trial_days: int | None = None,
    shipping_address: dict[str, Any] | None = None,
    shipping_address_ref: Address | None = None,
    payment_method: str = "",
    channel: Channel | None = None,
    ends_after_cycles: int | None = None,
    today: dt.date | None = None,
) -> Subscription:
    version = _resolve_version(plan, plan_version)
    p = preview_subscription_create(
        customer=customer,
        plan_version=version,
        currency=currency,
        quantity=quantity,
        start_date=start_date,
        trial_days=trial_days,
        shipping_address=shipping_address,
        shipping_address_ref=shipping_address_ref,
        today=today,
    )
    subscription = Subscription.objects.create(
        customer=customer,
        channel=channel,
        plan_version=version,
        quantity=quantity,
        currency=p.currency,
        status=p.status,
        interval_unit=version.interval_unit,
        interval_count=version.interval_count,
        billing_anchor=p.first_renewal_date,
        # A trial is its own (free) period; otherwise the first period, billed on its start.
        current_period_start=p.start_date,
        current_period_end=p.trial_end if p.trial_end is not None else p.first_period_end,
        next_renewal_date=p.first_renewal_date,
        trial_end=p.trial_end,
        ends_after_cycles=ends_after_cycles,
        shipping_address=p.address,
        shipping_address_ref=shipping_address_ref,
        payment_method=payment_method,
        period_segment_start=p.start_date,
    )
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.CREATED,
        actor=actor,
        payload={
            "plan_version": str(version),
            "quantity": quantity,
            "currency": p.currency,
            "trial_end": p.trial_end,
            "first_renewal_date": p.first_renewal_date,
        },
    )
    return subscription


# --- cancel / reactivate ------------------------------------------------------------------


def _check_commitment(subscription: Subscription, *, force: bool) -> None:
    minimum = subscription.plan_version.plan.min_commitment_cycles
    if force or subscription.status == S.TRIALING or subscription.cycles_completed >= minimum:
        return
    remaining = minimum - subscription.cycles_completed
    raise Conflict(
        f"This plan has a minimum commitment of {minimum} paid cycles; "
        f"{subscription.cycles_completed} completed, {remaining} to go. It can be cancelled after "
        f"the renewal of cycle {minimum}.",
        code=errors.MIN_COMMITMENT,
        fields={
            "min_commitment_cycles": minimum,
            "cycles_completed": subscription.cycles_completed,
        },
    )


def preview_subscription_cancel(
    *,
    subscription: Subscription,
    reason: str,
    at_period_end: bool = False,
    refund: str = "prorated",
    force: bool = False,
    today: dt.date | None = None,
) -> ChangePreview:
    """Cancel now or at the end of the current period; ``reason`` is required.

    Minimum commitment: refused while fewer paid cycles than the plan's minimum have been
    renewed (a trial carries no commitment; operators may ``force``).
    Refund rule for an immediate cancellation (``refund="prorated"``): the unused days of the
    current billed period are credited exactly as a change to a zero price (see proration.py),
    except within the last committed cycle (``cycles_completed == minimum``), which is owed in
    full. A trial, an unbilled or a skipped period refunds nothing. ``refund="none"`` credits
    nothing. At period end nothing is prorated: the paid period is served in full."""
    change = "cancel_at_period_end" if at_period_end else "cancel_now"
    guard(subscription, change)
    if not (reason or "").strip():
        raise ValidationError(
            "A cancellation needs a reason.",
            code=errors.REASON_REQUIRED,
            fields={"reason": ["Required."]},
        )
    if refund not in ("prorated", "none"):
        raise ValidationError(
            "Refund is 'prorated' or 'none'.",
            code=errors.INVALID_POLICY,
            fields={"refund": ["Invalid."]},
        )
    _check_commitment(subscription, force=force)
    today = today_or(today)
    s = subscription
    if at_period_end:
        ends = s.trial_end if s.status == S.TRIALING and s.trial_end else s.next_renewal_date
        assert ends is not None
        return ChangePreview(
            action="cancel_at_period_end",
            subscription_id=s.pk,
            effective_date=ends,
            summary=f"Ends on {ends.isoformat()} (no further renewals).",
            currency=s.currency,
            status_after=s.status,
            next_renewal_date=ends,
            scheduled=True,
            changes={"cancel_at_period_end": True, "cancel_reason": reason.strip()},
        )
    lines: list[AmountLine] = []
    state = proration_state(s)
    minimum = s.plan_version.plan.min_commitment_cycles
    if refund == "prorated" and state is not None and (force or s.cycles_completed > minimum):
        old_total = period_total(s.plan_version, s.currency, s.quantity)
        result = prorate(state, on=today, old_total=old_total, new_total=0)
        if result.credit:
            lines.append(
                AmountLine(
                    kind="credit",
                    description=(
                        f"Refund of unused time, {s.plan_version.plan.name} × {s.quantity} "
                        f"({result.remaining_days} of {result.period_days} days)"
                    ),
                    amount=result.credit,
                )
            )
    return ChangePreview(
        action="cancel_now",
        subscription_id=s.pk,
        effective_date=today,
        summary="Cancelled now" + (" (trial, free)" if s.status == S.TRIALING else ""),
        currency=s.currency,
        status_after=S.CANCELLED,
        next_renewal_date=None,
        lines=lines,
        changes={
            "status": S.CANCELLED,
            "cancel_reason": reason.strip(),
            "cancelled_at": timezone.now(),
            "ended_on": today,
            "next_renewal_date": None,
            "cancel_at_period_end": False,
        },
    )


@transaction.atomic
def subscription_cancel(
    *,
    subscription: Subscription,
    reason: str,
    actor: Actor,
    at_period_end: bool = False,
    refund: str = "prorated",
    force: bool = False,
    today: dt.date | None = None,
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_cancel(
        subscription=subscription,
        reason=reason,
        at_period_end=at_period_end,
        refund=refund,
        force=force,
        today=today,
    )
    write_adjustments(subscription=subscription, preview=p)
    apply_changes(subscription, p)
    if not at_period_end:
        _cancel_pending_changes(subscription, note="subscription cancelled")
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.CANCEL_SCHEDULED
        if at_period_end
        else SubscriptionEventKind.CANCELLED,
        actor=actor,
        message=reason.strip(),
        payload={"effective_date": p.effective_date, "refund": p.amount_due_now, "forced": force},
    )
    return subscription


def _cancel_pending_changes(subscription: Subscription, *, note: str) -> None:
    ScheduledChange.objects.filter(
        subscription=subscription, applied_at__isnull=True, cancelled_at__isnull=True
    ).update(cancelled_at=timezone.now(), note=note)


def preview_subscription_reactivate(*, subscription: Subscription) -> ChangePreview:
    """Undo a pending cancellation at period end (only before that end)."""
    guard(subscription, "reactivate")
    if not subscription.cancel_at_period_end:
        raise Conflict(
            "Nothing to reactivate: no cancellation is pending.", code=errors.NOTHING_TO_CHANGE
        )
    return ChangePreview(
        action="reactivate",
        subscription_id=subscription.pk,
        effective_date=today_or(None),
        summary=f"Keeps renewing; next renewal {subscription.next_renewal_date}.",
        currency=subscription.currency,
        status_after=subscription.status,
        next_renewal_date=subscription.next_renewal_date,
        changes={"cancel_at_period_end": False, "cancel_reason": ""},
    )


@transaction.atomic
def subscription_reactivate(
    *, subscription: Subscription, actor: Actor, reason: str = ""
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_reactivate(subscription=subscription)
    apply_changes(subscription, p)
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.REACTIVATED,
        actor=actor,
        message=reason,
    )
    return subscription


# --- pause / resume ---------------------------------------------------------------------------


def preview_subscription_pause(
    *,
    subscription: Subscription,
    cycles: int | None = None,
    until: dt.date | None = None,
    today: dt.date | None = None,
) -> ChangePreview:
    """Pause for ``cycles`` periods or until a date. Rule: the current paid period is served in
    full and the pause starts at the next renewal date R; pauses never move the billing
    anchor, so they end on a period boundary of the usual cadence — for N cycles at the
    N-th boundary after R, until a date at the first boundary on or after that date. The
    subscription is paused at once and its next renewal date is the resume date; one-period
    overrides (skip, swap, add-on) inside the pause are dropped."""
    guard(subscription, "pause")
    if (cycles is None) == (until is None):
        raise ValidationError(
            "Pause for a number of cycles or until a date (one of them).",
            fields={"cycles": ["One of cycles/until."]},
        )
    s = subscription
    assert s.next_renewal_date is not None
    start = s.next_renewal_date
    unit, count, anchor = s.interval_unit, s.interval_count, s.billing_anchor
    if cycles is not None:
        if cycles < 1:
            raise ValidationError("Pause at least one cycle.", fields={"cycles": ["At least 1."]})
        resume = period_start(
            anchor, unit, count, period_index_for(anchor, unit, count, start) + cycles
        )
    else:
        assert until is not None
        if until <= start:
            raise ValidationError(
                f"The pause starts at the next renewal ({start}); resume after it.",
                code=errors.INVALID_DATE,
                fields={"until": [f"After {start}."]},
            )
        resume = next_period_start_on_or_after(anchor, unit, count, until)
    skipped = period_index_for(anchor, unit, count, resume) - period_index_for(
        anchor, unit, count, start
    )
    return ChangePreview(
        action="pause",
        subscription_id=s.pk,
        effective_date=start,
        summary=f"No renewals from {start} to {resume}; resumes on {resume} ({skipped} cycle(s) paused).",
        currency=s.currency,
        status_after=S.PAUSED,
        next_renewal_date=resume,
        changes={
            "status": S.PAUSED,
            "paused_from": start,
            "paused_until": resume,
            "pause_cycles": skipped,
            "next_renewal_date": resume,
        },
        details={"cycles_paused": skipped},
    )


@transaction.atomic
def subscription_pause(
    *,
    subscription: Subscription,
    actor: Actor,
    cycles: int | None = None,
    until: dt.date | None = None,
    reason: str = "",
    today: dt.date | None = None,
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_pause(
        subscription=subscription, cycles=cycles, until=until, today=today
    )
    apply_changes(subscription, p)
    dropped = subscription.period_overrides.filter(
        consumed_at__isnull=True,
        period_start__gte=p.effective_date,
        period_start__lt=p.next_renewal_date,
    )
    dropped_starts = [d.isoformat() for d in dropped.values_list("period_start", flat=True)]
    dropped.delete()
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.PAUSED,
        actor=actor,
        message=reason,
        payload={
            "from": p.effective_date,
            "resumes_on": p.next_renewal_date,
            "dropped_overrides": dropped_starts,
        },
    )
    return subscription


def preview_subscription_resume(
    *, subscription: Subscription, today: dt.date | None = None
) -> ChangePreview:
    """Resume now. Rule: the next renewal is the first boundary of the usual cadence on or
    after today, and never before the pause began (a paid period is not billed again)."""
    guard(subscription, "resume")
    s = subscription
    today = today_or(today)
    first = next_period_start_on_or_after(
        s.billing_anchor, s.interval_unit, s.interval_count, today
    )
    resume = max(first, s.paused_from or first)
    return ChangePreview(
        action="resume",
        subscription_id=s.pk,
        effective_date=today,
        summary=f"Active again; next renewal {resume}.",
        currency=s.currency,
        status_after=S.ACTIVE,
        next_renewal_date=resume,
        changes={
            "status": S.ACTIVE,
            "paused_from": None,
            "paused_until": None,
            "pause_cycles": None,
            "next_renewal_date": resume,
        },
    )


@transaction.atomic
def subscription_resume(
    *, subscription: Subscription, actor: Actor, reason: str = "", today: dt.date | None = None
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_resume(subscription=subscription, today=today)
    apply_changes(subscription, p)
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.RESUMED,
        actor=actor,
        message=reason,
        payload={"next_renewal_date": p.next_renewal_date},
    )
    return subscription


# --- the renewal cycle and dunning ----------------------------------------------------------


def subscription_advance_period(
    *,
    subscription: Subscription,
    period_start: dt.date,
    actor: Actor,
    skip: bool = False,
    already_locked: bool = False,
    writes: Writes | None = None,
) -> Subscription:
    """See ``_advance_period``. A caller that already holds the subscription's row lock in
    its own transaction (the renewal claim: ``already_locked=True``) joins that transaction
    without a savepoint — two round trips per subscription on the nightly hot path; the
    claim has its own way back from a failure (its whole batch rolls back)."""
    with transaction.atomic(savepoint=not already_locked):
        return _advance_period(
            subscription=subscription, period_start=period_start, actor=actor, skip=skip,
            already_locked=already_locked, writes=writes,
        )  # fmt: skip


def _advance_period(
    *,
    subscription: Subscription,
    period_start: dt.date,
    actor: Actor,
    skip: bool = False,
    already_locked: bool = False,
    writes: Writes | None = None,
) -> Subscription:
    """Move the subscription past the period starting ``period_start`` once its renewal is
    done (or skipped). Called by the renewal cycle after it invoiced ``renewal_preview``.

    Idempotent: a ``period_start`` before the next renewal date was already advanced and is a
    no-op; one after it is refused (periods advance one at a time, in order).
    By outcome: *renew / trial conversion* — the period becomes current, cycles_completed + 1,
    the proration state restarts with the plan charge billed; a trial converts to active; a
    pause ends. *skip* (``skip=True`` forces one: the catch-up of a plan that skips missed
    periods) — the period is current but unbilled, nothing counted. *ends* — cancel at period
    end becomes cancelled, a fixed term becomes expired. Scheduled changes effective by
    ``period_start`` are applied and the period's override is consumed.

    ``already_locked=True`` skips re-reading the row: only for a caller that, in the current
    transaction, locked it FOR UPDATE and loaded it with ``selectors.with_renewal_data`` (the
    renewal claim does both), saving the reload on the nightly hot path. ``writes``: the
    claim's batch (``oms.core.bulk``): the common case's UPDATE, history row and event go
    into it, to be written with the rest of the batch before its transaction commits."""
    if not already_locked:
        subscription = lock(subscription)
    s = subscription
    if s.next_renewal_date is None or period_start < s.next_renewal_date:
        return s
    if period_start > s.next_renewal_date:
        raise Conflict(
            f"Period {period_start} is after the next renewal {s.next_renewal_date}; advance in order.",
            code=errors.PERIOD_OUT_OF_ORDER,
        )
    preview = renewal_preview(s, period_start)
    now = timezone.now()
    outcome = Outcome.SKIP if skip and preview.outcome in Outcome.BILLED else preview.outcome

    if outcome == Outcome.ENDS:
        target = (
            S.EXPIRED
            if s.ends_after_cycles is not None and s.cycles_completed >= s.ends_after_cycles
            else S.CANCELLED
        )
        set_status(s, target)
        s.next_renewal_date = None
        s.ended_on = period_start
        s.cancelled_at = s.cancelled_at or (now if target == S.CANCELLED else None)
        s.save(
            update_fields=["status", "next_renewal_date", "ended_on", "cancelled_at", "updated_at"]
        )
        _cancel_pending_changes(s, note=f"subscription {target}")
        event(
            subscription=s,
            kind=SubscriptionEventKind.EXPIRED
            if target == S.EXPIRED
            else SubscriptionEventKind.CANCELLED,
            actor=actor,
            message=s.cancel_reason if target == S.CANCELLED else "Fixed term completed.",
            payload={"period_start": period_start, "at_period_end": True},
        )
        return s

    if outcome == Outcome.PAUSED:
        # Only reachable for an explicit period inside a pause; the next renewal is the resume.
        return s

    terms = effective_terms(s, period_start)
    fields = ["plan_version", "quantity", "interval_unit", "interval_count", "billing_anchor"]
    s.plan_version, s.quantity = terms.plan_version, terms.quantity
    s.interval_unit, s.interval_count, s.billing_anchor = (
        terms.interval_unit,
        terms.interval_count,
        terms.anchor,
    )
    for change in terms.changes:
        ScheduledChange.objects.filter(pk=change.pk).update(applied_at=now)
        event(
            subscription=s,
            kind=SubscriptionEventKind.CHANGE_APPLIED,
            actor=actor,
            message=change.note,
            payload={
                "change_id": change.pk,
                "kind": change.kind,
                "effective_date": change.effective_date,
            },
        )
    override = open_override(s, period_start)
    if override is not None:
        override.consumed_at = now
        override.save(update_fields=["consumed_at", "updated_at"])

    was_trialing = s.status == S.TRIALING
    if was_trialing:
        set_status(s, S.ACTIVE)
        event(
            subscription=s,
            kind=SubscriptionEventKind.TRIAL_ENDED,
            actor=actor,
            payload={"trial_end": s.trial_end},
        )
    if s.status == S.PAUSED:
        set_status(s, S.ACTIVE)
        s.paused_from = s.paused_until = s.pause_cycles = None
        fields += ["paused_from", "paused_until", "pause_cycles"]
        event(
            subscription=s,
            kind=SubscriptionEventKind.RESUMED,
            actor=actor,
            payload={"period_start": period_start},
        )

    s.current_period_start, s.current_period_end = period_start, preview.period_end
    s.next_renewal_date = preview.period_end
    s.period_consumed, s.period_segment_start = 0, period_start
    fields += [
        "status",
        "current_period_start",
        "current_period_end",
        "next_renewal_date",
        "period_consumed",
        "period_segment_start",
        "period_billed",
        "cycles_completed",
        "updated_at",
    ]
    if outcome == Outcome.SKIP:
        s.period_billed = None
        _save(s, fields, writes)
        _event(
            writes,
            subscription=s,
            kind=SubscriptionEventKind.PERIOD_SKIPPED,
            actor=actor,
            payload={"period_start": period_start},
        )
        return s
    plan_line = next(line for line in preview.lines if line.kind == "plan")
    s.period_billed = plan_line.amount
    s.cycles_completed += 1
    _save(s, fields, writes)
    _event(
        writes,
        subscription=s,
        kind=SubscriptionEventKind.RENEWED,
        actor=actor,
        payload={
            "period_start": period_start,
            "period_end": preview.period_end,
            "outcome": preview.outcome,
            "total": preview.total,
            "currency": preview.currency,
            "cycle": s.cycles_completed,
        },
    )
    return s


def _save(s: Subscription, fields: list[str], writes: Writes | None) -> None:
    """``s.save(update_fields=fields)``, or the same UPDATE and history row into ``writes``."""
    if writes is None:
        s.save(update_fields=fields)
        return
    s.updated_at = timezone.now()
    writes.update(Subscription, [s], fields)
    writes.insert(
        historical_model(Subscription),
        history_rows(Subscription, [s], date=s.updated_at, history_type="~"),
    )


def _event(writes: Writes | None, **kwargs: Any) -> None:
    if writes is None:
        event(**kwargs)
    else:
        writes.insert(SubscriptionEvent, [event_row(**kwargs)])


@transaction.atomic
def subscription_skip_missed_periods(
    *, subscription: Subscription, as_of: dt.date, actor: Actor
) -> Subscription:
    """For plans with ``skip_missed_periods``: when the renewal cycle catches up, every due
    period except the latest one on or before ``as_of`` is skipped (never billed)."""
    subscription = lock(subscription)
    while subscription.next_renewal_date is not None:
        preview = renewal_preview(subscription)
        if preview.period_end > as_of or preview.outcome not in (*Outcome.BILLED, Outcome.SKIP):
            break
        subscription = subscription_advance_period(
            subscription=subscription, period_start=preview.period_start, actor=actor, skip=True
        )
    return subscription


@transaction.atomic
def subscription_mark_past_due(
    *, subscription: Subscription, actor: Actor, reason: str = ""
) -> Subscription:
    """A renewal payment failed: dunning owns the subscription until it recovers or cancels it."""
    subscription = lock(subscription)
    if subscription.status == S.PAST_DUE:
        return subscription
    set_status(subscription, S.PAST_DUE)
    subscription.save(update_fields=["status", "updated_at"])
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.PAYMENT_FAILED,
        actor=actor,
        message=reason,
    )
    return subscription


@transaction.atomic
def subscription_payment_recovered(
    *, subscription: Subscription, actor: Actor, reason: str = ""
) -> Subscription:
    subscription = lock(subscription)
    if subscription.status != S.PAST_DUE:
        return subscription
    set_status(subscription, S.ACTIVE)
    subscription.save(update_fields=["status", "updated_at"])
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.PAYMENT_RECOVERED,
        actor=actor,
        message=reason,
    )
    return subscription


@transaction.atomic
def adjustments_mark_applied(*, adjustment_ids: list[int], invoice_id: int) -> int:
    """Billing invoiced these adjustments (at once, or on a renewal invoice). Idempotent: an
    adjustment already on an invoice keeps it. Returns how many were newly marked."""
    return ProrationAdjustment.objects.filter(
        pk__in=adjustment_ids, billing_invoice_id__isnull=True
    ).update(billing_invoice_id=invoice_id, applied_at=timezone.now())
