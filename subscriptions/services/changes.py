"""Changes a customer or operator makes to a live subscription. Each ``subscription_<verb>``
has a side-effect-free ``preview_subscription_<verb>`` twin; the service computes that very
preview under the row lock and applies exactly it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from customers.models import Address
from inventory.models import Sku, SkuPrice
from oms.core.actors import Actor
from oms.core.errors import Conflict, ValidationError
from oms.core.money import Money

from .. import errors
from ..models import (
    PeriodOverride,
    Plan,
    PlanVersion,
    ScheduledChange,
    ScheduledChangeKind,
    Subscription,
    SubscriptionEventKind,
    SubscriptionStatus,
)
from ..periods import IntervalUnit, describe_interval, period_index_for, period_start
from ..selectors import effective_terms, open_override
from ._common import (
    AmountLine,
    ChangePreview,
    apply_changes,
    event,
    guard,
    jsonable,
    lock,
    period_total,
    proration_state,
    today_or,
    write_adjustments,
)
from .lifecycle import clean_address_snapshot
from .plans import plan_latest_version
from .proration import prorate

S = SubscriptionStatus
IMMEDIATE, END_OF_TERM, NONE = "immediate", "end_of_term", "none"
POLICIES = (IMMEDIATE, END_OF_TERM, NONE)


def _money(amount: int, currency: str) -> str:
    return Money(amount, currency).format()


# --- plan and quantity ----------------------------------------------------------------------


def preview_subscription_change_plan(
    *,
    subscription: Subscription,
    plan_version: PlanVersion | None = None,
    plan: Plan | None = None,
    quantity: int | None = None,
    policy: str | None = None,
    today: dt.date | None = None,
) -> ChangePreview:
    """Change the plan and/or quantity.

    Policy (Kill Bill's billing policies; operators may choose): by default an upgrade (the
    new price × quantity per period is higher or equal) applies *immediately* with proration,
    a downgrade at the *end of the term* (the next renewal, nothing prorated). ``none``
    applies at once without any proration (the next renewal bills the new terms). During a
    trial every change is immediate and free. A plan with another billing interval can only
    be switched to at the end of the term (its first period then starts at the next renewal).

    Proration (see ``proration.py``): credit for the unused part of the current period at the
    old terms, charge for the rest of it at the new terms, each exact to the minor unit; both
    are ProrationAdjustment rows billed at once via ``hooks.adjustments_created``."""
    s = subscription
    if plan_version is None:
        plan_version = plan_latest_version(plan) if plan is not None else s.plan_version
    new_quantity = quantity if quantity is not None else s.quantity
    action = "change_plan" if plan_version.pk != s.plan_version_id else "change_quantity"
    guard(s, action)
    today = today_or(today)
    if new_quantity < 1:
        raise ValidationError("Quantity is at least 1.", fields={"quantity": ["At least 1."]})
    if plan_version.pk == s.plan_version_id and new_quantity == s.quantity:
        raise Conflict(
            "The subscription already has this plan and quantity.", code=errors.NOTHING_TO_CHANGE
        )
    if plan_version.pk != s.plan_version_id and not plan_version.plan.is_active:
        raise Conflict(
            f"Plan {plan_version.plan.code} is not available.", code=errors.PLAN_INACTIVE
        )
    if policy is not None and policy not in POLICIES:
        raise ValidationError(
            f"Policy is one of {', '.join(POLICIES)}.",
            code=errors.INVALID_POLICY,
            fields={"policy": ["Invalid."]},
        )
    old_total = period_total(s.plan_version, s.currency, s.quantity)
    new_total = period_total(plan_version, s.currency, new_quantity)
    old_version = s.plan_version
    same_interval = (plan_version.interval_unit, plan_version.interval_count) == (
        old_version.interval_unit,
        old_version.interval_count,
    )
    trialing = s.status == S.TRIALING
    chosen = policy or (IMMEDIATE if trialing or new_total >= old_total else END_OF_TERM)
    if not same_interval and not trialing and chosen != END_OF_TERM:
        if policy is not None:
            raise Conflict(
                f"{plan_version.plan.name} bills {describe_interval(plan_version.interval_unit, plan_version.interval_count)}; "
                "a change of billing interval applies at the end of the term.",
                code=errors.INTERVAL_MISMATCH,
            )
        chosen = END_OF_TERM
    label = f"{plan_version.plan.name} × {new_quantity}"
    details: dict[str, Any] = {
        "policy": chosen,
        "plan_version_id": plan_version.pk,
        "quantity": new_quantity,
        "old_period_total": old_total,
        "new_period_total": new_total,
        "direction": "upgrade"
        if new_total > old_total
        else "downgrade"
        if new_total < old_total
        else "same",
    }
    if chosen == END_OF_TERM:
        effective = s.next_renewal_date
        assert effective is not None
        return ChangePreview(
            action=action,
            subscription_id=s.pk,
            effective_date=effective,
            summary=f"From {effective}: {label} at {_money(new_total, s.currency)} per period.",
            currency=s.currency,
            status_after=s.status,
            next_renewal_date=effective,
            scheduled=True,
            details=details,
        )
    changes: dict[str, Any] = {"plan_version": plan_version, "quantity": new_quantity}
    if not same_interval:
        changes.update(
            interval_unit=plan_version.interval_unit, interval_count=plan_version.interval_count
        )
    lines: list[AmountLine] = []
    state = proration_state(s)
    if state is not None:
        result = prorate(state, on=today, old_total=old_total, new_total=new_total)
        changes.update(
            period_consumed=result.state_after.consumed,
            period_segment_start=result.state_after.segment_start,
        )
        details.update(
            used_days=result.used_days,
            remaining_days=result.remaining_days,
            period_days=result.period_days,
        )
        if chosen == IMMEDIATE:
            changes["period_billed"] = result.state_after.billed
            span = f"{result.remaining_days} of {result.period_days} days"
            if result.credit:
                lines.append(
                    AmountLine(
                        "credit",
                        f"Unused time on {old_version.plan.name} × {s.quantity} ({span})",
                        result.credit,
                    )
                )
            if result.charge:
                lines.append(
                    AmountLine("charge", f"Remaining time on {label} ({span})", result.charge)
                )
    return ChangePreview(
        action=action,
        subscription_id=s.pk,
        effective_date=today,
        summary=f"Now: {label}; next renewal {s.next_renewal_date} at {_money(new_total, s.currency)}.",
        currency=s.currency,
        status_after=s.status,
        next_renewal_date=s.next_renewal_date,
        lines=lines,
        changes=changes,
        details=details,
    )


def _supersede(subscription: Subscription, kinds: tuple[str, ...], note: str) -> None:
    ScheduledChange.objects.filter(
        subscription=subscription,
        kind__in=kinds,
        applied_at__isnull=True,
        cancelled_at__isnull=True,
    ).update(cancelled_at=timezone.now(), note=note)


@transaction.atomic
def subscription_change_plan(
    *,
    subscription: Subscription,
    actor: Actor,
    plan_version: PlanVersion | None = None,
    plan: Plan | None = None,
    quantity: int | None = None,
    policy: str | None = None,
    today: dt.date | None = None,
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_change_plan(
        subscription=subscription,
        plan_version=plan_version,
        plan=plan,
        quantity=quantity,
        policy=policy,
        today=today,
    )
    _supersede(
        subscription,
        (ScheduledChangeKind.PLAN, ScheduledChangeKind.QUANTITY),
        "superseded by a later change",
    )
    payload = {"summary": p.summary, **p.details, "lines": [line.__dict__ for line in p.lines]}
    if p.scheduled:
        kind = (
            ScheduledChangeKind.PLAN if p.action == "change_plan" else ScheduledChangeKind.QUANTITY
        )
        change = ScheduledChange.objects.create(
            subscription=subscription,
            kind=kind,
            effective_date=p.effective_date,
            plan_version_id=p.details["plan_version_id"],
            quantity=p.details["quantity"],
            note=p.summary[:200],
        )
        event(
            subscription=subscription,
            kind=SubscriptionEventKind.CHANGE_SCHEDULED,
            actor=actor,
            message=p.summary,
            payload={"change_id": change.pk, **payload},
        )
        return subscription
    write_adjustments(subscription=subscription, preview=p)
    apply_changes(subscription, p)
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.PLAN_CHANGED
        if p.action == "change_plan"
        else SubscriptionEventKind.QUANTITY_CHANGED,
        actor=actor,
        message=p.summary,
        payload=payload,
    )
    return subscription


def preview_subscription_change_quantity(
    *,
    subscription: Subscription,
    quantity: int,
    policy: str | None = None,
    today: dt.date | None = None,
) -> ChangePreview:
    return preview_subscription_change_plan(
        subscription=subscription, quantity=quantity, policy=policy, today=today
    )


def subscription_change_quantity(
    *,
    subscription: Subscription,
    quantity: int,
    actor: Actor,
    policy: str | None = None,
    today: dt.date | None = None,
) -> Subscription:
    return subscription_change_plan(
        subscription=subscription, quantity=quantity, policy=policy, actor=actor, today=today
    )


# --- frequency and renewal date ---------------------------------------------------------------


def _billed_boundary(s: Subscription) -> bool:
    """The next renewal is the end of a period already renewed (billed or skipped)."""
    return s.status in (S.ACTIVE, S.PAST_DUE) and s.next_renewal_date == s.current_period_end


def preview_subscription_change_frequency(
    *,
    subscription: Subscription,
    interval_unit: str,
    interval_count: int,
    at_next_renewal: bool = False,
    today: dt.date | None = None,
) -> ChangePreview:
    """Change how often the subscription renews. The price per period (per box) is unchanged
    and nothing is prorated.

    Rule (immediate, the default): the current period keeps its start and now ends at the
    first boundary of the new cadence, counted from that start, that lies after today; that
    date is the new next renewal and the new billing anchor is the current period's start.
    In a trial, a pause, or before the first period was billed, the next renewal date stays
    and the new cadence counts from it. ``at_next_renewal`` keeps the current period as is and
    starts the new cadence at the next renewal (a scheduled change).
    Skipped cycle rule: a skip, swap or add-on booked for the old next renewal belongs to "the
    next box", so it moves to the new next renewal date; scheduled changes due at the old
    date move with it."""
    guard(subscription, "change_frequency")
    s = subscription
    if interval_unit not in IntervalUnit.values or interval_count < 1:
        raise ValidationError(
            "Invalid interval.",
            fields={"interval_unit": [f"One of {', '.join(IntervalUnit.values)}."]},
        )
    if (interval_unit, interval_count) == (s.interval_unit, s.interval_count):
        raise Conflict(
            "The subscription already renews at this frequency.", code=errors.NOTHING_TO_CHANGE
        )
    today = today_or(today)
    assert s.next_renewal_date is not None
    cadence = describe_interval(interval_unit, interval_count)
    details: dict[str, Any] = {"interval_unit": interval_unit, "interval_count": interval_count}
    if at_next_renewal:
        return ChangePreview(
            action="change_frequency",
            subscription_id=s.pk,
            effective_date=s.next_renewal_date,
            summary=f"Renews {cadence} from {s.next_renewal_date}.",
            currency=s.currency,
            status_after=s.status,
            next_renewal_date=s.next_renewal_date,
            scheduled=True,
            details=details,
        )
    changes: dict[str, Any] = {"interval_unit": interval_unit, "interval_count": interval_count}
    if _billed_boundary(s):
        start = s.current_period_start
        n = max(period_index_for(start, interval_unit, interval_count, today) + 1, 1)
        new_next = period_start(start, interval_unit, interval_count, n)
        changes.update(
            billing_anchor=start, current_period_end=new_next, next_renewal_date=new_next
        )
    else:
        new_next = s.next_renewal_date
        changes["billing_anchor"] = new_next
        if s.status in (S.ACTIVE, S.PAST_DUE) and s.current_period_start == new_next:
            changes["current_period_end"] = period_start(new_next, interval_unit, interval_count, 1)
    details["moved_from"] = s.next_renewal_date
    return ChangePreview(
        action="change_frequency",
        subscription_id=s.pk,
        effective_date=today,
        summary=f"Renews {cadence}; next renewal {new_next}.",
        currency=s.currency,
        status_after=s.status,
        next_renewal_date=new_next,
        changes=changes,
        details=details,
    )


def _move_next_box(subscription: Subscription, old: dt.date, new: dt.date) -> None:
    if old == new:
        return
    moving = PeriodOverride.objects.filter(
        subscription=subscription, period_start=old, consumed_at__isnull=True
    ).first()
    if moving is not None:
        target = PeriodOverride.objects.filter(subscription=subscription, period_start=new).first()
        if target is None:
            moving.period_start = new
            moving.save(update_fields=["period_start", "updated_at"])
        else:  # both boxes had plans: the moved box keeps all of them
            target.skip = target.skip or moving.skip
            target.swaps = [*target.swaps, *moving.swaps]
            target.addons = [*target.addons, *moving.addons]
            target.save(update_fields=["skip", "swaps", "addons", "updated_at"])
            moving.delete()
    ScheduledChange.objects.filter(
        subscription=subscription,
        effective_date=old,
        applied_at__isnull=True,
        cancelled_at__isnull=True,
    ).update(effective_date=new)


@transaction.atomic
def subscription_change_frequency(
    *,
    subscription: Subscription,
    interval_unit: str,
    interval_count: int,
    actor: Actor,
    at_next_renewal: bool = False,
    today: dt.date | None = None,
) -> Subscription:
    subscription = lock(subscription)
    old_next = subscription.next_renewal_date
    p = preview_subscription_change_frequency(
        subscription=subscription,
        interval_unit=interval_unit,
        interval_count=interval_count,
        at_next_renewal=at_next_renewal,
        today=today,
    )
    if p.scheduled:
        _supersede(subscription, (ScheduledChangeKind.FREQUENCY,), "superseded by a later change")
        ScheduledChange.objects.create(
            subscription=subscription,
            kind=ScheduledChangeKind.FREQUENCY,
            effective_date=p.effective_date,
            interval_unit=interval_unit,
            interval_count=interval_count,
            note=p.summary[:200],
        )
        kind = SubscriptionEventKind.CHANGE_SCHEDULED
    else:
        assert old_next is not None and p.next_renewal_date is not None
        _move_next_box(subscription, old_next, p.next_renewal_date)
        apply_changes(subscription, p)
        kind = SubscriptionEventKind.FREQUENCY_CHANGED
    event(subscription=subscription, kind=kind, actor=actor, message=p.summary, payload=p.details)
    return subscription


def preview_subscription_reschedule(
    *, subscription: Subscription, next_renewal_date: dt.date, today: dt.date | None = None
) -> ChangePreview:
    """Move the next renewal to another date (today = "send now").

    Rule: the current period now ends on the new date (longer or shorter; the price is per
    period, nothing is prorated) and the billing anchor becomes the new date, so later
    renewals keep the cadence from it. In a trial the trial end moves too. The new date is
    today or later, and after the start of the current period (a billed period is never
    billed again). One-period overrides and changes due at the old date move with it."""
    guard(subscription, "reschedule")
    s = subscription
    today = today_or(today)
    new = next_renewal_date
    if new < today:
        raise ValidationError(
            "The next renewal cannot be in the past.",
            code=errors.INVALID_DATE,
            fields={"next_renewal_date": ["In the past."]},
        )
    if new == s.next_renewal_date:
        raise Conflict(f"The next renewal is already {new}.", code=errors.NOTHING_TO_CHANGE)
    changes: dict[str, Any] = {"next_renewal_date": new, "billing_anchor": new}
    first_pending = s.status == S.ACTIVE and s.next_renewal_date == s.current_period_start
    if first_pending:
        changes.update(
            current_period_start=new,
            current_period_end=period_start(new, s.interval_unit, s.interval_count, 1),
            period_segment_start=new,
        )
    else:
        if new <= s.current_period_start:
            raise ValidationError(
                f"The next renewal must be after the current period's start ({s.current_period_start}).",
                code=errors.INVALID_DATE,
                fields={"next_renewal_date": [f"After {s.current_period_start}."]},
            )
        changes["current_period_end"] = new
        if s.status == S.TRIALING:
            changes["trial_end"] = new
    return ChangePreview(
        action="reschedule",
        subscription_id=s.pk,
        effective_date=today,
        summary=("Renews now (today)" if new == today else f"Next renewal moved to {new}")
        + f" from {s.next_renewal_date}.",
        currency=s.currency,
        status_after=s.status,
        next_renewal_date=new,
        changes=changes,
        details={"moved_from": s.next_renewal_date, "send_now": new == today},
    )


@transaction.atomic
def subscription_reschedule(
    *,
    subscription: Subscription,
    next_renewal_date: dt.date,
    actor: Actor,
    today: dt.date | None = None,
) -> Subscription:
    subscription = lock(subscription)
    old = subscription.next_renewal_date
    p = preview_subscription_reschedule(
        subscription=subscription, next_renewal_date=next_renewal_date, today=today
    )
    assert old is not None
    _move_next_box(subscription, old, next_renewal_date)
    apply_changes(subscription, p)
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.RESCHEDULED,
        actor=actor,
        message=p.summary,
        payload=p.details,
    )
    return subscription


def preview_subscription_send_now(
    *, subscription: Subscription, today: dt.date | None = None
) -> ChangePreview:
    return preview_subscription_reschedule(
        subscription=subscription, next_renewal_date=today_or(today), today=today
    )


def subscription_send_now(
    *, subscription: Subscription, actor: Actor, today: dt.date | None = None
) -> Subscription:
    return subscription_reschedule(
        subscription=subscription, next_renewal_date=today_or(today), actor=actor, today=today
    )


# --- address and payment method -------------------------------------------------------------


def preview_subscription_change_address(
    *,
    subscription: Subscription,
    address: dict[str, Any] | None = None,
    address_ref: Address | None = None,
) -> ChangePreview:
    """The next renewal ships to the new address (orders already placed keep their copy)."""
    guard(subscription, "change_address")
    s = subscription
    if address_ref is not None:
        if address_ref.customer_id != s.customer_id:
            raise ValidationError(
                "That address belongs to another customer.", fields={"address_id": ["Not yours."]}
            )
        snapshot = address_ref.snapshot()
    elif address:
        snapshot = clean_address_snapshot(address)
    else:
        raise ValidationError(
            "Give an address or an address id.", fields={"address": ["Required."]}
        )
    return ChangePreview(
        action="change_address",
        subscription_id=s.pk,
        effective_date=today_or(None),
        summary=f"Ships to {snapshot['line1']}, {snapshot['city']}, {snapshot['country']} from the next renewal ({s.next_renewal_date}).",
        currency=s.currency,
        status_after=s.status,
        next_renewal_date=s.next_renewal_date,
        changes={"shipping_address": snapshot, "shipping_address_ref": address_ref},
        details={"from": s.shipping_address, "to": snapshot},
    )


@transaction.atomic
def subscription_change_address(
    *,
    subscription: Subscription,
    actor: Actor,
    address: dict[str, Any] | None = None,
    address_ref: Address | None = None,
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_change_address(
        subscription=subscription, address=address, address_ref=address_ref
    )
    apply_changes(subscription, p)
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.ADDRESS_CHANGED,
        actor=actor,
        message=p.summary,
        payload=p.details,
    )
    return subscription


def preview_subscription_change_payment_method(
    *, subscription: Subscription, payment_method: str
) -> ChangePreview:
    guard(subscription, "change_payment_method")
    value = (payment_method or "").strip()
    if not value or len(value) > 255:
        raise ValidationError(
            "Give a payment method reference.",
            fields={"payment_method": ["Required, ≤ 255 characters."]},
        )
    if value == subscription.payment_method:
        raise Conflict("That payment method is already in use.", code=errors.NOTHING_TO_CHANGE)
    return ChangePreview(
        action="change_payment_method",
        subscription_id=subscription.pk,
        effective_date=today_or(None),
        summary=f"Next renewals charge {value}.",
        currency=subscription.currency,
        status_after=subscription.status,
        next_renewal_date=subscription.next_renewal_date,
        changes={"payment_method": value},
        details={"from": subscription.payment_method, "to": value},
    )


@transaction.atomic
def subscription_change_payment_method(
    *, subscription: Subscription, payment_method: str, actor: Actor
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_change_payment_method(
        subscription=subscription, payment_method=payment_method
    )
    apply_changes(subscription, p)
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.PAYMENT_METHOD_CHANGED,
        actor=actor,
        payload=p.details,
    )
    return subscription


# --- one period: skip, swap, add-on ----------------------------------------------------------


def _target_period(s: Subscription, period: dt.date | None) -> dt.date:
    assert s.next_renewal_date is not None
    start = period or s.next_renewal_date
    if start < s.next_renewal_date:
        raise ValidationError(
            f"The period of {start} is already renewed; the next one is {s.next_renewal_date}.",
            code=errors.INVALID_DATE,
            fields={"period_start": ["Already renewed."]},
        )
    terms = effective_terms(s, start)
    n = period_index_for(terms.anchor, terms.interval_unit, terms.interval_count, start)
    if period_start(terms.anchor, terms.interval_unit, terms.interval_count, n) != start:
        raise ValidationError(
            f"{start} is not a renewal date.",
            code=errors.INVALID_DATE,
            fields={"period_start": ["Not a renewal date."]},
        )
    return start


def preview_subscription_skip(
    *, subscription: Subscription, period_start: dt.date | None = None
) -> ChangePreview:
    """Skip one period (default: the next): nothing is billed or shipped for it; the renewal
    after it happens as usual. A skip does not count towards a minimum commitment."""
    guard(subscription, "skip")
    start = _target_period(subscription, period_start)
    override = open_override(subscription, start)
    if override is not None and override.skip:
        raise Conflict(f"The period of {start} is already skipped.", code=errors.NOTHING_TO_CHANGE)
    return ChangePreview(
        action="skip",
        subscription_id=subscription.pk,
        effective_date=start,
        summary=f"Nothing is billed or shipped on {start}.",
        currency=subscription.currency,
        status_after=subscription.status,
        next_renewal_date=subscription.next_renewal_date,
        scheduled=True,
        details={"period_start": start},
    )


@transaction.atomic
def subscription_skip(
    *, subscription: Subscription, actor: Actor, period_start: dt.date | None = None
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_skip(subscription=subscription, period_start=period_start)
    override, _ = PeriodOverride.objects.get_or_create(
        subscription=subscription, period_start=p.effective_date
    )
    override.skip = True
    override.save(update_fields=["skip", "updated_at"])
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.SKIP_SCHEDULED,
        actor=actor,
        payload=p.details,
    )
    return subscription


def preview_subscription_unskip(
    *, subscription: Subscription, period_start: dt.date | None = None
) -> ChangePreview:
    guard(subscription, "unskip")
    start = _target_period(subscription, period_start)
    override = open_override(subscription, start)
    if override is None or not override.skip:
        raise Conflict(f"The period of {start} is not skipped.", code=errors.NOTHING_TO_CHANGE)
    return ChangePreview(
        action="unskip",
        subscription_id=subscription.pk,
        effective_date=start,
        summary=f"The renewal on {start} happens again.",
        currency=subscription.currency,
        status_after=subscription.status,
        next_renewal_date=subscription.next_renewal_date,
        scheduled=True,
        details={"period_start": start},
    )


@transaction.atomic
def subscription_unskip(
    *, subscription: Subscription, actor: Actor, period_start: dt.date | None = None
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_unskip(subscription=subscription, period_start=period_start)
    override = PeriodOverride.objects.get(subscription=subscription, period_start=p.effective_date)
    override.skip = False
    if override.is_empty:
        override.delete()
    else:
        override.save(update_fields=["skip", "updated_at"])
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.SKIP_REMOVED,
        actor=actor,
        payload=p.details,
    )
    return subscription


def _sku(ref: Sku | str | int) -> Sku:
    if isinstance(ref, Sku):
        return ref
    lookup = {"pk": ref} if isinstance(ref, int) else {"code": ref}
    sku = Sku.objects.filter(**lookup).first()
    if sku is None:
        raise ValidationError(
            f"Unknown SKU {ref}.", code=errors.UNKNOWN_SKU, fields={"sku": ["Unknown."]}
        )
    return sku


def _not_skipped(s: Subscription, start: dt.date) -> PeriodOverride | None:
    override = open_override(s, start)
    if override is not None and override.skip:
        raise Conflict(
            f"The box of {start} is skipped; unskip it first.", code=errors.CHANGE_NOT_ALLOWED
        )
    return override


def preview_subscription_swap_item(
    *,
    subscription: Subscription,
    from_sku: Sku | str | int,
    to_sku: Sku | str | int,
    period_start: dt.date | None = None,
) -> ChangePreview:
    """Ship ``to_sku`` instead of ``from_sku`` in one box only (default: the next); same price."""
    guard(subscription, "swap_item")
    start = _target_period(subscription, period_start)
    _not_skipped(subscription, start)
    old, new = _sku(from_sku), _sku(to_sku)
    terms = effective_terms(subscription, start)
    if old.pk not in {item.sku_id for item in terms.plan_version.items.all()}:
        raise ValidationError(
            f"{old.code} is not in this box.",
            code=errors.NOT_IN_BOX,
            fields={"from_sku": ["Not in the box."]},
        )
    if not new.is_active or new.pk == old.pk:
        raise ValidationError(
            f"Cannot swap to {new.code}.", fields={"to_sku": ["Inactive or the same SKU."]}
        )
    return ChangePreview(
        action="swap_item",
        subscription_id=subscription.pk,
        effective_date=start,
        summary=f"The box of {start} ships {new.code} instead of {old.code}.",
        currency=subscription.currency,
        status_after=subscription.status,
        next_renewal_date=subscription.next_renewal_date,
        scheduled=True,
        details={
            "period_start": start,
            "swap": {
                "from_sku_id": old.pk,
                "from_sku_code": old.code,
                "to_sku_id": new.pk,
                "to_sku_code": new.code,
            },
        },
    )


@transaction.atomic
def subscription_swap_item(
    *,
    subscription: Subscription,
    from_sku: Sku | str | int,
    to_sku: Sku | str | int,
    actor: Actor,
    period_start: dt.date | None = None,
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_swap_item(
        subscription=subscription, from_sku=from_sku, to_sku=to_sku, period_start=period_start
    )
    override, _ = PeriodOverride.objects.get_or_create(
        subscription=subscription, period_start=p.effective_date
    )
    swap = p.details["swap"]
    override.swaps = [sw for sw in override.swaps if sw["from_sku_id"] != swap["from_sku_id"]] + [
        swap
    ]
    override.save(update_fields=["swaps", "updated_at"])
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.ITEM_SWAPPED,
        actor=actor,
        message=p.summary,
        payload=jsonable(p.details),
    )
    return subscription


def preview_subscription_add_addon(
    *,
    subscription: Subscription,
    sku: Sku | str | int,
    quantity: int = 1,
    unit_amount: int | None = None,
    period_start: dt.date | None = None,
) -> ChangePreview:
    """Add a one-time item to one box (default: the next), billed with that renewal at the
    SKU's price in the subscription's currency (or ``unit_amount`` an operator sets)."""
    guard(subscription, "add_addon")
    start = _target_period(subscription, period_start)
    _not_skipped(subscription, start)
    item = _sku(sku)
    if quantity < 1:
        raise ValidationError("Quantity is at least 1.", fields={"quantity": ["At least 1."]})
    if not item.is_active:
        raise ValidationError(f"{item.code} is not sold.", fields={"sku": ["Inactive."]})
    if unit_amount is None:
        price = SkuPrice.objects.filter(sku=item, currency=subscription.currency).first()
        if price is None:
            raise ValidationError(
                f"{item.code} has no {subscription.currency} price.",
                code=errors.NO_PRICE_FOR_CURRENCY,
                fields={"sku": ["No price in this currency."]},
            )
        unit_amount = price.amount
    if unit_amount < 0:
        raise ValidationError(
            "The price cannot be negative.", fields={"unit_amount": ["Negative."]}
        )
    total = unit_amount * quantity
    return ChangePreview(
        action="add_addon",
        subscription_id=subscription.pk,
        effective_date=start,
        summary=f"Adds {quantity} × {item.code} to the box of {start} for {_money(total, subscription.currency)}.",
        currency=subscription.currency,
        status_after=subscription.status,
        next_renewal_date=subscription.next_renewal_date,
        scheduled=True,
        details={
            "period_start": start,
            "addon": {
                "sku_id": item.pk,
                "sku_code": item.code,
                "quantity": quantity,
                "unit_amount": unit_amount,
            },
            "amount_at_renewal": total,
        },
    )


@transaction.atomic
def subscription_add_addon(
    *,
    subscription: Subscription,
    sku: Sku | str | int,
    actor: Actor,
    quantity: int = 1,
    unit_amount: int | None = None,
    period_start: dt.date | None = None,
) -> Subscription:
    subscription = lock(subscription)
    p = preview_subscription_add_addon(
        subscription=subscription,
        sku=sku,
        quantity=quantity,
        unit_amount=unit_amount,
        period_start=period_start,
    )
    override, _ = PeriodOverride.objects.get_or_create(
        subscription=subscription, period_start=p.effective_date
    )
    override.addons = [*override.addons, p.details["addon"]]
    override.save(update_fields=["addons", "updated_at"])
    event(
        subscription=subscription,
        kind=SubscriptionEventKind.ADDON_ADDED,
        actor=actor,
        message=p.summary,
        payload=jsonable(p.details),
    )
    return subscription
