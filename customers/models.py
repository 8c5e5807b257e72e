from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from oms.core.models import BaseModel, EventBase


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"


CUSTOMER_TRANSITIONS = {
    CustomerStatus.ACTIVE: {CustomerStatus.INACTIVE},
    CustomerStatus.INACTIVE: {CustomerStatus.ACTIVE},
}


class Customer(BaseModel):
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    status = models.CharField(
        max_length=16, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    locale = models.CharField(max_length=16, default="en")
    stripe_customer_id = models.CharField(max_length=64, null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
        help_text="The login this customer uses for the self-service portal.",
    )
    source_channel = models.ForeignKey(
        "core.Channel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(Lower("email"), name="customer_email_unique_ci"),
            models.UniqueConstraint(
                fields=["stripe_customer_id"],
                condition=models.Q(stripe_customer_id__isnull=False),
                name="customer_stripe_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class AddressKind(models.TextChoices):
    SHIPPING = "shipping", "Shipping"
    BILLING = "billing", "Billing"


class Address(BaseModel):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(max_length=16, choices=AddressKind.choices)
    is_default = models.BooleanField(default=False)
    name = models.CharField(max_length=200, blank=True)
    company = models.CharField(max_length=200, blank=True)
    line1 = models.CharField(max_length=200)
    line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    phone = models.CharField(max_length=40, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ("customer", "kind", "-is_default", "id")
        verbose_name_plural = "addresses"
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind"],
                condition=models.Q(is_default=True),
                name="address_one_default_per_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(country__regex=r"^[A-Z]{2}$"), name="address_country_iso2"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line1}, {self.postal_code} {self.city}, {self.country}"

    def snapshot(self) -> dict[str, str]:
        """A copy for orders and invoices: later edits of the address never rewrite them."""
        return {
            f: getattr(self, f)
            for f in (
                "name",
                "company",
                "line1",
                "line2",
                "city",
                "region",
                "postal_code",
                "country",
                "phone",
            )
        }


class CustomerReference(BaseModel):
    """A channel's own id for a customer (unique per channel)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="references")
    channel = models.ForeignKey("core.Channel", on_delete=models.PROTECT, related_name="+")
    external_id = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="customer_reference_unique_per_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.external_id}"


class CustomerEventKind(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    ADDRESS_ADDED = "address_added", "Address added"
    DEFAULT_ADDRESS_SET = "default_address_set", "Default address set"
    REFERENCE_ADDED = "reference_added", "Channel reference added"
    DEACTIVATED = "deactivated", "Deactivated"
    REACTIVATED = "reactivated", "Reactivated"
    NOTE = "note", "Note"


class CustomerEvent(EventBase):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=CustomerEventKind.choices)

    class Meta(EventBase.Meta):
        indexes = [models.Index(fields=["customer", "created_at"])]
