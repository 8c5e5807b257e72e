"""Demo fulfillment: two carriers, bin locations, and the demo orders' parcels picked,
packed, shipped and tracked to the door through the services (some delivered, some on the
road, one exception), plus a return that is restocked and refunded.

Idempotent: which parcel gets how far is decided by its id, tracking numbers and carrier
event ids are derived from it, and only pending parcels are touched, so a second run finds
nothing left to do."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from fulfillment import services
from fulfillment.carriers import TrackingUpdate
from fulfillment.models import BinLocation, Carrier, ReturnRequest, Shipment, TrackingSource
from fulfillment.services.shipments import SHIPPABLE_ORDER_STATUSES
from fulfillment.statuses import ExceptionReason, ShipmentStatus
from inventory.models import StockLevel
from oms.core.actors import Actor
from oms.core.errors import ApplicationError

ORDER = 70

S = ShipmentStatus
ACTOR = Actor.system("demo")

CARRIERS = [
    {
        "code": "post",
        "name": "National Post (manual)",
        "adapter": "manual",
        "tracking_url_template": "https://tracking.example/post/{tracking_number}",
    },
    {
        "code": "parcelhub",
        "name": "ParcelHub API",
        "adapter": "http",
        "base_url": "http://127.0.0.1:8025/parcelhub",
        "webhook_secret": "demo-parcelhub-webhook-secret",
        "tracking_url_template": "https://tracking.example/parcelhub/{tracking_number}",
    },
]

# What happens to a pending parcel, by its id modulo 10.
PLAN = {
    0: S.DELIVERED,
    1: S.DELIVERED,
    2: S.DELIVERED,
    3: S.IN_TRANSIT,
    4: S.OUT_FOR_DELIVERY,
    5: S.EXCEPTION,
    6: S.SHIPPED,
    7: S.PACKED,
    8: S.PICKING,
}  # 9: stays pending (today's pick list)


def _carriers(ctx: Any) -> dict[str, Carrier]:
    found = {}
    for spec in CARRIERS:
        carrier = Carrier.objects.filter(code=spec["code"]).first()
        if carrier is None:
            carrier = services.carrier_create(**spec)
            if spec.get("webhook_secret"):
                ctx.log(
                    f"carrier {carrier.code}: webhooks at /fulfillment/carriers/{carrier.code}/events/ "
                    f"signed with '{spec['webhook_secret']}'"
                )
        found[carrier.code] = carrier
    return found


def _bins() -> None:
    taken = set(BinLocation.objects.values_list("warehouse_id", "sku_id"))
    for i, level in enumerate(
        StockLevel.objects.select_related("warehouse", "sku").order_by("warehouse_id", "sku__code")
    ):
        if (level.warehouse_id, level.sku_id) in taken:
            continue
        aisle, rack, shelf = "ABCDEF"[i % 6], 1 + (i // 6) % 12, 1 + i % 4
        services.bin_location_set(
            warehouse=level.warehouse, sku=level.sku, code=f"{aisle}-{rack:02d}-{shelf}"
        )


def _track(carrier: Carrier, shipment: Shipment, target: str) -> None:
    steps = [S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED]
    if target == S.EXCEPTION:
        path = [(S.IN_TRANSIT, ""), (S.EXCEPTION, ExceptionReason.FAILED_ATTEMPT)]
    else:
        path = [(s, "") for s in steps[: steps.index(target) + 1]]
    start = shipment.shipped_at or timezone.now()
    updates = [
        TrackingUpdate(
            carrier_event_id=f"demo-{shipment.pk}-{n}",
            tracking_number=shipment.tracking_number,
            status=status,
            occurred_at=start + timedelta(hours=6 * n),
            description=f"Demo scan: {ShipmentStatus(status).label.lower()}",
            location="Regional hub" if status == S.IN_TRANSIT else "Local depot",
            exception_reason=reason,
        )
        for n, (status, reason) in enumerate(path, start=1)
    ]
    services.tracking_events_record_many(
        carrier=carrier, updates=updates, source=TrackingSource.WEBHOOK, actor=ACTOR
    )


def _advance(shipment: Shipment, target: str, carrier: Carrier) -> None:
    services.shipment_start_picking(shipment=shipment, actor=ACTOR)
    if target == S.PICKING:
        return
    services.shipment_mark_packed(
        shipment=shipment, actor=ACTOR, weight_grams=400 + shipment.pk % 7 * 150
    )
    if target == S.PACKED:
        return
    shipment = services.shipment_ship(
        shipment=shipment, carrier=carrier, tracking_number=f"DEMO{shipment.pk:08d}", actor=ACTOR
    )
    if target != S.SHIPPED:
        _track(carrier, shipment, target)


def _demo_return() -> None:
    shipment = (
        Shipment.objects.filter(status=S.DELIVERED, order__returns__isnull=True)
        .select_related("order")
        .order_by("pk")
        .first()
    )
    if shipment is None or ReturnRequest.objects.filter(customer_note__startswith="Demo").exists():
        return
    line = shipment.lines.select_related("order_line").first()
    if line is None:
        return
    rma = services.return_request_create(
        order=shipment.order,
        lines=[{"order_line": line.order_line, "quantity": 1}],
        reason="no_longer_needed",
        customer_note="Demo return: changed my mind.",
        actor=ACTOR,
    )
    services.return_approve(return_request=rma, actor=ACTOR)
    services.return_send_label(return_request=rma, actor=ACTOR)
    services.return_receive(return_request=rma, actor=ACTOR)
    services.return_inspect(return_request=rma, lines={}, actor=ACTOR)
    services.return_restock(return_request=rma, actor=ACTOR)
    services.return_refund(return_request=rma, actor=ACTOR)


def seed(ctx: Any) -> None:
    # Customer emails go to memory, not the console: the after-commit callbacks run in the
    # order they were registered, so these two bracket every email this seeder queues.
    quiet = override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    transaction.on_commit(quiet.enable)
    carriers = _carriers(ctx)
    _bins()
    # The same first parcels every run; those already advanced are skipped.
    first = Shipment.objects.select_related("order").order_by("pk")[: 60 * ctx.scale]
    pending = [
        s for s in first if s.status == S.PENDING and s.order.status in SHIPPABLE_ORDER_STATUSES
    ]
    if not pending:
        ctx.log("no pending shipments (seed orders first)")
    failures = 0
    for shipment in ctx.progress("shipments", pending) if pending else []:
        target = PLAN.get(shipment.pk % 10)
        if target is None:
            continue
        carrier = carriers["parcelhub"] if shipment.pk % 2 else carriers["post"]
        try:
            with transaction.atomic():
                _advance(shipment, target, carrier)
        except ApplicationError as exc:  # e.g. an order put on hold by another seeder
            failures += 1
            ctx.log(f"{shipment}: {exc.message}")
    try:
        with transaction.atomic():
            _demo_return()
    except ApplicationError as exc:
        ctx.log(f"demo return skipped: {exc.message}")
    transaction.on_commit(quiet.disable)
    if failures:
        ctx.log(f"{failures} shipment(s) could not be advanced")
