"""Reads for billing: tax rate resolution, invoices and payments for channels and the console,
work queues (dunning retries due, attempts to reconcile, webhook events to process)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import F, Prefetch, Q, QuerySet

from customers.models import Customer
from customers.selectors import customer_list_for_channel
from oms.core.models import Channel

from .models import (
    IN_FLIGHT_STATES,
    BillingAccount,
    BillingEvent,
    CreditNote,
    DunningCase,
    DunningState,
    Invoice,
    InvoiceLine,
    PaymentAttempt,
    PaymentMethod,
    Refund,
    TaxRate,
    WebhookEvent,
)
from .tax import TaxTreatment


class TaxResolver:
    """Finds the rate for (country, region, category), most specific first:
    (country, region, category) > (country, "", category) > (country, region, "") >
    (country, "", ""). Loads each country's active rates once (one query per country)."""

    def __init__(self) -> None:
        self._by_country: dict[str, dict[tuple[str, str], TaxRate]] = {}

    def _rates(self, country: str) -> dict[tuple[str, str], TaxRate]:
        if country not in self._by_country:
            self._by_country[country] = {
                (r.region.lower(), r.tax_category): r
                for r in TaxRate.objects.filter(country=country, is_active=True)
            }
        return self._by_country[country]

    def treatment(
        self, *, country: str, region: str = "", category: str = "", exempt: bool = False
    ) -> TaxTreatment:
        if exempt or not country:
            return TaxTreatment.none()
        rates = self._rates(country.upper())
        region = (region or "").lower()
        for key in ((region, category), ("", category), (region, ""), ("", "")):
            rate = rates.get(key)
            if rate is not None:
                return TaxTreatment(
                    rate=Decimal(rate.rate),
                    inclusive=rate.inclusive,
                    name=rate.name,
                    tax_rate_id=rate.pk,
                )
        return TaxTreatment.none()


def billing_account_get(*, customer_id: int) -> BillingAccount | None:
    return BillingAccount.objects.filter(customer_id=customer_id).first()


def payment_method_default(*, customer_id: int) -> PaymentMethod | None:
    return (
        PaymentMethod.objects.filter(customer_id=customer_id, detached_at__isnull=True)
        .order_by("-is_default", "-created_at")
        .first()
    )


def payment_method_list(*, customer_id: int) -> QuerySet[PaymentMethod]:
    return PaymentMethod.objects.filter(customer_id=customer_id, detached_at__isnull=True)


def payment_methods_expiring(*, through: dt.date) -> QuerySet[PaymentMethod]:
    """Default cards that stop working before ``through`` (a card is valid to the end of its
    expiry month)."""
    month = through.year * 12 + through.month
    return (
        PaymentMethod.objects.filter(is_default=True, detached_at__isnull=True, exp_year__gt=0)
        .annotate(expiry=F("exp_year") * 12 + F("exp_month"))
        .filter(expiry__lt=month)
        .select_related("customer")
        .order_by("pk")
    )


def invoice_detail(*, pk: int) -> Invoice:
    return (
        Invoice.objects.select_related("customer", "subscription", "order")
        .prefetch_related(
            Prefetch("lines", queryset=InvoiceLine.objects.order_by("position", "id")),
            Prefetch(
                "payment_attempts", queryset=PaymentAttempt.objects.order_by("attempt_number")
            ),
            Prefetch("refunds", queryset=Refund.objects.order_by("created_at")),
            Prefetch("credit_notes", queryset=CreditNote.objects.order_by("created_at")),
            Prefetch("events", queryset=BillingEvent.objects.order_by("created_at", "id")),
        )
        .get(pk=pk)
    )


def invoice_list_for_channel(*, channel: Channel) -> QuerySet[Invoice]:
    """Invoices of the customers this channel may see, with lines and attempts prefetched."""
    customers = customer_list_for_channel(channel=channel).values("pk")
    return (
        Invoice.objects.filter(customer__in=customers)
        .select_related("customer")
        .prefetch_related(
            Prefetch("lines", queryset=InvoiceLine.objects.order_by("position", "id")),
            Prefetch(
                "payment_attempts", queryset=PaymentAttempt.objects.order_by("attempt_number")
            ),
            Prefetch("refunds", queryset=Refund.objects.order_by("created_at", "id")),
            Prefetch("credit_notes", queryset=CreditNote.objects.order_by("created_at", "id")),
        )
    )


def invoice_get_for_channel(*, channel: Channel, pk: int) -> Invoice | None:
    return invoice_list_for_channel(channel=channel).filter(pk=pk).first()


def payment_list_for_channel(*, channel: Channel) -> QuerySet[PaymentAttempt]:
    customers = customer_list_for_channel(channel=channel).values("pk")
    return PaymentAttempt.objects.filter(invoice__customer__in=customers).select_related(
        "invoice", "payment_method"
    )


def payment_get_for_channel(*, channel: Channel, pk: int) -> PaymentAttempt | None:
    return payment_list_for_channel(channel=channel).filter(pk=pk).first()


def dunning_cases_due(*, as_of: dt.datetime) -> QuerySet[DunningCase]:
    return DunningCase.objects.filter(state=DunningState.ACTIVE, next_retry_at__lte=as_of).order_by(
        "next_retry_at", "pk"
    )


def dunning_cases_active_for_customer(*, customer_id: int) -> QuerySet[DunningCase]:
    return DunningCase.objects.filter(state=DunningState.ACTIVE, customer_id=customer_id).order_by(
        "pk"
    )


def attempts_to_reconcile(*, started_before: dt.datetime) -> QuerySet[PaymentAttempt]:
    """Attempts whose outcome we do not know: left pending by a crash (older than the
    staleness bound, so a call still in flight is left alone) or marked unknown."""
    return PaymentAttempt.objects.filter(
        Q(state="unknown") | Q(state__in=IN_FLIGHT_STATES, created_at__lt=started_before)
    ).order_by("pk")


def webhook_events_unprocessed(
    *, received_before: dt.datetime, max_attempts: int = 10
) -> QuerySet[WebhookEvent]:
    """Events whose processing failed (or never ran), oldest first; an event that failed
    ``max_attempts`` times is left to the operator (the admin can process it again)."""
    return WebhookEvent.objects.filter(
        processed_at__isnull=True,
        received_at__lt=received_before,
        process_attempts__lt=max_attempts,
    ).order_by("received_at", "pk")


def customer_for_stripe_id(*, stripe_customer_id: str) -> Customer | None:
    return Customer.objects.filter(stripe_customer_id=stripe_customer_id).first()
