"""The carrier adapter interface: one small protocol every carrier integration implements.

An adapter is built from a ``CarrierConfig`` (what a ``Carrier`` row holds: base URL, keys,
the inbound-webhook secret) and knows nothing of the database, so it can be tested alone."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from fulfillment.statuses import CARRIER_STATUSES, ExceptionReason

SIGNATURE_HEADER = "X-Carrier-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300


class CarrierError(Exception):
    """The carrier refused or could not be reached. Services turn this into a domain error."""


@dataclass(frozen=True, slots=True)
class CarrierConfig:
    code: str
    name: str = ""
    base_url: str = ""
    api_key: str = ""
    webhook_secret: str = ""
    tracking_url_template: str = ""
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class LabelRequest:
    """Everything a carrier needs to buy a label for one parcel."""

    reference: str  # our shipment reference, e.g. "shipment:42"
    service_level: str
    ship_from: dict[str, Any]
    ship_to: dict[str, Any]
    weight_grams: int | None = None
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    tracking_number: str = ""  # a manual carrier's label is the number the operator typed


@dataclass(frozen=True, slots=True)
class Label:
    tracking_number: str
    label_url: str = ""
    label_data: bytes | None = None
    label_format: str = ""  # "pdf", "zpl", "png"...


@dataclass(frozen=True, slots=True)
class TrackingUpdate:
    """One carrier scan, normalised. ``status`` is a ShipmentStatus value the carrier can
    report, or "" for a purely informational scan that never changes the shipment."""

    carrier_event_id: str
    tracking_number: str
    status: str
    occurred_at: datetime
    description: str = ""
    location: str = ""
    exception_reason: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status and self.status not in CARRIER_STATUSES:
            raise CarrierError(f"'{self.status}' is not a status a carrier can report.")
        if self.exception_reason and self.exception_reason not in ExceptionReason.values:
            raise CarrierError(f"Unknown exception reason '{self.exception_reason}'.")
        if self.occurred_at.tzinfo is None:
            raise CarrierError("Tracking events need an aware timestamp.")
        if not self.carrier_event_id:
            raise CarrierError("Tracking events need the carrier's event id.")


class CarrierAdapter(Protocol):
    kind: ClassVar[str]
    supports_labels: ClassVar[bool]
    supports_webhooks: ClassVar[bool]

    def __init__(self, config: CarrierConfig) -> None: ...

    def create_label(self, request: LabelRequest) -> Label: ...

    def tracking_url(self, tracking_number: str) -> str: ...

    def parse_tracking_event(self, payload: dict[str, Any]) -> TrackingUpdate: ...

    def parse_webhook(self, body: bytes) -> list[TrackingUpdate]: ...

    def verify_signature(self, *, body: bytes, headers: Any) -> bool: ...

    def fetch_tracking(self, tracking_number: str) -> list[TrackingUpdate]: ...


def sign_payload(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The value of the signature header for ``body``: ``t=<unix>,v1=<hex HMAC-SHA256>`` over
    ``"<t>." + body``. The timestamp inside the signed text stops replays of old bodies."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def verify_hmac_signature(
    *, secret: str, body: bytes, header: str | None, now: float | None = None
) -> bool:
    if not secret or not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts.get("t", ""))
    except ValueError:
        return False
    given = parts.get("v1", "")
    current = time.time() if now is None else now
    if abs(current - ts) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)
