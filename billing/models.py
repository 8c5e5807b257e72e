"""Billing: invoices and their lines, tax rates, payment methods, payment attempts (the
two-step charge), refunds, credit notes, Stripe webhook events, dunning cases, per-customer
billing flags and the billing timeline."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from oms.core.models import BaseModel, EventBase

INVOICE_NUMBER_SEQUENCE = "billing_invoice_number_seq"
CREDIT_NOTE_NUMBER_SEQUENCE = "billing_credit_note_number_seq"


class TaxRate(BaseModel):
    """A tax rate by country (and optionally region) and tax category. The most specific
    active rate wins: (country, region, category) > (country, category) > (country, region)
    > (country). ``rate`` is a fraction: 0.19 for 19 %."""

    name = models.CharField(max_length=100, help_text="Shown on invoices, e.g. 'VAT 19%'.")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    region = models.CharField(max_length=100, blank=True, help_text="State/province; blank: all.")
    tax_category = models.CharField(max_length=50, blank=True, help_text="Blank: every category.")
    rate = models.DecimalField(max_digits=7, decimal_places=6)
    inclusive = models.BooleanField(
        default=False, help_text="Prices already include this tax (typical for EU consumer prices)."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("country", "region", "tax_category")
        constraints = [
            models.UniqueConstraint(
                fields=["country", "region", "tax_category"],
                condition=Q(is_active=True),
                name="taxrate_one_active_per_scope",
            ),
            models.CheckConstraint(
                condition=Q(rate__gte=0, rate__lt=1), name="taxrate_rate_fraction"
            ),
            models.CheckConstraint(
                condition=Q(country__regex=r"^[A-Z]{2}$"), name="taxrate_country_iso2"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.country}{'/' + self.region if self.region else ''})"


class BillingAccount(BaseModel):
    """Operator flags per customer (Kill Bill's account tags)."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="billing_account"
    )
    auto_pay = models.BooleanField(
        default=True, help_text="Off: invoices are sent for manual payment, never charged."
    )
    no_dunning = models.BooleanField(default=False, help_text="Failed payments are not retried.")
    written_off = models.BooleanField(
        default=False, help_text="Unpaid invoices are written off (uncollectible); no charges."
    )
    tax_exempt = models.BooleanField(default=False)
    notes = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"billing account of customer {self.customer_id}"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


INVOICE_TRANSITIONS: dict[str, set[str]] = {
    InvoiceStatus.DRAFT: {InvoiceStatus.OPEN, InvoiceStatus.VOID},
    InvoiceStatus.OPEN: {InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE},
    InvoiceStatus.UNCOLLECTIBLE: {InvoiceStatus.PAID, InvoiceStatus.VOID},
    InvoiceStatus.PAID: set(),
    InvoiceStatus.VOID: set(),
}


class CollectionMethod(models.TextChoices):
    CHARGE_AUTOMATICALLY = "charge_automatically", "Charge the saved card"
    SEND_INVOICE = "send_invoice", "Send for manual payment"


class BillingReason(models.TextChoices):
    SUBSCRIPTION_CYCLE = "subscription_cycle", "Subscription period"
    SUBSCRIPTION_UPDATE = "subscription_update", "Subscription change (proration)"
    ORDER = "order", "Order"
    MANUAL = "manual", "Manual"


