"""The real gateway: the official ``stripe`` SDK, configured from settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings

from ..declines import AUTHENTICATION_REQUIRED, SOFT, classify_decline
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
    PaymentMethodInfo,
    RefundResult,
    SetupIntentInfo,
)
from .ratelimit import RateLimiter, limiter_from_settings

T = TypeVar("T")


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
