"""A generic HTTP carrier: labels and tracking come from a configurable endpoint.

Outbound (``Authorization: Bearer <api_key>``, JSON):
  POST {base_url}/labels            → {"tracking_number", "label_url"?, "label_base64"?, "label_format"?}
  GET  {base_url}/tracking/{number} → {"events": [<event>, ...]}
Inbound webhook: a JSON event or ``{"events": [...]}``, signed with the carrier's
webhook secret in the ``X-Carrier-Signature`` header (see ``base.sign_payload``).
Events use the generic vocabulary of ``normalize.update_from_dict``."""

from __future__ import annotations

import base64
import binascii
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, ClassVar

from .base import (
    SIGNATURE_HEADER,
    CarrierConfig,
    CarrierError,
    Label,
    LabelRequest,
    TrackingUpdate,
    verify_hmac_signature,
)
from .normalize import update_from_dict


class HttpCarrier:
    kind: ClassVar[str] = "http"
    supports_labels: ClassVar[bool] = True
    supports_webhooks: ClassVar[bool] = True

    def __init__(self, config: CarrierConfig) -> None:
        if not config.base_url:
            raise CarrierError(f"Carrier {config.code} has no base URL configured.")
        self.config = config
        self.base_url = config.base_url.rstrip("/")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.config.api_key:
            request.add_header("Authorization", f"Bearer {self.config.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:  # noqa: S310 - configured https/http endpoint
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise CarrierError(
                f"Carrier {self.config.code} answered {exc.code}: {detail}"
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise CarrierError(f"Carrier {self.config.code} is unreachable: {exc}") from None
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            raise CarrierError(
                f"Carrier {self.config.code} sent a body that is not JSON."
            ) from None
        if not isinstance(parsed, dict):
            raise CarrierError(f"Carrier {self.config.code} sent an unexpected body.")
        return parsed

    def create_label(self, request: LabelRequest) -> Label:
        answer = self._call(
            "POST",
            "/labels",
            {
                "reference": request.reference,
                "service_level": request.service_level,
                "ship_from": request.ship_from,
                "ship_to": request.ship_to,
                "parcel": {
                    "weight_grams": request.weight_grams,
                    "length_mm": request.length_mm,
                    "width_mm": request.width_mm,
                    "height_mm": request.height_mm,
                },
                "items": request.items,
            },
        )
        number = str(answer.get("tracking_number") or "").strip()
        if not number:
            raise CarrierError(f"Carrier {self.config.code} returned no tracking number.")
        label_data = None
        if answer.get("label_base64"):
            try:
                label_data = base64.b64decode(answer["label_base64"], validate=True)
            except (binascii.Error, ValueError):
                raise CarrierError(f"Carrier {self.config.code} sent a corrupt label.") from None
        return Label(
            tracking_number=number[:100],
            label_url=str(answer.get("label_url") or "")[:500],
            label_data=label_data,
            label_format=str(answer.get("label_format") or ("pdf" if label_data else ""))[:10],
        )

    def tracking_url(self, tracking_number: str) -> str:
        quoted = urllib.parse.quote(tracking_number, safe="")
        if self.config.tracking_url_template:
            return self.config.tracking_url_template.format(tracking_number=quoted)
        return f"{self.base_url}/track/{quoted}"

    def parse_tracking_event(self, payload: dict[str, Any]) -> TrackingUpdate:
        return update_from_dict(payload)

    def parse_webhook(self, body: bytes) -> list[TrackingUpdate]:
        try:
            parsed = json.loads(body)
        except ValueError:
            raise CarrierError("The webhook body is not JSON.") from None
        events = (
            parsed.get("events") if isinstance(parsed, dict) and "events" in parsed else [parsed]
        )
        if not isinstance(events, list):
            raise CarrierError("'events' must be a list.")
        return [self.parse_tracking_event(event) for event in events]

    def verify_signature(self, *, body: bytes, headers: Any) -> bool:
        return verify_hmac_signature(
            secret=self.config.webhook_secret, body=body, header=headers.get(SIGNATURE_HEADER)
        )

    def fetch_tracking(self, tracking_number: str) -> list[TrackingUpdate]:
        quoted = urllib.parse.quote(tracking_number, safe="")
        answer = self._call("GET", f"/tracking/{quoted}")
        events = answer.get("events") or []
        if not isinstance(events, list):
            raise CarrierError("'events' must be a list.")
        return [self.parse_tracking_event(event) for event in events]