class Invoice(BaseModel):
    """What a customer owes for one subscription period or one order. Immutable once open:
    services refuse to edit it; corrections are credit notes."""

    number = models.CharField(max_length=24, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="invoices"
    )
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    billing_reason = models.CharField(
        max_length=24, choices=BillingReason.choices, default=BillingReason.MANUAL
    )
    collection_method = models.CharField(
        max_length=24,
        choices=CollectionMethod.choices,
        default=CollectionMethod.CHARGE_AUTOMATICALLY,
    )
    currency = models.CharField(max_length=3)
    subtotal = models.BigIntegerField(default=0, help_text="Σ line net amounts (minor units).")
    tax = models.BigIntegerField(default=0, help_text="Σ line taxes.")
    total = models.BigIntegerField(default=0, help_text="subtotal + tax.")
    amount_paid = models.BigIntegerField(default=0)
    amount_credited = models.BigIntegerField(
        default=0, help_text="Credit notes issued before payment."
    )
    amount_refunded = models.BigIntegerField(default=0)
    amount_due = models.BigIntegerField(default=0, help_text="total − paid − credited.")
    tax_breakdown = models.JSONField(default=list, blank=True)
    billing_address = models.JSONField(default=dict, blank=True)
    due_date = models.DateField(null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    memo = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="invoice_one_per_subscription_period"
            ),
            models.CheckConstraint(
                condition=Q(total=F("subtotal") + F("tax")), name="invoice_total_adds_up"
            ),
            models.CheckConstraint(
                condition=Q(
                    amount_paid__gte=0,
                    amount_credited__gte=0,
                    amount_refunded__gte=0,
                    amount_due__gte=0,
                ),
                name="invoice_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=F("amount_paid")),
                name="invoice_refund_within_paid",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="invoice_currency_iso"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_date"]),
            models.Index(fields=["customer", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_editable(self) -> bool:
        return self.status == InvoiceStatus.DRAFT


class InvoiceLineKind(models.TextChoices):
    PLAN = "plan", "Plan charge"
    ITEM = "item", "Item"
    PRORATION_CREDIT = "proration_credit", "Proration credit"
    PRORATION_CHARGE = "proration_charge", "Proration charge"
    SETUP_FEE = "setup_fee", "Setup fee"
    SHIPPING = "shipping", "Shipping"
    DISCOUNT = "discount", "Discount"
    TAX = "tax", "Tax"


class InvoiceLine(models.Model):
    """``amount`` = quantity × unit amount − discount (negative for credits); ``tax`` per
    the written rule in ``billing.tax``; ``net`` + ``tax`` = ``total``."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=InvoiceLineKind.choices)
    description = models.CharField(max_length=300)
    sku_code = models.CharField(max_length=64, blank=True)
    quantity = models.IntegerField(default=1)
    unit_amount = models.BigIntegerField(default=0)
    amount = models.BigIntegerField(
        default=0, help_text="As priced (inclusive or exclusive of tax)."
    )
    net = models.BigIntegerField(default=0)
    tax = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    tax_category = models.CharField(max_length=50, blank=True)
    tax_rate = models.ForeignKey(
        TaxRate, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tax_rate_value = models.DecimalField(max_digits=7, decimal_places=6, default=0)
    tax_name = models.CharField(max_length=100, blank=True)
    tax_inclusive = models.BooleanField(default=False)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    source_ref = models.CharField(
        max_length=100, blank=True, help_text="What produced the line (order line, adjustment)."
    )

    class Meta:
        ordering = ("invoice", "position", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(total=F("net") + F("tax")), name="invoiceline_total_adds_up"
            ),
        ]

    def __str__(self) -> str:
        return self.description


class PaymentMethod(BaseModel):
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="payment_methods"
    )
    stripe_payment_method_id = models.CharField(max_length=64, unique=True)
    brand = models.CharField(max_length=32, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(default=0)
    exp_year = models.PositiveSmallIntegerField(default=0)
    is_default = models.BooleanField(default=False)
    detached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("customer", "-is_default", "-created_at")
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_default=True, detached_at__isnull=True),
                name="paymentmethod_one_default",
            )
        ]

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4} ({self.exp_month:02d}/{self.exp_year})"


class AttemptState(models.TextChoices):
    PENDING = "pending", "Pending (call in flight)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REQUIRES_ACTION = "requires_action", "Customer action required"
    UNKNOWN = "unknown", "Unknown (ask Stripe)"


ATTEMPT_TRANSITIONS: dict[str, set[str]] = {
    AttemptState.PENDING: {
        AttemptState.SUCCEEDED, AttemptState.FAILED, AttemptState.REQUIRES_ACTION, AttemptState.UNKNOWN,
    },
    AttemptState.UNKNOWN: {AttemptState.SUCCEEDED, AttemptState.FAILED, AttemptState.REQUIRES_ACTION},
    AttemptState.REQUIRES_ACTION: {AttemptState.SUCCEEDED, AttemptState.FAILED},
    AttemptState.FAILED: {AttemptState.SUCCEEDED},  # a late success (webhook) wins
    AttemptState.SUCCEEDED: set(),
}  # fmt: skip

IN_FLIGHT_STATES = (AttemptState.PENDING, AttemptState.UNKNOWN)


class AttemptTrigger(models.TextChoices):
    RENEWAL = "renewal", "Renewal"
    DUNNING = "dunning", "Dunning retry"
    MANUAL = "manual", "Operator"
    CARD_UPDATE = "card_update", "Card updated"
    ORDER = "order", "Order"
    ADJUSTMENT = "adjustment", "Plan change"


class PaymentAttempt(BaseModel):
    """One charge of an invoice (Kill Bill's two-step): written and committed ``pending``
    before Stripe is called, completed after. ``idempotency_key`` derives from (invoice,
    attempt number), so a retry of the same attempt can never charge twice."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payment_attempts")
    attempt_number = models.PositiveIntegerField()
    trigger = models.CharField(
        max_length=16, choices=AttemptTrigger.choices, default=AttemptTrigger.RENEWAL
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=100, unique=True)
    state = models.CharField(
        max_length=20, choices=AttemptState.choices, default=AttemptState.PENDING
    )
    payment_method = models.ForeignKey(
        PaymentMethod, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    stripe_payment_intent_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    stripe_charge_id = models.CharField(max_length=64, blank=True)
    stripe_payment_method_id = models.CharField(max_length=64, blank=True)
    client_secret = models.CharField(max_length=200, blank=True)
    decline_code = models.CharField(max_length=64, blank=True)
    decline_kind = models.CharField(max_length=8, blank=True, help_text="hard or soft")
    failure_message = models.CharField(max_length=300, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("invoice", "attempt_number")
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "attempt_number"], name="attempt_unique_number"
            ),
            # At most one charge in flight per invoice: two workers can never both charge it.
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(state__in=["pending", "unknown"]),
                name="attempt_one_in_flight",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="attempt_amount_positive"),
        ]
        indexes = [models.Index(fields=["state", "created_at"])]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.state})"


