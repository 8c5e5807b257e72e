"""Records of the renewal cycle: a ``RenewalRun`` per run, a ``Renewal`` per (subscription,
period start), a ``RenewalReminder`` per reminded period and ``RenewalEvent`` rows for what an
operator must see (backorders, failed payments, errors, skips).

A Renewal is created first, in the same transaction that claims its period and advances the
subscription past it, and its ``state`` then moves step by step (``ALLOWED_TRANSITIONS``).
Each state names the last step that completed, so a crash leaves the renewal in the state to
resume from. Other apps' rows (invoice, payment attempt, order) are kept by id without a
foreign key: the cycle sits above every app and its migrations depend on none of theirs."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from oms.core.models import BaseModel, EventBase

APP_LABEL = "subscriptions"


class RunTrigger(models.TextChoices):
    BEAT = "beat", "Scheduled (celery beat)"
    MANUAL = "manual", "Manual (manage.py renew / admin)"


class RenewalRun(BaseModel):
    """One execution of the cycle for an ``as_of`` business date. Any number of runs may
    share an ``as_of`` (a retried task, two beats, several workers): the work is divided by
    the claim, never done twice, and each run counts what *it* did."""

    as_of = models.DateField(db_index=True)
    trigger = models.CharField(max_length=8, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid that ran it.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    due = models.PositiveIntegerField(default=0, help_text="Renewals this run claimed or resumed.")
    renewed = models.PositiveIntegerField(default=0)
    failed_payment = models.PositiveIntegerField(default=0)
    backordered = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errored = models.PositiveIntegerField(default=0)
    resumed = models.PositiveIntegerField(
        default=0, help_text="Renewals left unfinished by an earlier run and completed by this one."
    )
    rate_limit_wait_seconds = models.DecimalField(max_digits=12, decimal_places=3, default=0)
    error = models.TextField(blank=True, help_text="Why the run itself stopped, if it did.")

    class Meta:
        app_label = APP_LABEL
        ordering = ("-started_at", "-id")

    def __str__(self) -> str:
        return f"Renewal run {self.pk} for {self.as_of}"

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None


class RenewalState(models.TextChoices):
    CLAIMED = "claimed", "Claimed"
    INVOICED = "invoiced", "Invoiced"
    CHARGED = "charged", "Charged"
    DUNNING = "dunning", "Payment failed (dunning)"
    ORDERED = "ordered", "Ordered"
    ALLOCATED = "allocated", "Allocated"
    BACKORDERED = "backordered", "Backordered"
    SHIPMENT_CREATED = "shipment_created", "Shipment created"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    ERRORED = "errored", "Errored"


R = RenewalState

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    R.CLAIMED: frozenset({R.INVOICED, R.SKIPPED, R.ERRORED}),
    # A zero-amount invoice (a trial period, a full credit) needs no charge: straight to charged.
    R.INVOICED: frozenset({R.CHARGED, R.DUNNING, R.ERRORED}),
    # Nothing to ship (a pure SaaS plan): charged is the end.
    R.CHARGED: frozenset({R.ORDERED, R.DONE, R.ERRORED}),
    # Dunning recovered (the invoice got paid) -> charged; a pay-later plan ships regardless;
    # dunning that gave up (void / uncollectible) ends the renewal.
    R.DUNNING: frozenset({R.CHARGED, R.ORDERED, R.DONE, R.ERRORED}),
    R.ORDERED: frozenset({R.ALLOCATED, R.BACKORDERED, R.ERRORED}),
    R.ALLOCATED: frozenset({R.SHIPMENT_CREATED, R.DONE, R.ERRORED}),
    # A backorder is filled later by inventory/orders; shipments then follow the order hook.
    R.BACKORDERED: frozenset({R.DONE, R.ERRORED}),
    R.SHIPMENT_CREATED: frozenset({R.DONE, R.ERRORED}),
    R.DONE: frozenset(),
    R.SKIPPED: frozenset(),
    # An operator's retry resumes from the step that failed (``resume_state``).
    R.ERRORED: frozenset(
        {R.CLAIMED, R.INVOICED, R.CHARGED, R.DUNNING, R.ORDERED, R.ALLOCATED, R.BACKORDERED,
         R.SHIPMENT_CREATED}
    ),
}  # fmt: skip

TERMINAL_STATES = frozenset({R.DONE, R.SKIPPED, R.ERRORED})
# States a run picks up again: everything not terminal. Dunning renewals are resumed only
# once their invoice is settled (paid, or given up on).
OPEN_STATES = frozenset(set(R.values) - TERMINAL_STATES)


class Renewal(BaseModel):
    """One subscription's renewal for one period: exactly one row per (subscription,
    period_start), inserted before anything else happens for that period."""

    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.PROTECT, related_name="renewals"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    state = models.CharField(max_length=20, choices=RenewalState.choices, default=R.CLAIMED)
    run = models.ForeignKey(
        RenewalRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="renewals",
        help_text="The run that claimed it.",
    )  # fmt: skip
    last_run = models.ForeignKey(
        RenewalRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The run that last worked on it.",
    )  # fmt: skip
    # What renewal_preview said this period would be, recorded at claim time.
    action = models.CharField(max_length=20, blank=True, help_text="renew / skip / pause / end.")
    currency = models.CharField(max_length=3, blank=True)
    amount = models.BigIntegerField(default=0, help_text="Expected invoice total, minor units.")
    preview = models.JSONField(default=dict, blank=True)
    pay_later = models.BooleanField(default=False)
    backordered = models.BooleanField(
        default=False, help_text="Its order waits for stock (the customer was told)."
    )
    # Rows of the apps below, by id (no foreign keys: see the module docstring).
    invoice_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    invoice_number = models.CharField(max_length=24, blank=True)
    payment_attempt_id = models.BigIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    order_number = models.CharField(max_length=20, blank=True)
    shipment_ids = models.JSONField(default=list, blank=True)
    invoiced_at = models.DateTimeField(null=True, blank=True)
    charged_at = models.DateTimeField(null=True, blank=True)
    ordered_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Runs that worked on it.")
    error = models.TextField(blank=True)
    resume_state = models.CharField(
        max_length=20, choices=RenewalState.choices, blank=True,
        help_text="For an errored renewal: the state a retry resumes from.",
    )  # fmt: skip

    class Meta:
        app_label = APP_LABEL
        ordering = ("period_start", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="renewal_unique_subscription_period"
            ),
        ]
        indexes = [
            # The resume scan reads only unfinished renewals; keep that index small.
            models.Index(
                fields=["state"],
                condition=~Q(state__in=["done", "skipped", "errored"]),
                name="renewal_open_state_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Renewal of SUB-{self.subscription_id} for {self.period_start}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class RenewalReminder(models.Model):
    """A reminder email sent for one upcoming period; the row is what makes it once only."""

    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.CASCADE, related_name="renewal_reminders"
    )
    period_start = models.DateField()
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    email = models.CharField(max_length=254, blank=True)
    amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)

    class Meta:
        app_label = APP_LABEL
        ordering = ("-period_start", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="renewal_reminder_unique_period"
            ),
        ]

    def __str__(self) -> str:
        return f"Reminder SUB-{self.subscription_id} {self.period_start}"


class RenewalEventKind(models.TextChoices):
    SKIPPED = "skipped", "Skipped"
    PAYMENT_FAILED = "payment_failed", "Payment failed (dunning)"
    PAYMENT_RECOVERED = "payment_recovered", "Payment recovered"
    BACKORDERED = "backordered", "Backordered"
    ERRORED = "errored", "Errored"
    RESUMED = "resumed", "Resumed after an interrupted run"
    RETRIED = "retried", "Retried by an operator"


class RenewalEvent(EventBase):
    """What an operator must see about a renewal. The happy path (invoiced, charged,
    ordered, allocated, shipped) is told by the renewal's own timestamps and by the invoice,
    order and shipment timelines; these rows record the exceptions."""

    renewal = models.ForeignKey(Renewal, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=RenewalEventKind.choices)

    class Meta(EventBase.Meta):
        app_label = APP_LABEL
        indexes = [models.Index(fields=["renewal", "created_at"])]

    def __str__(self) -> str:
        return f"{self.renewal_id} {self.kind}"


# Only the models: ``subscriptions/models.py`` imports these names so the classes load with
# that app (never ALLOWED_TRANSITIONS, which would shadow the subscription's own table).
__all__ = ["Renewal", "RenewalEvent", "RenewalReminder", "RenewalRun"]
