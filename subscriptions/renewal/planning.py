"""What a run would do, without doing it (``manage.py renew --dry-run``): the renewals due up
to a date (catch-up periods included), their outcome and amount, and the stock they need
against the stock there is. Reads only — no lock, no row written."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Sum

from .cycle import _claimable
from .models import Renewal


@dataclass(frozen=True)
class PlannedRenewal:
    subscription_id: int
    customer_email: str
    period_start: dt.date
    period_end: dt.date
    outcome: str
    amount: int
    currency: str
    items: tuple[tuple[str, int], ...]


@dataclass
class Plan:
    as_of: dt.date
    renewals: list[PlannedRenewal] = field(default_factory=list)
    open_renewals: int = 0
    amounts: Counter[str] = field(default_factory=Counter)  # currency -> minor units
    outcomes: Counter[str] = field(default_factory=Counter)
    stock_needed: Counter[str] = field(default_factory=Counter)  # sku code -> units
    stock_available: dict[str, int] = field(default_factory=dict)

    @property
    def short_skus(self) -> dict[str, int]:
        return {
            code: need - self.stock_available.get(code, 0)
            for code, need in self.stock_needed.items()
            if need > self.stock_available.get(code, 0)
        }


def plan_periods(subscription: Any, as_of: dt.date) -> Iterator[Any]:
    """The previews of every period of ``subscription`` due up to ``as_of``, in order."""
    from subscriptions.selectors import Outcome, renewal_preview

    day = subscription.next_renewal_date
    guard = 0
    skip_missed = subscription.plan_version.plan.skip_missed_periods
    while day is not None and day <= as_of and guard < 1000:
        guard += 1
        preview = renewal_preview(subscription, day)
        if skip_missed and preview.period_end <= as_of and preview.outcome in Outcome.BILLED:
            preview.outcome = "missed"
            preview.items, preview.lines = [], []
        yield preview
        if preview.outcome == Outcome.ENDS:
            return
        day = preview.period_end


def renewal_plan(*, as_of: dt.date, limit: int | None = None, chunk: int = 500) -> Plan:
    from subscriptions.selectors import Outcome, with_renewal_data

    from .cycle import BLOCKING_STATES

    plan = Plan(as_of=as_of)
    plan.open_renewals = Renewal.objects.filter(state__in=BLOCKING_STATES).count()
    after = 0
    while limit is None or len(plan.renewals) < limit:
        subs = list(with_renewal_data(_claimable(as_of).filter(pk__gt=after))[:chunk])
        if not subs:
            break
        after = subs[-1].pk
        for sub in subs:
            for preview in plan_periods(sub, as_of):
                billed = preview.outcome in Outcome.BILLED
                items = tuple((i.sku_code, i.quantity) for i in preview.items) if billed else ()
                plan.renewals.append(
                    PlannedRenewal(
                        subscription_id=sub.pk, customer_email=sub.customer.email,
                        period_start=preview.period_start, period_end=preview.period_end,
                        outcome=preview.outcome, amount=preview.total if billed else 0,
                        currency=preview.currency, items=items,
                    )
                )  # fmt: skip
                plan.outcomes[preview.outcome] += 1
                if billed:
                    plan.amounts[preview.currency] += preview.total
                    for code, quantity in items:
                        plan.stock_needed[code] += quantity
                if limit is not None and len(plan.renewals) >= limit:
                    break
            if limit is not None and len(plan.renewals) >= limit:
                break
    plan.stock_available = _available(list(plan.stock_needed))
    return plan


def _available(codes: list[str]) -> dict[str, int]:
    from inventory.models import StockLevel

    if not codes:
        return {}
    rows = (
        StockLevel.objects.filter(sku__code__in=codes, warehouse__is_active=True)
        .values("sku__code")
        .annotate(free=Sum(F("on_hand") - F("allocated")))
    )
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row["sku__code"]] += max(int(row["free"] or 0), 0)
    return dict(totals)
