"""Transfers between warehouses: requested → in transit → received (or cancelled before they
leave). Stock leaves the source when dispatched (``transfer_out``) and arrives at the
destination when received (``transfer_in``), where it first fills waiting backorders."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.errors import ValidationError
from oms.core.transactions import retry_on_deadlock
from oms.core.transitions import check_transition

from ..models import (
    TRANSFER_TRANSITIONS,
    MovementKind,
    Sku,
    StockEvent,
    StockEventKind,
    Transfer,
    TransferStatus,
    Warehouse,
)
from .ledger import StockBook, ensure_and_lock_levels, require_positive
from .stock import _stockable, stock_in


def _event(
    *, transfer: Transfer, kind: str, actor: Actor, message: str = "", **payload: Any
) -> None:
    StockEvent.objects.create(
        kind=kind,
        sku_id=transfer.sku_id,
        warehouse_id=transfer.source_id,
        transfer=transfer,
        message=message,
        payload={
            "quantity": transfer.quantity,
            "source": transfer.source_id,
            "destination": transfer.destination_id,
            **payload,
        },
        **actor.as_fields(),
    )


def _set_status(transfer: Transfer, target: str) -> None:
    check_transition(
        TRANSFER_TRANSITIONS, entity="Transfer", current=transfer.status, target=target
    )
    transfer.status = target


@transaction.atomic
def transfer_request(
    *,
    sku: Sku,
    source: Warehouse,
    destination: Warehouse,
    quantity: int,
    actor: Actor,
    reason: str = "",
) -> Transfer:
    require_positive(quantity)
    _stockable(sku)
    if source.pk == destination.pk:
        raise ValidationError(
            "A transfer needs two different warehouses.",
            fields={"destination": ["Same as the source."]},
        )
    transfer = Transfer.objects.create(
        sku=sku, source=source, destination=destination, quantity=quantity, reason=reason
    )
    _event(transfer=transfer, kind=StockEventKind.TRANSFER_REQUESTED, actor=actor, message=reason)
    return transfer


@transaction.atomic
def transfer_dispatch(*, transfer: Transfer, actor: Actor) -> Transfer:
    """The goods leave the source: refused unless that many units are available there."""
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    _set_status(transfer, TransferStatus.IN_TRANSIT)
    key = (transfer.sku_id, transfer.source_id)
    level = ensure_and_lock_levels([key])[key]
    book = StockBook(actor=actor)
    book.move(
        level,
        kind=MovementKind.TRANSFER_OUT,
        quantity=-transfer.quantity,
        reason=transfer.reason or "transfer",
        reference=f"transfer:{transfer.pk}",
    )
    book.flush()
    transfer.dispatched_at = timezone.now()
    transfer.save(update_fields=["status", "dispatched_at", "updated_at"])
    _event(transfer=transfer, kind=StockEventKind.TRANSFER_DISPATCHED, actor=actor)
    return transfer


@retry_on_deadlock
@transaction.atomic
def transfer_receive(*, transfer: Transfer, actor: Actor) -> Transfer:
    transfer = (
        Transfer.objects.select_for_update().select_related("destination").get(pk=transfer.pk)
    )
    _set_status(transfer, TransferStatus.RECEIVED)
    stock_in(
        warehouse=transfer.destination,
        quantities={transfer.sku_id: transfer.quantity},
        kind=MovementKind.TRANSFER_IN,
        actor=actor,
        reason=transfer.reason or "transfer",
        reference=f"transfer:{transfer.pk}",
    )
    transfer.received_at = timezone.now()
    transfer.save(update_fields=["status", "received_at", "updated_at"])
    _event(transfer=transfer, kind=StockEventKind.TRANSFER_RECEIVED, actor=actor)
    return transfer


@transaction.atomic
def transfer_cancel(*, transfer: Transfer, reason: str, actor: Actor) -> Transfer:
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    _set_status(transfer, TransferStatus.CANCELLED)
    transfer.save(update_fields=["status", "updated_at"])
    _event(transfer=transfer, kind=StockEventKind.TRANSFER_CANCELLED, actor=actor, message=reason)
    return transfer
