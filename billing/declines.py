"""Decline codes: which failures are worth retrying (soft) and which are not (hard).

A *hard* decline means the card will not work again as it is (stolen, closed, invalid
number): dunning stops retrying it and asks the customer for a new card at once. A *soft*
decline (insufficient funds, issuer unavailable, generic decline) may succeed on a later
day, so the retry schedule goes on. ``authentication_required`` is its own case: the bank
wants the customer present (3-D Secure), so we ask them to come back on-session.

Codes follow Stripe's documented ``decline_code`` values; an unknown code is soft, because
a needless retry costs little while giving up on a good card loses the customer."""

from __future__ import annotations

HARD = "hard"
SOFT = "soft"

HARD_DECLINE_CODES = frozenset(
    {
        "card_not_supported",
        "card_velocity_exceeded_permanently",
        "currency_not_supported",
        "do_not_honor_permanently",
        "do_not_try_again",
        "expired_card",
        "fraudulent",
        "incorrect_number",
        "invalid_account",
        "invalid_card_type",
        "invalid_number",
        "lost_card",
        "merchant_blacklist",
        "new_account_information_available",
        "no_action_taken",
        "pickup_card",
        "restricted_card",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "stolen_card",
        "stop_payment_order",
        "transaction_not_allowed",
    }
)

SOFT_DECLINE_CODES = frozenset(
    {
        "approve_with_id",
        "authentication_required",
        "call_issuer",
        "card_declined",
        "card_velocity_exceeded",
        "do_not_honor",
        "generic_decline",
        "insufficient_funds",
        "issuer_not_available",
        "processing_error",
        "reenter_transaction",
        "try_again_later",
        "withdrawal_count_limit_exceeded",
    }
)

AUTHENTICATION_REQUIRED = "authentication_required"


def classify_decline(code: str | None) -> str:
    """``hard`` or ``soft`` for a Stripe decline code (or error code when no decline code)."""
    return HARD if (code or "") in HARD_DECLINE_CODES else SOFT
