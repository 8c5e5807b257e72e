"""Turning a carrier's JSON event into a ``TrackingUpdate``.

The generic vocabulary (used by the HTTP carrier and the channel API) is a JSON object:
``{"event_id", "tracking_number", "status", "occurred_at" (ISO 8601 with offset),
"description", "location", "exception_reason"}``. ``status`` may be one of ours or a common
carrier word listed in ``STATUS_ALIASES``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fulfillment.statuses import CARRIER_STATUSES, ExceptionReason, ShipmentStatus

from .base import CarrierError, TrackingUpdate

S = ShipmentStatus

STATUS_ALIASES: dict[str, tuple[str, str]] = {
    # carrier word: (our status, exception reason)
    "label_created": ("", ""),
    "info": ("", ""),
    "pre_transit": ("", ""),
    "accepted": (S.SHIPPED, ""),
    "picked_up": (S.SHIPPED, ""),
    "shipped": (S.SHIPPED, ""),
    "in_transit": (S.IN_TRANSIT, ""),
    "arrived_at_facility": (S.IN_TRANSIT, ""),
    "departed_facility": (S.IN_TRANSIT, ""),
    "out_for_delivery": (S.OUT_FOR_DELIVERY, ""),
    "delivered": (S.DELIVERED, ""),
    "available_for_pickup": (S.OUT_FOR_DELIVERY, ""),
    "failed_attempt": (S.EXCEPTION, ExceptionReason.FAILED_ATTEMPT),
    "delivery_failed": (S.EXCEPTION, ExceptionReason.FAILED_ATTEMPT),
    "lost": (S.EXCEPTION, ExceptionReason.LOST),
    "damaged": (S.EXCEPTION, ExceptionReason.DAMAGED),
    "address_problem": (S.EXCEPTION, ExceptionReason.ADDRESS_PROBLEM),
    "exception": (S.EXCEPTION, ExceptionReason.OTHER),
    "returned_to_sender": (S.RETURNED_TO_SENDER, ""),
    "return_to_sender": (S.RETURNED_TO_SENDER, ""),
}


def normalize_status(word: str, reason: str = "") -> tuple[str, str]:
    key = (word or "").strip().lower().replace("-", "_").replace(" ", "_")
    if key not in STATUS_ALIASES:
        raise CarrierError(f"Unknown tracking status '{word}'.")
    status, default_reason = STATUS_ALIASES[key]
    if status == S.EXCEPTION:
        reason = (reason or default_reason or ExceptionReason.OTHER).strip().lower()
        if reason not in ExceptionReason.values:
            reason = ExceptionReason.OTHER
        return status, reason
    return status, ""


def parse_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise CarrierError(f"'{value}' is not an ISO 8601 timestamp.") from None
    if moment.tzinfo is None:
        raise CarrierError("Tracking timestamps need a UTC offset.")
    return moment


def update_from_dict(payload: dict[str, Any]) -> TrackingUpdate:
    if not isinstance(payload, dict):
        raise CarrierError("A tracking event is a JSON object.")
    event_id = str(payload.get("event_id") or payload.get("id") or "").strip()
    number = str(payload.get("tracking_number") or "").strip()
    if not event_id or not number:
        raise CarrierError("A tracking event needs event_id and tracking_number.")
    status, reason = normalize_status(
        str(payload.get("status") or ""), str(payload.get("exception_reason") or "")
    )
    assert status == "" or status in CARRIER_STATUSES
    return TrackingUpdate(
        carrier_event_id=event_id[:200],
        tracking_number=number[:100],
        status=status,
        occurred_at=parse_timestamp(payload.get("occurred_at")),
        description=str(payload.get("description") or "")[:500],
        location=str(payload.get("location") or "")[:200],
        exception_reason=reason,
        raw=payload,
    )
