"""Shipments (pick → pack → ship → track to the door), carrier tracking events and returns.

A ``Shipment`` is one parcel from one warehouse for one order; its ``ShipmentLine``s say which
order lines and how many units travel in it (partial and split shipments). Carrier scans are
stored once each as ``TrackingEvent`` (unique per carrier) and move the shipment forward only.
A ``ReturnRequest`` (RMA) brings units back: restocked or written off, then refunded or
replaced. Every change is on an append-only timeline (``ShipmentEvent``, ``ReturnEvent``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from oms.core.models import BaseModel, EventBase

from .carriers import CarrierConfig
from .statuses import (
    Disposition,
    ExceptionReason,
    ItemCondition,
    ReturnReason,
    ReturnResolution,
    ReturnStatus,
    ShipmentStatus,
)

# --------------------------------------------------------------------------- carriers


class CarrierAdapterKind(models.TextChoices):
    MANUAL = "manual", "Manual (operator types the tracking number)"
    HTTP = "http", "Generic HTTP carrier API"


class Carrier(BaseModel):
    """A carrier account and how to talk to it. ``adapter`` picks the integration;
    ``webhook_secret`` signs the carrier's inbound tracking webhooks (HMAC-SHA256)."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    adapter = models.CharField(
        max_length=16, choices=CarrierAdapterKind.choices, default=CarrierAdapterKind.MANUAL
    )
    is_active = models.BooleanField(default=True)
    base_url = models.URLField(blank=True, help_text="The carrier API (HTTP adapter).")
    api_key = models.CharField(max_length=200, blank=True)
    webhook_secret = models.CharField(
        max_length=200, blank=True, help_text="Shared secret for signed inbound tracking events."
    )
    tracking_url_template = models.CharField(
        max_length=500,
        blank=True,
        help_text="e.g. https://carrier.example/track?n={tracking_number}",
    )
    service_levels = models.JSONField(
        default=list, blank=True, help_text='Service levels offered, e.g. ["standard", "express"].'
    )

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return self.name or self.code

    def config(self) -> CarrierConfig:
        return CarrierConfig(
            code=self.code,
            name=self.name,
            base_url=self.base_url,
            api_key=self.api_key,
            webhook_secret=self.webhook_secret,
            tracking_url_template=self.tracking_url_template,
        )


class BinLocation(BaseModel):
    """Where a SKU sits in a warehouse (aisle-rack-shelf), for pick lists. Inventory counts
    stock per warehouse only; bins are a picking concern, so they live here."""

    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey("inventory.Sku", on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=32, help_text="e.g. A-03-2")

    class Meta:
        ordering = ("warehouse", "code")
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "sku"], name="bin_location_unique_sku")
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.sku_id}@{self.warehouse_id})"


# --------------------------------------------------------------------------- shipments


class Shipment(BaseModel):
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="shipments")
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="shipments"
    )
    carrier = models.ForeignKey(
        Carrier, null=True, blank=True, on_delete=models.PROTECT, related_name="shipments"
    )
    service_level = models.CharField(max_length=32, blank=True)
    status = models.CharField(
        max_length=24, choices=ShipmentStatus.choices, default=ShipmentStatus.PENDING
    )
    # The furthest point on the happy path reached; an exception keeps it, so carrier events
    # after an exception still move forward only.
    progress_rank = models.PositiveSmallIntegerField(default=0)
    exception_reason = models.CharField(max_length=24, choices=ExceptionReason.choices, blank=True)
    is_manual = models.BooleanField(default=False, help_text="Created or split by an operator.")
    tracking_number = models.CharField(max_length=100, blank=True)
    tracking_url = models.URLField(max_length=500, blank=True)
    label_url = models.URLField(max_length=500, blank=True)
    label_data = models.BinaryField(null=True, blank=True, editable=False)
    label_format = models.CharField(max_length=10, blank=True)
    weight_grams = models.PositiveIntegerField(null=True, blank=True)
    length_mm = models.PositiveIntegerField(null=True, blank=True)
    width_mm = models.PositiveIntegerField(null=True, blank=True)
    height_mm = models.PositiveIntegerField(null=True, blank=True)
    promised_ship_by = models.DateTimeField(
        null=True, blank=True, help_text="The warehouse cut-off this parcel must leave by."
    )
    promised_delivery = models.DateField(null=True, blank=True)
    picking_started_at = models.DateTimeField(null=True, blank=True)
    packed_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_tracking_at = models.DateTimeField(
        null=True, blank=True, help_text="When the latest applied carrier event happened."
    )

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                condition=~Q(tracking_number=""),
                name="shipment_tracking_unique_per_carrier",
            ),
            models.CheckConstraint(
                condition=Q(status=ShipmentStatus.EXCEPTION) | Q(exception_reason=""),
                name="shipment_exception_reason_only_in_exception",
            ),
        ]
        indexes = [
            models.Index(fields=["warehouse", "status"]),
            models.Index(fields=["status", "promised_ship_by"]),
            models.Index(fields=["tracking_number"]),
        ]

    def __str__(self) -> str:
        return f"SH-{self.pk:06d}" if self.pk else "SH-(new)"

    @property
    def reference(self) -> str:
        """How the stock ledger names this parcel."""
        return f"shipment:{self.pk}"


