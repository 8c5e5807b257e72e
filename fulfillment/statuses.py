"""Shipment and return statuses with their allowed-transition tables.

Kept apart from ``models.py`` so the carrier adapters (which normalise carrier vocabularies
into these values) can import them without touching the models."""

from __future__ import annotations

from django.db import models


class ShipmentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PICKING = "picking", "Picking"
    PACKED = "packed", "Packed"
    SHIPPED = "shipped", "Shipped"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    EXCEPTION = "exception", "Exception"
    RETURNED_TO_SENDER = "returned_to_sender", "Returned to sender"
    CANCELLED = "cancelled", "Cancelled"


S = ShipmentStatus

# Statuses a carrier can report once the parcel has left the warehouse.
CARRIER_STATUSES = frozenset(
    {S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED_TO_SENDER}
)
_AFTER_EXCEPTION = {
    S.IN_TRANSIT,
    S.OUT_FOR_DELIVERY,
    S.DELIVERED,
    S.EXCEPTION,
    S.RETURNED_TO_SENDER,
}

SHIPMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.PICKING, S.CANCELLED}),
    S.PICKING: frozenset({S.PACKED, S.PENDING, S.CANCELLED}),
    S.PACKED: frozenset({S.SHIPPED, S.PICKING, S.CANCELLED}),
    S.SHIPPED: frozenset(
        {S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED_TO_SENDER}
    ),
    S.IN_TRANSIT: frozenset({S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED_TO_SENDER}),
    S.OUT_FOR_DELIVERY: frozenset({S.DELIVERED, S.EXCEPTION, S.RETURNED_TO_SENDER}),
    # A failed attempt is usually followed by another run out for delivery.
    S.EXCEPTION: frozenset(_AFTER_EXCEPTION),
    S.DELIVERED: frozenset(),
    S.RETURNED_TO_SENDER: frozenset(),
    S.CANCELLED: frozenset(),
}

# Progress along the happy path. Carrier events only ever move a shipment to a higher rank;
# an exception keeps the rank it interrupted (stored on the shipment as ``progress_rank``).
SHIPMENT_RANK: dict[str, int] = {
    S.PENDING: 0,
    S.PICKING: 1,
    S.PACKED: 2,
    S.SHIPPED: 3,
    S.IN_TRANSIT: 4,
    S.OUT_FOR_DELIVERY: 5,
    S.DELIVERED: 6,
    S.RETURNED_TO_SENDER: 7,
}

# Not yet left the warehouse: stock is still allocated, the shipment may be edited.
OPEN_STATUSES = frozenset({S.PENDING, S.PICKING, S.PACKED})
# Handed to the carrier (stock has left through the ledger).
DISPATCHED_STATUSES = frozenset(
    {S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED_TO_SENDER}
)
TERMINAL_STATUSES = frozenset({S.DELIVERED, S.RETURNED_TO_SENDER, S.CANCELLED})


class ExceptionReason(models.TextChoices):
    FAILED_ATTEMPT = "failed_attempt", "Delivery attempt failed"
    LOST = "lost", "Lost"
    DAMAGED = "damaged", "Damaged"
    ADDRESS_PROBLEM = "address_problem", "Address problem"
    OTHER = "other", "Other"


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    LABEL_SENT = "label_sent", "Label / instructions sent"
    RECEIVED = "received", "Received"
    INSPECTED = "inspected", "Inspected"
    RESTOCKED = "restocked", "Restocked"
    WRITTEN_OFF = "written_off", "Written off"
    REFUNDED = "refunded", "Refunded"
    REPLACED = "replaced", "Replaced"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


R = ReturnStatus

RETURN_TRANSITIONS: dict[str, frozenset[str]] = {
    R.REQUESTED: frozenset({R.APPROVED, R.REJECTED, R.CANCELLED}),
    # A customer may send the parcel back before we sent a label (walk-in, own carrier).
    R.APPROVED: frozenset({R.LABEL_SENT, R.RECEIVED, R.CANCELLED}),
    R.LABEL_SENT: frozenset({R.RECEIVED, R.CANCELLED}),
    R.RECEIVED: frozenset({R.INSPECTED}),
    R.INSPECTED: frozenset({R.RESTOCKED, R.WRITTEN_OFF}),
    R.RESTOCKED: frozenset({R.REFUNDED, R.REPLACED}),
    R.WRITTEN_OFF: frozenset({R.REFUNDED, R.REPLACED}),
    R.REFUNDED: frozenset(),
    R.REPLACED: frozenset(),
    R.REJECTED: frozenset(),
    R.CANCELLED: frozenset(),
}

OPEN_RETURN_STATUSES = frozenset(
    {R.REQUESTED, R.APPROVED, R.LABEL_SENT, R.RECEIVED, R.INSPECTED, R.RESTOCKED, R.WRITTEN_OFF}
)


class ReturnReason(models.TextChoices):
    DAMAGED = "damaged", "Arrived damaged"
    DEFECTIVE = "defective", "Defective"
    WRONG_ITEM = "wrong_item", "Wrong item sent"
    NOT_AS_DESCRIBED = "not_as_described", "Not as described"
    NO_LONGER_NEEDED = "no_longer_needed", "No longer needed"
    OTHER = "other", "Other"


class ItemCondition(models.TextChoices):
    UNKNOWN = "unknown", "Not inspected"
    NEW = "new", "New / sealed"
    OPENED = "opened", "Opened, resellable"
    DAMAGED = "damaged", "Damaged"
    DEFECTIVE = "defective", "Defective"


class Disposition(models.TextChoices):
    PENDING = "pending", "Pending inspection"
    RESTOCK = "restock", "Restock"
    WRITE_OFF = "write_off", "Write off"


class ReturnResolution(models.TextChoices):
    REFUND = "refund", "Refund"
    REPLACEMENT = "replacement", "Replacement"
