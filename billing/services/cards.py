"""Cards: the Stripe customer of a customer, SetupIntents to save a card for off-session
charges, and the saved payment methods (brand, last4, expiry, default)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.transactions import on_commit

from ..gateway import SUCCEEDED, PaymentGateway, SetupIntentInfo, get_gateway
from ..models import BillingEventKind, PaymentMethod
from ._common import event

if TYPE_CHECKING:
    from customers.models import Customer

logger = logging.getLogger(__name__)


def customer_stripe_ensure(*, customer: Customer, gateway: PaymentGateway | None = None) -> str:
    """The customer's Stripe id, creating the Stripe customer once if needed (the create
    carries an idempotency key derived from our id, so a retry does not duplicate it)."""
    from customers.models import Customer as CustomerModel

    if customer.stripe_customer_id:
        return customer.stripe_customer_id
    gateway = gateway or get_gateway()
    stripe_id = gateway.ensure_customer(
        existing_id=None, email=customer.email, name=customer.full_name, reference=str(customer.pk)
    )
    # Only this field, and only when still empty: billing owns the Stripe link.
    CustomerModel.objects.filter(pk=customer.pk, stripe_customer_id__isnull=True).update(
        stripe_customer_id=stripe_id
    )
    customer.stripe_customer_id = stripe_id
    return stripe_id


def setup_intent_create(
    *, customer: Customer, gateway: PaymentGateway | None = None
) -> SetupIntentInfo:
    """A SetupIntent to save a card for off-session use (the portal confirms it with Stripe.js)."""
    gateway = gateway or get_gateway()
    return gateway.create_setup_intent(
        customer_id=customer_stripe_ensure(customer=customer, gateway=gateway)
    )


def payment_method_sync(
    *,
    setup_intent_id: str,
    actor: Actor,
    gateway: PaymentGateway | None = None,
    make_default: bool = True,
    retry_dunning: bool = True,
) -> PaymentMethod | None:
    """Save the card a succeeded SetupIntent collected (re-read from Stripe: the event may be
    stale) and make it the default; then retry any invoice in dunning at once."""
    from customers.models import Customer as CustomerModel

    gateway = gateway or get_gateway()
    si = gateway.retrieve_setup_intent(setup_intent_id)
    if si.status != SUCCEEDED or not si.payment_method_id or not si.customer_id:
        return None
    customer = CustomerModel.objects.filter(stripe_customer_id=si.customer_id).first()
    if customer is None:
        logger.warning("SetupIntent %s for unknown Stripe customer %s", si.id, si.customer_id)
        return None
    info = gateway.retrieve_payment_method(si.payment_method_id)
    pm = payment_method_save(
        customer=customer,
        stripe_payment_method_id=info.id,
        brand=info.brand,
        last4=info.last4,
        exp_month=info.exp_month,
        exp_year=info.exp_year,
        make_default=make_default,
        actor=actor,
        retry_dunning=retry_dunning,
    )
    return pm


@transaction.atomic
def payment_method_save(
    *,
    customer: Customer,
    stripe_payment_method_id: str,
    brand: str,
    last4: str,
    exp_month: int,
    exp_year: int,
    actor: Actor,
    make_default: bool = True,
    retry_dunning: bool = True,
) -> PaymentMethod:
    from customers.models import Customer as CustomerModel

    CustomerModel.objects.select_for_update().filter(pk=customer.pk).first()  # serialise defaults
    pm, created = PaymentMethod.objects.get_or_create(
        stripe_payment_method_id=stripe_payment_method_id,
        defaults={
            "customer": customer,
            "brand": brand,
            "last4": last4,
            "exp_month": exp_month,
            "exp_year": exp_year,
        },
    )
    if not created:
        pm.brand, pm.last4, pm.exp_month, pm.exp_year = brand, last4, exp_month, exp_year
        pm.detached_at = None
        pm.save(
            update_fields=["brand", "last4", "exp_month", "exp_year", "detached_at", "updated_at"]
        )
    if make_default and not pm.is_default:
        PaymentMethod.objects.filter(customer=customer, is_default=True).exclude(pk=pm.pk).update(
            is_default=False
        )
        PaymentMethod.objects.filter(pk=pm.pk).update(is_default=True)
        pm.is_default = True
    event(
        kind=BillingEventKind.CARD_UPDATED,
        actor=actor,
        customer_id=customer.pk,
        payload={
            "payment_method": pm.stripe_payment_method_id,
            "brand": brand,
            "last4": last4,
            "new": created,
        },
    )
    if retry_dunning and make_default:
        from .. import tasks

        on_commit(tasks.dunning_retry_customer_task.delay, customer.pk)
    return pm


@transaction.atomic
def payment_method_detached(*, stripe_payment_method_id: str, actor: Actor) -> PaymentMethod | None:
    pm = (
        PaymentMethod.objects.select_for_update()
        .filter(stripe_payment_method_id=stripe_payment_method_id)
        .first()
    )
    if pm is None or pm.detached_at is not None:
        return pm
    pm.detached_at = timezone.now()
    pm.is_default = False
    pm.save(update_fields=["detached_at", "is_default", "updated_at"])
    event(
        kind=BillingEventKind.CARD_UPDATED,
        actor=actor,
        customer_id=pm.customer_id,
        message="Card removed",
        payload={"payment_method": stripe_payment_method_id, "detached": True},
    )
    return pm


def card_expiry_reminders_send(*, as_of: dt.date, actor: Actor, within_days: int = 30) -> int:
    """Email each customer whose default card stops working within ``within_days`` (once
    per card and expiry). Returns how many were reminded."""
    from .. import notifications
    from ..models import BillingEvent
    from ..selectors import payment_methods_expiring

    sent = 0
    for pm in payment_methods_expiring(through=as_of + dt.timedelta(days=within_days)):
        expiry = f"{pm.exp_month:02d}/{pm.exp_year}"
        with transaction.atomic():
            already = BillingEvent.objects.filter(
                kind=BillingEventKind.CARD_EXPIRING,
                customer_id=pm.customer_id,
                payload__payment_method=pm.stripe_payment_method_id,
                payload__expiry=expiry,
            ).exists()
            if already:
                continue
            event(
                kind=BillingEventKind.CARD_EXPIRING,
                actor=actor,
                customer_id=pm.customer_id,
                payload={"payment_method": pm.stripe_payment_method_id, "expiry": expiry},
            )
            on_commit(notifications.send_card_expiring_email, pm.pk)
        sent += 1
    return sent
