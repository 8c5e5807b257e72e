"""Tracking events: stored once, forward only, and the order follows its shipments."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection

from fulfillment import services
from fulfillment.carriers import TrackingUpdate
from fulfillment.models import ShipmentEvent, TrackingEvent, TrackingSource
from fulfillment.statuses import ExceptionReason, ShipmentStatus
from orders.models import Order, OrderEventKind, OrderStatus

from .helpers import ACTOR, pack_and_ship

S = ShipmentStatus
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def scan(event_id, number, status, hours, reason=""):
    return TrackingUpdate(
        carrier_event_id=event_id,
        tracking_number=number,
        status=status,
        occurred_at=T0 + timedelta(hours=hours),
        exception_reason=reason,
        description=f"{status} scan",
    )


def record(carrier, update):
    return services.tracking_event_record(
        carrier=carrier, update=update, source=TrackingSource.API, actor=ACTOR
    )


@pytest.fixture
def shipped(order_for, stocked, manual_carrier):
    order = order_for([(stocked(10), 1)])
    return pack_and_ship(order.shipments.get(), manual_carrier, tracking_number="TN-1")


def test_duplicate_event_is_stored_once_and_applied_once(shipped, manual_carrier):
    event, created = record(manual_carrier, scan("ev-1", "TN-1", S.IN_TRANSIT, 1))
    timeline = ShipmentEvent.objects.filter(shipment=shipped).count()

    again, created_again = record(manual_carrier, scan("ev-1", "TN-1", S.IN_TRANSIT, 1))

    assert created and not created_again
    assert again.pk == event.pk
    assert (
        TrackingEvent.objects.filter(carrier=manual_carrier, carrier_event_id="ev-1").count() == 1
    )
    assert ShipmentEvent.objects.filter(shipment=shipped).count() == timeline
    shipped.refresh_from_db()
    assert shipped.status == S.IN_TRANSIT


def test_late_in_transit_after_delivered_is_recorded_but_does_not_move_back(
    shipped, manual_carrier
):
    record(manual_carrier, scan("ev-3", "TN-1", S.DELIVERED, 30))
    late, created = record(manual_carrier, scan("ev-2", "TN-1", S.IN_TRANSIT, 5))

    assert created and not late.applied
    assert "delivered" in late.note
    shipped.refresh_from_db()
    assert shipped.status == S.DELIVERED
    assert shipped.delivered_at == T0 + timedelta(hours=30)
    assert set(TrackingEvent.objects.values_list("carrier_event_id", "applied")) == {
        ("ev-3", True),
        ("ev-2", False),
    }


def test_out_of_order_batch_is_applied_in_time_order(shipped, manual_carrier):
    batch = [
        scan("c", "TN-1", S.OUT_FOR_DELIVERY, 20),
        scan("a", "TN-1", S.IN_TRANSIT, 2),
        scan("b", "TN-1", S.IN_TRANSIT, 10),
    ]
    results = services.tracking_events_record_many(
        carrier=manual_carrier, updates=batch, source=TrackingSource.WEBHOOK, actor=ACTOR
    )
    assert [(e.carrier_event_id, e.applied) for e, _ in results] == [
        ("a", True),
        ("b", False),  # already in transit
        ("c", True),
    ]
    shipped.refresh_from_db()
    assert shipped.status == S.OUT_FOR_DELIVERY


def test_exception_then_recovery_then_delivery(
    shipped, manual_carrier, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        record(manual_carrier, scan("1", "TN-1", S.OUT_FOR_DELIVERY, 3))
        record(manual_carrier, scan("2", "TN-1", S.EXCEPTION, 6, ExceptionReason.FAILED_ATTEMPT))
        shipped.refresh_from_db()
        assert (shipped.status, shipped.exception_reason) == (S.EXCEPTION, "failed_attempt")
        stale, _ = record(manual_carrier, scan("0", "TN-1", S.IN_TRANSIT, 1))
        assert not stale.applied  # older than the exception
        record(manual_carrier, scan("3", "TN-1", S.OUT_FOR_DELIVERY, 26))
        shipped.refresh_from_db()
        assert (shipped.status, shipped.exception_reason) == (S.OUT_FOR_DELIVERY, "")
        record(manual_carrier, scan("4", "TN-1", S.DELIVERED, 28))

    shipped.refresh_from_db()
    assert shipped.status == S.DELIVERED
    subjects = [m.subject for m in mail.outbox]
    assert sum("out for delivery" in s for s in subjects) == 2
    assert sum("problem" in s for s in subjects) == 1
    assert sum("was delivered" in s for s in subjects) == 1
    order = Order.objects.get(pk=shipped.order_id)
    assert order.events.filter(kind=OrderEventKind.EMAIL_SENT).count() == len(mail.outbox)
    assert order.status == OrderStatus.DELIVERED


def test_unknown_tracking_number_is_kept_unmatched(shipped, manual_carrier):
    event, created = record(manual_carrier, scan("x", "NOPE", S.DELIVERED, 1))
    assert created and event.shipment is None and not event.applied
    shipped.refresh_from_db()
    assert shipped.status == S.SHIPPED


def test_scan_before_shipping_does_not_move_a_packed_parcel(order_for, stocked, manual_carrier):
    order = order_for([(stocked(5), 1)])
    shipment = order.shipments.get()
    services.shipment_start_picking(shipment=shipment, actor=ACTOR)
    shipment.refresh_from_db()
    shipment.carrier = manual_carrier
    shipment.tracking_number = "EARLY"
    shipment.save()
    event, _ = record(manual_carrier, scan("e", "EARLY", S.IN_TRANSIT, 1))
    assert not event.applied and "not shipped" in event.note
    shipment.refresh_from_db()
    assert shipment.status == S.PICKING


def test_order_follows_its_shipments(order_for, stocked, east, west, manual_carrier):
    a = stocked(5, warehouse=east)
    b = stocked(5, warehouse=west)
    order = order_for([(a, 1), (b, 1)])
    first, second = order.shipments.order_by("warehouse__code")

    pack_and_ship(first, manual_carrier, tracking_number="A-1")
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_FULFILLED

    record(manual_carrier, scan("a-d", "A-1", S.DELIVERED, 5))
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_FULFILLED  # the other parcel has not left

    pack_and_ship(second, manual_carrier, tracking_number="B-1")
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED

    record(manual_carrier, scan("b-t", "B-1", S.IN_TRANSIT, 6))
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED

    record(manual_carrier, scan("b-d", "B-1", S.DELIVERED, 30))
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED


def test_operator_marks_exception_and_delivery(shipped):
    services.shipment_mark_exception(shipment=shipped, reason=ExceptionReason.LOST, actor=ACTOR)
    shipped.refresh_from_db()
    assert (shipped.status, shipped.exception_reason) == (S.EXCEPTION, "lost")
    services.shipment_mark_delivered(shipment=shipped, actor=ACTOR)
    shipped.refresh_from_db()
    assert shipped.status == S.DELIVERED and shipped.exception_reason == ""


@pytest.mark.django_db(transaction=True)
def test_two_parcels_delivered_at_once_still_deliver_the_order(east, west, shop, manual_carrier):
    from tests.factories.inventory import SkuFactory, stock_on_hand
    from tests.factories.orders import place_order

    a, b = SkuFactory(price=1000), SkuFactory(price=1000)
    stock_on_hand(sku=a, warehouse=east, quantity=3)
    stock_on_hand(sku=b, warehouse=west, quantity=3)
    order = place_order(channel=shop, lines=[(a, 1), (b, 1)])
    first, second = Order.objects.get(pk=order.pk).shipments.order_by("warehouse__code")
    pack_and_ship(first, manual_carrier, tracking_number="C-1")
    pack_and_ship(second, manual_carrier, tracking_number="C-2")
    barrier = threading.Barrier(2)
    errors = []

    def deliver(number):
        try:
            barrier.wait(timeout=10)
            record(manual_carrier, scan(f"d-{number}", number, S.DELIVERED, 9))
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in ("C-1", "C-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED


def test_polling_the_http_carrier_records_its_scans(order_for, stocked):
    from fulfillment.tasks import poll_tracking_in_flight
    from tests.factories.fulfillment import HttpCarrierFactory

    from .carrier_server import running_carrier

    order = order_for([(stocked(5), 1)])
    with running_carrier() as server:
        carrier = HttpCarrierFactory(
            code="polled", base_url=server.base_url, api_key=server.api_key
        )
        shipment = pack_and_ship(order.shipments.get(), carrier)
        server.tracking[shipment.tracking_number] = [
            {"event_id": "p2", "tracking_number": shipment.tracking_number, "status": "delivered", "occurred_at": "2026-03-03T10:00:00Z"},
            {"event_id": "p1", "tracking_number": shipment.tracking_number, "status": "in_transit", "occurred_at": "2026-03-02T10:00:00Z"},
        ]  # fmt: skip
        assert poll_tracking_in_flight() == 1
        assert poll_tracking_in_flight() == 0  # delivered: nothing left on the road

    shipment.refresh_from_db()
    assert shipment.status == S.DELIVERED
    assert list(
        TrackingEvent.objects.filter(shipment=shipment)
        .order_by("occurred_at")
        .values_list("carrier_event_id", "applied")
    ) == [("p1", True), ("p2", True)]


@pytest.mark.django_db(transaction=True)
def test_the_same_scan_delivered_twice_at_once_is_stored_and_applied_once(
    east, shop, manual_carrier
):
    from fulfillment.models import ShipmentEventKind
    from tests.factories.inventory import SkuFactory, stock_on_hand
    from tests.factories.orders import place_order

    sku = SkuFactory(price=1000)
    stock_on_hand(sku=sku, warehouse=east, quantity=3)
    order = place_order(channel=shop, lines=[(sku, 1)])
    shipment = pack_and_ship(
        Order.objects.get(pk=order.pk).shipments.get(), manual_carrier, tracking_number="DUP-1"
    )
    barrier = threading.Barrier(4)
    created, errors = [], []

    def deliver():
        try:
            barrier.wait(timeout=10)
            _, was_created = record(manual_carrier, scan("same", "DUP-1", S.DELIVERED, 9))
            created.append(was_created)
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert sorted(created) == [False, False, False, True]
    assert TrackingEvent.objects.filter(carrier_event_id="same").count() == 1
    assert (
        ShipmentEvent.objects.filter(shipment=shipment, kind=ShipmentEventKind.DELIVERED).count()
        == 1
    )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED


def test_the_hourly_tracking_poll_is_scheduled_by_migration(db):
    from django_celery_beat.models import PeriodicTask

    from fulfillment import tasks

    entry = PeriodicTask.objects.get(name="fulfillment: poll tracking of parcels on the road")
    assert entry.task == tasks.poll_tracking_in_flight.name
    assert (entry.interval.every, entry.interval.period) == (60, "minutes")
    assert entry.enabled
