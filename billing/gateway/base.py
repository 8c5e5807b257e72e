"""What billing asks of a payment gateway: the protocol, the results, the errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .ratelimit import RateLimiter

SUCCEEDED = "succeeded"
REQUIRES_ACTION = "requires_action"
FAILED = "failed"
PROCESSING = "processing"

# The metadata key every PaymentIntent we create carries: the attempt's idempotency key.
# It is how a charge whose answer was lost is found again (search, or a list scan).
ATTEMPT_METADATA_KEY = "oms_attempt_key"
REFUND_METADATA_KEY = "oms_refund_key"


class GatewayError(Exception):
    """Stripe refused the request for a reason that is not a card decline (bad request,
    authentication, a missing object). Nothing was charged."""

    def __init__(self, message: str, *, code: str = "gateway_error") -> None:
        super().__init__(message)
        self.code = code


class GatewayUnknownOutcome(GatewayError):
    """The request may or may not have reached Stripe (timeout, connection error, 5xx)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="unknown_outcome")


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: str  # succeeded | requires_action | failed | processing
    payment_intent_id: str | None = None
    charge_id: str | None = None
    amount: int = 0
    currency: str = ""
    decline_code: str = ""
    decline_kind: str = ""  # hard | soft (failed only)
    failure_message: str = ""
    client_secret: str = ""
    payment_method_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


@dataclass(frozen=True, slots=True)
class PaymentMethodInfo:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class SetupIntentInfo:
    id: str
    status: str
    client_secret: str = ""
    customer_id: str | None = None
    payment_method_id: str | None = None


@dataclass(frozen=True, slots=True)
class RefundResult:
    id: str
    status: str  # succeeded | pending | failed | canceled
    amount: int
    payment_intent_id: str | None = None


class PaymentGateway(Protocol):
    limiter: RateLimiter

    def ensure_customer(
        self, *, existing_id: str | None, email: str, name: str, reference: str
    ) -> str: ...

    def create_setup_intent(self, *, customer_id: str) -> SetupIntentInfo: ...

    def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntentInfo: ...

    def attach_payment_method(
        self, *, payment_method_id: str, customer_id: str
    ) -> PaymentMethodInfo: ...

    def retrieve_payment_method(self, payment_method_id: str) -> PaymentMethodInfo: ...

    def list_payment_methods(self, *, customer_id: str) -> list[PaymentMethodInfo]: ...

    def charge_off_session(
        self,
        *,
        amount: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult: ...

    def retrieve_payment_intent(self, payment_intent_id: str) -> ChargeResult: ...

    def find_payment_intent(self, *, attempt_key: str) -> ChargeResult | None: ...

    def cancel_payment_intent(self, payment_intent_id: str) -> ChargeResult: ...

    def refund(
        self, *, payment_intent_id: str, amount: int, idempotency_key: str, reason: str = ""
    ) -> RefundResult: ...

    def find_refund(self, *, refund_key: str) -> RefundResult | None: ...
