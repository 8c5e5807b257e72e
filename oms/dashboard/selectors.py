"""Figures for the operator dashboard. Outer ring: reads any app, writes nothing. Every
function runs a fixed number of queries whatever the data size (aggregates in PostgreSQL,
never rows looped over in Python), and every day is a business date
(``settings.OMS_TIME_ZONE``).

Definitions (what an operator reads on the page):

- **MRR** (monthly recurring revenue), per currency: for each subscription that is billing —
  ``active`` or ``past_due``; trials, paused and ended ones bill nothing — its plan version's
  price in the subscription's currency × quantity, normalised to one month by its own
  interval: a month is 1/12 of a year, 365/12 days or 52/12 weeks, so "every 2 weeks" at
  10.00 is 10.00 × 52 / 12 / 2 = 21.67 a month. Summed exactly (Decimal) and rounded once per
  currency, half away from zero (``oms.core.money.round_minor``).
- **Churn** over a window of ``days`` ending on ``as_of`` (inclusive): subscriptions cancelled
  in the window (status cancelled, ``ended_on`` in the window) ÷ subscriptions live at the
  window's start (created before it began and not ended before it). Expiry of a fixed term
  is not churn. Undefined (``None``) when nothing was live at the start.
- **Renewals per day**: renewal records by period start date and outcome.
- **Orders per day**: orders by the business date they were placed.
- **Stock below reorder point**: stock levels whose available quantity (on hand − allocated)
  is below their reorder point, largest shortfall first."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, IntegerField, Q, Sum
from django.db.models.functions import TruncDate

from inventory.selectors import stock_level_list
from oms.core.money import Money, round_minor
from orders.models import Order
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.periods import business_day_start, business_today, business_tz
from subscriptions.renewal.models import Renewal, RenewalState

BILLING_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
PER_YEAR = {"day": 365, "week": 52, "month": 12, "year": 1}


def monthly_factor(interval_unit: str, interval_count: int) -> Decimal:
    """What one period's price is worth per month: (units per year) / (12 × count), one
    Decimal division so the factor is as exact as a Decimal can hold."""
    return Decimal(PER_YEAR[interval_unit]) / Decimal(12 * interval_count)


# --------------------------------------------------------------------------- MRR


@dataclass(frozen=True)
class PlanMrr:
    plan_id: int
    plan_name: str
    mrr: Money
    subscriptions: int


@dataclass(frozen=True)
class MrrSummary:
    by_currency: list[Money]
    subscriptions_by_currency: dict[str, int]
    by_plan: list[PlanMrr]


def mrr_summary() -> MrrSummary:
    """MRR per currency and per (plan, currency), in one query."""
    rows = (
        Subscription.objects.filter(
            status__in=BILLING_STATUSES, plan_version__prices__currency=F("currency")
        )
        .values(
            "currency",
            "interval_unit",
            "interval_count",
            "plan_version__plan_id",
            "plan_version__plan__name",
        )
        .annotate(
            period_amount=Sum(
                F("quantity") * F("plan_version__prices__amount"), output_field=IntegerField()
            ),
            n=Count("pk"),
        )
        .order_by()
    )
    exact_currency: dict[str, Decimal] = defaultdict(Decimal)
    count_currency: dict[str, int] = defaultdict(int)
    exact_plan: dict[tuple[int, str, str], Decimal] = defaultdict(Decimal)
    count_plan: dict[tuple[int, str, str], int] = defaultdict(int)
    for row in rows:
        monthly = Decimal(row["period_amount"]) * monthly_factor(
            row["interval_unit"], row["interval_count"]
        )
        currency = row["currency"]
        key = (row["plan_version__plan_id"], row["plan_version__plan__name"], currency)
        exact_currency[currency] += monthly
        count_currency[currency] += row["n"]
        exact_plan[key] += monthly
        count_plan[key] += row["n"]
    by_currency = [Money(round_minor(v), c) for c, v in sorted(exact_currency.items())]
    by_plan = sorted(
        (
            PlanMrr(plan_id, name, Money(round_minor(value), currency), count_plan[key])
            for key, value in exact_plan.items()
            for plan_id, name, currency in [key]
        ),
        key=lambda p: (p.mrr.currency, -p.mrr.amount, p.plan_name),
    )
    return MrrSummary(
        by_currency=by_currency, subscriptions_by_currency=dict(count_currency), by_plan=by_plan
    )


# --------------------------------------------------------------------------- churn


@dataclass(frozen=True)
class ChurnWindow:
    start: dt.date  # first day of the window
    end: dt.date  # last day of the window (inclusive)
    live_at_start: int
    cancelled: int

    @property
    def rate(self) -> Decimal | None:
        """Cancelled ÷ live at start, as a fraction (None when nothing was live)."""
        if not self.live_at_start:
            return None
        return Decimal(self.cancelled) / Decimal(self.live_at_start)

    @property
    def percent(self) -> Decimal | None:
        rate = self.rate
        return None if rate is None else (rate * 100).quantize(Decimal("0.1"))


def churn_windows(
    *, as_of: dt.date | None = None, days: int = 30, count: int = 1
) -> list[ChurnWindow]:
    """``count`` consecutive windows of ``days`` days, the last ending on ``as_of``; oldest
    first. One query for any ``count``."""
    as_of = as_of or business_today()
    bounds = []
    for i in range(count - 1, -1, -1):
        end = as_of - dt.timedelta(days=i * days)
        bounds.append((end - dt.timedelta(days=days - 1), end))
    aggregates = {}
    for i, (start, end) in enumerate(bounds):
        aggregates[f"live_{i}"] = Count(
            "pk",
            filter=Q(created_at__lt=business_day_start(start))
            & (Q(ended_on__isnull=True) | Q(ended_on__gte=start)),
        )
        aggregates[f"cancelled_{i}"] = Count(
            "pk",
            filter=Q(status=SubscriptionStatus.CANCELLED, ended_on__gte=start, ended_on__lte=end),
        )
    totals = Subscription.objects.aggregate(**aggregates)
    return [
        ChurnWindow(start, end, totals[f"live_{i}"], totals[f"cancelled_{i}"])
        for i, (start, end) in enumerate(bounds)
    ]


def churn_reasons(
    *, as_of: dt.date | None = None, days: int = 30, limit: int = 5
) -> list[tuple[str, int]]:
    """The most frequent cancellation reasons in the window (exact text, trimmed)."""
    as_of = as_of or business_today()
    start = as_of - dt.timedelta(days=days - 1)
    rows = (
        Subscription.objects.filter(
            status=SubscriptionStatus.CANCELLED, ended_on__gte=start, ended_on__lte=as_of
        )
        .values("cancel_reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "cancel_reason")[:limit]
    )
    return [((row["cancel_reason"] or "").strip() or "(no reason given)", row["n"]) for row in rows]


# --------------------------------------------------------------------------- per day


def _days(as_of: dt.date, days: int) -> list[dt.date]:
    return [as_of - dt.timedelta(days=days - 1 - i) for i in range(days)]


RENEWAL_OUTCOMES: dict[str, str] = {
    RenewalState.DONE: "renewed",
    RenewalState.SHIPMENT_CREATED: "renewed",
    RenewalState.ALLOCATED: "renewed",
    RenewalState.ORDERED: "renewed",
    RenewalState.CHARGED: "renewed",
    RenewalState.INVOICED: "in progress",
    RenewalState.CLAIMED: "in progress",
    RenewalState.DUNNING: "payment failed",
    RenewalState.BACKORDERED: "backordered",
    RenewalState.SKIPPED: "skipped",
    RenewalState.ERRORED: "errored",
}
OUTCOME_ORDER = ("renewed", "payment failed", "backordered", "skipped", "errored", "in progress")


@dataclass(frozen=True)
class DailyCounts:
    days: list[dt.date]
    series: dict[str, list[int]] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(self.series.get(name, []))


def renewals_per_day(*, as_of: dt.date | None = None, days: int = 30) -> DailyCounts:
    """Renewal records per period start date over the last ``days`` days, by outcome."""
    as_of = as_of or business_today()
    day_list = _days(as_of, days)
    index = {d: i for i, d in enumerate(day_list)}
    series = {name: [0] * days for name in OUTCOME_ORDER}
    rows = (
        Renewal.objects.filter(period_start__gte=day_list[0], period_start__lte=as_of)
        .values("period_start", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        series[RENEWAL_OUTCOMES.get(row["state"], "in progress")][index[row["period_start"]]] += (
            row["n"]
        )
    return DailyCounts(day_list, series)


@dataclass(frozen=True)
class OrdersPerDay:
    days: list[dt.date]
    by_origin: dict[str, list[int]]
    revenue: dict[str, int]  # currency -> sum of order totals in the window (minor units)

    @property
    def total(self) -> int:
        return sum(sum(v) for v in self.by_origin.values())


def orders_per_day(*, as_of: dt.date | None = None, days: int = 30) -> OrdersPerDay:
    """Orders by the business date they were placed, split by origin, plus the window's
    order value per currency. One query."""
    as_of = as_of or business_today()
    day_list = _days(as_of, days)
    index = {d: i for i, d in enumerate(day_list)}
    rows = (
        Order.objects.filter(
            created_at__gte=business_day_start(day_list[0]),
            created_at__lt=business_day_start(as_of + dt.timedelta(days=1)),
        )
        .annotate(day=TruncDate("created_at", tzinfo=business_tz()))
        .values("day", "origin", "currency")
        .annotate(n=Count("pk"), value=Sum("total"))
        .order_by()
    )
    by_origin: dict[str, list[int]] = {}
    revenue: dict[str, int] = defaultdict(int)
    for row in rows:
        by_origin.setdefault(row["origin"], [0] * days)[index[row["day"]]] += row["n"]
        revenue[row["currency"]] += row["value"] or 0
    return OrdersPerDay(day_list, dict(sorted(by_origin.items())), dict(sorted(revenue.items())))


# --------------------------------------------------------------------------- stock


@dataclass(frozen=True)
class LowStock:
    sku_code: str
    sku_name: str
    warehouse_code: str
    on_hand: int
    allocated: int
    available: int
    reorder_point: int

    @property
    def shortfall(self) -> int:
        return self.reorder_point - self.available


def stock_below_reorder_point(*, limit: int = 15) -> tuple[list[LowStock], int]:
    """The ``limit`` stock levels furthest below their reorder point, and how many there
    are in all. Two queries."""
    queryset = stock_level_list(below_reorder_point=True)
    total = queryset.count()
    levels = queryset.annotate(
        shortfall=F("reorder_point") - (F("on_hand") - F("allocated"))
    ).order_by("-shortfall", "sku__code", "warehouse__code")[:limit]
    rows = [
        LowStock(
            sku_code=level.sku.code,
            sku_name=level.sku.name,
            warehouse_code=level.warehouse.code,
            on_hand=level.on_hand,
            allocated=level.allocated,
            available=level.on_hand - level.allocated,
            reorder_point=level.reorder_point,
        )
        for level in levels
    ]
    return rows, total
