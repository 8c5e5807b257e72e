"""Carrier adapters behind one interface, looked up by adapter kind.

``get_adapter(config, kind)`` builds the adapter a ``Carrier`` row names; other integrations
(a real carrier's SDK) register themselves with ``register_adapter`` at start-up."""

from __future__ import annotations

from .base import (
    SIGNATURE_HEADER,
    CarrierAdapter,
    CarrierConfig,
    CarrierError,
    Label,
    LabelRequest,
    TrackingUpdate,
    sign_payload,
    verify_hmac_signature,
)
from .http import HttpCarrier
from .manual import ManualCarrier

_ADAPTERS: dict[str, type[CarrierAdapter]] = {}


def register_adapter(adapter: type[CarrierAdapter]) -> None:
    _ADAPTERS[adapter.kind] = adapter


def adapter_kinds() -> list[str]:
    return sorted(_ADAPTERS)


def get_adapter(config: CarrierConfig, kind: str) -> CarrierAdapter:
    try:
        adapter_class = _ADAPTERS[kind]
    except KeyError:
        raise CarrierError(f"No carrier adapter of kind '{kind}'.") from None
    return adapter_class(config)


register_adapter(ManualCarrier)
register_adapter(HttpCarrier)

__all__ = [
    "SIGNATURE_HEADER",
    "CarrierAdapter",
    "CarrierConfig",
    "CarrierError",
    "HttpCarrier",
    "Label",
    "LabelRequest",
    "ManualCarrier",
    "TrackingUpdate",
    "adapter_kinds",
    "get_adapter",
    "register_adapter",
    "sign_payload",
    "verify_hmac_signature",
]
