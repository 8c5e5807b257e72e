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

import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from django.conf import settings

from .declines import AUTHENTICATION_REQUIRED, HARD, SOFT, classify_decline

logger = logging.getLogger(__name__)

T = TypeVar("T")

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


# --------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------


class RateLimiter:
    """A token bucket shared by every thread of the process, with backoff on HTTP 429.

    ``rate`` requests per second on average, ``burst`` at once; ``rate <= 0`` disables the
    bucket (429 backoff still applies). ``waited_seconds`` totals the time callers spent
    waiting (for tokens and in backoff), which the renewal run reports."""

    def __init__(
        self,
        *,
        rate: float = 0.0,
        burst: int | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(1, int(rate)))
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()
        self.waited_seconds = 0.0
        self.throttled = 0  # 429 answers seen
        self.calls = 0

    def acquire(self) -> float:
        """Take one token, sleeping until one is free. Returns the seconds waited."""
        if self.rate <= 0:
            with self._lock:
                self.calls += 1
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0  # reserve now; a negative balance is a queue position
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            self.calls += 1
            self.waited_seconds += wait
        if wait > 0:
            self._sleep(wait)
        return wait

    def call(self, func: Callable[[], T], *, is_rate_limited: Callable[[Exception], bool]) -> T:
        """Run ``func`` under the limiter; on a rate-limit answer back off and run it again
        (the request was refused, so repeating it, with the same idempotency key, is safe)."""
        for attempt in itertools.count():
            self.acquire()
            try:
                return func()
            except Exception as exc:
                if not is_rate_limited(exc) or attempt >= self.max_retries:
                    raise
                delay = min(self.backoff_max, self.backoff_base * (2**attempt))
                with self._lock:
                    self.throttled += 1
                    self.waited_seconds += delay
                logger.info("Stripe rate limit hit; backing off %.2fs", delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def reset_stats(self) -> None:
        with self._lock:
            self.waited_seconds = 0.0
            self.throttled = 0
            self.calls = 0


def limiter_from_settings(api_key: str = "") -> RateLimiter:
    """``OMS_STRIPE_RATE_LIMIT`` requests/second (0 turns the bucket off); by default a
    margin under Stripe's documented limits: 25/s with a test key, 90/s with a live one."""
    configured = getattr(settings, "OMS_STRIPE_RATE_LIMIT", None)
    if configured is None:
        configured = 25 if (api_key or "").startswith(("sk_test", "rk_test")) else 90
    return RateLimiter(
        rate=float(configured),
        burst=getattr(settings, "OMS_STRIPE_RATE_BURST", None),
        max_retries=int(getattr(settings, "OMS_STRIPE_RATE_LIMIT_RETRIES", 5)),
    )


# --------------------------------------------------------------------------------------
# Stripe
# --------------------------------------------------------------------------------------


def _pi_result(pi: Any) -> ChargeResult:
    """Map a PaymentIntent (SDK object or dict) to a ChargeResult."""
    data = pi.to_dict() if hasattr(pi, "to_dict") else dict(pi)
    status = data.get("status") or ""
    error = data.get("last_payment_error") or {}
    latest = data.get("latest_charge")
    charge_id = latest.get("id") if isinstance(latest, dict) else latest
    common: dict[str, Any] = {
        "payment_intent_id": data.get("id"),
        "charge_id": charge_id,
        "amount": int(data.get("amount") or 0),
        "currency": (data.get("currency") or "").upper(),
        "client_secret": data.get("client_secret") or "",
        "payment_method_id": _id_of(data.get("payment_method")) or "",
        "metadata": dict(data.get("metadata") or {}),
    }
    if status == SUCCEEDED:
        return ChargeResult(status=SUCCEEDED, **common)
    if status in ("requires_action", "requires_confirmation") and not error:
        return ChargeResult(
            status=REQUIRES_ACTION,
            decline_code=AUTHENTICATION_REQUIRED,
            decline_kind=SOFT,
            **common,
        )
    if status == PROCESSING:
        return ChargeResult(status=PROCESSING, **common)
    code = error.get("decline_code") or error.get("code") or status or "failed"
    return ChargeResult(
        status=FAILED,
        decline_code=code,
        decline_kind=classify_decline(code),
        failure_message=error.get("message") or "",
        **common,
    )


def _id_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return value.get("id") if isinstance(value, dict) else getattr(value, "id", None)


def _pm_info(pm: Any) -> PaymentMethodInfo:
    data = pm.to_dict() if hasattr(pm, "to_dict") else dict(pm)
    card = data.get("card") or {}
    return PaymentMethodInfo(
        id=data["id"],
        brand=card.get("brand") or "",
        last4=card.get("last4") or "",
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
        customer_id=_id_of(data.get("customer")),
    )


def _si_info(si: Any) -> SetupIntentInfo:
    data = si.to_dict() if hasattr(si, "to_dict") else dict(si)
    return SetupIntentInfo(
        id=data["id"],
        status=data.get("status") or "",
        client_secret=data.get("client_secret") or "",
        customer_id=_id_of(data.get("customer")),
        payment_method_id=_id_of(data.get("payment_method")),
    )


class StripeGateway:
    """The real gateway: the official SDK, one ``StripeClient`` per gateway (thread-safe:
    the SDK keeps one HTTP session per thread)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        max_network_retries: int | None = None,
        timeout: float | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        import stripe

        self._stripe = stripe
        key = api_key or settings.STRIPE_API_KEY
        if not key:
            raise GatewayError("STRIPE_API_KEY is not configured.", code="not_configured")
        base = api_base if api_base is not None else settings.STRIPE_API_BASE
        retries = (
            max_network_retries
            if max_network_retries is not None
            else int(getattr(settings, "OMS_STRIPE_MAX_NETWORK_RETRIES", 2))
        )
        http_client = stripe.RequestsClient(
            timeout=timeout or float(getattr(settings, "OMS_STRIPE_TIMEOUT_SECONDS", 30))
        )
        kwargs: dict[str, Any] = {"max_network_retries": retries, "http_client": http_client}
        if base:
            kwargs["base_addresses"] = {"api": base.rstrip("/")}
        self.client = stripe.StripeClient(key, **kwargs)
        self.limiter = limiter or limiter_from_settings(key)

    # -- plumbing ---------------------------------------------------------------------

    def _is_rate_limited(self, exc: Exception) -> bool:
        return isinstance(exc, self._stripe.RateLimitError)

    def _call(self, func: Callable[[], T]) -> T:
        stripe = self._stripe
        try:
            return self.limiter.call(func, is_rate_limited=self._is_rate_limited)
        except stripe.APIConnectionError as exc:
            raise GatewayUnknownOutcome(
                f"No answer from Stripe: {exc.user_message or exc}"
            ) from exc
        except stripe.APIError as exc:
            raise GatewayUnknownOutcome(f"Stripe error: {exc.user_message or exc}") from exc
        except stripe.RateLimitError as exc:
            raise GatewayUnknownOutcome("Stripe kept refusing: rate limited.") from exc
        except stripe.CardError:
            raise
        except stripe.StripeError as exc:
            raise GatewayError(
                str(exc.user_message or exc), code=exc.code or "stripe_error"
            ) from exc

    @property
    def v1(self) -> Any:
        return self.client.v1

    # -- customers and payment methods ------------------------------------------------

    def ensure_customer(
        self, *, existing_id: str | None, email: str, name: str, reference: str
    ) -> str:
        if existing_id:
            return existing_id
        customer = self._call(
            lambda: self.v1.customers.create(
                params={"email": email, "name": name, "metadata": {"oms_customer": reference}},
                options={"idempotency_key": f"oms-customer-{reference}"},
            )
        )
        return customer.id

    def create_setup_intent(self, *, customer_id: str) -> SetupIntentInfo:
        si = self._call(
            lambda: self.v1.setup_intents.create(
                params={"customer": customer_id, "usage": "off_session"}
            )
        )
        return _si_info(si)

    def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntentInfo:
        return _si_info(self._call(lambda: self.v1.setup_intents.retrieve(setup_intent_id)))

    def attach_payment_method(
        self, *, payment_method_id: str, customer_id: str
    ) -> PaymentMethodInfo:
        try:
            pm = self._call(
                lambda: self.v1.payment_methods.attach(
                    payment_method_id, params={"customer": customer_id}
                )
            )
        except self._stripe.CardError as exc:
            err = exc.error
            code = (
                (getattr(err, "decline_code", None) if err else None) or exc.code or "card_declined"
            )
            raise GatewayError(str(exc.user_message or "Card declined."), code=code) from exc
        return _pm_info(pm)

    def retrieve_payment_method(self, payment_method_id: str) -> PaymentMethodInfo:
        return _pm_info(self._call(lambda: self.v1.payment_methods.retrieve(payment_method_id)))

    def list_payment_methods(self, *, customer_id: str) -> list[PaymentMethodInfo]:
        page = self._call(
            lambda: self.v1.payment_methods.list(params={"customer": customer_id, "type": "card"})
        )
        return [_pm_info(pm) for pm in page.data]

    # -- charges ----------------------------------------------------------------------

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
        stripe = self._stripe
        params = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
            "off_session": True,
            "confirm": True,
            "metadata": {**metadata, ATTEMPT_METADATA_KEY: idempotency_key},
        }
        try:
            pi = self._call(
                lambda: self.v1.payment_intents.create(
                    params=params, options={"idempotency_key": idempotency_key}
                )
            )
        except stripe.CardError as exc:
            return self._card_error_result(exc, amount=amount, currency=currency)
        return _pi_result(pi)

    def _card_error_result(self, exc: Any, *, amount: int, currency: str) -> ChargeResult:
        err = exc.error
        body = (exc.json_body or {}).get("error") or {}
        code = (getattr(err, "decline_code", None) if err else None) or body.get("decline_code")
        code = code or exc.code or "card_declined"
        pi: Any = getattr(err, "payment_intent", None) if err else None
        pi_id = _id_of(pi.to_dict() if pi is not None and hasattr(pi, "to_dict") else pi) or None
        charge_id = body.get("charge") or None
        if pi_id is None and charge_id:
            # Stripe puts the PaymentIntent on the error; a stand-in may give the charge only.
            try:
                charge = self._call(lambda: self.v1.charges.retrieve(charge_id))
                pi_id = _id_of(charge.to_dict().get("payment_intent"))
            except GatewayError:
                pi_id = None
        return ChargeResult(
            status=FAILED,
            payment_intent_id=pi_id,
            charge_id=charge_id,
            amount=amount,
            currency=currency.upper(),
            decline_code=code,
            decline_kind=classify_decline(code),
            failure_message=str(exc.user_message or "Your card was declined."),
        )

    def retrieve_payment_intent(self, payment_intent_id: str) -> ChargeResult:
        return _pi_result(self._call(lambda: self.v1.payment_intents.retrieve(payment_intent_id)))

    def find_payment_intent(self, *, attempt_key: str) -> ChargeResult | None:
        """The PaymentIntent an attempt created, found by the key in its metadata.

        Stripe's search API is used first; where it is not available (a stand-in) the
        recent PaymentIntents are scanned (bounded by OMS_STRIPE_FIND_SCAN_LIMIT)."""
        stripe = self._stripe
        try:
            found = self._call(
                lambda: self.v1.payment_intents.search(
                    params={"query": f"metadata['{ATTEMPT_METADATA_KEY}']:'{attempt_key}'"}
                )
            )
            if found.data:
                return _pi_result(found.data[0])
            return None
        except GatewayError as exc:
            if not isinstance(exc.__cause__, stripe.InvalidRequestError):
                raise
        limit = int(getattr(settings, "OMS_STRIPE_FIND_SCAN_LIMIT", 10_000))
        page = self._call(lambda: self.v1.payment_intents.list(params={"limit": 100}))
        seen = 0
        for pi in page.auto_paging_iter():
            seen += 1
            if (pi.to_dict().get("metadata") or {}).get(ATTEMPT_METADATA_KEY) == attempt_key:
                return _pi_result(pi)
            if seen >= limit:
                break
        return None

    def cancel_payment_intent(self, payment_intent_id: str) -> ChargeResult:
        return _pi_result(self._call(lambda: self.v1.payment_intents.cancel(payment_intent_id)))

    def refund(
        self, *, payment_intent_id: str, amount: int, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        # Our reason travels as metadata (free text); Stripe's own ``reason`` enum is left out.
        params: dict[str, Any] = {
            "payment_intent": payment_intent_id,
            "amount": amount,
            "metadata": {"oms_reason": reason[:500], REFUND_METADATA_KEY: idempotency_key},
        }
        refund = self._call(
            lambda: self.v1.refunds.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )
        data = refund.to_dict()
        return RefundResult(
            id=data["id"],
            status=data.get("status") or "succeeded",
            amount=int(data.get("amount") or amount),
            payment_intent_id=_id_of(data.get("payment_intent")),
        )

    def find_refund(self, *, refund_key: str) -> RefundResult | None:
        """The refund made with ``refund_key`` (in its metadata), scanning recent refunds."""
        limit = int(getattr(settings, "OMS_STRIPE_FIND_SCAN_LIMIT", 10_000))
        page = self._call(lambda: self.v1.refunds.list(params={"limit": 100}))
        for seen, refund in enumerate(page.auto_paging_iter(), start=1):
            data = refund.to_dict()
            if (data.get("metadata") or {}).get(REFUND_METADATA_KEY) == refund_key:
                return RefundResult(
                    id=data["id"],
                    status=data.get("status") or "succeeded",
                    amount=int(data.get("amount") or 0),
                    payment_intent_id=_id_of(data.get("payment_intent")),
                )
            if seen >= limit:
                break
        return None


# --------------------------------------------------------------------------------------
# In-process
# --------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------
# The gateway in use
# --------------------------------------------------------------------------------------

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
