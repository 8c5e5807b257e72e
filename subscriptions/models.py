"""Plans (versioned, priced per currency), subscriptions and everything that steers one
upcoming period: scheduled changes, per-period overrides and pending proration adjustments.

The renewal cycle (``subscriptions/renewal/``) reads these through
``subscriptions.selectors.renewal_preview`` and writes them only through the services."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from oms.core.models import BaseModel, EventBase

from .periods import IntervalUnit

__all__ = ["IntervalUnit"]


class Plan(BaseModel):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(
        default=True, help_text="Inactive plans take no new subscribers."
    )
    min_commitment_cycles = models.PositiveIntegerField(
        default=0, help_text="Paid cycles a subscriber must complete before cancelling."
    )
    skip_missed_periods = models.BooleanField(
        default=False,
        help_text="When the renewal cycle catches up after missed nights, bill only the latest "
        "due period and skip the older ones (instead of one renewal per missed period).",
    )
    pay_later = models.BooleanField(
        default=False, help_text="Orders ship even when the renewal payment has not succeeded yet."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class PlanVersion(BaseModel):
    """The billable terms of a plan. Immutable once anyone subscribes to it: a price or item
    change on a live plan creates the next version (``plan_revise``); subscribers keep theirs
    until a scheduled price migration moves them."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    interval_unit = models.CharField(max_length=8, choices=IntervalUnit.choices)
    interval_count = models.PositiveIntegerField(default=1)
    trial_days = models.PositiveIntegerField(default=0)
    notes = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("plan", "-version")
        constraints = [
            models.UniqueConstraint(fields=["plan", "version"], name="plan_version_unique"),
            models.CheckConstraint(
                condition=models.Q(interval_count__gte=1),
                name="plan_version_interval_count_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan.code} v{self.version}"


class PlanPrice(models.Model):
    """Price of one period (per unit of subscription quantity) and the one-time setup fee,
    in minor units of ``currency``."""

    plan_version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()
    setup_fee = models.BigIntegerField(default=0)

    class Meta:
        ordering = ("currency",)
        constraints = [
            models.UniqueConstraint(
                fields=["plan_version", "currency"], name="plan_price_unique_currency"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="plan_price_amount_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(setup_fee__gte=0), name="plan_price_setup_fee_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class PlanItem(models.Model):
    """What one period ships, per unit of subscription quantity. Empty for a pure SaaS plan."""

    plan_version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("inventory.Sku", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=["plan_version", "sku"], name="plan_item_unique_sku"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="plan_item_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku_id}"


class SubscriptionStatus(models.TextChoices):
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    PAST_DUE = "past_due", "Past due"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


S = SubscriptionStatus
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.TRIALING: frozenset({S.ACTIVE, S.PAST_DUE, S.CANCELLED, S.EXPIRED}),
    S.ACTIVE: frozenset({S.PAUSED, S.PAST_DUE, S.CANCELLED, S.EXPIRED}),
    S.PAUSED: frozenset({S.ACTIVE, S.CANCELLED, S.EXPIRED}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.CANCELLED, S.EXPIRED}),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}
LIVE_STATUSES = frozenset({S.TRIALING, S.ACTIVE, S.PAUSED, S.PAST_DUE})


class Subscription(BaseModel):
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="subscriptions"
    )
    channel = models.ForeignKey(
        "core.Channel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The channel that created the subscription.",
    )
    plan_version = models.ForeignKey(
        PlanVersion, on_delete=models.PROTECT, related_name="subscriptions"
    )
    quantity = models.PositiveIntegerField(default=1)
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=S.ACTIVE, db_index=True
    )
    # The cadence: copied from the plan version at creation, changed by a frequency change.
    interval_unit = models.CharField(max_length=8, choices=IntervalUnit.choices)
    interval_count = models.PositiveIntegerField(default=1)
    billing_anchor = models.DateField(
        help_text="Period n starts at anchor + n intervals. Stored; only an explicit frequency "
        "change or reschedule sets a new one, it is never recomputed from a clamped date."
    )
    current_period_start = models.DateField()
    current_period_end = models.DateField()
    next_renewal_date = models.DateField(
        null=True,
        blank=True,
        db_index=True,
        help_text="The business date the next period is billed (= its start). Empty once ended.",
    )
    trial_end = models.DateField(null=True, blank=True)
    cycles_completed = models.PositiveIntegerField(default=0, help_text="Paid periods renewed.")
    ends_after_cycles = models.PositiveIntegerField(
        null=True, blank=True, help_text="Prepaid/fixed-term: expires after this many paid cycles."
    )
    shipping_address = models.JSONField(default=dict, blank=True)
    shipping_address_ref = models.ForeignKey(
        "customers.Address", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payment_method = models.CharField(max_length=255, blank=True, help_text="e.g. a Stripe pm_ id.")
    cancel_at_period_end = models.BooleanField(default=False)
    cancel_reason = models.TextField(blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    ended_on = models.DateField(null=True, blank=True)
    paused_from = models.DateField(
        null=True, blank=True, help_text="The first period start a pause covers."
    )
    paused_until = models.DateField(
        null=True, blank=True, help_text="The period start a pause resumes at."
    )
    pause_cycles = models.PositiveIntegerField(null=True, blank=True)
    # Proration state of the current period (see services/proration.py): what the customer
    # has been billed for it so far (None: not billed, nothing to prorate), the value consumed
    # by earlier segments in minor-unit-days, and where the current segment began.
    period_billed = models.BigIntegerField(null=True, blank=True)
    period_consumed = models.BigIntegerField(default=0)
    period_segment_start = models.DateField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=["status", "next_renewal_date"], name="subscription_due_idx"),
            # The renewal claim's queue: live subscriptions in due order, so each claim
            # reads the next due rows instead of stepping past every one renewed before.
            models.Index(
                fields=["next_renewal_date", "id"],
                condition=models.Q(status__in=sorted(LIVE_STATUSES)),
                name="subscription_renewal_queue_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="subscription_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(current_period_end__gt=models.F("current_period_start")),
                name="subscription_period_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["cancelled", "expired"])
                | models.Q(next_renewal_date__isnull=False),
                name="subscription_live_has_next_renewal",
            ),
        ]

    def __str__(self) -> str:
        return f"SUB-{self.pk}"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class ScheduledChangeKind(models.TextChoices):
    PLAN = "plan", "Plan change"
    QUANTITY = "quantity", "Quantity change"
    FREQUENCY = "frequency", "Frequency change"
    PRICE_MIGRATION = "price_migration", "Price migration"


class ScheduledChange(BaseModel):
    """A change that takes effect at a period start (a downgrade at term end, a price
    migration). Applied by ``subscription_advance_period`` when that period begins; the
    renewal preview of that period already reflects it."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="scheduled_changes"
    )
    kind = models.CharField(max_length=20, choices=ScheduledChangeKind.choices)
    effective_date = models.DateField()
    plan_version = models.ForeignKey(
        PlanVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(null=True, blank=True)
    interval_unit = models.CharField(max_length=8, choices=IntervalUnit.choices, blank=True)
    interval_count = models.PositiveIntegerField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("effective_date", "id")
        indexes = [models.Index(fields=["subscription", "effective_date"])]

    @property
    def is_pending(self) -> bool:
        return self.applied_at is None and self.cancelled_at is None


class PeriodOverride(BaseModel):
    """Changes to one period only (the next box): skip it, swap an item, add a one-time add-on.
    ``swaps``: [{"from_sku_id", "to_sku_id"}]; ``addons``: [{"sku_id", "quantity", "unit_amount"}]."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="period_overrides"
    )
    period_start = models.DateField()
    skip = models.BooleanField(default=False)
    swaps = models.JSONField(default=list, blank=True)
    addons = models.JSONField(default=list, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("period_start",)
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="period_override_unique"
            )
        ]

    @property
    def is_empty(self) -> bool:
        return not (self.skip or self.swaps or self.addons)


