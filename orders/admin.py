"""Operator console for orders. Everything that changes an order goes through a service
(actions ask for a reason); no field of an order is edited directly here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from oms.core.admin_actions import form_action
from oms.core.admin_inlines import ReadOnlyTabularInline as _ReadOnlyInline
from oms.core.money import Money

from . import selectors, services
from .models import Order, OrderEvent, OrderLine


class HasBackorderFilter(admin.SimpleListFilter):
    title = "has backorder"
    parameter_name = "has_backorder"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> QuerySet[Order]:
        if self.value() == "yes":
            return queryset.filter(has_backorder=True)
        if self.value() == "no":
            return queryset.filter(has_backorder=False)
        return queryset


class OrderLineInline(_ReadOnlyInline):
    model = OrderLine
    fields = (
        "line_no",
        "sku_code",
        "name",
        "quantity",
        "unit_price",
        "discount",
        "tax",
        "total",
        "allocated_quantity",
        "backordered_quantity",
        "shipped_quantity",
        "returned_quantity",
        "cancelled_quantity",
    )
    readonly_fields = fields
    ordering = ("line_no",)


class OrderEventInline(_ReadOnlyInline):
    model = OrderEvent
    verbose_name_plural = "timeline"
    fields = ("created_at", "kind", "actor_kind", "actor_label", "message", "payload")
    readonly_fields = fields
    ordering = ("created_at", "id")


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(Order)
class OrderAdmin(SimpleHistoryAdmin):
    list_display = (
        "number",
        "status",
        "channel",
        "customer_email",
        "external_id",
        "origin",
        "total_display",
        "has_backorder_display",
        "placed_at",
    )
    list_filter = (
        "status",
        "channel",
        "origin",
        HasBackorderFilter,
        "delivery_option",
        "created_at",
    )
    search_fields = ("=number", "customer__email", "=external_id")
    date_hierarchy = "created_at"
    list_select_related = ("customer", "channel")
    inlines = [OrderLineInline, OrderEventInline]
    fields = (
        ("number", "status"),
        ("channel", "external_id"),
        ("customer", "origin", "subscription_id"),
        ("currency", "subtotal", "discount_total", "shipping_total", "tax_total", "total"),
        "delivery_option",
        "shipping_address",
        "billing_address",
        "notes",
        ("placed_at", "created_at", "updated_at"),
    )
    actions = [
        form_action(
            description="Cancel orders",
            apply=lambda *, obj, actor, reason: services.order_cancel(
                order=obj, reason=reason, actor=actor
            ),
        ),
        form_action(
            description="Put orders on hold",
            apply=lambda *, obj, actor, reason: services.order_hold(
                order=obj, reason=reason, actor=actor
            ),
        ),
        form_action(
            description="Release orders from hold",
            apply=lambda *, obj, actor, reason: services.order_release(
                order=obj, reason=reason, actor=actor
            ),
        ),
        form_action(
            description="Add a note",
            form_class=NoteForm,
            apply=lambda *, obj, actor, text: services.order_note_add(
                order=obj, text=text, actor=actor
            ),
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return selectors.order_list_for_admin()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come in through order_place (channels, renewals, demo)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Flatten the grouped fields: every field is read-only; changes go through actions.
        flat: list[str] = []
        for entry in self.fields:
            flat.extend(entry if isinstance(entry, tuple) else [entry])
        return flat

    @admin.display(description="customer", ordering="customer__email")
    def customer_email(self, obj: Order) -> str:
        return obj.customer.email

    @admin.display(description="total", ordering="total")
    def total_display(self, obj: Order) -> str:
        return Money(obj.total, obj.currency).format()

    @admin.display(description="backorder", boolean=True, ordering="has_backorder")
    def has_backorder_display(self, obj: Order) -> bool:
        return bool(getattr(obj, "has_backorder", False))


@admin.register(OrderEvent)
class OrderEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "order_link", "kind", "actor_kind", "actor_label", "message")
    list_filter = ("kind", "actor_kind")
    search_fields = ("=order__number", "message")
    list_select_related = ("order",)

    @admin.display(description="order", ordering="order__number")
    def order_link(self, obj: OrderEvent) -> str:
        return format_html('<a href="../order/{}/change/">{}</a>', obj.order_id, obj.order.number)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
