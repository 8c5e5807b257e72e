"""Thin Celery tasks for fulfillment: take ids, call one service, safe to run twice
(tracking events are stored once per carrier event id; a delivered parcel never moves)."""

from __future__ import annotations

import logging

from celery import shared_task

from oms.core.actors import Actor
from oms.core.errors import ApplicationError

from . import selectors, services
from .models import Shipment

logger = logging.getLogger(__name__)


@shared_task(name="fulfillment.poll_tracking")
def poll_tracking(shipment_id: int) -> int:
    """Fetch one parcel's scans from its carrier; returns how many were new."""
    shipment = Shipment.objects.filter(pk=shipment_id).first()
    if shipment is None:
        return 0
    results = services.shipment_poll_tracking(
        shipment=shipment, actor=Actor.system("tracking-poll")
    )
    return sum(1 for _, created in results if created)


@shared_task(name="fulfillment.poll_tracking_in_flight")
def poll_tracking_in_flight(limit: int = 500) -> int:
    """For carriers without webhooks: poll every parcel on the road (schedule it hourly in
    celery-beat). A carrier that fails is logged and the sweep goes on."""
    polled = 0
    for shipment_id in selectors.shipments_to_poll(limit=limit):
        try:
            poll_tracking(shipment_id)
            polled += 1
        except ApplicationError as exc:
            logger.warning("Tracking poll for shipment %s failed: %s", shipment_id, exc)
    return polled