class ProrationAdjustment(BaseModel):
    """Money owed (+) or credited (−) outside a regular renewal: proration of an immediate plan
    or quantity change, a refund for an immediate cancellation. Billing invoices it at once
    (``hooks.adjustments_created``) and sets ``billing_invoice_id``; anything still open is
    added to the next renewal."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="adjustments"
    )
    amount = models.BigIntegerField(help_text="Minor units; negative is a credit.")
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=255)
    period_start = models.DateField(help_text="The period the adjustment belongs to.")
    effective_date = models.DateField()
    # Billing sits above subscriptions: the invoice id is kept without a foreign key.
    billing_invoice_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.description}: {self.amount} {self.currency}"


class SubscriptionEventKind(models.TextChoices):
    CREATED = "created", "Created"
    TRIAL_ENDED = "trial_ended", "Trial ended"
    RENEWED = "renewed", "Renewed"
    PERIOD_SKIPPED = "period_skipped", "Period skipped"
    SKIP_SCHEDULED = "skip_scheduled", "Skip scheduled"
    SKIP_REMOVED = "skip_removed", "Skip removed"
    ITEM_SWAPPED = "item_swapped", "Item swapped for one period"
    ADDON_ADDED = "addon_added", "One-time add-on"
    PAUSED = "paused", "Paused"
    RESUMED = "resumed", "Resumed"
    PLAN_CHANGED = "plan_changed", "Plan changed"
    QUANTITY_CHANGED = "quantity_changed", "Quantity changed"
    CHANGE_SCHEDULED = "change_scheduled", "Change scheduled"
    CHANGE_APPLIED = "change_applied", "Scheduled change applied"
    CHANGE_CANCELLED = "change_cancelled", "Scheduled change cancelled"
    FREQUENCY_CHANGED = "frequency_changed", "Frequency changed"
    RESCHEDULED = "rescheduled", "Next renewal rescheduled"
    ADDRESS_CHANGED = "address_changed", "Shipping address changed"
    PAYMENT_METHOD_CHANGED = "payment_method_changed", "Payment method changed"
    CANCEL_SCHEDULED = "cancel_scheduled", "Cancellation at period end"
    CANCELLED = "cancelled", "Cancelled"
    REACTIVATED = "reactivated", "Reactivated"
    EXPIRED = "expired", "Expired"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    PAYMENT_RECOVERED = "payment_recovered", "Payment recovered"
    ADJUSTMENT = "adjustment", "Proration adjustment"


class SubscriptionEvent(EventBase):
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=SubscriptionEventKind.choices)

    class Meta(EventBase.Meta):
        indexes = [models.Index(fields=["subscription", "created_at"])]


# The renewal cycle's records (subscriptions/renewal/models.py) belong to this app label.
from .renewal.models import Renewal, RenewalEvent, RenewalReminder, RenewalRun  # noqa: E402,F401
