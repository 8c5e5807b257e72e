"""A gateway that answers in-process: deterministic, records its calls. For the renewal
benchmark (our own cost apart from the gateway's) and fast tests."""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from ..declines import AUTHENTICATION_REQUIRED, HARD, SOFT, classify_decline
from .base import (
    ATTEMPT_METADATA_KEY,
    FAILED,
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeResult,
    GatewayError,
    PaymentMethodInfo,
    RefundResult,
    SetupIntentInfo,
)
from .ratelimit import RateLimiter

# Test card numbers with the outcomes Stripe documents for them.
CARD_OUTCOMES: dict[str, tuple[str, str]] = {
    "4242424242424242": (SUCCEEDED, ""),
    "4000000000000341": (FAILED, "card_declined"),
    "4000000000009995": (FAILED, "insufficient_funds"),
    "4000000000009987": (FAILED, "lost_card"),
    "4000000000009979": (FAILED, "stolen_card"),
    "4000000000000069": (FAILED, "expired_card"),
    "4000002760003184": (REQUIRES_ACTION, AUTHENTICATION_REQUIRED),
}


@dataclass
class _InProcessPI:
    id: str
    amount: int
    currency: str
    customer_id: str
    payment_method_id: str
    metadata: dict[str, str]
    status: str
    decline_code: str = ""
    refunded: int = 0


