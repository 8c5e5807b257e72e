from __future__ import annotations

import random
from typing import Any

from fulfillment import demo
from fulfillment.models import ReturnRequest, Shipment, ShipmentEvent, TrackingEvent
from fulfillment.statuses import ReturnStatus, ShipmentStatus


class Ctx:
    rng = random.Random(1)
    scale = 1
    shared: dict[str, Any] = {}

    def progress(self, label, items, total=None):
        return iter(items)

    def log(self, message):
        pass


def test_demo_seed_is_idempotent(order_for, stocked):
    for _ in range(12):
        order_for([(stocked(5), 1)])

    demo.seed(Ctx())
    snapshot = (
        sorted(Shipment.objects.values_list("pk", "status")),
        TrackingEvent.objects.count(),
        ShipmentEvent.objects.count(),
        ReturnRequest.objects.count(),
    )
    demo.seed(Ctx())

    assert snapshot == (
        sorted(Shipment.objects.values_list("pk", "status")),
        TrackingEvent.objects.count(),
        ShipmentEvent.objects.count(),
        ReturnRequest.objects.count(),
    )
    statuses = {status for _, status in snapshot[0]}
    assert {ShipmentStatus.DELIVERED, ShipmentStatus.IN_TRANSIT, ShipmentStatus.PENDING} <= statuses
    assert ReturnRequest.objects.get().status == ReturnStatus.REFUNDED
