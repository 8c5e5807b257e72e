"""Reads for subscriptions, above all ``renewal_preview``: THE description of what one period's
renewal does. The renewal cycle invoices exactly its lines and ships exactly its items, and
the API/portal show the same object as the "upcoming renewal"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db.models import Prefetch, Q, QuerySet

from customers.selectors import customer_list_for_channel
from oms.core.errors import Conflict
from oms.core.models import Channel

from .models import (
    LIVE_STATUSES,
    PeriodOverride,
    Plan,
    PlanItem,
    PlanPrice,
    PlanVersion,
    ProrationAdjustment,
    ScheduledChange,
    ScheduledChangeKind,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)
from .periods import period_end_for


class Outcome:
    RENEW = "renew"
    SKIP = "skip"
    TRIAL_CONVERSION = "trial_conversion"
    PAUSED = "paused"
    ENDS = "ends"

    BILLED = frozenset({RENEW, TRIAL_CONVERSION})
    ALL = (RENEW, SKIP, TRIAL_CONVERSION, PAUSED, ENDS)


@dataclass(frozen=True)
class RenewalItem:
    sku_id: int
    sku_code: str
    quantity: int
    kind: str = "plan"  # plan | swap | addon

    def __iter__(self) -> Iterator[object]:
        return iter((self.sku_id, self.sku_code, self.quantity))


@dataclass(frozen=True)
class RenewalLine:
    kind: str  # plan | setup_fee | addon | adjustment
    description: str
    amount: int  # minor units; negative is a credit
    sku_id: int | None = None
    quantity: int = 1
    adjustment_id: int | None = None

    def __iter__(self) -> Iterator[object]:
        return iter((self.kind, self.description, self.amount))


@dataclass(frozen=True)
class Terms:
    """The billable terms in force for one period, after scheduled changes due by then."""

    plan_version: PlanVersion
    quantity: int
    interval_unit: str
    interval_count: int
    anchor: dt.date
    changes: tuple[ScheduledChange, ...] = ()


@dataclass
class RenewalPreview:
    subscription_id: int
    renewal_date: dt.date
    period_start: dt.date
    period_end: dt.date
    outcome: str
    currency: str
    plan_version_id: int
    quantity: int
    items: list[RenewalItem] = field(default_factory=list)
    lines: list[RenewalLine] = field(default_factory=list)
    scheduled_change_ids: list[int] = field(default_factory=list)
    override_id: int | None = None
    is_first_paid_period: bool = False
    pay_later: bool = False

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def adjustment_ids(self) -> list[int]:
        return [line.adjustment_id for line in self.lines if line.adjustment_id is not None]


# --- prefetching -----------------------------------------------------------------------------


def _version_data(via: str = "") -> tuple[Prefetch, str]:
    """What a renewal reads of a plan version (its prices and items), reached ``via`` a
    relation path ending in ``__`` (or on the versions themselves)."""
    return (
        Prefetch(f"{via}prices", queryset=PlanPrice.objects.order_by("currency")),
        f"{via}items__sku",
    )


def _pending_changes_qs() -> QuerySet[ScheduledChange]:
    return (
        ScheduledChange.objects.filter(applied_at__isnull=True, cancelled_at__isnull=True)
        .select_related("plan_version__plan")
        .prefetch_related(*_version_data("plan_version__"))
        .order_by("effective_date", "id")
    )


def _open_overrides_qs() -> QuerySet[PeriodOverride]:
    return PeriodOverride.objects.filter(consumed_at__isnull=True).order_by("period_start")


def _open_adjustments_qs() -> QuerySet[ProrationAdjustment]:
    return ProrationAdjustment.objects.filter(
        applied_at__isnull=True, billing_invoice_id__isnull=True
    ).order_by("created_at", "id")


def _plan_versions_qs() -> QuerySet[PlanVersion]:
    return PlanVersion.objects.select_related("plan").prefetch_related(*_version_data())


def with_renewal_data(queryset: QuerySet[Subscription]) -> QuerySet[Subscription]:
    """Everything ``renewal_preview`` reads, in a fixed number of queries for any batch.

    The plan versions are prefetched, not joined: a batch then holds one instance per plan
    version, shared by its subscribers, and their prices and items are attached once per
    version rather than once per subscription (a join gives each row its own copy, and
    Django builds a related manager and a queryset per copy to prefetch into it)."""
    return queryset.select_related("customer").prefetch_related(
        Prefetch("plan_version", queryset=_plan_versions_qs()),
        Prefetch("scheduled_changes", queryset=_pending_changes_qs(), to_attr="pending_changes"),
        Prefetch("period_overrides", queryset=_open_overrides_qs(), to_attr="open_overrides"),
        Prefetch("adjustments", queryset=_open_adjustments_qs(), to_attr="open_adjustments"),
    )


def subscriptions_for_renewal(*, ids: Iterable[int]) -> list[Subscription]:
    return list(with_renewal_data(Subscription.objects.filter(pk__in=list(ids))).order_by("pk"))


def subscriptions_due(*, as_of: dt.date) -> QuerySet[Subscription]:
    """Live subscriptions whose next renewal date is on or before ``as_of`` (the renewal claim
    adds ``select_for_update(skip_locked=True)`` and a batch limit)."""
    return Subscription.objects.filter(
        status__in=LIVE_STATUSES, next_renewal_date__lte=as_of
    ).order_by("next_renewal_date", "pk")


def pending_changes(subscription: Subscription) -> list[ScheduledChange]:
    cached = getattr(subscription, "pending_changes", None)
    if cached is not None:
        return list(cached)
    return list(_pending_changes_qs().filter(subscription=subscription))


def open_override(subscription: Subscription, period_start: dt.date) -> PeriodOverride | None:
    cached = getattr(subscription, "open_overrides", None)
    if cached is not None:
        return next((o for o in cached if o.period_start == period_start), None)
    return _open_overrides_qs().filter(subscription=subscription, period_start=period_start).first()


def open_adjustments(subscription: Subscription) -> list[ProrationAdjustment]:
    cached = getattr(subscription, "open_adjustments", None)
    if cached is not None:
        return list(cached)
    return list(_open_adjustments_qs().filter(subscription=subscription))


# --- the renewal read model ---------------------------------------------------------------


def effective_terms(subscription: Subscription, period_start: dt.date) -> Terms:
    """The plan version, quantity and cadence in force for the period starting ``period_start``:
    the subscription's own, overlaid with every pending scheduled change effective by then.
    A change of cadence (frequency change, plan change to another interval) counts the new
    periods from its effective date."""
    version = subscription.plan_version
    quantity = subscription.quantity
    unit, count, anchor = (
        subscription.interval_unit,
        subscription.interval_count,
        subscription.billing_anchor,
    )
    applied: list[ScheduledChange] = []
    for change in pending_changes(subscription):
        if change.effective_date > period_start:
            continue
        applied.append(change)
        if (
            change.kind in (ScheduledChangeKind.PLAN, ScheduledChangeKind.PRICE_MIGRATION)
            and change.plan_version
        ):
            new = change.plan_version
            if change.kind == ScheduledChangeKind.PLAN and (
                new.interval_unit,
                new.interval_count,
            ) != (
                version.interval_unit,
                version.interval_count,
            ):
                unit, count, anchor = new.interval_unit, new.interval_count, change.effective_date
            version = new
        if change.quantity:
            quantity = change.quantity
        if (
            change.kind == ScheduledChangeKind.FREQUENCY
            and change.interval_unit
            and change.interval_count
        ):
            unit, count, anchor = change.interval_unit, change.interval_count, change.effective_date
    return Terms(
        plan_version=version,
        quantity=quantity,
        interval_unit=unit,
        interval_count=count,
        anchor=anchor,
        changes=tuple(applied),
    )


def _outcome(
    subscription: Subscription, period_start: dt.date, override: PeriodOverride | None
) -> str:
    s = subscription
    # A pending cancellation ends the subscription at its next renewal: nothing more is billed.
    if (
        s.cancel_at_period_end
        and s.next_renewal_date is not None
        and period_start >= s.next_renewal_date
    ):
        return Outcome.ENDS
    if s.ends_after_cycles is not None and s.cycles_completed >= s.ends_after_cycles:
        return Outcome.ENDS
    if s.status == SubscriptionStatus.PAUSED and s.paused_until and period_start < s.paused_until:
        return Outcome.PAUSED
    if override is not None and override.skip:
        return Outcome.SKIP
    if s.status == SubscriptionStatus.TRIALING:
        return Outcome.TRIAL_CONVERSION
    return Outcome.RENEW


def _plan_items(version: PlanVersion) -> list[PlanItem]:
    """The version's items with their SKUs: from the prefetch cache when there is one."""
    if "items" in getattr(version, "_prefetched_objects_cache", {}):
        return list(version.items.all())
    return list(version.items.select_related("sku").order_by("id"))


