"""The manual carrier: the operator types the tracking number printed on a label bought
elsewhere. Tracking events reach it only through the channel API (a 3PL posting scans)."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import CarrierConfig, CarrierError, Label, LabelRequest, TrackingUpdate
from .normalize import update_from_dict


class ManualCarrier:
    kind: ClassVar[str] = "manual"
    supports_labels: ClassVar[bool] = False
    supports_webhooks: ClassVar[bool] = False

    def __init__(self, config: CarrierConfig) -> None:
        self.config = config

    def create_label(self, request: LabelRequest) -> Label:
        number = request.tracking_number.strip()
        if not number:
            raise CarrierError("The manual carrier needs the tracking number typed in.")
        return Label(tracking_number=number)

    def tracking_url(self, tracking_number: str) -> str:
        template = self.config.tracking_url_template
        return template.format(tracking_number=tracking_number) if template else ""

    def parse_tracking_event(self, payload: dict[str, Any]) -> TrackingUpdate:
        return update_from_dict(payload)

    def parse_webhook(self, body: bytes) -> list[TrackingUpdate]:
        raise CarrierError("The manual carrier has no inbound webhook.")

    def verify_signature(self, *, body: bytes, headers: Any) -> bool:
        return False

    def fetch_tracking(self, tracking_number: str) -> list[TrackingUpdate]:
        return []