class ShipmentLine(BaseModel):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="shipment_lines"
    )
    sku = models.ForeignKey("inventory.Sku", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    bin_location = models.CharField(max_length=32, blank=True, help_text="Snapshot for picking.")

    class Meta:
        ordering = ("shipment", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "order_line"], name="shipment_line_unique_order_line"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="shipment_line_qty_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku_id} in {self.shipment_id}"


class TrackingSource(models.TextChoices):
    WEBHOOK = "webhook", "Carrier webhook"
    API = "api", "Channel / 3PL API"
    POLL = "poll", "Polled from the carrier"
    CONSOLE = "console", "Operator"


class TrackingEvent(BaseModel):
    """One carrier scan, stored once (``carrier_event_id`` is unique per carrier). ``applied``
    says whether it moved the shipment; late or out-of-order scans are kept but not applied."""

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="tracking_events")
    shipment = models.ForeignKey(
        Shipment, null=True, blank=True, on_delete=models.CASCADE, related_name="tracking_events"
    )
    carrier_event_id = models.CharField(max_length=200)
    tracking_number = models.CharField(max_length=100)
    status = models.CharField(max_length=24, choices=ShipmentStatus.choices, blank=True)
    exception_reason = models.CharField(max_length=24, choices=ExceptionReason.choices, blank=True)
    occurred_at = models.DateTimeField()
    description = models.CharField(max_length=500, blank=True)
    location = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=16, choices=TrackingSource.choices)
    raw_payload = models.JSONField(default=dict, blank=True)
    applied = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True, help_text="Why it was not applied.")

    class Meta:
        ordering = ("occurred_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "carrier_event_id"], name="tracking_event_unique_per_carrier"
            )
        ]
        indexes = [models.Index(fields=["shipment", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.carrier_id}:{self.carrier_event_id} {self.status or 'info'}"


class ShipmentEventKind(models.TextChoices):
    CREATED = "created", "Created"
    SPLIT = "split", "Split"
    REPLANNED = "replanned", "Re-planned from the allocation"
    PICKING_STARTED = "picking_started", "Picking started"
    PICKING_UNDONE = "picking_undone", "Back to pending"
    PACKED = "packed", "Packed"
    LABEL_CREATED = "label_created", "Label created"
    SHIPPED = "shipped", "Shipped"
    TRACKING = "tracking", "Tracking update"
    STATUS_CHANGED = "status_changed", "Status changed"
    EXCEPTION = "exception", "Exception"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"
    EMAIL_SENT = "email_sent", "Email sent"
    NOTE = "note", "Note"


class ShipmentEvent(EventBase):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=ShipmentEventKind.choices)

    class Meta(EventBase.Meta):
        indexes = [models.Index(fields=["shipment", "created_at"])]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.kind}"


# --------------------------------------------------------------------------- returns


class ReturnRequest(BaseModel):
    """An RMA. ``resolution`` (refund or replacement) is chosen when it is requested and may
    change until it is resolved; ``refund_amount`` is what was requested from billing."""

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="returns")
    status = models.CharField(
        max_length=16, choices=ReturnStatus.choices, default=ReturnStatus.REQUESTED
    )
    resolution = models.CharField(
        max_length=16, choices=ReturnResolution.choices, default=ReturnResolution.REFUND
    )
    reason = models.CharField(max_length=24, choices=ReturnReason.choices)
    customer_note = models.TextField(blank=True)
    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where the parcel comes back to.",
    )
    carrier = models.ForeignKey(
        Carrier, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tracking_number = models.CharField(max_length=100, blank=True)
    label_url = models.URLField(max_length=500, blank=True)
    instructions = models.TextField(blank=True)
    refund_amount = models.BigIntegerField(null=True, blank=True, help_text="Minor units.")
    replacement_order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    inspected_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(refund_amount__isnull=True) | Q(refund_amount__gte=0),
                name="return_refund_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"RMA-{self.pk:06d}" if self.pk else "RMA-(new)"

    @property
    def reference(self) -> str:
        return f"return:{self.pk}"


class ReturnLine(BaseModel):
    return_request = models.ForeignKey(
        ReturnRequest, on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="return_lines"
    )
    quantity = models.PositiveIntegerField()
    reason = models.CharField(max_length=24, choices=ReturnReason.choices)
    condition = models.CharField(
        max_length=16, choices=ItemCondition.choices, default=ItemCondition.UNKNOWN
    )
    disposition = models.CharField(
        max_length=16, choices=Disposition.choices, default=Disposition.PENDING
    )
    received_quantity = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("return_request", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["return_request", "order_line"], name="return_line_unique_order_line"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="return_line_qty_pos"),
            models.CheckConstraint(
                condition=Q(received_quantity__lte=models.F("quantity")),
                name="return_line_received_lte_qty",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × line {self.order_line_id}"


class ReturnEventKind(models.TextChoices):
    REQUESTED = "requested", "Requested"
    STATUS_CHANGED = "status_changed", "Status changed"
    LABEL_SENT = "label_sent", "Label / instructions sent"
    RECEIVED = "received", "Received"
    INSPECTED = "inspected", "Inspected"
    RESTOCKED = "restocked", "Restocked"
    WRITTEN_OFF = "written_off", "Written off"
    REFUND_REQUESTED = "refund_requested", "Refund requested"
    REPLACEMENT_PLACED = "replacement_placed", "Replacement order placed"
    NOTE = "note", "Note"


class ReturnEvent(EventBase):
    return_request = models.ForeignKey(
        ReturnRequest, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=32, choices=ReturnEventKind.choices)

    class Meta(EventBase.Meta):
        indexes = [models.Index(fields=["return_request", "created_at"])]

    def __str__(self) -> str:
        return f"{self.return_request_id} {self.kind}"
