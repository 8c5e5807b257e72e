"""The delivery promise and the late-shipment flag, under a controlled clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import time_machine

from fulfillment import selectors, services
from fulfillment.promise import add_business_days, dispatch_day, promise_for
from fulfillment.statuses import ShipmentStatus

from .helpers import ACTOR, pack_and_ship

WEDNESDAY_MORNING = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def test_business_day_arithmetic():
    friday = date(2026, 3, 6)
    assert add_business_days(friday, 1) == date(2026, 3, 9)
    assert add_business_days(friday, 5) == date(2026, 3, 13)
    # Before the cut-off on a weekday ships today; after it (or at the weekend) next weekday.
    assert dispatch_day(now=WEDNESDAY_MORNING, cutoff=time(15)) == date(2026, 3, 4)
    assert dispatch_day(now=datetime(2026, 3, 4, 16, tzinfo=UTC), cutoff=time(15)) == date(
        2026, 3, 5
    )
    assert dispatch_day(now=datetime(2026, 3, 7, 9, tzinfo=UTC), cutoff=time(15)) == date(
        2026, 3, 9
    )


def test_promise_uses_the_business_time_zone(settings):
    settings.OMS_TIME_ZONE = "America/New_York"
    # 19:00 UTC is 14:00 in New York (EST): still before a 15:00 cut-off there.
    ship_by, delivery = promise_for(
        now=datetime(2026, 3, 4, 19, 0, tzinfo=UTC), cutoff=time(15), lead_days=2
    )
    assert ship_by == datetime(2026, 3, 4, 20, 0, tzinfo=UTC)
    assert delivery == date(2026, 3, 6)


def test_shipment_carries_the_promise_from_cutoff_and_lead_time(order_for, stocked, east):
    with time_machine.travel(WEDNESDAY_MORNING, tick=False):
        order = order_for([(stocked(5), 1)], delivery_option="express")
    shipment = order.shipments.get()
    assert shipment.promised_ship_by == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    assert shipment.promised_delivery == date(2026, 3, 6)  # express: 2 business days
    assert shipment.service_level == "express"


def test_late_flag_follows_the_clock(order_for, stocked, manual_carrier):
    with time_machine.travel(WEDNESDAY_MORNING, tick=False):
        late_to_ship = order_for([(stocked(5), 1)]).shipments.get()
        on_time = order_for([(stocked(5), 1)], delivery_option="express").shipments.get()

    def late_ids(moment):
        return set(selectors.shipments_late(moment).values_list("pk", flat=True))

    assert late_ids(datetime(2026, 3, 4, 14, 59, tzinfo=UTC)) == set()

    with time_machine.travel(datetime(2026, 3, 4, 14, 0, tzinfo=UTC), tick=False):
        pack_and_ship(on_time, manual_carrier, tracking_number="OT-1")

    # Past the 15:00 cut-off the unshipped parcel is late; the shipped one is not.
    assert late_ids(datetime(2026, 3, 4, 15, 1, tzinfo=UTC)) == {late_to_ship.pk}
    # The shipped parcel becomes late once its promised day (Friday) has passed undelivered.
    assert late_ids(datetime(2026, 3, 6, 23, 0, tzinfo=UTC)) == {late_to_ship.pk}
    assert late_ids(datetime(2026, 3, 7, 9, 0, tzinfo=UTC)) == {late_to_ship.pk, on_time.pk}
    services.shipment_mark_delivered(shipment=on_time, actor=ACTOR)
    services.shipment_cancel(shipment=late_to_ship, reason="customer cancelled", actor=ACTOR)
    assert late_ids(datetime(2026, 3, 7, 9, 0, tzinfo=UTC)) == set()
    on_time.refresh_from_db()
    assert on_time.status == ShipmentStatus.DELIVERED


def test_order_promise_is_its_latest_live_parcel(order_for, stocked, east, west):
    with time_machine.travel(datetime(2026, 3, 4, 13, 0, tzinfo=UTC), tick=False):
        # east (15:00 cut-off) still ships today; west's 12:00 cut-off has passed.
        order = order_for([(stocked(5, warehouse=east), 1), (stocked(5, warehouse=west), 1)])
    by_code = {s.warehouse.code: s for s in order.shipments.all()}
    assert by_code["east"].promised_delivery == date(2026, 3, 11)
    assert by_code["west"].promised_delivery == date(2026, 3, 12)
    assert selectors.order_promised_delivery(order=order) == date(2026, 3, 12)
    services.shipment_cancel(shipment=by_code["west"], reason="re-plan", actor=ACTOR)
    assert selectors.order_promised_delivery(order=order) == date(2026, 3, 11)
