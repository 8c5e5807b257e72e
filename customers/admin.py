from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from customers.portal.services import portal_user_invite
from oms.core.actors import Actor
from oms.core.admin_actions import form_action
from oms.core.errors import ApplicationError

from . import services
from .models import Address, Customer, CustomerEvent, CustomerReference


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = (
        ("kind", "is_default"),
        ("name", "company"),
        "line1",
        "line2",
        ("postal_code", "city"),
        ("region", "country"),
        "phone",
    )


class ReferenceInline(admin.TabularInline):
    model = CustomerReference
    extra = 0
    fields = ("channel", "external_id", "created_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EventInline(admin.TabularInline):
    model = CustomerEvent
    extra = 0
    fields = ("created_at", "kind", "actor_kind", "actor_label", "message", "payload")
    readonly_fields = fields
    can_delete = False
    ordering = ("-created_at",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    list_display = ("email", "full_name", "phone", "status", "source_channel", "created_at")
    list_filter = ("status", "locale", "source_channel", "created_at")
    search_fields = (
        "email",
        "first_name",
        "last_name",
        "phone",
        "references__external_id",
        "stripe_customer_id",
    )
    readonly_fields = ("status", "stripe_customer_id", "source_channel", "created_at", "updated_at")
    inlines = [AddressInline, ReferenceInline, EventInline]
    date_hierarchy = "created_at"
    actions = [
        "invite_to_portal",
        form_action(
            description="Deactivate customers",
            apply=lambda *, obj, actor, reason: services.customer_deactivate(
                customer=obj, actor=actor, reason=reason
            ),
        ),
        form_action(
            description="Reactivate customers",
            apply=lambda *, obj, actor, reason: services.customer_reactivate(
                customer=obj, actor=actor, reason=reason
            ),
        ),
        form_action(
            description="Add a note",
            form_class=NoteForm,
            apply=lambda *, obj, actor, text: services.customer_note_add(
                customer=obj, actor=actor, text=text
            ),
        ),
    ]

    @admin.action(description="Invite to the self-service portal (emails a set-password link)")
    def invite_to_portal(self, request: HttpRequest, queryset: Any) -> None:
        actor = Actor.for_user(request.user)
        for customer in queryset:
            try:
                portal_user_invite(customer=customer, actor=actor)
                self.message_user(request, f"Invited {customer.email}.", messages.SUCCESS)
            except ApplicationError as exc:
                self.message_user(request, f"{customer.email}: {exc.message}", messages.ERROR)

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        qs, _ = super().get_search_results(request, queryset, search_term)
        return qs.distinct(), False


@admin.register(CustomerEvent)
class CustomerEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "customer", "kind", "actor_kind", "actor_label", "message")
    list_filter = ("kind", "actor_kind")
    search_fields = ("customer__email", "message")
    list_select_related = ("customer",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
