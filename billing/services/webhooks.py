"""Stripe webhooks: verify, store once, process after commit.

``webhook_receive`` verifies the signature (``stripe.Webhook.construct_event``; a bad or
stale signature changes nothing) and inserts the event by its Stripe id under a unique
constraint: a second delivery, even concurrent, finds the row and is acknowledged without
work. Processing runs after commit (a Celery task): ``webhook_process`` locks the event
row, applies its effect and sets ``processed_at`` **in the same transaction**, so an event
takes effect exactly once however often it is delivered or processed.

Events can arrive out of order (``payment_failed`` after ``succeeded``), so the handlers
never trust the event's snapshot where order matters: they re-read the PaymentIntent /
SetupIntent / PaymentMethod from Stripe and apply its current state, and every effect is
idempotent (an attempt already succeeded stays succeeded)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.errors import ApplicationError
from oms.core.transactions import on_commit

from .. import errors
from ..gateway import ATTEMPT_METADATA_KEY, PaymentGateway, get_gateway
from ..models import BillingEventKind, PaymentAttempt, WebhookEvent
from ._common import event
from .cards import payment_method_detached, payment_method_save, payment_method_sync
from .payments import payment_attempt_complete
from .refunds import refund_sync_from_stripe

logger = logging.getLogger(__name__)

ACTOR = Actor.system("stripe-webhook")


class SignatureError(ApplicationError):
    status_code = 400
    default_code = errors.BAD_SIGNATURE


def webhook_receive(*, payload: bytes, signature: str) -> tuple[WebhookEvent, bool]:
    """Verify and store one delivery. Returns (event, created); processing is scheduled
    after commit only for a new event."""
    import stripe

    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise SignatureError("Webhook secret not configured.")
    try:
        stripe_event = stripe.Webhook.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise SignatureError(f"Invalid Stripe signature: {exc}") from None
    data = json.loads(payload)
    obj = (data.get("data") or {}).get("object") or {}
    created_ts = data.get("created")
    try:
        with transaction.atomic():
            record = WebhookEvent.objects.create(
                stripe_event_id=stripe_event.id,
                type=data.get("type") or "",
                object_id=str(obj.get("id") or "")[:100],
                livemode=bool(data.get("livemode")),
                stripe_created=dt.datetime.fromtimestamp(created_ts, tz=dt.UTC)
                if created_ts
                else None,
                payload=data,
                received_at=timezone.now(),
            )
            from .. import tasks

            on_commit(tasks.webhook_process_task.delay, record.pk)
            return record, True
    except IntegrityError:
        return WebhookEvent.objects.get(stripe_event_id=stripe_event.id), False


def webhook_process(*, event_id: int, gateway: PaymentGateway | None = None) -> WebhookEvent:
    """Apply one stored event, once. An error is recorded on the row (and retried by
    ``webhook_retry_unprocessed``); it never marks the event processed."""
    try:
        with transaction.atomic():
            record = WebhookEvent.objects.select_for_update().get(pk=event_id)
            if record.processed_at is not None:
                return record
            handler = HANDLERS.get(record.type)
            if handler is not None:
                obj = (record.payload.get("data") or {}).get("object") or {}
                handler(obj, gateway or get_gateway())
            record.processed_at = timezone.now()
            record.error = ""
            record.process_attempts += 1
            record.save(update_fields=["processed_at", "error", "process_attempts"])
            return record
    except Exception as exc:  # noqa: BLE001 - recorded for the operator, retried later
        logger.exception("Webhook event %s failed", event_id)
        WebhookEvent.objects.filter(pk=event_id).update(
            error=f"{exc.__class__.__name__}: {exc}"[:5000],
            process_attempts=F("process_attempts") + 1,
        )
        return WebhookEvent.objects.get(pk=event_id)


def webhook_retry_unprocessed(*, older_than_seconds: int = 60, limit: int = 200) -> int:
    from ..selectors import webhook_events_unprocessed

    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    ids = list(
        webhook_events_unprocessed(received_before=cutoff).values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        webhook_process(event_id=pk)
    return len(ids)


# --------------------------------------------------------------------------------------
# Handlers: (event object, gateway) -> None, inside the event's transaction
# --------------------------------------------------------------------------------------


def _attempt_for(pi: dict[str, Any]) -> PaymentAttempt | None:
    """Our attempt for a PaymentIntent: by its id, or (when a crash lost the id) by the
    attempt key we put in its metadata."""
    attempt = (
        PaymentAttempt.objects.select_related("invoice")
        .filter(stripe_payment_intent_id=pi.get("id"))
        .first()
    )
    if attempt is None:
        key = (pi.get("metadata") or {}).get(ATTEMPT_METADATA_KEY)
        if key:
            attempt = (
                PaymentAttempt.objects.select_related("invoice").filter(idempotency_key=key).first()
            )
    return attempt


def _on_payment_intent(obj: dict[str, Any], gateway: PaymentGateway) -> None:
    attempt = _attempt_for(obj)
    if attempt is None:
        logger.info("PaymentIntent %s is not ours; ignored", obj.get("id"))
        return
    current = gateway.retrieve_payment_intent(obj["id"])  # the truth now, not the event's snapshot
    payment_attempt_complete(attempt=attempt, result=current, actor=ACTOR)


def _on_charge_refunded(obj: dict[str, Any], gateway: PaymentGateway) -> None:
    pi_id = obj.get("payment_intent")
    if isinstance(pi_id, dict):
        pi_id = pi_id.get("id")
    if pi_id:
        refund_sync_from_stripe(
            payment_intent_id=pi_id,
            amount_refunded=int(obj.get("amount_refunded") or 0),
            actor=ACTOR,
        )


def _on_dispute(obj: dict[str, Any], gateway: PaymentGateway) -> None:
    pi_id = obj.get("payment_intent")
    attempt = (
        PaymentAttempt.objects.select_related("invoice")
        .filter(stripe_payment_intent_id=pi_id)
        .first()
        if pi_id
        else None
    )
    if attempt is None:
        return
    event(
        kind=BillingEventKind.DISPUTE,
        actor=ACTOR,
        invoice=attempt.invoice,
        message=f"Dispute {obj.get('id')}: {obj.get('reason', '')}",
        payload={
            "dispute": obj.get("id"),
            "amount": obj.get("amount"),
            "reason": obj.get("reason"),
            "status": obj.get("status"),
        },
    )
    from .. import notifications

    on_commit(notifications.send_dispute_alert, attempt.invoice_id, str(obj.get("id")))


def _on_setup_intent_succeeded(obj: dict[str, Any], gateway: PaymentGateway) -> None:
    payment_method_sync(setup_intent_id=obj["id"], actor=ACTOR, gateway=gateway)


def _on_payment_method_detached(obj: dict[str, Any], gateway: PaymentGateway) -> None:
    payment_method_detached(stripe_payment_method_id=obj["id"], actor=ACTOR)


def _on_payment_method_updated(obj: dict[str, Any], gateway: PaymentGateway) -> None:
    from ..models import PaymentMethod

    pm = (
        PaymentMethod.objects.select_related("customer")
        .filter(stripe_payment_method_id=obj["id"])
        .first()
    )
    if pm is None:
        return
    info = gateway.retrieve_payment_method(obj["id"])  # expiry updates can arrive out of order
    payment_method_save(
        customer=pm.customer,
        stripe_payment_method_id=info.id,
        brand=info.brand,
        last4=info.last4,
        exp_month=info.exp_month,
        exp_year=info.exp_year,
        actor=ACTOR,
        make_default=pm.is_default,
        retry_dunning=False,
    )


HANDLERS: dict[str, Callable[[dict[str, Any], PaymentGateway], None]] = {
    "payment_intent.succeeded": _on_payment_intent,
    "payment_intent.payment_failed": _on_payment_intent,
    "payment_intent.requires_action": _on_payment_intent,
    "payment_intent.canceled": _on_payment_intent,
    "charge.refunded": _on_charge_refunded,
    "charge.dispute.created": _on_dispute,
    "setup_intent.succeeded": _on_setup_intent_succeeded,
    "payment_method.detached": _on_payment_method_detached,
    "payment_method.updated": _on_payment_method_updated,
    "payment_method.automatically_updated": _on_payment_method_updated,
}
