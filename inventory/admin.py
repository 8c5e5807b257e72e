"""Operator console for the catalog and stock. Stock numbers are never edited in a form: every
change goes through an action that calls a service (and so the ledger), with a reason."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import F, QuerySet, Sum
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from oms.core.admin_actions import ReasonForm, form_action

from . import services
from .forecast import demand_forecast
from .models import (
    Allocation,
    Backorder,
    BundleComponent,
    Product,
    Sku,
    SkuPrice,
    StockEvent,
    StockLevel,
    StockMovement,
    Transfer,
    Warehouse,
)


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --------------------------------------------------------------------------- forms


class ReceiptForm(forms.Form):
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.filter(is_active=True))
    quantity = forms.IntegerField(min_value=1)
    reference = forms.CharField(max_length=200, required=False, help_text="PO or ASN number.")
    reason = forms.CharField(max_length=500, required=False)


class LevelReceiptForm(forms.Form):
    quantity = forms.IntegerField(min_value=1)
    reference = forms.CharField(max_length=200, required=False, help_text="PO or ASN number.")
    reason = forms.CharField(max_length=500, required=False)


class AdjustmentForm(forms.Form):
    quantity = forms.IntegerField(help_text="Change in units on hand: +5 or -3.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))

    def clean_quantity(self) -> int:
        value = self.cleaned_data["quantity"]
        if value == 0:
            raise forms.ValidationError("An adjustment must change stock.")
        return value


class WriteOffForm(forms.Form):
    quantity = forms.IntegerField(min_value=1)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class TransferForm(forms.Form):
    destination = forms.ModelChoiceField(queryset=Warehouse.objects.filter(is_active=True))
    quantity = forms.IntegerField(min_value=1)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    dispatch_now = forms.BooleanField(required=False, help_text="Mark it in transit at once.")


class ThresholdForm(forms.Form):
    reorder_point = forms.IntegerField(min_value=0)
    safety_stock = forms.IntegerField(min_value=0)


def _transfer(
    *,
    obj: StockLevel,
    actor: Any,
    destination: Warehouse,
    quantity: int,
    reason: str,
    dispatch_now: bool,
) -> None:
    transfer = services.transfer_request(
        sku=obj.sku,
        source=obj.warehouse,
        destination=destination,
        quantity=quantity,
        reason=reason,
        actor=actor,
    )
    if dispatch_now:
        services.transfer_dispatch(transfer=transfer, actor=actor)


# --------------------------------------------------------------------------- catalog


class SkuInline(admin.TabularInline):
    model = Sku
    extra = 0
    fields = ("code", "name", "is_active", "is_physical", "is_bundle")
    show_change_link = True


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "skus__code")
    inlines = [SkuInline]


class SkuPriceInline(admin.TabularInline):
    model = SkuPrice
    extra = 0
    fields = ("currency", "amount")


class BundleComponentInline(admin.TabularInline):
    model = BundleComponent
    fk_name = "bundle"
    extra = 0
    autocomplete_fields = ("component",)
    verbose_name = "bundle component"


class StockLevelInline(admin.TabularInline):
    model = StockLevel
    extra = 0
    fields = ("warehouse", "on_hand", "allocated", "available", "reorder_point", "safety_stock")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="available")
    def available(self, obj: StockLevel) -> int:
        return obj.available


@admin.register(Sku)
class SkuAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "product",
        "is_active",
        "is_physical",
        "is_bundle",
        "allow_backorder",
        "on_hand",
        "available",
    )
    list_filter = ("is_active", "is_physical", "is_bundle", "allow_backorder", "tax_category")
    search_fields = ("code", "name", "barcode", "product__name")
    list_select_related = ("product",)
    autocomplete_fields = ("product",)
    inlines = [SkuPriceInline, BundleComponentInline, StockLevelInline]
    change_list_template = "inventory/admin/sku_change_list.html"
    actions = [
        form_action(
            description="Receive stock",
            form_class=ReceiptForm,
            apply=lambda *, obj, actor, warehouse, quantity, reference, reason: (
                services.stock_receive(
                    sku=obj,
                    warehouse=warehouse,
                    quantity=quantity,
                    reference=reference,
                    reason=reason,
                    actor=actor,
                )
            ),
        ),
    ]

    def get_urls(self) -> list[Any]:
        forecast = path(
            "forecast/",
            self.admin_site.admin_view(self.forecast_view),
            name="inventory_sku_forecast",
        )
        return [forecast, *super().get_urls()]

    def forecast_view(self, request: HttpRequest) -> TemplateResponse:
        """Subscription-aware demand forecast: which SKUs run short, and when."""
        try:
            days = max(1, min(365, int(request.GET.get("days", 30))))
        except ValueError:
            days = 30
        only_short = request.GET.get("short") == "1"
        start = timezone.localdate()
        context = {
            **self.admin_site.each_context(request),
            "title": "Demand forecast",
            "opts": self.model._meta,
            "days": days,
            "only_short": only_short,
            "start": start,
            "end": start + datetime.timedelta(days=days - 1),
            "rows": demand_forecast(days=days, start=start, only_short=only_short),
        }
        return TemplateResponse(request, "inventory/admin/forecast.html", context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Sku]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                total_on_hand=Sum("stock_levels__on_hand", default=0),
                total_allocated=Sum("stock_levels__allocated", default=0),
            )
        )

    @admin.display(description="on hand", ordering="total_on_hand")
    def on_hand(self, obj: Any) -> int:
        return obj.total_on_hand

    @admin.display(description="available")
    def available(self, obj: Any) -> int:
        return obj.total_on_hand - obj.total_allocated


# --------------------------------------------------------------------------- warehouses & stock


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "country", "priority", "is_active", "cutoff_time", "ships_to")
    list_filter = ("is_active", "country")
    search_fields = ("code", "name")
    filter_horizontal = ("channels",)

    @admin.display(description="ships to")
    def ships_to(self, obj: Warehouse) -> str:
        return ", ".join(obj.ships_to_countries) or "anywhere"


class BelowReorderPointFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("below", "Below reorder point"), ("out", "Nothing available")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[StockLevel]
    ) -> QuerySet[StockLevel]:
        if self.value() == "below":
            return queryset.filter(
                reorder_point__gt=0, on_hand__lt=F("allocated") + F("reorder_point")
            )
        if self.value() == "out":
            return queryset.filter(on_hand__lte=F("allocated"))
        return queryset


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    list_display = (
        "sku",
        "warehouse",
        "on_hand",
        "allocated",
        "available",
        "reorder_point",
        "safety_stock",
        "updated_at",
    )
    list_filter = ("warehouse", BelowReorderPointFilter)
    search_fields = ("sku__code", "sku__name")
    list_select_related = ("sku", "warehouse")
    fields = (
        "sku",
        "warehouse",
        "on_hand",
        "allocated",
        "reorder_point",
        "safety_stock",
        "updated_at",
    )
    readonly_fields = fields
    actions = [
        form_action(
            description="Receive stock",
            form_class=LevelReceiptForm,
            apply=lambda *, obj, actor, quantity, reference, reason: services.stock_receive(
                sku=obj.sku,
                warehouse=obj.warehouse,
                quantity=quantity,
                reference=reference,
                reason=reason,
                actor=actor,
            ),
        ),
        form_action(
            description="Adjust stock",
            form_class=AdjustmentForm,
            apply=lambda *, obj, actor, quantity, reason: services.stock_adjust(
                sku=obj.sku, warehouse=obj.warehouse, quantity=quantity, reason=reason, actor=actor
            ),
        ),
        form_action(
            description="Write off stock",
            form_class=WriteOffForm,
            apply=lambda *, obj, actor, quantity, reason: services.stock_write_off(
                sku=obj.sku, warehouse=obj.warehouse, quantity=quantity, reason=reason, actor=actor
            ),
        ),
        form_action(
            description="Transfer to another warehouse", form_class=TransferForm, apply=_transfer
        ),
        form_action(
            description="Set reorder point and safety stock",
            form_class=ThresholdForm,
            apply=lambda *, obj, actor, reorder_point, safety_stock: (
                services.stock_level_set_thresholds(
                    level=obj, reorder_point=reorder_point, safety_stock=safety_stock, actor=actor
                )
            ),
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # levels appear with the first receipt

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="available")
    def available(self, obj: StockLevel) -> int:
        return obj.available


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "sku",
        "warehouse",
        "quantity",
        "allocated_delta",
        "on_hand_after",
        "allocated_after",
        "reference",
        "reason",
        "actor_label",
    )
    list_filter = ("kind", "warehouse", "actor_kind", "created_at")
    search_fields = ("sku__code", "reference", "reason")
    list_select_related = ("sku", "warehouse")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "line_ref",
        "reference",
        "line_sku",
        "sku",
        "warehouse",
        "quantity",
        "quantity_shipped",
        "quantity_released",
        "created_at",
    )
    list_filter = ("warehouse",)
    search_fields = ("line_ref", "reference", "sku__code")
    list_select_related = ("line_sku", "sku", "warehouse")


@admin.register(Backorder)
class BackorderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    actions = [
        form_action(
            description="Fill from available stock",
            apply=lambda *, obj, actor, reason: services.backorders_fill_from_stock(
                actor=actor, sku_ids=[obj.sku_id]
            ),
        ),
    ]
    list_display = (
        "created_at",
        "line_ref",
        "reference",
        "sku",
        "quantity",
        "quantity_filled",
        "status",
        "destination_country",
        "channel",
    )
    list_filter = ("status", "channel")
    search_fields = ("line_ref", "reference", "sku__code")
    list_select_related = ("sku", "channel")


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "sku",
        "source",
        "destination",
        "quantity",
        "status",
        "created_at",
        "dispatched_at",
        "received_at",
    )
    list_filter = ("status", "source", "destination")
    search_fields = ("sku__code", "reason")
    list_select_related = ("sku", "source", "destination")
    fields = (
        "sku",
        "source",
        "destination",
        "quantity",
        "status",
        "reason",
        "dispatched_at",
        "received_at",
    )
    readonly_fields = fields
    actions = [
        form_action(
            description="Dispatch (in transit)",
            apply=lambda *, obj, actor, reason: services.transfer_dispatch(
                transfer=obj, actor=actor
            ),
        ),
        form_action(
            description="Mark received",
            apply=lambda *, obj, actor, reason: services.transfer_receive(
                transfer=obj, actor=actor
            ),
        ),
        form_action(
            description="Cancel transfer",
            form_class=ReasonForm,
            apply=lambda *, obj, actor, reason: services.transfer_cancel(
                transfer=obj, reason=reason, actor=actor
            ),
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requested from the stock level list, through the service

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StockEvent)
class StockEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "sku", "warehouse", "message", "actor_label")
    list_filter = ("kind", "warehouse", "created_at")
    search_fields = ("sku__code", "message")
    list_select_related = ("sku", "warehouse")
    date_hierarchy = "created_at"
