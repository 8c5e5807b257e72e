"""The subscription services billing calls (past due, recovered, end of dunning, applied
adjustments), imported in one place."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from oms.core.errors import ApplicationError

logger = logging.getLogger(__name__)


def _service(name: str) -> Any:
    module = importlib.import_module("subscriptions.services")
    if hasattr(module, name):
        return getattr(module, name)
    return getattr(importlib.import_module("subscriptions.services.lifecycle"), name)


def mark_past_due(**kwargs: Any) -> Any:
    """Past due while dunning runs; a subscription that cannot be (cancelled meanwhile) is
    left as it is."""
    try:
        return _service("subscription_mark_past_due")(**kwargs)
    except ApplicationError as exc:
        logger.info("Subscription not marked past due: %s", exc)
        return None


def payment_recovered(**kwargs: Any) -> Any:
    try:
        return _service("subscription_payment_recovered")(**kwargs)
    except ApplicationError as exc:
        logger.info("Subscription not recovered: %s", exc)
        return None


def cancel(**kwargs: Any) -> Any:
    return _service("subscription_cancel")(**kwargs)


def pause(**kwargs: Any) -> Any:
    return _service("subscription_pause")(**kwargs)


def adjustments_mark_applied(**kwargs: Any) -> Any:
    return _service("adjustments_mark_applied")(**kwargs)