def _fmt(day: dt.date) -> str:
    return day.isoformat()


def renewal_preview(
    subscription: Subscription, period_start: dt.date | None = None
) -> RenewalPreview:
    """What renewing the period that starts at ``period_start`` (default: the next renewal)
    does: the outcome, the items to ship (after one-period swaps and add-ons) and the invoice
    lines (plan charge × quantity, the setup fee on the first paid period, add-ons, and open
    proration adjustments). Reads only; prefetch with ``with_renewal_data`` for batches."""
    s = subscription
    if s.status not in LIVE_STATUSES or s.next_renewal_date is None:
        raise Conflict(
            f"Subscription {s.pk} is {s.status}; it has no upcoming renewal.",
            code="no_upcoming_renewal",
        )
    start = period_start or s.next_renewal_date
    terms = effective_terms(s, start)
    end = period_end_for(terms.anchor, terms.interval_unit, terms.interval_count, start)
    override = open_override(s, start)
    outcome = _outcome(s, start, override)
    version = terms.plan_version
    preview = RenewalPreview(
        subscription_id=s.pk,
        renewal_date=start,
        period_start=start,
        period_end=end,
        outcome=outcome,
        currency=s.currency,
        plan_version_id=version.pk,
        quantity=terms.quantity,
        scheduled_change_ids=[c.pk for c in terms.changes],
        override_id=override.pk if override else None,
        is_first_paid_period=s.cycles_completed == 0,
        pay_later=version.plan.pay_later,
    )
    if outcome not in Outcome.BILLED:
        return preview

    swaps = {int(sw["from_sku_id"]): sw for sw in (override.swaps if override else [])}
    for item in _plan_items(version):
        swap = swaps.get(item.sku_id)
        if swap is not None:
            preview.items.append(
                RenewalItem(
                    int(swap["to_sku_id"]),
                    str(swap["to_sku_code"]),
                    item.quantity * terms.quantity,
                    "swap",
                )
            )
        else:
            preview.items.append(
                RenewalItem(item.sku_id, item.sku.code, item.quantity * terms.quantity)
            )

    price = next((p for p in version.prices.all() if p.currency == s.currency), None)
    if price is None:
        raise Conflict(f"Plan {version} has no {s.currency} price.", code="no_price_for_currency")
    last_day = end - dt.timedelta(days=1)
    preview.lines.append(
        RenewalLine(
            kind="plan",
            description=f"{version.plan.name} × {terms.quantity} ({_fmt(start)} – {_fmt(last_day)})",
            amount=price.amount * terms.quantity,
            quantity=terms.quantity,
        )
    )
    if preview.is_first_paid_period and price.setup_fee:
        preview.lines.append(
            RenewalLine(
                kind="setup_fee",
                description=f"Setup fee, {version.plan.name}",
                amount=price.setup_fee,
            )
        )
    for addon in override.addons if override else []:
        quantity = int(addon["quantity"])
        preview.items.append(
            RenewalItem(int(addon["sku_id"]), str(addon["sku_code"]), quantity, "addon")
        )
        preview.lines.append(
            RenewalLine(
                kind="addon",
                description=f"One-time add-on {addon['sku_code']} × {quantity}",
                amount=int(addon["unit_amount"]) * quantity,
                sku_id=int(addon["sku_id"]),
                quantity=quantity,
            )
        )
    for adjustment in open_adjustments(s):
        preview.lines.append(
            RenewalLine(
                kind="adjustment",
                description=adjustment.description,
                amount=adjustment.amount,
                adjustment_id=adjustment.pk,
            )
        )
    return preview


