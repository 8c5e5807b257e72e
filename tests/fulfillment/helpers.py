from __future__ import annotations

from typing import Any

from fulfillment import services
from oms.core.actors import Actor

ACTOR = Actor.system("tests")


def pack(shipment: Any, **parcel: Any) -> Any:
    services.shipment_start_picking(shipment=shipment, actor=ACTOR)
    return services.shipment_mark_packed(shipment=shipment, actor=ACTOR, **parcel)


def pack_and_ship(shipment: Any, carrier: Any, tracking_number: str = "", **kwargs: Any) -> Any:
    pack(shipment)
    return services.shipment_ship(
        shipment=shipment, carrier=carrier, tracking_number=tracking_number, actor=ACTOR, **kwargs
    )
