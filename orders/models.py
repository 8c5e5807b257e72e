"""Orders from every channel: one ``Order`` with its ``OrderLine``s, a guarded status lifecycle
(``OrderStatus`` + ``ALLOWED_TRANSITIONS``) and an append-only ``OrderEvent`` timeline.

Quantities on a line describe where its units are: ``allocated`` (stock promised, not yet
shipped), ``backordered`` (waiting for stock), ``shipped``, ``cancelled`` — together never more
than ``quantity`` — and ``returned`` (never more than shipped). The database enforces both.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from oms.core.models import BaseModel, EventBase

NUMBER_SEQUENCE = "orders_order_number_seq"


class OrderStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PLACED = "placed", "Placed"
    PAYMENT_PENDING = "payment_pending", "Payment pending"
    CONFIRMED = "confirmed", "Confirmed"
    ALLOCATED = "allocated", "Allocated"
    BACKORDERED = "backordered", "Backordered"
    PARTIALLY_FULFILLED = "partially_fulfilled", "Partially fulfilled"
    FULFILLED = "fulfilled", "Fulfilled"
    DELIVERED = "delivered", "Delivered"
    ON_HOLD = "on_hold", "On hold"
    CANCELLED = "cancelled", "Cancelled"
    PARTIALLY_RETURNED = "partially_returned", "Partially returned"
    RETURNED = "returned", "Returned"


S = OrderStatus

# The statuses an order on hold may be released back to (the one it was held from).
HOLDABLE = frozenset({S.PLACED, S.PAYMENT_PENDING, S.CONFIRMED, S.ALLOCATED, S.BACKORDERED})
# Before anything has shipped: the order may still be edited or cancelled.
EDITABLE = frozenset(HOLDABLE | {S.ON_HOLD})
CANCELLABLE = frozenset({S.DRAFT} | EDITABLE)

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.PLACED, S.CANCELLED}),
    S.PLACED: frozenset({S.PAYMENT_PENDING, S.CONFIRMED, S.ON_HOLD, S.CANCELLED}),
    S.PAYMENT_PENDING: frozenset({S.CONFIRMED, S.ON_HOLD, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.ALLOCATED, S.BACKORDERED, S.ON_HOLD, S.CANCELLED}),
    # allocated <-> backordered: an edit adds a line that has to wait, or a receipt fills it.
    S.ALLOCATED: frozenset(
        {S.BACKORDERED, S.PARTIALLY_FULFILLED, S.FULFILLED, S.ON_HOLD, S.CANCELLED}
    ),
    S.BACKORDERED: frozenset(
        {S.ALLOCATED, S.PARTIALLY_FULFILLED, S.FULFILLED, S.ON_HOLD, S.CANCELLED}
    ),
    S.PARTIALLY_FULFILLED: frozenset({S.FULFILLED, S.PARTIALLY_RETURNED}),
    S.FULFILLED: frozenset({S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED}),
    S.DELIVERED: frozenset({S.PARTIALLY_RETURNED, S.RETURNED}),
    S.ON_HOLD: frozenset(HOLDABLE | {S.CANCELLED}),
    S.PARTIALLY_RETURNED: frozenset({S.RETURNED}),
    S.CANCELLED: frozenset(),
    S.RETURNED: frozenset(),
}


class OrderOrigin(models.TextChoices):
    ONE_OFF = "one_off", "One-off"
    SUBSCRIPTION = "subscription", "Subscription renewal"


class DeliveryOption(models.TextChoices):
    STANDARD = "standard", "Standard"
    EXPRESS = "express", "Express"
    NEXT_DAY = "next_day", "Next day"
    PICKUP = "pickup", "Pickup in store"
    DIGITAL = "digital", "Digital delivery (nothing ships)"


# Business days from dispatch to the customer; fulfillment plans carriers with these.
DELIVERY_LEAD_TIME_DAYS: dict[str, int] = {
    DeliveryOption.STANDARD: 5,
    DeliveryOption.EXPRESS: 2,
    DeliveryOption.NEXT_DAY: 1,
    DeliveryOption.PICKUP: 1,
    DeliveryOption.DIGITAL: 0,
}


class Order(BaseModel):
    number = models.CharField(max_length=20, unique=True, editable=False)
    channel = models.ForeignKey("core.Channel", on_delete=models.PROTECT, related_name="orders")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="orders"
    )
    external_id = models.CharField(
        max_length=200, null=True, blank=True, help_text="The channel's own order id."
    )
    origin = models.CharField(
        max_length=16, choices=OrderOrigin.choices, default=OrderOrigin.ONE_OFF
    )
    # Orders sit below subscriptions: the renewal's subscription is kept by id, not by FK.
    subscription_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    status = models.CharField(
        max_length=24, choices=OrderStatus.choices, default=OrderStatus.DRAFT, db_index=True
    )
    currency = models.CharField(max_length=3)
    shipping_address = models.JSONField(default=dict, blank=True)
    billing_address = models.JSONField(default=dict, blank=True)
    delivery_option = models.CharField(
        max_length=16, choices=DeliveryOption.choices, default=DeliveryOption.STANDARD
    )
    notes = models.TextField(blank=True, help_text="The customer's or channel's notes.")
    subtotal = models.BigIntegerField(default=0, help_text="Minor units, before discounts.")
    discount_total = models.BigIntegerField(default=0)
    shipping_total = models.BigIntegerField(default=0)
    tax_total = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    shipping_waived = models.BooleanField(
        default=False, help_text="No shipping charge (a free replacement); edits keep it free."
    )
    placed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=Q(external_id__isnull=False),
                name="order_external_id_unique_per_channel",
            ),
            models.CheckConstraint(
                condition=(
                    Q(origin=OrderOrigin.ONE_OFF, subscription_id__isnull=True)
                    | Q(origin=OrderOrigin.SUBSCRIPTION, subscription_id__isnull=False)
                ),
                name="order_origin_matches_subscription",
            ),
            models.CheckConstraint(
                condition=Q(
                    subtotal__gte=0,
                    discount_total__gte=0,
                    shipping_total__gte=0,
                    tax_total__gte=0,
                    total__gte=0,
                ),
                name="order_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(
                    total=F("subtotal") - F("discount_total") + F("shipping_total") + F("tax_total")
                ),
                name="order_total_adds_up",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="order_currency_iso"
            ),
        ]
        indexes = [models.Index(fields=["channel", "created_at"])]

    def __str__(self) -> str:
        return self.number

    @property
    def delivery_lead_time_days(self) -> int:
        return DELIVERY_LEAD_TIME_DAYS.get(self.delivery_option, 5)

    @property
    def reference(self) -> str:
        """How inventory groups this order's allocation lines."""
        return f"order:{self.number}"


