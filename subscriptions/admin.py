"""Operator console: find subscriptions (status, plan, renewal date, customer), read their
timeline, and steer them through the services — every action shows its preview first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from oms.core.actors import Actor
from oms.core.admin_inlines import ReadOnlyTabularInline as _ReadOnlyInline
from oms.core.errors import ApplicationError
from oms.core.money import Money

from . import selectors, services
from .models import (
    PeriodOverride,
    Plan,
    PlanItem,
    PlanPrice,
    PlanVersion,
    ProrationAdjustment,
    ScheduledChange,
    Subscription,
    SubscriptionEvent,
)
from .services import ChangePreview

# --- plans ------------------------------------------------------------------------------------


class PlanPriceInline(admin.TabularInline):
    model = PlanPrice
    extra = 0


class PlanItemInline(admin.TabularInline):
    model = PlanItem
    extra = 0
    raw_id_fields = ("sku",)


@admin.register(PlanVersion)
class PlanVersionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "interval_unit", "interval_count", "trial_days", "created_at")
    list_filter = ("plan", "interval_unit")
    inlines = [PlanPriceInline, PlanItemInline]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Immutable once subscribed: price changes create a new version (plan_revise).
        if obj is not None and obj.subscriptions.exists():
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PlanVersionInline(admin.TabularInline):
    model = PlanVersion
    extra = 0
    fields = ("version", "interval_unit", "interval_count", "trial_days", "created_at")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Plan)
class PlanAdmin(SimpleHistoryAdmin):
    list_display = (
        "name",
        "code",
        "is_active",
        "min_commitment_cycles",
        "skip_missed_periods",
        "pay_later",
    )
    list_filter = ("is_active", "pay_later", "skip_missed_periods")
    search_fields = ("name", "code")
    inlines = [PlanVersionInline]


# --- subscriptions: inlines ---------------------------------------------------------------


class EventInline(_ReadOnlyInline):
    model = SubscriptionEvent
    verbose_name_plural = "Timeline"
    fields = ("created_at", "kind", "actor_kind", "actor_label", "message", "payload")
    readonly_fields = fields
    ordering = ("-created_at", "-id")


class ScheduledChangeInline(_ReadOnlyInline):
    model = ScheduledChange
    fk_name = "subscription"
    fields = (
        "kind",
        "effective_date",
        "plan_version",
        "quantity",
        "interval_unit",
        "interval_count",
        "applied_at",
        "cancelled_at",
        "note",
    )
    readonly_fields = fields


class PeriodOverrideInline(_ReadOnlyInline):
    model = PeriodOverride
    fields = ("period_start", "skip", "swaps", "addons", "consumed_at")
    readonly_fields = fields


class AdjustmentInline(_ReadOnlyInline):
    model = ProrationAdjustment
    fields = (
        "created_at",
        "description",
        "amount",
        "currency",
        "effective_date",
        "billing_invoice_id",
        "applied_at",
    )
    readonly_fields = fields


# --- actions with a preview page ------------------------------------------------------------


class PauseForm(forms.Form):
    cycles = forms.IntegerField(min_value=1, required=False, help_text="Pause this many cycles…")
    until = forms.DateField(required=False, help_text="…or until this date (YYYY-MM-DD).")
    reason = forms.CharField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("cycles") is None) == (data.get("until") is None):
            raise forms.ValidationError("Give either a number of cycles or a date.")
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False)


class SkipForm(forms.Form):
    period_start = forms.DateField(required=False, help_text="Default: the next renewal.")


class CancelForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    at_period_end = forms.BooleanField(required=False, initial=True)
    refund = forms.ChoiceField(choices=[("prorated", "Prorated refund"), ("none", "No refund")])
    force = forms.BooleanField(required=False, label="Override the minimum commitment")


class ChangePlanForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.filter(is_active=True))
    quantity = forms.IntegerField(min_value=1, required=False)
    policy = forms.ChoiceField(
        choices=[
            ("", "Default (upgrade now, downgrade at term end)"),
            *((p, p) for p in services.POLICIES),
        ],
        required=False,
    )


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, "")}


def preview_action(
    *,
    description: str,
    form_class: type[forms.Form],
    preview: Callable[..., ChangePreview],
    apply: Callable[..., Any],
    service_only: tuple[str, ...] = (),
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet[Any]], HttpResponse | None]:
    """An action in three steps: the form, the preview of every selected subscription (what
    will happen, when, and the money), then apply through the service."""

    def action(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponse | None:
        queryset = queryset.select_related("customer", "plan_version__plan")
        form = form_class(
            request.POST if ("preview" in request.POST or "apply" in request.POST) else None
        )
        if form.is_bound and form.is_valid():
            data = _clean(form.cleaned_data)
            if "apply" in request.POST:
                actor = Actor.for_user(request.user)
                done = 0
                for obj in queryset:
                    try:
                        apply(subscription=obj, actor=actor, **data)
                        done += 1
                    except ApplicationError as exc:
                        modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
                if done:
                    modeladmin.message_user(
                        request, f"{description}: {done} done.", messages.SUCCESS
                    )
                return None
            rows = []
            preview_data = {k: v for k, v in data.items() if k not in service_only}
            for obj in queryset:
                try:
                    p = preview(subscription=obj, **preview_data)
                    rows.append(
                        {
                            "subscription": obj,
                            "preview": p,
                            "lines": [
                                {
                                    "description": line.description,
                                    "amount": Money(line.amount, p.currency),
                                }
                                for line in p.lines
                            ],
                            "total": Money(p.amount_due_now, p.currency),
                        }
                    )
                except ApplicationError as exc:
                    rows.append({"subscription": obj, "error": exc.message})
        else:
            rows = []
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "form": form if form.is_bound else form_class(),
            "queryset": queryset,
            "previews": rows,
            "action_name": request.POST.get("action"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "subscriptions/admin/preview_action.html", context)

    action.short_description = description  # type: ignore[attr-defined]
    action.__name__ = "action_" + "".join(c if c.isalnum() else "_" for c in description.lower())
    return action


@admin.register(Subscription)
class SubscriptionAdmin(SimpleHistoryAdmin):
    list_display = (
        "__str__", "customer", "plan_name", "status", "quantity", "next_renewal_date",
        "current_period_start", "current_period_end", "cycles_completed", "cancel_at_period_end",
    )  # fmt: skip
    list_filter = (
        "status",
        "plan_version__plan",
        "next_renewal_date",
        "cancel_at_period_end",
        "currency",
    )
    search_fields = (
        "=id",
        "customer__email",
        "customer__first_name",
        "customer__last_name",
        "payment_method",
    )
    list_select_related = ("customer", "plan_version__plan")
    date_hierarchy = "next_renewal_date"
    raw_id_fields = ("customer", "shipping_address_ref")
    readonly_fields = [f.name for f in Subscription._meta.fields] + ["upcoming_renewal"]
    inlines = [EventInline, ScheduledChangeInline, PeriodOverrideInline, AdjustmentInline]
    actions = [
        preview_action(
            description="Pause",
            form_class=PauseForm,
            preview=services.preview_subscription_pause,
            apply=services.subscription_pause,
            service_only=("reason",),
        ),
        preview_action(
            description="Resume",
            form_class=ReasonForm,
            preview=services.preview_subscription_resume,
            apply=services.subscription_resume,
            service_only=("reason",),
        ),
        preview_action(
            description="Skip the next renewal",
            form_class=SkipForm,
            preview=services.preview_subscription_skip,
            apply=services.subscription_skip,
        ),
        preview_action(
            description="Cancel",
            form_class=CancelForm,
            preview=services.preview_subscription_cancel,
            apply=services.subscription_cancel,
        ),
        preview_action(
            description="Change plan",
            form_class=ChangePlanForm,
            preview=services.preview_subscription_change_plan,
            apply=services.subscription_change_plan,
        ),
    ]

    @admin.display(description="Plan", ordering="plan_version__plan__name")
    def plan_name(self, obj: Subscription) -> str:
        return f"{obj.plan_version.plan.name} v{obj.plan_version.version}"

    @admin.display(description="Upcoming renewal")
    def upcoming_renewal(self, obj: Subscription) -> str:
        try:
            preview = selectors.upcoming_renewal(obj)
        except ApplicationError as exc:
            return exc.message
        if preview is None:
            return "—"
        lines = format_html_join(
            "",
            "<li>{}: {}</li>",
            ((line.description, Money(line.amount, preview.currency)) for line in preview.lines),
        )
        items = (
            ", ".join(f"{i.quantity} × {i.sku_code}" for i in preview.items) or "nothing to ship"
        )
        return format_html(
            "{} → {}: <strong>{}</strong>; ships {}<ul>{}</ul>Total {}",
            preview.period_start,
            preview.period_end,
            preview.outcome,
            items,
            lines,
            Money(preview.total, preview.currency),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created through the API, the portal or subscription_create

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SubscriptionEvent)
class SubscriptionEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "subscription", "kind", "actor_kind", "actor_label", "message")
    list_filter = ("kind", "actor_kind")
    search_fields = ("=subscription__id", "subscription__customer__email", "message")
    list_select_related = ("subscription",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