def upcoming_renewal(subscription: Subscription) -> RenewalPreview | None:
    """The next renewal preview, or None for an ended subscription."""
    if subscription.status not in LIVE_STATUSES or subscription.next_renewal_date is None:
        return None
    return renewal_preview(subscription)


def renewal_demand(start_date: dt.date, end_date: dt.date) -> Iterator[tuple[int, dt.date, int]]:
    """Units upcoming renewals will ship between ``start_date`` and ``end_date`` (inclusive):
    ``(sku_id, renewal_date, quantity)``. Registered with ``inventory.hooks.renewal_demand``.
    Later periods of one subscription inside the window are counted too."""
    queryset = with_renewal_data(
        Subscription.objects.filter(status__in=LIVE_STATUSES, next_renewal_date__lte=end_date)
    ).order_by("pk")
    for subscription in queryset.iterator(chunk_size=500):
        day: dt.date | None = subscription.next_renewal_date
        guard = 0
        while day is not None and day <= end_date and guard < 400:
            guard += 1
            preview = renewal_preview(subscription, day)
            if preview.outcome == Outcome.ENDS:
                break
            if day >= start_date:
                for item in preview.items:
                    yield item.sku_id, day, item.quantity
            if preview.outcome == Outcome.PAUSED and subscription.paused_until:
                day = subscription.paused_until
            else:
                day = preview.period_end


# --- lists ----------------------------------------------------------------------------------


def subscription_list() -> QuerySet[Subscription]:
    return Subscription.objects.select_related("customer", "plan_version__plan", "channel")


def subscription_list_for_channel(*, channel: Channel) -> QuerySet[Subscription]:
    """Subscriptions a channel may see: those it created, or of customers visible to it."""
    visible = customer_list_for_channel(channel=channel).values("pk")
    return subscription_list().filter(Q(channel=channel) | Q(customer_id__in=visible))


def subscription_get_for_channel(*, channel: Channel, pk: int) -> Subscription | None:
    return subscription_list_for_channel(channel=channel).filter(pk=pk).first()


def subscription_events(*, subscription: Subscription) -> QuerySet[SubscriptionEvent]:
    return SubscriptionEvent.objects.filter(subscription=subscription).order_by("created_at", "id")


def plan_list(*, active_only: bool = True) -> QuerySet[Plan]:
    qs = Plan.objects.all()
    return qs.filter(is_active=True) if active_only else qs


def plan_current_version(*, plan: Plan) -> PlanVersion | None:
    return (
        PlanVersion.objects.filter(plan=plan)
        .select_related("plan")
        .prefetch_related("prices", "items__sku")
        .order_by("-version")
        .first()
    )
