"""Operator console for the renewal cycle: runs with their counts, a drill-down from a run to
its renewals (and to the errored ones), each renewal with its error, its preview and its
events, and a retry action for errored renewals. The schedule itself is django-celery-beat's
"Periodic tasks" page (the task "Nightly subscription renewals")."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from oms.core.admin_actions import form_action

from . import selectors
from .cycle import renewal_retry
from .models import Renewal, RenewalEvent, RenewalReminder, RenewalRun, RenewalState


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _renewals_link(run: RenewalRun, label: str, count: int, **filters: str) -> str:
    url = reverse("admin:subscriptions_renewal_changelist")
    query = "&".join([f"last_run__id__exact={run.pk}", *(f"{k}={v}" for k, v in filters.items())])
    return format_html('<a href="{}?{}">{} {}</a>', url, query, count, label)


@admin.register(RenewalRun)
class RenewalRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "id", "as_of", "trigger", "started_at", "duration_seconds", "due", "renewed",
        "failed_payment", "backordered", "skipped", "errored", "resumed",
        "rate_limit_wait_seconds", "finished",
    )  # fmt: skip
    list_filter = ("trigger", "as_of")
    date_hierarchy = "started_at"
    readonly_fields = (
        "as_of", "trigger", "worker", "started_at", "finished_at", "duration_seconds", "due",
        "renewed", "failed_payment", "backordered", "skipped", "errored", "resumed",
        "rate_limit_wait_seconds", "error", "drill_down",
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[RenewalRun]:
        return selectors.renewal_run_list()

    @admin.display(boolean=True)
    def finished(self, run: RenewalRun) -> bool:
        return run.is_finished

    @admin.display(description="Renewals")
    def drill_down(self, run: RenewalRun) -> str:
        return format_html(
            "{} · {} · {}",
            _renewals_link(run, "renewals", run.due),
            _renewals_link(run, "errored", run.errored, state__exact=RenewalState.ERRORED),
            _renewals_link(
                run, "in dunning", run.failed_payment, state__exact=RenewalState.DUNNING
            ),
        )


class RenewalEventInline(ReadOnlyMixin, admin.TabularInline):
    model = RenewalEvent
    extra = 0
    fields = ("created_at", "kind", "actor_label", "message", "payload")
    readonly_fields = fields
    ordering = ("created_at",)


@admin.register(Renewal)
class RenewalAdmin(admin.ModelAdmin):
    list_display = (
        "id", "subscription_link", "period_start", "state", "action", "amount", "currency",
        "invoice_number", "order_number", "short_error", "run",
    )  # fmt: skip
    list_filter = ("state", "action", "backordered", "pay_later", "period_start")
    search_fields = (
        "=subscription__id",
        "subscription__customer__email",
        "invoice_number",
        "order_number",
    )
    list_select_related = ("subscription__customer", "run")
    raw_id_fields = ("subscription", "run", "last_run")
    readonly_fields = [f.name for f in Renewal._meta.fields]
    inlines = [RenewalEventInline]
    actions = [
        form_action(
            description="Retry errored renewals",
            apply=lambda *, obj, actor, reason: renewal_retry(
                renewal=obj, actor=actor, reason=reason
            ),
        )
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Renewal]:
        return selectors.renewal_list()

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Subscription", ordering="subscription_id")
    def subscription_link(self, renewal: Renewal) -> str:
        try:
            url = reverse("admin:subscriptions_subscription_change", args=[renewal.subscription_id])
        except NoReverseMatch:
            url = "#"
        return format_html('<a href="{}">SUB-{}</a> {}', url, renewal.subscription_id,
                           renewal.subscription.customer.email)  # fmt: skip

    @admin.display(description="Error")
    def short_error(self, renewal: Renewal) -> str:
        return renewal.error[:80]


@admin.register(RenewalReminder)
class RenewalReminderAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("subscription_id", "period_start", "email", "amount", "currency", "sent_at")
    list_filter = ("period_start",)
    search_fields = ("=subscription__id", "email")