class OrderLine(BaseModel):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveSmallIntegerField()
    sku = models.ForeignKey("inventory.Sku", on_delete=models.PROTECT, related_name="+")
    sku_code = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    is_physical = models.BooleanField(default=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.BigIntegerField(help_text="Minor units.")
    discount = models.BigIntegerField(default=0, help_text="For the whole line.")
    tax = models.BigIntegerField(default=0)
    total = models.BigIntegerField(
        default=0, help_text="(quantity − cancelled) × unit price − discount + tax."
    )
    allocated_quantity = models.PositiveIntegerField(default=0)
    backordered_quantity = models.PositiveIntegerField(default=0)
    shipped_quantity = models.PositiveIntegerField(default=0)
    returned_quantity = models.PositiveIntegerField(default=0)
    cancelled_quantity = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ("order", "line_no")
        constraints = [
            models.UniqueConstraint(fields=["order", "line_no"], name="order_line_no_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_qty_positive"),
            models.CheckConstraint(
                condition=Q(
                    quantity__gte=F("allocated_quantity")
                    + F("backordered_quantity")
                    + F("shipped_quantity")
                    + F("cancelled_quantity")
                ),
                name="order_line_quantities_within_quantity",
            ),
            models.CheckConstraint(
                condition=Q(returned_quantity__lte=F("shipped_quantity")),
                name="order_line_returned_lte_shipped",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0, discount__gte=0, tax__gte=0, total__gte=0),
                name="order_line_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}#{self.line_no} {self.quantity} × {self.sku_code}"

    @property
    def stock_ref(self) -> str:
        """The ``line_ref`` this line carries in inventory (allocations, backorders, shipments)."""
        return f"order_line:{self.pk}"

    @property
    def open_quantity(self) -> int:
        """Units still owed to the customer: neither shipped nor cancelled."""
        return self.quantity - self.shipped_quantity - self.cancelled_quantity

    @property
    def active_quantity(self) -> int:
        return self.quantity - self.cancelled_quantity


class OrderEventKind(models.TextChoices):
    PLACED = "placed", "Placed"
    STATUS_CHANGED = "status_changed", "Status changed"
    ALLOCATION = "allocation", "Stock allocated"
    BACKORDER_FILLED = "backorder_filled", "Backorder filled"
    HELD = "held", "Put on hold"
    RELEASED = "released", "Released from hold"
    CANCELLED = "cancelled", "Cancelled"
    EDITED = "edited", "Edited"
    NOTE = "note", "Note"
    EMAIL_SENT = "email_sent", "Email sent"
    PAYMENT = "payment", "Payment"
    REFUND_REQUESTED = "refund_requested", "Refund requested"
    SHIPMENT = "shipment", "Shipment"
    TRACKING = "tracking", "Tracking update"
    DELIVERED = "delivered", "Delivered"
    RETURN = "return", "Return"


class OrderEvent(EventBase):
    """The order's timeline. Append-only: rows are inserted by services and never changed."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=OrderEventKind.choices)

    class Meta(EventBase.Meta):
        indexes = [models.Index(fields=["order", "created_at"])]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind}"
