"""The billing console: invoices with their lines, payments, refunds, credit notes and
timeline; payment attempts with Stripe ids and decline codes; webhook events; dunning cases;
tax rates and per-customer flags. Every action calls a service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from oms.core.actors import Actor
from oms.core.admin_actions import form_action
from oms.core.admin_inlines import ReadOnlyTabularInline as ReadOnlyInline
from oms.core.errors import ApplicationError
from oms.core.money import Money

from . import services
from .gateway import GatewayError
from .models import (
    BillingAccount,
    BillingEvent,
    CreditNote,
    DunningCase,
    Invoice,
    InvoiceLine,
    PaymentAttempt,
    PaymentMethod,
    Refund,
    TaxRate,
    WebhookEvent,
)


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = (
        "position",
        "kind",
        "description",
        "sku_code",
        "quantity",
        "unit_amount",
        "amount",
        "net",
        "tax",
        "tax_name",
        "total",
    )
    readonly_fields = fields


class PaymentAttemptInline(ReadOnlyInline):
    model = PaymentAttempt
    fields = (
        "attempt_number",
        "trigger",
        "state",
        "amount",
        "stripe_payment_intent_id",
        "decline_code",
        "decline_kind",
        "created_at",
        "completed_at",
    )
    readonly_fields = fields
    show_change_link = True


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ("created_at", "amount", "state", "reason", "stripe_refund_id", "external")
    readonly_fields = fields


class CreditNoteInline(ReadOnlyInline):
    model = CreditNote
    fields = ("number", "created_at", "amount", "reason", "refund")
    readonly_fields = fields


class BillingEventInline(ReadOnlyInline):
    model = BillingEvent
    fields = ("created_at", "kind", "actor_kind", "actor_label", "message", "payload")
    readonly_fields = fields
    ordering = ("created_at", "id")


class RefundForm(forms.Form):
    amount = forms.IntegerField(
        min_value=1, required=False, help_text="Minor units; empty: everything refundable."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class CreditNoteForm(forms.Form):
    amount = forms.IntegerField(min_value=1, help_text="Minor units.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class NoInputForm(forms.Form):
    pass


def _retry(*, obj: Invoice, actor: Actor) -> None:
    try:
        attempt = services.invoice_pay(invoice=obj, actor=actor, trigger="manual")
    except GatewayError as exc:
        raise ApplicationError(f"Stripe: {exc}") from exc
    if attempt.state != "succeeded":
        raise ApplicationError(
            f"charge {attempt.state}: {attempt.decline_code or attempt.failure_message}"
        )


def _refund(*, obj: Invoice, actor: Actor, amount: int | None, reason: str) -> None:
    refund = services.refund_create(invoice=obj, amount=amount, reason=reason, actor=actor)
    if refund.state != "succeeded":
        raise ApplicationError(f"refund {refund.state}: {refund.failure_message}")


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "customer",
        "status",
        "billing_reason",
        "total_display",
        "amount_due_display",
        "due_date",
        "created_at",
    )
    list_filter = ("status", "billing_reason", "collection_method", "currency", "created_at")
    search_fields = (
        "number",
        "customer__email",
        "order__number",
        "payment_attempts__stripe_payment_intent_id",
    )
    date_hierarchy = "created_at"
    list_select_related = ("customer",)
    readonly_fields = (
        "number", "customer", "subscription", "period_start", "period_end", "order", "status", "billing_reason",
        "collection_method", "currency", "subtotal", "tax", "total", "amount_paid", "amount_credited",
        "amount_refunded", "amount_due", "tax_breakdown", "billing_address", "due_date", "finalized_at",
        "paid_at", "voided_at", "memo", "print_link",
    )  # fmt: skip
    fields = readonly_fields
    raw_id_fields = ("customer", "subscription", "order")
    inlines = [
        InvoiceLineInline,
        PaymentAttemptInline,
        RefundInline,
        CreditNoteInline,
        BillingEventInline,
    ]
    actions = [
        form_action(description="Retry payment now", form_class=NoInputForm, apply=_retry),
        form_action(description="Refund", form_class=RefundForm, apply=_refund),
        form_action(
            description="Issue a credit note",
            form_class=CreditNoteForm,
            apply=lambda *, obj, actor, amount, reason: services.credit_note_create(
                invoice=obj, amount=amount, reason=reason, actor=actor
            ),
        ),
        form_action(
            description="Void invoices",
            apply=lambda *, obj, actor, reason: services.invoice_void(
                invoice=obj, reason=reason, actor=actor
            ),
        ),
        form_action(
            description="Mark uncollectible",
            apply=lambda *, obj, actor, reason: services.invoice_mark_uncollectible(
                invoice=obj, reason=reason, actor=actor
            ),
        ),
        form_action(
            description="Finalize drafts",
            form_class=NoInputForm,
            apply=lambda *, obj, actor: services.invoice_finalize(invoice=obj, actor=actor),
        ),
        "send_invoice_email",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invoices come from renewals, orders and services

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Total")
    def total_display(self, obj: Invoice) -> str:
        return Money(obj.total, obj.currency).format()

    @admin.display(description="Due")
    def amount_due_display(self, obj: Invoice) -> str:
        return Money(obj.amount_due, obj.currency).format()

    @admin.display(description="Printable")
    def print_link(self, obj: Invoice) -> str:
        if not obj.pk:
            return "-"
        return format_html(
            '<a href="{}" target="_blank">Open printable invoice</a>',
            reverse("billing:invoice-print", args=[obj.pk]),
        )

    @admin.action(description="Send invoice email")
    def send_invoice_email(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        actor = Actor.for_user(request.user)
        sent = 0
        for invoice in queryset:
            try:
                services.invoice_send_email(invoice=invoice, actor=actor)
                sent += 1
            except ApplicationError as exc:
                self.message_user(request, f"{invoice}: {exc.message}", messages.ERROR)
        if sent:
            self.message_user(request, f"Sent {sent} invoice email(s).", messages.SUCCESS)


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(admin.ModelAdmin):
    list_display = (
        "idempotency_key",
        "invoice",
        "attempt_number",
        "trigger",
        "state",
        "amount",
        "currency",
        "stripe_payment_intent_id",
        "decline_code",
        "decline_kind",
        "created_at",
    )
    list_filter = ("state", "trigger", "decline_kind", "decline_code")
    search_fields = (
        "idempotency_key",
        "stripe_payment_intent_id",
        "stripe_charge_id",
        "invoice__number",
    )
    list_select_related = ("invoice",)
    readonly_fields = [f.name for f in PaymentAttempt._meta.fields]
    actions = [
        form_action(
            description="Resolve with Stripe (reads only)",
            form_class=NoInputForm,
            apply=lambda *, obj, actor: services.payment_attempt_resolve(
                attempt=obj, actor=actor, force=True
            ),
        )
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = (
        "stripe_event_id",
        "type",
        "object_id",
        "received_at",
        "processed_at",
        "process_attempts",
        "has_error",
    )
    list_filter = ("type", ("processed_at", admin.EmptyFieldListFilter))
    search_fields = ("stripe_event_id", "object_id")
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]
    actions = [
        form_action(
            description="Process again",
            form_class=NoInputForm,
            apply=lambda *, obj, actor: services.webhook_process(event_id=obj.pk),
        )
    ]

    @admin.display(boolean=True, description="Error")
    def has_error(self, obj: WebhookEvent) -> bool:
        return bool(obj.error)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DunningCase)
class DunningCaseAdmin(admin.ModelAdmin):
    list_display = (
        "invoice",
        "subscription",
        "customer",
        "state",
        "failures",
        "retries_done",
        "next_retry_at",
        "last_decline_code",
        "end_action",
    )
    list_filter = ("state", "end_action")
    search_fields = ("invoice__number", "customer__email")
    list_select_related = ("invoice", "customer")
    readonly_fields = [f.name for f in DunningCase._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = (
        "invoice",
        "amount",
        "currency",
        "state",
        "reason",
        "stripe_refund_id",
        "external",
        "created_at",
    )
    list_filter = ("state", "external")
    search_fields = ("invoice__number", "stripe_refund_id", "idempotency_key")
    readonly_fields = [f.name for f in Refund._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(CreditNote)
class CreditNoteAdmin(admin.ModelAdmin):
    list_display = ("number", "invoice", "amount", "currency", "reason", "refund", "created_at")
    search_fields = ("number", "invoice__number")
    readonly_fields = [f.name for f in CreditNote._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
    list_display = (
        "customer",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "is_default",
        "detached_at",
        "stripe_payment_method_id",
    )
    list_filter = ("brand", "is_default")
    search_fields = ("customer__email", "stripe_payment_method_id", "last4")
    readonly_fields = [f.name for f in PaymentMethod._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "region", "tax_category", "rate", "inclusive", "is_active")
    list_filter = ("country", "inclusive", "is_active")
    search_fields = ("name", "country", "region", "tax_category")


class BillingAccountForm(forms.ModelForm):
    class Meta:
        model = BillingAccount
        fields = ("customer", "auto_pay", "no_dunning", "written_off", "tax_exempt", "notes")


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    form = BillingAccountForm
    list_display = ("customer", "auto_pay", "no_dunning", "written_off", "tax_exempt")
    list_filter = ("auto_pay", "no_dunning", "written_off", "tax_exempt")
    search_fields = ("customer__email",)
    raw_id_fields = ("customer",)

    def save_model(
        self, request: HttpRequest, obj: BillingAccount, form: Any, change: bool
    ) -> None:
        # Through the service, so every flag change is on the billing timeline.
        flags = {
            name: form.cleaned_data[name]
            for name in ("auto_pay", "no_dunning", "written_off", "tax_exempt", "notes")
        }
        account = services.billing_account_update(
            customer=form.cleaned_data["customer"], actor=Actor.for_user(request.user), **flags
        )
        obj.pk = account.pk


@admin.register(BillingEvent)
class BillingEventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "invoice",
        "customer_id",
        "kind",
        "actor_kind",
        "actor_label",
        "message",
    )
    list_filter = ("kind", "actor_kind")
    search_fields = ("invoice__number", "message")
    readonly_fields = [f.name for f in BillingEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
