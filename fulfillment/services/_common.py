"""Helpers shared by the fulfillment services: event rows, locks and quantity checks."""

from __future__ import annotations

from typing import Any

from oms.core.actors import Actor
from oms.core.transactions import lock_in_pk_order
from oms.core.transitions import check_transition
from oms.core.validation import require_positive, require_reason  # noqa: F401 - re-exported
from orders.models import Order

from ..models import (
    ReturnEvent,
    ReturnRequest,
    Shipment,
    ShipmentEvent,
)
from ..statuses import RETURN_TRANSITIONS, SHIPMENT_RANK, SHIPMENT_TRANSITIONS


def shipment_event(
    *,
    shipment: Shipment,
    kind: str,
    actor: Actor,
    message: str = "",
    payload: dict[str, Any] | None = None,
) -> ShipmentEvent:
    return ShipmentEvent.objects.create(
        shipment=shipment, kind=kind, message=message, payload=payload or {}, **actor.as_fields()
    )


def return_event(
    *,
    return_request: ReturnRequest,
    kind: str,
    actor: Actor,
    message: str = "",
    payload: dict[str, Any] | None = None,
) -> ReturnEvent:
    return ReturnEvent.objects.create(
        return_request=return_request,
        kind=kind,
        message=message,
        payload=payload or {},
        **actor.as_fields(),
    )


def lock_order(order: Order | int) -> Order:
    """Fulfillment takes the order's row lock before its shipments' (the same order orders'
    own services use: order, then shipments, then stock), so two parcels of one order
    finishing at once cannot both miss that the order is complete."""
    pk = order if isinstance(order, int) else order.pk
    return Order.objects.select_for_update().get(pk=pk)


def lock_shipment(shipment: Shipment | int) -> Shipment:
    pk = shipment if isinstance(shipment, int) else shipment.pk
    return Shipment.objects.select_for_update(of=("self",)).select_related("carrier").get(pk=pk)


def lock_shipments(ids: list[int]) -> list[Shipment]:
    return lock_in_pk_order(Shipment.objects.filter(pk__in=ids))


def lock_return(return_request: ReturnRequest | int) -> ReturnRequest:
    pk = return_request if isinstance(return_request, int) else return_request.pk
    return ReturnRequest.objects.select_for_update().get(pk=pk)


def set_shipment_status(shipment: Shipment, target: str) -> str:
    """The one place a shipment's status changes (the caller holds the row lock and saves).
    Returns the previous status."""
    previous = shipment.status
    check_transition(SHIPMENT_TRANSITIONS, entity="Shipment", current=previous, target=target)
    shipment.status = target
    if target in SHIPMENT_RANK:
        shipment.progress_rank = max(shipment.progress_rank, SHIPMENT_RANK[target])
    return previous


def set_return_status(return_request: ReturnRequest, target: str) -> str:
    previous = return_request.status
    check_transition(RETURN_TRANSITIONS, entity="Return", current=previous, target=target)
    return_request.status = target
    return previous


require_quantity = require_positive
