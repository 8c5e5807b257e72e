"""Input guards every domain shares, with the same error codes everywhere."""

from __future__ import annotations

from typing import Any

from .errors import ValidationError

REASON_REQUIRED = "reason_required"
INVALID_QUANTITY = "invalid_quantity"


def require_reason(reason: str) -> str:
    """The stripped reason; a blank one is refused (every operator action says why)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            "A reason is required.", code=REASON_REQUIRED, fields={"reason": ["Required."]}
        )
    return reason


def require_positive(quantity: Any, field: str = "quantity") -> int:
    """A positive whole number (bools refused), else a 400 naming ``field``."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValidationError(
            f"{field} must be a positive whole number.",
            code=INVALID_QUANTITY,
            fields={field: ["Must be a positive integer."]},
        )
    return quantity