class RefundState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown"


class Refund(BaseModel):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds")
    payment_attempt = models.ForeignKey(
        PaymentAttempt, on_delete=models.PROTECT, related_name="refunds"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=300)
    idempotency_key = models.CharField(max_length=100, unique=True)
    state = models.CharField(
        max_length=16, choices=RefundState.choices, default=RefundState.PENDING
    )
    stripe_refund_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    failure_message = models.CharField(max_length=300, blank=True)
    external = models.BooleanField(
        default=False, help_text="Made in the Stripe dashboard; learnt by webhook."
    )

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} {self.currency} on {self.invoice_id}"


class CreditNote(BaseModel):
    """A correction of an issued invoice: reduces what is due (before payment) or is paid
    back (``refund``) after it."""

    number = models.CharField(max_length=24, unique=True, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=300)
    refund = models.OneToOneField(
        Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_note"
    )

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="creditnote_amount_positive")
        ]

    def __str__(self) -> str:
        return self.number


class WebhookEvent(models.Model):
    """Each Stripe event once, by its id (stored in the same transaction as its effect)."""

    stripe_event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=100, blank=True, db_index=True)
    livemode = models.BooleanField(default=False)
    stripe_created = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    process_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-received_at", "-id")

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id}"


class DunningState(models.TextChoices):
    ACTIVE = "active", "Retrying"
    RECOVERED = "recovered", "Recovered (paid)"
    EXHAUSTED = "exhausted", "Exhausted (ended)"
    STOPPED = "stopped", "Stopped (void/written off/no dunning)"


DUNNING_TRANSITIONS: dict[str, set[str]] = {
    DunningState.ACTIVE: {DunningState.RECOVERED, DunningState.EXHAUSTED, DunningState.STOPPED},
    DunningState.EXHAUSTED: {DunningState.RECOVERED},
    DunningState.RECOVERED: set(),
    DunningState.STOPPED: {DunningState.RECOVERED},
}


class DunningCase(BaseModel):
    """The dunning of one unpaid invoice, per subscription (not per customer): its retry
    schedule, the failures so far and when the next retry is due."""

    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="dunning_case")
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dunning_cases",
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="dunning_cases"
    )
    state = models.CharField(
        max_length=16, choices=DunningState.choices, default=DunningState.ACTIVE
    )
    schedule_days = models.JSONField(default=list, help_text="Days after the first failure.")
    failures = models.PositiveIntegerField(default=0)
    retries_done = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    next_retry_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_action = models.CharField(
        max_length=16, blank=True, help_text="cancel or pause, when exhausted"
    )
    last_decline_code = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ("-started_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["subscription"],
                condition=Q(state="active", subscription__isnull=False),
                name="dunning_one_active_per_subscription",
            ),
        ]
        indexes = [models.Index(fields=["state", "next_retry_at"])]

    def __str__(self) -> str:
        return f"dunning of {self.invoice_id} ({self.state})"


class BillingEventKind(models.TextChoices):
    INVOICE_CREATED = "invoice_created", "Invoice created"
    INVOICE_FINALIZED = "invoice_finalized", "Invoice finalized"
    INVOICE_PAID = "invoice_paid", "Invoice paid"
    INVOICE_VOIDED = "invoice_voided", "Invoice voided"
    INVOICE_UNCOLLECTIBLE = "invoice_uncollectible", "Marked uncollectible"
    INVOICE_SENT = "invoice_sent", "Invoice emailed"
    PAYMENT_STARTED = "payment_started", "Payment attempt started"
    PAYMENT_SUCCEEDED = "payment_succeeded", "Payment succeeded"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    PAYMENT_REQUIRES_ACTION = "payment_requires_action", "Customer action required"
    PAYMENT_UNKNOWN = "payment_unknown", "Payment outcome unknown"
    PAYMENT_RECONCILED = "payment_reconciled", "Payment reconciled with Stripe"
    REFUND_CREATED = "refund_created", "Refund"
    REFUND_FAILED = "refund_failed", "Refund failed"
    CREDIT_NOTE = "credit_note", "Credit note"
    DISPUTE = "dispute", "Dispute opened"
    DUNNING_STARTED = "dunning_started", "Dunning started"
    DUNNING_RETRY = "dunning_retry", "Dunning retry"
    DUNNING_RECOVERED = "dunning_recovered", "Dunning recovered"
    DUNNING_EXHAUSTED = "dunning_exhausted", "Dunning exhausted"
    DUNNING_STOPPED = "dunning_stopped", "Dunning stopped"
    CARD_UPDATED = "card_updated", "Card updated"
    CARD_EXPIRING = "card_expiring", "Card expiring (customer reminded)"
    ACCOUNT_UPDATED = "account_updated", "Billing flags changed"


class BillingEvent(EventBase):
    """The billing timeline: per invoice, or per customer for account-level events."""

    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    kind = models.CharField(max_length=32, choices=BillingEventKind.choices)

    class Meta(EventBase.Meta):
        indexes = [models.Index(fields=["invoice", "created_at"])]
