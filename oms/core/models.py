from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from .actors import ActorKind
from .db import Counter  # noqa: F401 - the portable sequence table


class BaseModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class EventBase(models.Model):
    """Append-only event row: who (actor), when, what (``kind`` on the subclass), why
    (``message``) and the details (``payload``). Rows are only ever inserted."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_label = models.CharField(max_length=200, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_channel = models.ForeignKey(
        "core.Channel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Customers live in an app above core; the id is kept without a foreign key.
    actor_customer_id = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True
        ordering = ("created_at", "id")

    @property
    def actor_display(self) -> str:
        return f"{self.get_actor_kind_display()}: {self.actor_label}"  # type: ignore[attr-defined]


class ChannelKind(models.TextChoices):
    WEB = "web", "Web shop"
    POS = "pos", "POS / in-store"
    MARKETPLACE = "marketplace", "Marketplace"
    PARTNER = "partner", "Partner"
    SUBSCRIPTIONS = "subscriptions", "Subscription renewals"
    WAREHOUSE = "warehouse", "Warehouse system / 3PL"
    PORTAL = "portal", "Customer portal"


class Channel(BaseModel):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=ChannelKind.choices, default=ChannelKind.WEB)
    is_active = models.BooleanField(default=True)
    allow_backorders = models.BooleanField(default=False)
    default_currency = models.CharField(max_length=3, default="USD")

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ApiKey(BaseModel):
    """A channel's API key. The secret is shown once; only its SHA-256 digest is stored.
    ``prefix`` (the first characters) lets operators tell keys apart."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    hashed_key = models.CharField(max_length=64, unique=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(BaseModel):
    """The first response to a POST with an Idempotency-Key, replayed for retries."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETE = "complete", "Complete"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "key"], name="idempotency_unique_channel_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
