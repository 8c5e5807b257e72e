"""Operator console for fulfillment: shipments by warehouse, status, carrier and lateness,
with actions for every step (each calls a service); pick list and packing slip links;
the returns queue; carriers, bins and the raw tracking feed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from oms.core.admin_actions import apply_to_each, form_action
from oms.core.admin_inlines import ReadOnlyTabularInline as _ReadOnlyInline
from oms.core.errors import ValidationError

from . import selectors, services
from .models import (
    BinLocation,
    Carrier,
    ReturnEvent,
    ReturnLine,
    ReturnRequest,
    Shipment,
    ShipmentEvent,
    ShipmentLine,
    TrackingEvent,
)
from .statuses import (
    Disposition,
    ExceptionReason,
    ItemCondition,
    ShipmentStatus,
)


class ShipmentLineInline(_ReadOnlyInline):
    model = ShipmentLine
    fields = ("order_line", "sku", "quantity", "bin_location")
    readonly_fields = fields


class TrackingEventInline(_ReadOnlyInline):
    model = TrackingEvent
    fields = (
        "occurred_at",
        "carrier_event_id",
        "status",
        "exception_reason",
        "location",
        "description",
        "source",
        "applied",
        "note",
    )
    readonly_fields = fields
    ordering = ("-occurred_at",)


class ShipmentEventInline(_ReadOnlyInline):
    model = ShipmentEvent
    fields = ("created_at", "kind", "actor_kind", "actor_label", "message", "payload")
    readonly_fields = fields
    ordering = ("-created_at",)


class LateFilter(admin.SimpleListFilter):
    title = "late against promise"
    parameter_name = "late"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Late"), ("no", "On time")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Shipment]) -> QuerySet[Shipment]:
        late = selectors.late_filter(timezone.now())
        if self.value() == "yes":
            return queryset.filter(late)
        if self.value() == "no":
            return queryset.exclude(late)
        return queryset


class PackForm(forms.Form):
    weight_grams = forms.IntegerField(min_value=1, required=False)
    length_mm = forms.IntegerField(min_value=1, required=False)
    width_mm = forms.IntegerField(min_value=1, required=False)
    height_mm = forms.IntegerField(min_value=1, required=False)


class ShipForm(forms.Form):
    carrier = forms.ModelChoiceField(queryset=Carrier.objects.filter(is_active=True))
    tracking_number = forms.CharField(
        required=False,
        help_text="Leave empty to buy a label from the carrier (carriers with a label API).",
    )
    service_level = forms.CharField(required=False)


class ExceptionForm(forms.Form):
    reason = forms.ChoiceField(choices=ExceptionReason.choices)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class SplitForm(forms.Form):
    lines = forms.CharField(
        help_text="Units to move into a new parcel, as order line number:units, e.g. '1:2, 3:1'."
    )

    def clean_lines(self) -> dict[int, int]:
        wanted: dict[int, int] = {}
        for part in self.cleaned_data["lines"].replace(";", ",").split(","):
            if not part.strip():
                continue
            try:
                line_no, units = (int(x) for x in part.split(":"))
            except ValueError:
                raise forms.ValidationError(f"'{part.strip()}' is not line:units.") from None
            wanted[line_no] = wanted.get(line_no, 0) + units
        if not wanted:
            raise forms.ValidationError("Name at least one line.")
        return wanted


def _split(*, obj: Shipment, actor: Any, lines: dict[int, int]) -> Any:
    by_no = {
        row.order_line.line_no: row.order_line_id for row in obj.lines.select_related("order_line")
    }
    unknown = sorted(set(lines) - set(by_no))
    if unknown:
        raise ValidationError(f"Line(s) {unknown} are not in {obj}.")
    return services.shipment_split(
        shipment=obj, lines={by_no[no]: units for no, units in lines.items()}, actor=actor
    )


def _pack(*, obj: Shipment, actor: Any, **parcel: Any) -> Any:
    if obj.status == ShipmentStatus.PENDING:
        obj = services.shipment_start_picking(shipment=obj, actor=actor)
    return services.shipment_mark_packed(
        shipment=obj, actor=actor, **{k: v for k, v in parcel.items() if v}
    )


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "order",
        "warehouse",
        "carrier",
        "status",
        "late",
        "tracking",
        "promised_ship_by",
        "promised_delivery",
        "shipped_at",
        "documents",
    )
    list_filter = (LateFilter, "status", "warehouse", "carrier", "exception_reason", "is_manual")
    list_select_related = ("order", "warehouse", "carrier")
    search_fields = (
        "order__number",
        "order__external_id",
        "tracking_number",
        "order__customer__email",
    )
    date_hierarchy = "created_at"
    inlines = [ShipmentLineInline, TrackingEventInline, ShipmentEventInline]
    readonly_fields = [f.name for f in Shipment._meta.fields if f.name != "label_data"] + [
        "documents"
    ]
    actions = [
        "start_picking",
        form_action(
            description="Split off units into a new parcel", form_class=SplitForm, apply=_split
        ),
        form_action(description="Mark packed", form_class=PackForm, apply=_pack),
        form_action(
            description="Ship (enter tracking or buy a label)",
            form_class=ShipForm,
            apply=lambda *, obj, actor, carrier, tracking_number, service_level: (
                services.shipment_ship(
                    shipment=obj,
                    actor=actor,
                    carrier=carrier,
                    tracking_number=tracking_number,
                    service_level=service_level,
                )
            ),
        ),
        form_action(
            description="Record a delivery exception",
            form_class=ExceptionForm,
            apply=lambda *, obj, actor, reason, note: services.shipment_mark_exception(
                shipment=obj, actor=actor, reason=reason, note=note
            ),
        ),
        "mark_delivered",
        "poll_tracking",
        form_action(
            description="Cancel shipments (not yet shipped)",
            apply=lambda *, obj, actor, reason: services.shipment_cancel(
                shipment=obj, actor=actor, reason=reason
            ),
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Shipment]:
        return super().get_queryset(request).defer("label_data")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # planned from allocation; manual splits through the split service

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(boolean=True, description="late")
    def late(self, obj: Shipment) -> bool:
        return selectors.shipment_is_late(obj, timezone.now())

    @admin.display(description="tracking")
    def tracking(self, obj: Shipment) -> str:
        if obj.tracking_url:
            return format_html(
                '<a href="{}" target="_blank" rel="noopener">{}</a>',
                obj.tracking_url,
                obj.tracking_number,
            )
        return obj.tracking_number

    @admin.display(description="print")
    def documents(self, obj: Shipment) -> str:
        slip = reverse("fulfillment:packing-slip", args=[obj.pk])
        picks = reverse("fulfillment:pick-list", args=[obj.warehouse.code])
        label = reverse("fulfillment:label", args=[obj.pk])
        return format_html(
            '<a href="{}" target="_blank">packing slip</a> · <a href="{}" target="_blank">pick list</a>{}',
            slip,
            picks,
            format_html(' · <a href="{}" target="_blank">label</a>', label)
            if obj.label_format
            else "",
        )

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Shipment], label: str, call: Any
    ) -> None:
        apply_to_each(self, request, queryset, description=label, apply=call)

    @admin.action(description="Start picking")
    def start_picking(self, request: HttpRequest, queryset: QuerySet[Shipment]) -> None:
        self._each(
            request,
            queryset,
            "Start picking",
            lambda s, a: services.shipment_start_picking(shipment=s, actor=a),
        )

    @admin.action(description="Mark delivered (carrier does not report it)")
    def mark_delivered(self, request: HttpRequest, queryset: QuerySet[Shipment]) -> None:
        self._each(
            request,
            queryset,
            "Mark delivered",
            lambda s, a: services.shipment_mark_delivered(shipment=s, actor=a),
        )

    @admin.action(description="Fetch tracking from the carrier")
    def poll_tracking(self, request: HttpRequest, queryset: QuerySet[Shipment]) -> None:
        self._each(
            request,
            queryset,
            "Fetch tracking",
            lambda s, a: services.shipment_poll_tracking(shipment=s, actor=a),
        )


class ReturnLineInline(_ReadOnlyInline):
    model = ReturnLine
    fields = ("order_line", "quantity", "received_quantity", "reason", "condition", "disposition")
    readonly_fields = fields


class ReturnEventInline(_ReadOnlyInline):
    model = ReturnEvent
    fields = ("created_at", "kind", "actor_kind", "actor_label", "message", "payload")
    readonly_fields = fields
    ordering = ("-created_at",)


class LabelForm(forms.Form):
    carrier = forms.ModelChoiceField(
        queryset=Carrier.objects.filter(is_active=True),
        required=False,
        help_text="Buy a return label from this carrier (optional).",
    )
    tracking_number = forms.CharField(required=False)
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Empty: the standard instructions with the warehouse address.",
    )


class InspectForm(forms.Form):
    condition = forms.ChoiceField(
        choices=[c for c in ItemCondition.choices if c[0] != ItemCondition.UNKNOWN],
        help_text="Applied to every line of the selected returns.",
    )
    disposition = forms.ChoiceField(
        choices=[
            ("", "By condition"),
            (Disposition.RESTOCK, "Restock"),
            (Disposition.WRITE_OFF, "Write off"),
        ],
        required=False,
    )


def _inspect(*, obj: ReturnRequest, actor: Any, condition: str, disposition: str) -> Any:
    lines = {
        row.pk: {"condition": condition, **({"disposition": disposition} if disposition else {})}
        for row in obj.lines.all()
    }
    return services.return_inspect(return_request=obj, lines=lines, actor=actor)


@admin.register(ReturnRequest)
class ReturnRequestAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "order",
        "status",
        "resolution",
        "reason",
        "warehouse",
        "refund_amount",
        "replacement_order",
        "created_at",
    )
    list_filter = ("status", "resolution", "reason", "warehouse")
    list_select_related = ("order", "warehouse", "replacement_order")
    search_fields = ("order__number", "order__customer__email", "tracking_number")
    date_hierarchy = "created_at"
    inlines = [ReturnLineInline, ReturnEventInline]
    readonly_fields = [f.name for f in ReturnRequest._meta.fields]
    actions = [
        "approve",
        form_action(
            description="Reject returns",
            apply=lambda *, obj, actor, reason: services.return_reject(
                return_request=obj, actor=actor, reason=reason
            ),
        ),
        form_action(
            description="Send label / instructions",
            form_class=LabelForm,
            apply=lambda *, obj, actor, carrier, tracking_number, instructions: (
                services.return_send_label(
                    return_request=obj,
                    actor=actor,
                    carrier=carrier,
                    tracking_number=tracking_number,
                    instructions=instructions,
                )
            ),
        ),
        "receive",
        form_action(description="Inspect returned goods", form_class=InspectForm, apply=_inspect),
        "restock",
        "refund",
        "replace",
        form_action(
            description="Cancel returns",
            apply=lambda *, obj, actor, reason: services.return_cancel(
                return_request=obj, actor=actor, reason=reason
            ),
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # returns are requested through the service (API, console tools)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _each(
        self, request: HttpRequest, queryset: QuerySet[ReturnRequest], label: str, call: Any
    ) -> None:
        apply_to_each(self, request, queryset, description=label, apply=call)

    @admin.action(description="Approve returns")
    def approve(self, request: HttpRequest, queryset: QuerySet[ReturnRequest]) -> None:
        self._each(
            request,
            queryset,
            "Approve",
            lambda r, a: services.return_approve(return_request=r, actor=a),
        )

    @admin.action(description="Receive (everything asked for arrived)")
    def receive(self, request: HttpRequest, queryset: QuerySet[ReturnRequest]) -> None:
        self._each(
            request,
            queryset,
            "Receive",
            lambda r, a: services.return_receive(return_request=r, actor=a),
        )

    @admin.action(description="Restock / write off through the ledger")
    def restock(self, request: HttpRequest, queryset: QuerySet[ReturnRequest]) -> None:
        self._each(
            request,
            queryset,
            "Restock",
            lambda r, a: services.return_restock(return_request=r, actor=a),
        )

    @admin.action(description="Refund")
    def refund(self, request: HttpRequest, queryset: QuerySet[ReturnRequest]) -> None:
        self._each(
            request,
            queryset,
            "Refund",
            lambda r, a: services.return_refund(return_request=r, actor=a),
        )

    @admin.action(description="Send a free replacement")
    def replace(self, request: HttpRequest, queryset: QuerySet[ReturnRequest]) -> None:
        self._each(
            request,
            queryset,
            "Replace",
            lambda r, a: services.return_replace(return_request=r, actor=a),
        )


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "adapter", "is_active", "base_url", "webhook_url")
    list_filter = ("adapter", "is_active")
    search_fields = ("code", "name")
    readonly_fields = ("webhook_url",)

    @admin.display(description="inbound webhook")
    def webhook_url(self, obj: Carrier) -> str:
        return reverse("fulfillment:carrier-webhook", args=[obj.code]) if obj.pk else ""


@admin.register(BinLocation)
class BinLocationAdmin(admin.ModelAdmin):
    list_display = ("code", "warehouse", "sku")
    list_filter = ("warehouse",)
    search_fields = ("code", "sku__code")
    list_select_related = ("warehouse", "sku")
    raw_id_fields = ("sku",)


@admin.register(TrackingEvent)
class TrackingEventAdmin(admin.ModelAdmin):
    list_display = (
        "occurred_at",
        "carrier",
        "tracking_number",
        "status",
        "applied",
        "note",
        "source",
        "shipment",
    )
    list_filter = ("carrier", "status", "applied", "source")
    search_fields = ("tracking_number", "carrier_event_id")
    list_select_related = ("carrier", "shipment")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
