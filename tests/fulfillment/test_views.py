"""Pages: the signed carrier webhook, pick lists and packing slips."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import Client

from fulfillment import services
from fulfillment.carriers import SIGNATURE_HEADER, sign_payload
from fulfillment.models import TrackingEvent
from fulfillment.statuses import ShipmentStatus
from tests.factories.fulfillment import HttpCarrierFactory
from tests.factories.inventory import bundle_sku

from .helpers import ACTOR, pack_and_ship


@pytest.fixture
def http_carrier(db):
    return HttpCarrierFactory(code="fastco", webhook_secret="whsec-test")


@pytest.fixture
def shipped(order_for, stocked, http_carrier):
    order = order_for([(stocked(10), 1)])
    return pack_and_ship(order.shipments.get(), http_carrier, tracking_number="FC-1")


def _body(*events):
    return json.dumps(
        {
            "events": [
                {
                    "event_id": event_id,
                    "tracking_number": "FC-1",
                    "status": status,
                    "occurred_at": datetime(2026, 3, 2, hour, tzinfo=UTC).isoformat(),
                }
                for event_id, status, hour in events
            ]
        }
    ).encode()


def _post(body, header):
    headers = {SIGNATURE_HEADER: header} if header is not None else {}
    return Client().post(
        "/fulfillment/carriers/fastco/events/",
        body,
        content_type="application/json",
        headers=headers,
    )


def test_signed_webhook_is_stored_and_applied(shipped):
    body = _body(("w1", "in_transit", 8), ("w2", "delivered", 15))
    response = _post(body, sign_payload("whsec-test", body))
    assert response.status_code == 200
    assert response.json() == {"received": 2, "stored": 2, "applied": 2, "duplicates": 0}
    shipped.refresh_from_db()
    assert shipped.status == ShipmentStatus.DELIVERED

    again = _post(body, sign_payload("whsec-test", body))
    assert again.json() == {"received": 2, "stored": 0, "applied": 0, "duplicates": 2}
    assert TrackingEvent.objects.count() == 2


@pytest.mark.parametrize(
    "header",
    [None, "t=1,v1=deadbeef", "garbage", "wrong-secret"],
)
def test_bad_signature_is_401_and_nothing_is_stored(shipped, header):
    body = _body(("w1", "delivered", 8))
    if header == "wrong-secret":
        header = sign_payload("not-the-secret", body)
    response = _post(body, header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    assert not TrackingEvent.objects.exists()
    shipped.refresh_from_db()
    assert shipped.status == ShipmentStatus.SHIPPED


def test_tampered_body_is_refused(shipped):
    body = _body(("w1", "in_transit", 8))
    header = sign_payload("whsec-test", body)
    response = _post(_body(("w1", "delivered", 8)), header)
    assert response.status_code == 401
    assert not TrackingEvent.objects.exists()


def test_signed_but_malformed_body_is_400(shipped):
    body = b'{"events": [{"event_id": "x"}]}'
    response = _post(body, sign_payload("whsec-test", body))
    assert response.status_code == 400
    assert not TrackingEvent.objects.exists()


def test_unknown_carrier_and_manual_carrier_webhooks_are_refused(shipped, manual_carrier):
    body = _body(("w1", "delivered", 8))
    assert (
        Client()
        .post("/fulfillment/carriers/nope/events/", body, content_type="application/json")
        .status_code
        == 404
    )
    manual = Client().post(
        f"/fulfillment/carriers/{manual_carrier.code}/events/",
        body,
        content_type="application/json",
        headers={SIGNATURE_HEADER: sign_payload("", body)},
    )
    assert manual.status_code == 401


@pytest.fixture
def staff_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_pick_list_batches_by_sku_and_bin(
    staff_client, order_for, stocked, east, django_assert_max_num_queries
):
    tea = stocked(20)
    mug = stocked(20)
    box = bundle_sku([(tea, 2), (mug, 1)], price=5000)
    from tests.factories.inventory import stock_on_hand

    stock_on_hand(sku=box, warehouse=east, quantity=0)
    services.bin_location_set(warehouse=east, sku=tea, code="a-01-1")
    services.bin_location_set(warehouse=east, sku=mug, code="B-02-3")
    order_for([(tea, 2), (mug, 1)])
    order_for([(tea, 1), (box, 1)])

    from fulfillment.selectors import pick_list

    with django_assert_max_num_queries(4):
        rows = pick_list(warehouse_id=east.pk)
    assert [(r.bin_location, r.sku_code, r.quantity) for r in rows] == [
        ("A-01-1", tea.code, 5),  # 2 + 1 + 2 in the box
        ("B-02-3", mug.code, 2),
    ]
    response = staff_client.get(f"/fulfillment/warehouses/{east.code}/pick-list/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "A-01-1" in html and tea.code in html and "Pick list" in html


def test_pages_are_staff_only(client, order_for, stocked, east):
    order = order_for([(stocked(5), 1)])
    shipment = order.shipments.get()
    for url in (
        f"/fulfillment/warehouses/{east.code}/pick-list/",
        f"/fulfillment/shipments/{shipment.pk}/packing-slip/",
    ):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_packing_slip_lists_the_parcel(staff_client, order_for, stocked):
    order = order_for([(stocked(5), 2)])
    shipment = order.shipments.get()
    response = staff_client.get(f"/fulfillment/shipments/{shipment.pk}/packing-slip/")
    assert response.status_code == 200
    html = response.content.decode()
    assert order.number in html and order.lines.get().sku_code in html
    assert order.shipping_address["line1"] in html
    assert staff_client.get("/fulfillment/shipments/999999/packing-slip/").status_code == 404


def test_label_is_served_to_staff(staff_client, order_for, stocked):
    from .carrier_server import LABEL_BYTES, running_carrier

    order = order_for([(stocked(5), 1)])
    with running_carrier() as server:
        carrier = HttpCarrierFactory(
            code="labels", base_url=server.base_url, api_key=server.api_key
        )
        shipment = pack_and_ship(order.shipments.get(), carrier)
    assert shipment.tracking_number == "TRK000001"
    assert shipment.tracking_url == f"{server.base_url}/track/TRK000001"
    response = staff_client.get(f"/fulfillment/shipments/{shipment.pk}/label/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content == LABEL_BYTES
    assert shipment.events.filter(kind="label_created").exists()


def test_carrier_refusing_the_label_leaves_the_parcel_packed(order_for, stocked, east):
    from inventory.models import StockLevel

    from .carrier_server import running_carrier
    from .helpers import pack

    sku = stocked(5)
    order = order_for([(sku, 1)])
    shipment = pack(order.shipments.get())
    with running_carrier() as server:
        server.fail_labels_with = 422
        carrier = HttpCarrierFactory(
            code="refuser", base_url=server.base_url, api_key=server.api_key
        )
        from oms.core.errors import Conflict

        with pytest.raises(Conflict):
            services.shipment_ship(shipment=shipment, carrier=carrier, actor=ACTOR)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PACKED and shipment.tracking_number == ""
    assert StockLevel.objects.get(sku=sku, warehouse=east).on_hand == 5
