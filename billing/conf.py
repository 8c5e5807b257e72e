"""Billing settings with their defaults (override any of them in Django settings)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Days after the first failed charge on which dunning retries (Stripe's default spirit).
    "OMS_DUNNING_RETRY_DAYS": [1, 3, 5, 7],
    # What happens to the subscription after the last retry fails: "cancel" or "pause".
    "OMS_DUNNING_END_ACTION": "cancel",
    # With the "pause" end action: how many periods the subscription is paused for.
    "OMS_DUNNING_PAUSE_CYCLES": 1,
    # Days an open invoice with collection "send_invoice" has before it is due.
    "OMS_INVOICE_DUE_DAYS": 14,
    # A pending attempt older than this is presumed abandoned by a crash and reconciled.
    "OMS_PAYMENT_PENDING_STALE_SECONDS": 300,
    # An attempt Stripe has no record of is declared failed only after this long (search
    # results can lag by up to a minute on Stripe).
    "OMS_PAYMENT_NOT_FOUND_GRACE_SECONDS": 600,
    # The seller's identity printed on invoices.
    "OMS_INVOICE_SELLER": {
        "name": "Seed OMS Inc.",
        "address": "1 Market Street, Springfield",
        "tax_id": "",
    },
    "STRIPE_PUBLISHABLE_KEY": "pk_test_oms",
}


def get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


def retry_days() -> list[int]:
    return [int(d) for d in get("OMS_DUNNING_RETRY_DAYS")]


def end_action() -> str:
    action = get("OMS_DUNNING_END_ACTION")
    return action if action in ("cancel", "pause") else "cancel"


def pause_cycles() -> int:
    return max(1, int(get("OMS_DUNNING_PAUSE_CYCLES")))


def seconds(name: str) -> dt.timedelta:
    return dt.timedelta(seconds=float(get(name)))
