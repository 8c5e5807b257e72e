"""Carrier adapters without the database: the HTTP adapter talks to a local stand-in."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime

import pytest

from fulfillment.carriers import (
    SIGNATURE_HEADER,
    CarrierConfig,
    CarrierError,
    LabelRequest,
    get_adapter,
    sign_payload,
    verify_hmac_signature,
)
from fulfillment.statuses import ExceptionReason, ShipmentStatus

from .carrier_server import LABEL_BYTES, running_carrier


@pytest.fixture
def fake_carrier():
    with running_carrier() as state:
        yield state


def _request(**overrides):
    fields = {
        "reference": "shipment:1",
        "service_level": "standard",
        "ship_from": {"code": "EAST", "country": "US"},
        "ship_to": {"line1": "1 Main St", "city": "Springfield", "country": "US"},
        "weight_grams": 1200,
        "items": [{"sku": "TEA-1", "quantity": 2}],
    }
    fields.update(overrides)
    return LabelRequest(**fields)


def test_http_carrier_buys_a_label_from_the_configured_endpoint(fake_carrier):
    adapter = get_adapter(
        CarrierConfig(code="fast", base_url=fake_carrier.base_url, api_key=fake_carrier.api_key),
        "http",
    )

    label = adapter.create_label(_request())

    assert label.tracking_number == "TRK000001"
    assert label.label_data == LABEL_BYTES
    assert label.label_format == "pdf"
    assert label.label_url == f"{fake_carrier.base_url}/labels/TRK000001.pdf"
    sent = fake_carrier.requests[-1]
    assert sent["path"] == "/labels"
    assert sent["body"]["reference"] == "shipment:1"
    assert sent["body"]["parcel"]["weight_grams"] == 1200
    assert sent["body"]["items"] == [{"sku": "TEA-1", "quantity": 2}]


def test_http_carrier_refusal_and_bad_key_raise_carrier_errors(fake_carrier):
    wrong_key = get_adapter(
        CarrierConfig(code="fast", base_url=fake_carrier.base_url, api_key="wrong"), "http"
    )
    with pytest.raises(CarrierError, match="401"):
        wrong_key.create_label(_request())

    fake_carrier.fail_labels_with = 422
    adapter = get_adapter(
        CarrierConfig(code="fast", base_url=fake_carrier.base_url, api_key=fake_carrier.api_key),
        "http",
    )
    with pytest.raises(CarrierError, match="422.*not serviceable"):
        adapter.create_label(_request())
    assert fake_carrier.issued == 0


def test_http_carrier_unreachable_is_a_carrier_error():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = get_adapter(
        CarrierConfig(code="gone", base_url=f"http://127.0.0.1:{port}", timeout_seconds=2), "http"
    )
    with pytest.raises(CarrierError, match="unreachable"):
        adapter.create_label(_request())


def test_http_carrier_fetches_and_normalises_tracking(fake_carrier):
    fake_carrier.tracking["TRK9"] = [
        {"event_id": "e1", "tracking_number": "TRK9", "status": "picked_up", "occurred_at": "2026-03-01T09:00:00Z"},
        {"event_id": "e2", "tracking_number": "TRK9", "status": "Delivery failed", "occurred_at": "2026-03-02T09:00:00+01:00", "location": "Berlin"},
    ]  # fmt: skip
    adapter = get_adapter(
        CarrierConfig(code="fast", base_url=fake_carrier.base_url, api_key=fake_carrier.api_key),
        "http",
    )

    events = adapter.fetch_tracking("TRK9")

    assert [e.carrier_event_id for e in events] == ["e1", "e2"]
    assert events[0].status == ShipmentStatus.SHIPPED
    assert events[0].occurred_at == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert events[1].status == ShipmentStatus.EXCEPTION
    assert events[1].exception_reason == ExceptionReason.FAILED_ATTEMPT
    assert events[1].location == "Berlin"
    assert events[1].occurred_at == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert fake_carrier.requests[-1]["path"] == "/tracking/TRK9"


def test_tracking_url_uses_template_or_base_url():
    plain = get_adapter(CarrierConfig(code="x", base_url="https://carrier.test/"), "http")
    assert plain.tracking_url("A B/1") == "https://carrier.test/track/A%20B%2F1"
    templated = get_adapter(
        CarrierConfig(
            code="x",
            base_url="https://c.test",
            tracking_url_template="https://t.test/?n={tracking_number}",
        ),
        "http",
    )
    assert templated.tracking_url("Z9") == "https://t.test/?n=Z9"
    manual = get_adapter(CarrierConfig(code="m"), "manual")
    assert manual.tracking_url("Z9") == ""


def test_manual_carrier_uses_the_typed_number():
    manual = get_adapter(CarrierConfig(code="m"), "manual")
    assert manual.create_label(_request(tracking_number=" 1Z999 ")).tracking_number == "1Z999"
    with pytest.raises(CarrierError):
        manual.create_label(_request())
    assert manual.verify_signature(body=b"{}", headers={}) is False


def test_parse_rejects_unknown_status_and_naive_time():
    adapter = get_adapter(CarrierConfig(code="x", base_url="https://c.test"), "http")
    with pytest.raises(CarrierError, match="Unknown tracking status"):
        adapter.parse_tracking_event(
            {
                "event_id": "1",
                "tracking_number": "T",
                "status": "teleported",
                "occurred_at": "2026-01-01T00:00:00Z",
            }
        )
    with pytest.raises(CarrierError, match="offset"):
        adapter.parse_tracking_event(
            {
                "event_id": "1",
                "tracking_number": "T",
                "status": "delivered",
                "occurred_at": "2026-01-01T00:00:00",
            }
        )
    with pytest.raises(CarrierError, match="event_id"):
        adapter.parse_tracking_event({"tracking_number": "T", "status": "delivered"})


def test_webhook_signature_round_trip_and_tampering():
    body = json.dumps({"events": []}).encode()
    header = sign_payload("s3cret", body)
    assert verify_hmac_signature(secret="s3cret", body=body, header=header)
    assert not verify_hmac_signature(secret="other", body=body, header=header)
    assert not verify_hmac_signature(secret="s3cret", body=body + b" ", header=header)
    assert not verify_hmac_signature(secret="s3cret", body=body, header=None)
    assert not verify_hmac_signature(secret="", body=body, header=header)
    stale = sign_payload("s3cret", body, timestamp=int(time.time()) - 3600)
    assert not verify_hmac_signature(secret="s3cret", body=body, header=stale)
    adapter = get_adapter(
        CarrierConfig(code="x", base_url="https://c.test", webhook_secret="s3cret"), "http"
    )
    assert adapter.verify_signature(body=body, headers={SIGNATURE_HEADER: header})
    assert adapter.parse_webhook(body) == []
