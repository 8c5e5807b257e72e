"""Channel API: shipments per order, tracking events from channels/3PLs, returns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fulfillment.models import TrackingEvent
from fulfillment.statuses import ReturnStatus, ShipmentStatus
from orders.models import OrderStatus
from tests.factories.core import ChannelFactory

from .helpers import pack_and_ship


@pytest.fixture
def client(shop, channel_client):
    return channel_client(shop)


@pytest.fixture
def shipped_order(order_for, stocked, manual_carrier):
    order = order_for([(stocked(10), 2)])
    pack_and_ship(order.shipments.get(), manual_carrier, tracking_number="API-1")
    return order


def _event(event_id, status, hour, number="API-1"):
    return {
        "event_id": event_id,
        "tracking_number": number,
        "status": status,
        "occurred_at": datetime(2026, 3, 2, hour, tzinfo=UTC).isoformat(),
        "location": "Depot 7",
    }


def test_shipments_of_an_order(client, shipped_order):
    response = client.get(f"/api/v1/orders/{shipped_order.pk}/shipments/")
    assert response.status_code == 200
    [body] = response.json()["results"]
    assert body["order"] == shipped_order.number
    assert body["status"] == ShipmentStatus.SHIPPED
    assert body["tracking_number"] == "API-1"
    assert body["lines"] == [
        {
            "order_line_id": shipped_order.lines.get().pk,
            "line_no": 1,
            "sku": shipped_order.lines.get().sku_code,
            "quantity": 2,
        }
    ]
    detail = client.get(f"/api/v1/shipments/{body['id']}/")
    assert detail.status_code == 200 and detail.json()["id"] == body["id"]


def test_a_channel_never_sees_another_channels_shipments(channel_client, shipped_order):
    other = channel_client(ChannelFactory(code="other"))
    shipment = shipped_order.shipments.get()
    assert other.get(f"/api/v1/orders/{shipped_order.pk}/shipments/").status_code == 404
    assert other.get(f"/api/v1/shipments/{shipment.pk}/").status_code == 404
    assert other.get("/api/v1/shipments/").json()["results"] == []
    response = other.post(
        "/api/v1/shipments/tracking-events/",
        {"carrier": "post", "events": [_event("x1", "delivered", 9)]},
        format="json",
    )
    assert response.json()["results"][0]["result"] == "rejected"
    assert not TrackingEvent.objects.exists()
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.SHIPPED


def test_post_tracking_events_dedupes_and_moves_forward_only(client, shipped_order):
    events = [_event("e2", "delivered", 12), _event("e1", "in_transit", 8)]
    response = client.post(
        "/api/v1/shipments/tracking-events/", {"carrier": "post", "events": events}, format="json"
    )
    assert response.status_code == 200
    results = {r["event_id"]: r["result"] for r in response.json()["results"]}
    assert results == {"e1": "applied", "e2": "applied"}  # applied in time order

    again = client.post(
        "/api/v1/shipments/tracking-events/",
        {
            "carrier": "post",
            "events": [_event("e1", "in_transit", 8), _event("e3", "in_transit", 13)],
        },
        format="json",
    )
    assert {r["event_id"]: r["result"] for r in again.json()["results"]} == {
        "e1": "duplicate",
        "e3": "recorded",
    }
    assert TrackingEvent.objects.count() == 3
    shipped_order.refresh_from_db()
    assert shipped_order.status == OrderStatus.DELIVERED


def test_post_tracking_event_with_bad_status_is_rejected_not_stored(client, shipped_order):
    response = client.post(
        "/api/v1/shipments/tracking-events/",
        {"carrier": "post", "events": [_event("bad", "teleported", 8)]},
        format="json",
    )
    assert response.json()["results"][0]["result"] == "rejected"
    assert not TrackingEvent.objects.exists()


def test_unknown_carrier_is_404(client, shipped_order):
    response = client.post(
        "/api/v1/shipments/tracking-events/",
        {"carrier": "nope", "events": [_event("1", "delivered", 8)]},
        format="json",
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_carrier"


def test_return_created_and_advanced_through_the_api(client, shipped_order, east):
    created = client.post(
        "/api/v1/returns/",
        {
            "order_id": shipped_order.pk,
            "reason": "defective",
            "lines": [{"line_no": 1, "quantity": 1}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="rma-1",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == ReturnStatus.REQUESTED and body["warehouse"] == east.code
    replay = client.post(
        "/api/v1/returns/",
        {
            "order_id": shipped_order.pk,
            "reason": "defective",
            "lines": [{"line_no": 1, "quantity": 1}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="rma-1",
    )
    assert replay.json()["id"] == body["id"]
    assert shipped_order.returns.count() == 1

    pk = body["id"]
    steps = [
        ("approve", {}),
        ("send-label", {"instructions": "Drop it at any post office."}),
        ("receive", {"lines": [{"line_no": 1, "quantity": 1}]}),
        ("inspect", {"lines": [{"line_no": 1, "condition": "opened"}]}),
        ("restock", {}),
        ("refund", {}),
    ]
    for step, payload in steps:
        response = client.post(f"/api/v1/returns/{pk}/{step}/", payload, format="json")
        assert response.status_code == 200, (step, response.json())
    final = client.get(f"/api/v1/returns/{pk}/").json()
    assert final["status"] == ReturnStatus.REFUNDED
    assert final["lines"][0]["received_quantity"] == 1
    assert final["lines"][0]["disposition"] == "restock"
    assert final["refund_amount"] == shipped_order.lines.get().total // 2


def test_return_step_out_of_order_is_409(client, shipped_order):
    created = client.post(
        "/api/v1/returns/",
        {"order_id": shipped_order.pk, "reason": "other", "lines": [{"line_no": 1, "quantity": 1}]},
        format="json",
    ).json()
    response = client.post(f"/api/v1/returns/{created['id']}/restock/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"


def test_shipment_list_query_count_is_bounded(
    client, order_for, stocked, django_assert_max_num_queries
):
    for _ in range(6):
        order_for([(stocked(5), 1), (stocked(5), 2)])
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/shipments/")
    assert len(response.json()["results"]) == 6
    with django_assert_max_num_queries(8):
        assert len(client.get("/api/v1/returns/").json()["results"]) == 0


def test_order_delivery_promise(client, order_for, stocked, east, west, channel_client):
    import time_machine

    with time_machine.travel(datetime(2026, 3, 4, 10, tzinfo=UTC), tick=False):
        order = order_for([(stocked(5, warehouse=east), 1), (stocked(5, warehouse=west), 1)])
    response = client.get(f"/api/v1/orders/{order.pk}/delivery-promise/")
    assert response.status_code == 200
    body = response.json()
    # east ships before its 15:00 cut-off, west's 12:00 cut-off has... not passed at 10:00
    assert [s["promised_delivery"] for s in body["shipments"]] == ["2026-03-11", "2026-03-11"]
    assert body["promised_delivery"] == "2026-03-11"  # standard: 5 business days
    assert body["lead_time_days"] == 5
    other = channel_client(ChannelFactory(code="someone-else"))
    assert other.get(f"/api/v1/orders/{order.pk}/delivery-promise/").status_code == 404