class InProcessGateway:
    """A deterministic gateway living in this process. It keeps Stripe's promises that
    matter to us (an idempotency key replays the first answer; a PaymentIntent can be found
    by its attempt key) and records every call in ``calls`` as ``(method, kwargs)``.

    Card behaviour follows the Stripe test numbers in ``CARD_OUTCOMES``; payment methods
    created with ``add_card`` get ids ``pm_inproc_<token><n>``. An unknown payment method id
    succeeds, so a benchmark can charge ids it made up."""

    def __init__(self, *, limiter: RateLimiter | None = None, record_calls: bool = True) -> None:
        self.limiter = limiter or RateLimiter(rate=0)
        self.record_calls = record_calls
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._token = secrets.token_hex(4)
        self._cards: dict[str, tuple[PaymentMethodInfo, str]] = {}  # pm id -> (info, number)
        self._intents: dict[str, _InProcessPI] = {}
        self._by_key: dict[str, str] = {}  # idempotency key -> pi id
        self._by_attempt: dict[str, str] = {}
        self._setup_intents: dict[str, SetupIntentInfo] = {}
        self._refunds: dict[str, RefundResult] = {}
        self.fail_next: list[Exception] = []  # raised (once each) by the next charges

    def _record(self, method: str, **kwargs: Any) -> None:
        self.limiter.acquire()
        if self.record_calls:
            with self._lock:
                self.calls.append((method, kwargs))

    def _next_id(self, prefix: str) -> str:
        # Unique across processes and runs (our tables keep Stripe ids unique).
        return f"{prefix}_inproc_{self._token}{next(self._ids)}"

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == method]

    # -- test helpers -----------------------------------------------------------------

    def add_card(
        self,
        number: str = "4242424242424242",
        *,
        exp_month: int = 12,
        exp_year: int = 2034,
        brand: str = "visa",
    ) -> str:
        pm_id = self._next_id("pm")
        info = PaymentMethodInfo(
            id=pm_id, brand=brand, last4=number[-4:], exp_month=exp_month, exp_year=exp_year
        )
        self._cards[pm_id] = (info, number)
        return pm_id

    def complete_setup_intent(self, setup_intent_id: str, *, payment_method_id: str) -> None:
        si = self._setup_intents[setup_intent_id]
        self._setup_intents[setup_intent_id] = SetupIntentInfo(
            id=si.id,
            status=SUCCEEDED,
            customer_id=si.customer_id,
            payment_method_id=payment_method_id,
        )
        if si.customer_id:
            self.attach_payment_method(
                payment_method_id=payment_method_id, customer_id=si.customer_id
            )

    def payment_intent_count(self) -> int:
        return len(self._intents)

    # -- protocol ---------------------------------------------------------------------

    def ensure_customer(
        self, *, existing_id: str | None, email: str, name: str, reference: str
    ) -> str:
        if existing_id:
            return existing_id
        self._record("ensure_customer", email=email, reference=reference)
        return f"cus_inproc_{reference}"

    def create_setup_intent(self, *, customer_id: str) -> SetupIntentInfo:
        self._record("create_setup_intent", customer_id=customer_id)
        si_id = self._next_id("seti")
        si = SetupIntentInfo(
            id=si_id,
            status="requires_payment_method",
            client_secret=f"{si_id}_secret",
            customer_id=customer_id,
        )
        self._setup_intents[si_id] = si
        return si

    def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntentInfo:
        self._record("retrieve_setup_intent", setup_intent_id=setup_intent_id)
        try:
            return self._setup_intents[setup_intent_id]
        except KeyError:
            raise GatewayError(
                f"No such setup intent {setup_intent_id}", code="resource_missing"
            ) from None

    def attach_payment_method(
        self, *, payment_method_id: str, customer_id: str
    ) -> PaymentMethodInfo:
        self._record(
            "attach_payment_method", payment_method_id=payment_method_id, customer_id=customer_id
        )
        info, number = self._cards.get(payment_method_id) or (
            PaymentMethodInfo(
                id=payment_method_id, brand="visa", last4="4242", exp_month=12, exp_year=2034
            ),
            "4242424242424242",
        )
        if number in ("4000000000009995", "4000000000000002"):  # Stripe refuses these at attach
            raise GatewayError("Your card was declined.", code="card_declined")
        attached = PaymentMethodInfo(
            id=info.id, brand=info.brand, last4=info.last4, exp_month=info.exp_month,
            exp_year=info.exp_year, customer_id=customer_id,
        )  # fmt: skip
        self._cards[payment_method_id] = (attached, number)
        return attached

    def retrieve_payment_method(self, payment_method_id: str) -> PaymentMethodInfo:
        self._record("retrieve_payment_method", payment_method_id=payment_method_id)
        if payment_method_id not in self._cards:
            raise GatewayError(
                f"No such payment method {payment_method_id}", code="resource_missing"
            )
        return self._cards[payment_method_id][0]

    def list_payment_methods(self, *, customer_id: str) -> list[PaymentMethodInfo]:
        self._record("list_payment_methods", customer_id=customer_id)
        return [info for info, _ in self._cards.values() if info.customer_id == customer_id]

    def charge_off_session(
        self,
        *,
        amount: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        self._record(
            "charge_off_session", amount=amount, currency=currency, customer_id=customer_id,
            payment_method_id=payment_method_id, idempotency_key=idempotency_key,
        )  # fmt: skip
        with self._lock:
            existing = self._by_key.get(idempotency_key)
            if existing is not None:
                return self._result(self._intents[existing])
            number = self._cards.get(payment_method_id, (None, "4242424242424242"))[1]
            status, code = CARD_OUTCOMES.get(number, (SUCCEEDED, ""))
            pi = _InProcessPI(
                id=self._next_id("pi"), amount=amount, currency=currency.upper(),
                customer_id=customer_id, payment_method_id=payment_method_id,
                metadata={**metadata, ATTEMPT_METADATA_KEY: idempotency_key},
                status=status, decline_code=code,
            )  # fmt: skip
            self._intents[pi.id] = pi
            self._by_key[idempotency_key] = pi.id
            self._by_attempt[idempotency_key] = pi.id
            failure = self.fail_next.pop(0) if self.fail_next else None
        if failure is not None:
            raise failure  # the charge exists, but its answer is lost
        return self._result(pi)

    def _result(self, pi: _InProcessPI) -> ChargeResult:
        common: dict[str, Any] = {
            "payment_intent_id": pi.id, "amount": pi.amount, "currency": pi.currency,
            "payment_method_id": pi.payment_method_id, "metadata": dict(pi.metadata),
            "client_secret": f"{pi.id}_secret",
        }  # fmt: skip
        if pi.status == SUCCEEDED:
            return ChargeResult(status=SUCCEEDED, charge_id=pi.id.replace("pi_", "ch_"), **common)
        if pi.status == REQUIRES_ACTION:
            return ChargeResult(
                status=REQUIRES_ACTION,
                decline_code=AUTHENTICATION_REQUIRED,
                decline_kind=SOFT,
                **common,
            )
        return ChargeResult(
            status=FAILED, decline_code=pi.decline_code,
            decline_kind=HARD if classify_decline(pi.decline_code) == HARD else SOFT,
            failure_message="Your card was declined.", **common,
        )  # fmt: skip

    def retrieve_payment_intent(self, payment_intent_id: str) -> ChargeResult:
        self._record("retrieve_payment_intent", payment_intent_id=payment_intent_id)
        try:
            return self._result(self._intents[payment_intent_id])
        except KeyError:
            raise GatewayError(
                f"No such payment intent {payment_intent_id}", code="resource_missing"
            ) from None

    def find_payment_intent(self, *, attempt_key: str) -> ChargeResult | None:
        self._record("find_payment_intent", attempt_key=attempt_key)
        pi_id = self._by_attempt.get(attempt_key)
        return self._result(self._intents[pi_id]) if pi_id else None

    def cancel_payment_intent(self, payment_intent_id: str) -> ChargeResult:
        self._record("cancel_payment_intent", payment_intent_id=payment_intent_id)
        pi = self._intents[payment_intent_id]
        if pi.status == REQUIRES_ACTION:
            pi.status, pi.decline_code = "canceled", "canceled"
        return self._result(pi)

    def mark_succeeded(self, payment_intent_id: str) -> ChargeResult:
        """The customer completed authentication (the portal page's job with Stripe.js)."""
        pi = self._intents[payment_intent_id]
        pi.status, pi.decline_code = SUCCEEDED, ""
        return self._result(pi)

    def refund(
        self, *, payment_intent_id: str, amount: int, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        self._record(
            "refund",
            payment_intent_id=payment_intent_id,
            amount=amount,
            idempotency_key=idempotency_key,
        )
        with self._lock:
            if idempotency_key in self._refunds:
                return self._refunds[idempotency_key]
            pi = self._intents.get(payment_intent_id)
            if pi is None or pi.status != SUCCEEDED:
                raise GatewayError(
                    "Nothing to refund on that payment.", code="charge_not_refundable"
                )
            if pi.refunded + amount > pi.amount:
                raise GatewayError("Refund exceeds the amount charged.", code="amount_too_large")
            pi.refunded += amount
            result = RefundResult(
                id=self._next_id("re"), status=SUCCEEDED, amount=amount, payment_intent_id=pi.id
            )
            self._refunds[idempotency_key] = result
        return result

    def find_refund(self, *, refund_key: str) -> RefundResult | None:
        self._record("find_refund", refund_key=refund_key)
        return self._refunds.get(refund_key)
