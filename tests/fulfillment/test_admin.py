"""Operator console: lists with filters, and actions that call the services."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from fulfillment import services
from fulfillment.models import Shipment
from fulfillment.statuses import ReturnStatus, ShipmentStatus
from inventory.models import MovementKind, StockMovement

from .helpers import ACTOR, pack_and_ship

URL = "/admin/fulfillment/shipment/"


def test_shipment_list_filters_and_bounded_queries(
    admin_client, order_for, stocked, django_assert_max_num_queries
):
    with time_machine.travel(datetime(2026, 3, 4, 10, tzinfo=UTC), tick=False):
        for _ in range(5):
            order_for([(stocked(5), 1)])
    with django_assert_max_num_queries(15):
        response = admin_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "packing slip" in html and "pick list" in html
    late = admin_client.get(URL + "?late=yes")
    assert late.status_code == 200
    assert len(late.context["cl"].result_list) == 5  # past the cut-off of 4 March
    assert len(admin_client.get(URL + "?late=no").context["cl"].result_list) == 0
    assert (
        admin_client.get(URL + "?status__exact=pending&warehouse__id__exact=1").status_code == 200
    )


def test_start_picking_pack_and_ship_actions(admin_client, order_for, stocked, manual_carrier):
    order = order_for([(stocked(5), 2)])
    shipment = order.shipments.get()
    ids = {ACTION_CHECKBOX_NAME: [shipment.pk]}

    admin_client.post(URL, {"action": "start_picking", **ids})
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PICKING

    form_page = admin_client.post(URL, {"action": "action_mark_packed", **ids})
    assert form_page.status_code == 200 and b"weight_grams" in form_page.content
    admin_client.post(
        URL, {"action": "action_mark_packed", "apply": "1", "weight_grams": "800", **ids}
    )
    shipment.refresh_from_db()
    assert (shipment.status, shipment.weight_grams) == (ShipmentStatus.PACKED, 800)

    action = "action_ship__enter_tracking_or_buy_a_label_"
    admin_client.post(
        URL,
        {
            "action": action,
            "apply": "1",
            "carrier": manual_carrier.pk,
            "tracking_number": "ADM-1",
            **ids,
        },
    )
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.SHIPPED and shipment.tracking_number == "ADM-1"
    assert StockMovement.objects.filter(
        kind=MovementKind.SHIPMENT, reference=shipment.reference
    ).exists()


def test_ship_action_without_tracking_on_manual_carrier_reports_the_error(
    admin_client, order_for, stocked, manual_carrier
):
    order = order_for([(stocked(5), 1)])
    shipment = order.shipments.get()
    services.shipment_start_picking(shipment=shipment, actor=ACTOR)
    services.shipment_mark_packed(shipment=shipment, actor=ACTOR)
    response = admin_client.post(
        URL,
        {
            "action": "action_ship__enter_tracking_or_buy_a_label_",
            "apply": "1",
            "carrier": manual_carrier.pk,
            "tracking_number": "",
            ACTION_CHECKBOX_NAME: [shipment.pk],
        },
        follow=True,
    )
    assert "needs the tracking number" in response.content.decode()
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.PACKED
    assert not StockMovement.objects.filter(kind=MovementKind.SHIPMENT).exists()


def test_returns_queue_actions(admin_client, order_for, stocked, manual_carrier):
    order = order_for([(stocked(5), 1)])
    pack_and_ship(order.shipments.get(), manual_carrier, tracking_number="RQ-1")
    rma = services.return_request_create(
        order=order,
        lines=[{"order_line": order.lines.get().pk, "quantity": 1}],
        reason="other",
        actor=ACTOR,
    )
    url = "/admin/fulfillment/returnrequest/"
    assert admin_client.get(url).status_code == 200
    admin_client.post(url, {"action": "approve", ACTION_CHECKBOX_NAME: [rma.pk]})
    admin_client.post(url, {"action": "receive", ACTION_CHECKBOX_NAME: [rma.pk]})
    admin_client.post(
        url,
        {
            "action": "action_inspect_returned_goods",
            "apply": "1",
            "condition": "new",
            "disposition": "",
            ACTION_CHECKBOX_NAME: [rma.pk],
        },
    )
    admin_client.post(url, {"action": "restock", ACTION_CHECKBOX_NAME: [rma.pk]})
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.RESTOCKED
    assert admin_client.get(f"{url}{rma.pk}/change/").status_code == 200
    assert admin_client.get(f"{URL}{order.shipments.get().pk}/change/").status_code == 200


def test_split_action_moves_units_into_a_new_parcel(admin_client, order_for, stocked):
    order = order_for([(stocked(5), 3)])
    shipment = order.shipments.get()
    admin_client.post(
        URL,
        {
            "action": "action_split_off_units_into_a_new_parcel",
            "apply": "1",
            "lines": "1:1",
            ACTION_CHECKBOX_NAME: [shipment.pk],
        },
    )
    quantities = sorted(
        Shipment.objects.filter(order=order).values_list("lines__quantity", flat=True)
    )
    assert quantities == [1, 2]
    response = admin_client.post(
        URL,
        {
            "action": "action_split_off_units_into_a_new_parcel",
            "apply": "1",
            "lines": "7:1",
            ACTION_CHECKBOX_NAME: [shipment.pk],
        },
        follow=True,
    )
    assert "are not in" in response.content.decode()
    assert Shipment.objects.filter(order=order).count() == 2
