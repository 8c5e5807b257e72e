"""The payment gateway: what billing asks of Stripe, behind one small protocol.

``StripeGateway`` talks to Stripe only through the official ``stripe`` SDK, configured from
settings (``STRIPE_API_KEY``, ``STRIPE_API_BASE``; tests point the base at a local stand-in).
``InProcessGateway`` answers in-process and deterministically, recording every call; the
renewal benchmark uses it to measure our own cost apart from the gateway's, and fast tests
use it where no Stripe behaviour is under test.

Both go through a client-side ``RateLimiter`` (a token bucket with backoff on HTTP 429) so a
large renewal run never trips Stripe's request limit, and reports how long it waited.

The outcome of a charge is one of four (``ChargeResult.status``): ``succeeded``,
``requires_action`` (the bank wants the customer present), ``failed`` (a decline, with its
code and hard/soft class), or the call raises ``GatewayUnknownOutcome`` (timeout, connection
reset, Stripe 5xx): the charge may or may not exist, and the caller must find out by asking
(``find_payment_intent``), never by charging again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from .base import (
    ATTEMPT_METADATA_KEY,
    FAILED,
    PROCESSING,
    REFUND_METADATA_KEY,
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeResult,
    GatewayError,
    GatewayUnknownOutcome,
    PaymentGateway,
    PaymentMethodInfo,
    RefundResult,
    SetupIntentInfo,
)
from .inprocess import CARD_OUTCOMES, InProcessGateway
from .ratelimit import RateLimiter, limiter_from_settings
from .stripe_sdk import StripeGateway

__all__ = [
    "ATTEMPT_METADATA_KEY", "CARD_OUTCOMES", "FAILED", "PROCESSING", "REFUND_METADATA_KEY",
    "REQUIRES_ACTION", "SUCCEEDED", "ChargeResult", "GatewayError", "GatewayUnknownOutcome",
    "InProcessGateway", "PaymentGateway", "PaymentMethodInfo", "RateLimiter", "RefundResult",
    "SetupIntentInfo", "StripeGateway", "get_gateway", "limiter_from_settings", "reset_gateway",
    "use_gateway",
]  # fmt: skip


_override: PaymentGateway | None = None
_default: PaymentGateway | None = None
_default_lock = threading.Lock()


def get_gateway() -> PaymentGateway:
    """The gateway services use unless one is passed in: an override (``use_gateway``), else
    one per process built from settings (``OMS_PAYMENT_GATEWAY``: ``stripe`` or ``inprocess``)."""
    global _default
    if _override is not None:
        return _override
    with _default_lock:
        if _default is None:
            kind = getattr(settings, "OMS_PAYMENT_GATEWAY", "stripe")
            _default = InProcessGateway() if kind == "inprocess" else StripeGateway()
        return _default


def reset_gateway() -> None:
    """Forget the per-process gateway (settings changed, e.g. a test pointed STRIPE_API_BASE
    at a new server)."""
    global _default
    with _default_lock:
        _default = None


@contextmanager
def use_gateway(gateway: PaymentGateway) -> Iterator[PaymentGateway]:
    """Route every service call in this process through ``gateway`` for the block."""
    global _override
    previous = _override
    _override = gateway
    try:
        yield gateway
    finally:
        _override = previous
