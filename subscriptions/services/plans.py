"""Plans and their versions. A version is immutable once anyone subscribed to it: revising a
live plan creates the next version, and existing subscribers move only through an explicit,
scheduled price migration (``subscription_price_migration_schedule``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from inventory.models import Sku
from oms.core.actors import Actor
from oms.core.errors import Conflict, ValidationError
from oms.core.money import validate_currency

from .. import errors
from ..models import (
    LIVE_STATUSES,
    Plan,
    PlanItem,
    PlanPrice,
    PlanVersion,
    ScheduledChange,
    ScheduledChangeKind,
    Subscription,
    SubscriptionEventKind,
)
from ..periods import IntervalUnit, next_period_start_on_or_after
from ._common import event, today_or

PriceSpec = Mapping[str, Any]  # {"currency": "USD", "amount": 2500, "setup_fee": 0}
ItemSpec = Mapping[str, Any]  # {"sku": Sku | "CODE" | id, "quantity": 1}


def _resolve_sku(ref: Any) -> Sku:
    if isinstance(ref, Sku):
        return ref
    lookup = {"pk": ref} if isinstance(ref, int) else {"code": str(ref)}
    sku = Sku.objects.filter(**lookup).first()
    if sku is None:
        raise ValidationError(
            f"Unknown SKU {ref}.",
            code=errors.UNKNOWN_SKU,
            fields={"items": [f"Unknown SKU {ref}."]},
        )
    return sku


def _clean_prices(prices: Iterable[PriceSpec]) -> list[dict[str, Any]]:
    cleaned: dict[str, dict[str, Any]] = {}
    for spec in prices:
        currency = validate_currency(str(spec["currency"]))
        amount, setup_fee = int(spec["amount"]), int(spec.get("setup_fee", 0) or 0)
        if amount < 0 or setup_fee < 0:
            raise ValidationError(
                "Prices cannot be negative.", fields={"prices": ["Negative amount."]}
            )
        cleaned[currency] = {"currency": currency, "amount": amount, "setup_fee": setup_fee}
    if not cleaned:
        raise ValidationError("A plan needs at least one price.", fields={"prices": ["Required."]})
    return list(cleaned.values())


def _check_interval(unit: str, count: int) -> None:
    if unit not in IntervalUnit.values or count < 1:
        raise ValidationError(
            f"Invalid interval {count} {unit}.",
            fields={"interval_unit": [f"Use one of {', '.join(IntervalUnit.values)}."]},
        )


def _write_version(
    *,
    plan: Plan,
    version: int,
    interval_unit: str,
    interval_count: int,
    trial_days: int,
    prices: list[dict[str, Any]],
    items: Iterable[ItemSpec],
) -> PlanVersion:
    _check_interval(interval_unit, interval_count)
    pv = PlanVersion.objects.create(
        plan=plan,
        version=version,
        interval_unit=interval_unit,
        interval_count=interval_count,
        trial_days=trial_days,
    )
    PlanPrice.objects.bulk_create([PlanPrice(plan_version=pv, **p) for p in prices])
    seen: set[int] = set()
    for spec in items:
        sku = _resolve_sku(spec["sku"])
        quantity = int(spec.get("quantity", 1))
        if quantity < 1 or sku.pk in seen:
            raise ValidationError(
                f"Invalid item {sku.code}.", fields={"items": ["Quantity ≥ 1, each SKU once."]}
            )
        seen.add(sku.pk)
        PlanItem.objects.create(plan_version=pv, sku=sku, quantity=quantity)
    return pv


@transaction.atomic
def plan_create(
    *,
    code: str,
    name: str,
    interval_unit: str,
    prices: Iterable[PriceSpec],
    actor: Actor,
    interval_count: int = 1,
    items: Iterable[ItemSpec] = (),
    trial_days: int = 0,
    min_commitment_cycles: int = 0,
    skip_missed_periods: bool = False,
    pay_later: bool = False,
    description: str = "",
) -> Plan:
    if Plan.objects.filter(code=code).exists():
        raise Conflict(f"A plan with code '{code}' exists.", code="duplicate_plan")
    plan = Plan.objects.create(
        code=code,
        name=name,
        description=description,
        min_commitment_cycles=min_commitment_cycles,
        skip_missed_periods=skip_missed_periods,
        pay_later=pay_later,
    )
    _write_version(
        plan=plan,
        version=1,
        interval_unit=interval_unit,
        interval_count=interval_count,
        trial_days=trial_days,
        prices=_clean_prices(prices),
        items=items,
    )
    return plan


def plan_latest_version(plan: Plan) -> PlanVersion:
    version = PlanVersion.objects.filter(plan=plan).order_by("-version").first()
    if version is None:
        raise Conflict(f"Plan {plan.code} has no version.", code="plan_without_version")
    return version


@transaction.atomic
def plan_revise(
    *,
    plan: Plan,
    actor: Actor,
    prices: Iterable[PriceSpec] | None = None,
    items: Iterable[ItemSpec] | None = None,
    trial_days: int | None = None,
    interval_unit: str | None = None,
    interval_count: int | None = None,
) -> PlanVersion:
    """New terms for a plan. If nobody subscribed to the latest version yet it is edited in
    place; otherwise the next version is created and new subscribers get it, while existing
    subscribers keep theirs."""
    Plan.objects.select_for_update().get(pk=plan.pk)
    current = plan_latest_version(plan)
    new_prices = (
        _clean_prices(prices)
        if prices is not None
        else [
            {"currency": p.currency, "amount": p.amount, "setup_fee": p.setup_fee}
            for p in current.prices.all()
        ]
    )
    new_items: list[ItemSpec] = (
        list(items)
        if items is not None
        else [{"sku": i.sku, "quantity": i.quantity} for i in current.items.select_related("sku")]
    )
    spec: dict[str, Any] = {
        "interval_unit": interval_unit or current.interval_unit,
        "interval_count": interval_count or current.interval_count,
        "trial_days": current.trial_days if trial_days is None else trial_days,
    }
    if (
        Subscription.objects.filter(plan_version=current).exists()
        or ScheduledChange.objects.filter(plan_version=current).exists()
    ):
        return _write_version(
            plan=plan, version=current.version + 1, prices=new_prices, items=new_items, **spec
        )
    number = current.version
    current.delete()  # unused: replace it (prices and items cascade) under the same number
    return _write_version(plan=plan, version=number, prices=new_prices, items=new_items, **spec)


@transaction.atomic
def subscription_price_migration_schedule(
    *,
    from_version: PlanVersion,
    to_version: PlanVersion,
    actor: Actor,
    effective_on: dt.date | None = None,
    today: dt.date | None = None,
) -> int:
    """Move every live subscriber of ``from_version`` to ``to_version`` at their first renewal
    on or after ``effective_on`` (default: their next renewal). Nothing is prorated: the new
    price applies from a period start. Returns how many subscriptions were scheduled."""
    if from_version.plan_id != to_version.plan_id:
        raise ValidationError(
            "A price migration stays within one plan.", fields={"to_version": ["Other plan."]}
        )
    day = effective_on or today_or(today)
    count = 0
    subscriptions = (
        Subscription.objects.select_for_update()
        .filter(plan_version=from_version, status__in=LIVE_STATUSES)
        .order_by("pk")
    )
    for subscription in subscriptions:
        assert subscription.next_renewal_date is not None
        if subscription.next_renewal_date >= day:
            effective = subscription.next_renewal_date
        else:
            effective = next_period_start_on_or_after(
                subscription.billing_anchor,
                subscription.interval_unit,
                subscription.interval_count,
                day,
            )
        if not to_version.prices.filter(currency=subscription.currency).exists():
            raise ValidationError(
                f"Version {to_version} has no {subscription.currency} price.",
                code=errors.NO_PRICE_FOR_CURRENCY,
            )
        ScheduledChange.objects.filter(
            subscription=subscription,
            kind=ScheduledChangeKind.PRICE_MIGRATION,
            applied_at__isnull=True,
            cancelled_at__isnull=True,
        ).delete()
        change = ScheduledChange.objects.create(
            subscription=subscription,
            kind=ScheduledChangeKind.PRICE_MIGRATION,
            effective_date=effective,
            plan_version=to_version,
            note=f"Price migration v{from_version.version} → v{to_version.version}",
        )
        event(
            subscription=subscription,
            kind=SubscriptionEventKind.CHANGE_SCHEDULED,
            actor=actor,
            message=change.note,
            payload={"change_id": change.pk, "kind": change.kind, "effective_date": effective},
        )
        count += 1
    return count
