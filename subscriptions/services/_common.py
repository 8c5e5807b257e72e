"""Shared pieces of the subscription services: locking, the per-status change guard, events,
prices and the preview dataclasses every change returns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from oms.core.actors import Actor
from oms.core.errors import Conflict, ValidationError
from oms.core.rows import new_row
from oms.core.transitions import check_transition

from .. import errors
from ..models import (
    ALLOWED_TRANSITIONS,
    PlanPrice,
    PlanVersion,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)
from ..periods import business_today
from .proration import ProrationState

S = SubscriptionStatus

# Which change each status allows. Everything not listed is refused with CHANGE_NOT_ALLOWED.
CHANGE_RULES: dict[str, frozenset[str]] = {
    "change_plan": frozenset({S.TRIALING, S.ACTIVE}),
    "change_quantity": frozenset({S.TRIALING, S.ACTIVE}),
    "change_frequency": frozenset({S.TRIALING, S.ACTIVE, S.PAUSED}),
    "reschedule": frozenset({S.TRIALING, S.ACTIVE}),
    "change_address": frozenset({S.TRIALING, S.ACTIVE, S.PAUSED, S.PAST_DUE}),
    "change_payment_method": frozenset({S.TRIALING, S.ACTIVE, S.PAUSED, S.PAST_DUE}),
    "skip": frozenset({S.TRIALING, S.ACTIVE}),
    "unskip": frozenset({S.TRIALING, S.ACTIVE}),
    "swap_item": frozenset({S.TRIALING, S.ACTIVE}),
    "add_addon": frozenset({S.TRIALING, S.ACTIVE}),
    "pause": frozenset({S.ACTIVE}),
    "resume": frozenset({S.PAUSED}),
    "cancel_now": frozenset({S.TRIALING, S.ACTIVE, S.PAUSED, S.PAST_DUE}),
    "cancel_at_period_end": frozenset({S.TRIALING, S.ACTIVE}),
    "reactivate": frozenset({S.TRIALING, S.ACTIVE}),
}
# With a cancellation pending at period end there is no next period to steer; only these remain.
ALLOWED_WHILE_ENDING = frozenset(
    {"change_address", "change_payment_method", "cancel_now", "reactivate"}
)


def guard(subscription: Subscription, change: str) -> None:
    allowed = CHANGE_RULES[change]
    if subscription.status not in allowed:
        label = change.replace("_", " ")
        raise Conflict(
            f"Cannot {label} a subscription that is {subscription.get_status_display().lower()}; "
            f"allowed when {', '.join(sorted(allowed))}.",
            code=errors.CHANGE_NOT_ALLOWED,
            fields={"status": subscription.status, "change": change},
        )
    if subscription.cancel_at_period_end and change not in ALLOWED_WHILE_ENDING:
        raise Conflict(
            f"Subscription ends on {subscription.current_period_end}; reactivate it before you "
            f"{change.replace('_', ' ')}.",
            code=errors.CHANGE_NOT_ALLOWED,
            fields={"status": subscription.status, "change": change, "cancel_at_period_end": True},
        )


def lock(subscription: Subscription) -> Subscription:
    """Re-read the subscription FOR UPDATE (the same row lock the renewal claim takes), then
    load it with everything ``renewal_preview`` reads.

    The lock is taken by a query without joins on purpose: PostgreSQL re-checks a row that
    another transaction updated while we waited, and with a join on ``plan_version`` a
    concurrent plan change makes the re-check drop the row (the query finds nothing)."""
    from ..selectors import with_renewal_data

    list(Subscription.objects.select_for_update().filter(pk=subscription.pk).values_list("pk"))
    return with_renewal_data(Subscription.objects.all()).get(pk=subscription.pk)


def set_status(subscription: Subscription, target: str) -> None:
    check_transition(
        ALLOWED_TRANSITIONS, entity="Subscription", current=subscription.status, target=target
    )
    subscription.status = target


def event(
    *,
    subscription: Subscription,
    kind: str,
    actor: Actor,
    message: str = "",
    payload: dict[str, Any] | None = None,
) -> SubscriptionEvent:
    row = event_row(
        subscription=subscription, kind=kind, actor=actor, message=message, payload=payload
    )
    row.save(force_insert=True)
    return row


def event_row(
    *,
    subscription: Subscription,
    kind: str,
    actor: Actor,
    message: str = "",
    payload: dict[str, Any] | None = None,
) -> SubscriptionEvent:
    """The event ``event`` writes, unsaved (for a caller that writes in bulk)."""
    return new_row(
        SubscriptionEvent,
        subscription=subscription,
        kind=kind,
        message=message,
        payload=jsonable(payload or {}),
        **actor.as_fields(),
    )


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def today_or(today: dt.date | None) -> dt.date:
    return today if today is not None else business_today()


def price_for(plan_version: PlanVersion, currency: str) -> PlanPrice:
    for price in plan_version.prices.all():
        if price.currency == currency:
            return price
    raise ValidationError(
        f"Plan {plan_version} has no price in {currency}.",
        code=errors.NO_PRICE_FOR_CURRENCY,
        fields={"currency": [f"No {currency} price on this plan."]},
    )


def period_total(plan_version: PlanVersion, currency: str, quantity: int) -> int:
    return price_for(plan_version, currency).amount * quantity


@dataclass(frozen=True)
class AmountLine:
    kind: str
    description: str
    amount: int  # minor units; negative is a credit


@dataclass
class ChangePreview:
    """What a change will do, computed without writing anything. The service computes the same
    preview and then applies exactly it, so the preview is never a second opinion."""

    action: str
    subscription_id: int
    effective_date: dt.date
    summary: str
    currency: str
    status_after: str
    next_renewal_date: dt.date | None
    lines: list[AmountLine] = field(default_factory=list)
    scheduled: bool = False
    # Internal: the subscription fields the change sets (not part of the API output).
    changes: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def amount_due_now(self) -> int:
        return sum(line.amount for line in self.lines)


def proration_state(subscription: Subscription) -> ProrationState | None:
    """The current period's proration state, or None when nothing was billed for it (a trial,
    a skipped period, the first period before its renewal)."""
    s = subscription
    if s.period_billed is None or s.status == S.TRIALING:
        return None
    return ProrationState(
        period_start=s.current_period_start,
        period_end=s.current_period_end,
        billed=s.period_billed,
        consumed=s.period_consumed,
        segment_start=s.period_segment_start or s.current_period_start,
    )


def write_adjustments(*, subscription: Subscription, preview: ChangePreview) -> list[Any]:
    """Turn a preview's money lines into ProrationAdjustment rows; billing learns of them after
    commit through ``hooks.adjustments_created``."""
    from oms.core.transactions import on_commit

    from .. import hooks
    from ..models import ProrationAdjustment

    rows = [
        ProrationAdjustment(
            subscription=subscription,
            amount=line.amount,
            currency=preview.currency,
            description=line.description[:255],
            period_start=subscription.current_period_start,
            effective_date=preview.effective_date,
        )
        for line in preview.lines
        if line.amount
    ]
    if rows:
        rows = ProrationAdjustment.objects.bulk_create(rows)
        on_commit(hooks.notify_adjustments_created, rows)
    return rows


def apply_changes(subscription: Subscription, preview: ChangePreview) -> None:
    """Set the fields a preview decided (status through the transition guard) and save."""
    changes = dict(preview.changes)
    target = changes.pop("status", None)
    if target is not None and target != subscription.status:
        set_status(subscription, target)
    for name, value in changes.items():
        setattr(subscription, name, value)
    fields = [*changes, "updated_at"] + (["status"] if target is not None else [])
    subscription.save(update_fields=fields)
