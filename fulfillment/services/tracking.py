"""Carrier tracking: each scan is stored once, moves its shipment forward only, and keeps
the order in step (every live parcel delivered → order delivered).

Forward-only rule: a scan is applied when its status ranks above where the shipment has
got to (pending < … < shipped < in transit < out for delivery < delivered). An exception
(failed attempt, lost, damaged) interrupts without losing that progress; from an exception
any later scan (by the time it happened) applies. Delivered and returned-to-sender are
final. Scans that do not apply are still stored, with ``applied=False`` and why."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.errors import ValidationError
from oms.core.transactions import on_commit

from .. import errors
from ..carriers import CarrierError, TrackingUpdate, get_adapter
from ..models import (
    Carrier,
    Shipment,
    ShipmentEventKind,
    TrackingEvent,
    TrackingSource,
)
from ..statuses import (
    DISPATCHED_STATUSES,
    SHIPMENT_RANK,
    SHIPMENT_TRANSITIONS,
    TERMINAL_STATUSES,
    ExceptionReason,
    ShipmentStatus,
)
from . import order_sync
from ._common import lock_order, lock_shipment, set_shipment_status, shipment_event

S = ShipmentStatus

NOTIFY_ON = frozenset({S.SHIPPED, S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION})


def _refusal(shipment: Shipment, target: str, occurred_at: datetime) -> str:
    """Why a scan does not move the shipment, or "" when it does."""
    current = shipment.status
    if current in TERMINAL_STATUSES:
        return f"shipment already {current}"
    if current not in DISPATCHED_STATUSES:
        return f"shipment not shipped yet ({current})"
    if current == S.EXCEPTION or target == S.EXCEPTION:
        # Interruptions and recoveries are ordered by when they happened, not by rank.
        if shipment.last_tracking_at and occurred_at < shipment.last_tracking_at:
            return "older than the latest applied scan"
        if target not in SHIPMENT_TRANSITIONS[current] and target != current:
            return f"would move back from {current} to {target}"
        return ""
    if SHIPMENT_RANK[target] <= SHIPMENT_RANK[current]:
        return (
            f"would move back from {current} to {target}"
            if target != current
            else f"already {current}"
        )
    return ""


def apply_status(
    *,
    shipment: Shipment,
    target: str,
    occurred_at: datetime,
    actor: Actor,
    exception_reason: str = "",
    message: str = "",
    payload: dict[str, object] | None = None,
) -> None:
    """Move a locked, dispatched shipment to ``target`` (a carrier status) and do what
    follows: timestamps, timeline, the order's delivery, the customer's email after commit.
    The caller holds the order's and the shipment's locks."""
    previous = set_shipment_status(shipment, target)
    shipment.exception_reason = exception_reason if target == S.EXCEPTION else ""
    if shipment.last_tracking_at is None or occurred_at > shipment.last_tracking_at:
        shipment.last_tracking_at = occurred_at
    if target == S.DELIVERED:
        shipment.delivered_at = occurred_at
    shipment.save(
        update_fields=[
            "status",
            "progress_rank",
            "exception_reason",
            "last_tracking_at",
            "delivered_at",
            "updated_at",
        ]
    )
    kinds: dict[str, str] = {
        S.DELIVERED: ShipmentEventKind.DELIVERED,
        S.EXCEPTION: ShipmentEventKind.EXCEPTION,
    }
    kind = kinds.get(target, ShipmentEventKind.STATUS_CHANGED)
    shipment_event(
        shipment=shipment,
        kind=kind,
        actor=actor,
        message=message,
        payload={
            "from": previous,
            "to": target,
            "occurred_at": occurred_at.isoformat(),
            **({"exception_reason": exception_reason} if target == S.EXCEPTION else {}),
            **(payload or {}),
        },
    )
    order_sync.record_tracking(shipment=shipment, status=target, actor=actor, message=message)
    if target == S.DELIVERED:
        order_sync.record_delivery_if_complete(order=shipment.order, actor=actor)
    if target in NOTIFY_ON:
        from .notifications import send_shipment_email

        on_commit(send_shipment_email, shipment_id=shipment.pk, kind=target)


@transaction.atomic
def tracking_event_record(
    *, carrier: Carrier, update: TrackingUpdate, source: str, actor: Actor
) -> tuple[TrackingEvent, bool]:
    """Store one carrier scan and apply it if it moves its shipment forward. Returns
    (event, created): a scan seen before (same carrier event id) changes nothing and
    returns the stored row with ``created=False``."""
    if source not in TrackingSource.values:
        raise ValidationError(f"Unknown tracking source '{source}'.")
    existing = TrackingEvent.objects.filter(
        carrier=carrier, carrier_event_id=update.carrier_event_id
    ).first()
    if existing is not None:
        return existing, False
    shipment = (
        Shipment.objects.filter(carrier=carrier, tracking_number=update.tracking_number)
        .only("pk", "order_id")
        .first()
    )
    if shipment is not None:
        # Order, then shipment: the same lock order as shipping, so the last parcel of an
        # order to arrive always sees its siblings' committed state.
        order = lock_order(shipment.order_id)
        shipment = lock_shipment(shipment.pk)
        shipment.order = order  # the locked row: the timeline writes below reuse it
    event = TrackingEvent(
        carrier=carrier,
        shipment=shipment,
        carrier_event_id=update.carrier_event_id,
        tracking_number=update.tracking_number,
        status=update.status,
        exception_reason=update.exception_reason,
        occurred_at=update.occurred_at,
        description=update.description,
        location=update.location,
        source=source,
        raw_payload=update.raw,
    )
    if shipment is None:
        event.note = "unknown tracking number"
    elif not update.status:
        event.note = "informational scan"
    else:
        event.note = _refusal(shipment, update.status, update.occurred_at)
        event.applied = not event.note
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        # A concurrent delivery of the same scan won the unique index: it is stored once.
        return (
            TrackingEvent.objects.get(carrier=carrier, carrier_event_id=update.carrier_event_id),
            False,
        )
    if shipment is None:
        return event, True
    if event.applied:
        apply_status(
            shipment=shipment,
            target=update.status,
            occurred_at=update.occurred_at,
            actor=actor,
            exception_reason=update.exception_reason,
            message=update.description,
            payload={"tracking_event": event.pk, "location": update.location},
        )
    else:
        shipment_event(
            shipment=shipment,
            kind=ShipmentEventKind.TRACKING,
            actor=actor,
            message=update.description,
            payload={
                "tracking_event": event.pk,
                "status": update.status,
                "occurred_at": update.occurred_at.isoformat(),
                "not_applied": event.note,
            },
        )
    return event, True


def tracking_events_record_many(
    *, carrier: Carrier, updates: list[TrackingUpdate], source: str, actor: Actor
) -> list[tuple[TrackingEvent, bool]]:
    """Record scans in the order they happened (a batch may arrive shuffled)."""
    ordered = sorted(updates, key=lambda u: (u.occurred_at, u.carrier_event_id))
    return [
        tracking_event_record(carrier=carrier, update=u, source=source, actor=actor)
        for u in ordered
    ]


def shipment_poll_tracking(*, shipment: Shipment, actor: Actor) -> list[tuple[TrackingEvent, bool]]:
    """Ask the carrier for the parcel's scans and record them (network call outside any
    transaction; each scan is then recorded in its own)."""
    shipment = Shipment.objects.select_related("carrier").get(pk=shipment.pk)
    if shipment.carrier is None or not shipment.tracking_number:
        return []
    try:
        adapter = get_adapter(shipment.carrier.config(), shipment.carrier.adapter)
        updates = adapter.fetch_tracking(shipment.tracking_number)
    except CarrierError as exc:
        raise ValidationError(str(exc), code=errors.CARRIER_ERROR) from None
    return tracking_events_record_many(
        carrier=shipment.carrier, updates=updates, source=TrackingSource.POLL, actor=actor
    )


@transaction.atomic
def shipment_mark_exception(
    *, shipment: Shipment, reason: str, actor: Actor, note: str = ""
) -> Shipment:
    """An operator records a problem with a parcel on its way (the carrier said so on the
    phone, the customer reports it lost)."""
    if reason not in ExceptionReason.values:
        raise ValidationError(
            f"Unknown exception reason '{reason}'.", fields={"reason": ExceptionReason.values}
        )
    order = lock_order(shipment.order_id)
    shipment = lock_shipment(shipment)
    shipment.order = order
    apply_status(
        shipment=shipment,
        target=S.EXCEPTION,
        occurred_at=timezone.now(),
        actor=actor,
        exception_reason=reason,
        message=note,
    )
    return shipment


@transaction.atomic
def shipment_mark_delivered(
    *, shipment: Shipment, actor: Actor, delivered_at: datetime | None = None
) -> Shipment:
    """Record a delivery the carrier does not report (manual carrier, proof from the
    customer)."""
    order = lock_order(shipment.order_id)
    shipment = lock_shipment(shipment)
    shipment.order = order
    apply_status(
        shipment=shipment,
        target=S.DELIVERED,
        occurred_at=delivered_at or timezone.now(),
        actor=actor,
        message="Marked delivered by hand.",
    )
    return shipment


@transaction.atomic
def shipment_mark_returned_to_sender(
    *, shipment: Shipment, actor: Actor, note: str = ""
) -> Shipment:
    order = lock_order(shipment.order_id)
    shipment = lock_shipment(shipment)
    shipment.order = order
    apply_status(
        shipment=shipment,
        target=S.RETURNED_TO_SENDER,
        occurred_at=timezone.now(),
        actor=actor,
        message=note,
    )
    return shipment
