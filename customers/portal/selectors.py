"""Reads scoped to one customer. Every lookup by id takes the customer too, so a guessed id
of someone else's row is simply not found."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When

from billing.models import Invoice, InvoiceStatus
from customers.models import Address, Customer
from fulfillment.models import ReturnLine, ReturnRequest, Shipment, ShipmentLine, TrackingEvent
from fulfillment.selectors import returnable_units
from fulfillment.statuses import ShipmentStatus
from inventory.models import Sku
from orders.models import Order, OrderLine, OrderStatus
from subscriptions.models import LIVE_STATUSES, Plan, PlanVersion, Subscription, SubscriptionEvent
from subscriptions.selectors import Outcome, renewal_preview, with_renewal_data


def portal_addresses(*, customer: Customer) -> QuerySet[Address]:
    return Address.objects.filter(customer=customer).order_by("kind", "-is_default", "id")


def portal_address_get(*, customer: Customer, pk: int) -> Address | None:
    return Address.objects.filter(customer=customer, pk=pk).first()


# --------------------------------------------------------------------------- subscriptions


def portal_subscriptions(*, customer: Customer) -> QuerySet[Subscription]:
    """The customer's subscriptions with everything ``renewal_preview`` reads prefetched, so
    a page of them costs a fixed number of queries. Live ones first."""
    live_first = Case(
        When(status__in=LIVE_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return with_renewal_data(Subscription.objects.filter(customer=customer)).order_by(
        live_first, "-created_at", "-id"
    )


def portal_subscription_get(*, customer: Customer, pk: int) -> Subscription | None:
    return portal_subscriptions(customer=customer).filter(pk=pk).first()


@dataclass(frozen=True)
class UpcomingPeriod:
    date: dt.date
    outcome: str


def upcoming_periods(subscription: Subscription, *, count: int = 4) -> list[UpcomingPeriod]:
    """The next ``count`` renewal dates and what happens on each (renew, skip, paused, ends),
    from the subscriptions app's read model; stops at the end of the subscription."""
    periods: list[UpcomingPeriod] = []
    day = subscription.next_renewal_date
    if subscription.status not in LIVE_STATUSES or day is None:
        return periods
    while day is not None and len(periods) < count:
        preview = renewal_preview(subscription, day)
        periods.append(UpcomingPeriod(day, preview.outcome))
        if preview.outcome == Outcome.ENDS:
            break
        day = preview.period_end
    return periods


def next_delivery(periods: list[UpcomingPeriod]) -> UpcomingPeriod | None:
    """The first upcoming period that is billed (and ships, if the plan ships anything)."""
    return next((p for p in periods if p.outcome in Outcome.BILLED), None)


def portal_subscription_events(
    *, subscription: Subscription, limit: int = 12
) -> list[SubscriptionEvent]:
    return list(
        SubscriptionEvent.objects.filter(subscription=subscription).order_by("-created_at", "-id")[
            :limit
        ]
    )


def swap_candidates(*, subscription: Subscription) -> QuerySet[Sku]:
    """SKUs a customer may swap into one box: active ones priced in the subscription's
    currency (a swap keeps the box price, so any sellable SKU will do)."""
    return (
        Sku.objects.filter(is_active=True, prices__currency=subscription.currency)
        .select_related("product")
        .order_by("product__name", "code")
        .distinct()
    )


def plans_for_switch(*, subscription: Subscription) -> list[Plan]:
    """Active plans, other than the current one, whose latest version has a price in the
    subscription's currency (the change-plan service moves to a plan's latest version)."""
    plans = (
        Plan.objects.filter(is_active=True)
        .exclude(pk=subscription.plan_version.plan_id)
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=PlanVersion.objects.prefetch_related("prices").order_by("-version"),
            )
        )
        .order_by("name")
    )
    offered = []
    for plan in plans:
        latest = next(iter(plan.versions.all()), None)
        if latest and any(p.currency == subscription.currency for p in latest.prices.all()):
            offered.append(plan)
    return offered


# --------------------------------------------------------------------------- orders


def portal_orders(*, customer: Customer) -> QuerySet[Order]:
    """The customer's placed orders (drafts are not theirs to see yet) with lines and
    shipments: three queries for any page."""
    return (
        Order.objects.filter(customer=customer)
        .exclude(status=OrderStatus.DRAFT)
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.order_by("line_no")),
            Prefetch(
                "shipments",
                queryset=Shipment.objects.exclude(status=ShipmentStatus.CANCELLED)
                .select_related("carrier")
                .order_by("id"),
            ),
        )
        .order_by("-created_at", "-id")
    )


def portal_order_get(*, customer: Customer, pk: int) -> Order | None:
    shipments = (
        Shipment.objects.exclude(status=ShipmentStatus.CANCELLED)
        .select_related("carrier")
        .prefetch_related(
            Prefetch("lines", queryset=ShipmentLine.objects.order_by("id")),
            Prefetch(
                "tracking_events",
                queryset=TrackingEvent.objects.filter(applied=True).order_by("-occurred_at", "-id"),
            ),
        )
        .order_by("id")
    )
    return (
        Order.objects.filter(customer=customer, pk=pk)
        .exclude(status=OrderStatus.DRAFT)
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.order_by("line_no")),
            Prefetch("shipments", queryset=shipments),
            Prefetch(
                "returns",
                queryset=ReturnRequest.objects.prefetch_related(
                    Prefetch("lines", queryset=ReturnLine.objects.select_related("order_line"))
                ).order_by("-created_at"),
            ),
        )
        .first()
    )


def portal_returnable_lines(*, order: Order) -> list[tuple[OrderLine, int]]:
    """Lines of the order with units the customer may still ask to return (shipped, not
    back, not in an open return), per fulfillment's own rule."""
    lines = list(order.lines.all())
    allowed = returnable_units(order_lines=lines)
    return [(line, allowed[line.pk]) for line in lines if allowed.get(line.pk, 0) > 0]


# --------------------------------------------------------------------------- invoices


def portal_invoices(*, customer: Customer) -> QuerySet[Invoice]:
    """The customer's finalised invoices (drafts are work in progress)."""
    return (
        Invoice.objects.filter(customer=customer)
        .exclude(status=InvoiceStatus.DRAFT)
        .select_related("subscription__plan_version__plan", "order")
        .order_by("-created_at", "-id")
    )


def portal_invoice_get(*, customer: Customer, pk: int) -> Invoice | None:
    return portal_invoices(customer=customer).filter(pk=pk).first()
