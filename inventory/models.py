"""Catalog (products, SKUs, prices, bundles), warehouses and stock.

Stock has two numbers per (SKU, warehouse): ``on_hand`` (units physically there) and
``allocated`` (units promised to order lines, not yet shipped). ``available`` is the
difference. The database refuses any row where allocated > on_hand or either is negative,
so even a buggy caller cannot oversell. Every change is written to the append-only
``StockMovement`` ledger: on_hand always equals the sum of the ledger's ``quantity`` and
allocated the sum of its ``allocated_delta`` (``manage.py verify_stock`` checks both).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from oms.core.models import BaseModel, EventBase

# --------------------------------------------------------------------------- catalog


class Product(BaseModel):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name


class TaxCategory(models.TextChoices):
    STANDARD = "standard", "Standard rate"
    REDUCED = "reduced", "Reduced rate"
    ZERO = "zero", "Zero rated"
    DIGITAL = "digital", "Digital services"
    EXEMPT = "exempt", "Exempt"


class Sku(BaseModel):
    """A sellable unit. Non-physical SKUs (digital, SaaS seats) need no stock. A bundle SKU
    is made of component SKUs (``BundleComponent``); allocating it allocates the components."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="skus")
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    is_physical = models.BooleanField(default=True)
    is_bundle = models.BooleanField(default=False)
    allow_backorder = models.BooleanField(
        default=False, help_text="Short lines of this SKU may wait for the next receipt."
    )
    tax_category = models.CharField(
        max_length=16, choices=TaxCategory.choices, default=TaxCategory.STANDARD
    )
    barcode = models.CharField(max_length=64, blank=True)
    weight_grams = models.PositiveIntegerField(null=True, blank=True)
    length_mm = models.PositiveIntegerField(null=True, blank=True)
    width_mm = models.PositiveIntegerField(null=True, blank=True)
    height_mm = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("code",)
        verbose_name = "SKU"
        constraints = [
            models.UniqueConstraint(
                fields=["barcode"], condition=~Q(barcode=""), name="sku_barcode_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    @property
    def volume_cm3(self) -> int | None:
        if not (self.length_mm and self.width_mm and self.height_mm):
            return None
        return self.length_mm * self.width_mm * self.height_mm // 1000


class SkuPrice(BaseModel):
    sku = models.ForeignKey(Sku, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField(help_text="Minor units (cents).")

    class Meta:
        ordering = ("sku", "currency")
        verbose_name = "SKU price"
        constraints = [
            models.UniqueConstraint(fields=["sku", "currency"], name="sku_price_unique_currency"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="sku_price_not_negative"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="sku_price_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id} {self.amount} {self.currency}"


class BundleComponent(models.Model):
    bundle = models.ForeignKey(Sku, on_delete=models.CASCADE, related_name="components")
    component = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="in_bundles")
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ("bundle", "id")
        constraints = [
            models.UniqueConstraint(fields=["bundle", "component"], name="bundle_component_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="bundle_component_qty_pos"),
            models.CheckConstraint(
                condition=~Q(bundle=F("component")), name="bundle_component_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.component_id} in {self.bundle_id}"


# --------------------------------------------------------------------------- warehouses


class Warehouse(BaseModel):
    """A stock location. ``priority``: lower ships first. Empty ``ships_to_countries`` means
    it ships anywhere; no ``channels`` means it serves every channel."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(default=100)
    line1 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    # A JSON list of ISO codes (not a PostgreSQL array) so the SQLite quick start works too.
    ships_to_countries = models.JSONField(
        default=list, blank=True, help_text='ISO codes, e.g. ["US", "CA"]. Empty: anywhere.'
    )
    channels = models.ManyToManyField(
        "core.Channel", blank=True, related_name="+", help_text="Empty: every channel."
    )
    cutoff_time = models.TimeField(
        null=True, blank=True, help_text="Orders allocated before this time ship the same day."
    )
    capacity_units = models.PositiveIntegerField(null=True, blank=True)
    capacity_volume_cm3 = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("priority", "code")
        constraints = [
            models.CheckConstraint(
                condition=Q(country__regex=r"^[A-Z]{2}$"), name="warehouse_country_iso2"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.country})"

    def ships_to(self, country: str) -> bool:
        return not self.ships_to_countries or country.upper() in self.ships_to_countries


class StockLevel(BaseModel):
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="stock_levels")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField(default=0)
    allocated = models.IntegerField(default=0)
    reorder_point = models.PositiveIntegerField(
        default=0, help_text="Alert when available stock falls below this."
    )
    safety_stock = models.PositiveIntegerField(
        default=0, help_text="Buffer the forecast keeps in reserve."
    )

    class Meta:
        ordering = ("sku", "warehouse")
        constraints = [
            models.UniqueConstraint(fields=["sku", "warehouse"], name="stock_level_unique"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(
                condition=Q(allocated__gte=0), name="stock_allocated_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(allocated__lte=F("on_hand")), name="stock_allocated_lte_on_hand"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.sku_id}@{self.warehouse_id}: {self.on_hand} on hand, {self.allocated} allocated"
        )

    @property
    def available(self) -> int:
        return self.on_hand - self.allocated


# --------------------------------------------------------------------------- ledger


class MovementKind(models.TextChoices):
    RECEIPT = "receipt", "Receipt"
    ADJUSTMENT = "adjustment", "Adjustment"
    ALLOCATION = "allocation", "Allocation"
    RELEASE = "release", "Release"
    SHIPMENT = "shipment", "Shipment"
    RETURN = "return", "Return to stock"
    WRITE_OFF = "write_off", "Write-off"
    TRANSFER_OUT = "transfer_out", "Transfer out"
    TRANSFER_IN = "transfer_in", "Transfer in"


class StockMovement(EventBase):
    """Append-only. ``quantity`` changes on_hand, ``allocated_delta`` changes allocated; the
    ``*_after`` columns are the stock level's balances right after this movement."""

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=MovementKind.choices)
    quantity = models.IntegerField(default=0)
    allocated_delta = models.IntegerField(default=0)
    on_hand_after = models.IntegerField()
    allocated_after = models.IntegerField()
    reason = models.CharField(max_length=500, blank=True)
    reference = models.CharField(max_length=200, blank=True, db_index=True)

    class Meta(EventBase.Meta):
        indexes = [
            models.Index(fields=["sku", "warehouse", "created_at"]),
            models.Index(fields=["kind", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity:+d} ({self.sku_id}@{self.warehouse_id})"


# --------------------------------------------------------------------------- allocation


class Allocation(BaseModel):
    """Units of one (component) SKU promised to one order line at one warehouse.

    ``line_sku`` is the SKU the line ordered; for a bundle line, ``sku`` is a component and
    ``per_unit`` how many of it one bundle unit holds (1 for a plain SKU). ``quantity`` is
    what is still allocated (component units); it drops as units ship or are released."""

    line_ref = models.CharField(max_length=100, db_index=True)
    reference = models.CharField(max_length=200, blank=True, db_index=True)
    line_sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="allocations")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="allocations")
    per_unit = models.PositiveIntegerField(default=1)
    quantity = models.IntegerField()
    quantity_shipped = models.IntegerField(default=0)
    quantity_released = models.IntegerField(default=0)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="allocation_qty_not_negative"
            ),
            models.CheckConstraint(condition=Q(per_unit__gte=1), name="allocation_per_unit_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.line_ref}: {self.quantity} × {self.sku_id}@{self.warehouse_id}"


class BackorderStatus(models.TextChoices):
    OPEN = "open", "Open"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"


BACKORDER_TRANSITIONS = {
    BackorderStatus.OPEN: {BackorderStatus.FILLED, BackorderStatus.CANCELLED},
    BackorderStatus.FILLED: set(),
    BackorderStatus.CANCELLED: set(),
}


class Backorder(BaseModel):
    """A line's shortfall, in the line's own units (bundle units for a bundle line). Receipts
    fill open backorders first-in first-out (``created_at``, ``id``)."""

    line_ref = models.CharField(max_length=100, db_index=True)
    reference = models.CharField(max_length=200, blank=True)
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="backorders")
    quantity = models.IntegerField(help_text="Still waiting.")
    quantity_filled = models.IntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=BackorderStatus.choices, default=BackorderStatus.OPEN
    )
    destination_country = models.CharField(max_length=2, blank=True)
    channel = models.ForeignKey(
        "core.Channel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ("created_at", "id")
        indexes = [
            models.Index(
                fields=["sku", "created_at", "id"],
                condition=Q(status="open"),
                name="backorder_open_fifo",
            )
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="backorder_qty_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.line_ref}: {self.quantity} × {self.sku_id} ({self.status})"


# --------------------------------------------------------------------------- transfers


class TransferStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    IN_TRANSIT = "in_transit", "In transit"
    RECEIVED = "received", "Received"
    CANCELLED = "cancelled", "Cancelled"


TRANSFER_TRANSITIONS = {
    TransferStatus.REQUESTED: {TransferStatus.IN_TRANSIT, TransferStatus.CANCELLED},
    TransferStatus.IN_TRANSIT: {TransferStatus.RECEIVED},
    TransferStatus.RECEIVED: set(),
    TransferStatus.CANCELLED: set(),
}


class Transfer(BaseModel):
    """Stock moving between two warehouses: requested → in transit (leaves the source:
    ``transfer_out``) → received (arrives: ``transfer_in``)."""

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="transfers")
    source = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="transfers_out")
    destination = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="transfers_in"
    )
    quantity = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=TransferStatus.choices, default=TransferStatus.REQUESTED
    )
    reason = models.CharField(max_length=500, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="transfer_qty_pos"),
            models.CheckConstraint(
                condition=~Q(source=F("destination")), name="transfer_distinct_warehouses"
            ),
        ]

    def __str__(self) -> str:
        return f"Transfer #{self.pk}: {self.quantity} × {self.sku_id} {self.source_id}→{self.destination_id}"


# --------------------------------------------------------------------------- events


class StockEventKind(models.TextChoices):
    LOW_STOCK = "low_stock", "Low stock"
    BACKORDER_FILLED = "backorder_filled", "Backorder filled"
    TRANSFER_REQUESTED = "transfer_requested", "Transfer requested"
    TRANSFER_DISPATCHED = "transfer_dispatched", "Transfer dispatched"
    TRANSFER_RECEIVED = "transfer_received", "Transfer received"
    TRANSFER_CANCELLED = "transfer_cancelled", "Transfer cancelled"


class StockEvent(EventBase):
    """Things operators should see: low-stock alerts, filled backorders, transfer steps."""

    kind = models.CharField(max_length=32, choices=StockEventKind.choices)
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey(
        Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    transfer = models.ForeignKey(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )

    class Meta(EventBase.Meta):
        indexes = [models.Index(fields=["kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.sku_id}@{self.warehouse_id}"
