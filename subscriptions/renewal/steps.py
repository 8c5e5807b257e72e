"""The steps of one renewal, each idempotent and resumable.

A renewal's ``state`` is the last step that completed; ``STEPS[state]`` is the next one.
Every step first looks for what it would create, by the natural key the app below keeps
unique (the invoice of (subscription, period start), the charge's idempotency key derived
from the invoice, the order's external id ``renewal:<subscription>:<period start>``), and
creates only what is missing (Kill Bill's "recompute, insert only what is missing"). So a
step cut short by a crash, after its work committed but before the renewal's state did, is
finished on resume without doing the work twice.

The renewal's own state moves with a compare-and-set UPDATE (``WHERE state = <from>``) after
``check_transition``; the worker's lease (``claim``) already makes it the only writer.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.errors import ApplicationError
from oms.core.transactions import on_commit
from oms.core.transitions import check_transition

from .models import (
    ALLOWED_TRANSITIONS,
    Renewal,
    RenewalEvent,
    RenewalEventKind,
    RenewalRun,
    RenewalState,
)
from .snapshot import preview_dump, preview_load

logger = logging.getLogger(__name__)
R = RenewalState


class RenewalStepError(Exception):
    """A step could not complete; the renewal is marked errored with this text."""


@dataclass
class Context:
    run: RenewalRun
    actor: Actor
    gateway: Any = None
    counts: Counter[str] = field(default_factory=Counter)
    channels: dict[int | None, Any] = field(default_factory=dict)  # per-run cache
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:  # renewals of one run may be driven by several threads
            self.counts[name] += n


# --- moving the renewal ---------------------------------------------------------------------


def move(renewal: Renewal, target: str, *then: str, **fields: Any) -> None:
    """Advance ``renewal`` to ``target`` — and on through ``then`` when one step's work
    completes several (``order_place`` orders, allocates and creates shipments in one
    transaction) — checking every hop, in one UPDATE that also saves ``fields``."""
    current = _checked_path(renewal.state, target, *then)
    updated = Renewal.objects.filter(pk=renewal.pk, state=renewal.state).update(
        state=current, updated_at=timezone.now(), **fields
    )
    if updated != 1:
        raise RenewalStepError(f"Renewal {renewal.pk} changed under us (expected {renewal.state}).")
    renewal.state = current
    for name, value in fields.items():
        setattr(renewal, name, value)


def _checked_path(current: str, *hops: str) -> str:
    """The state after ``hops`` from ``current``, each hop checked against the table."""
    for hop in hops:
        check_transition(ALLOWED_TRANSITIONS, entity="Renewal", current=current, target=hop)
        current = hop
    return current


def record_event(
    renewal: Renewal, kind: str, ctx: Context, message: str = "", **payload: Any
) -> None:
    RenewalEvent.objects.create(
        renewal=renewal, kind=kind, message=message, payload=payload, **ctx.actor.as_fields()
    )


def mark_errored(renewal: Renewal, ctx: Context, exc: BaseException) -> None:
    """Record why the renewal stopped; an operator's retry resumes it from ``resume_state``."""
    text = f"{exc.__class__.__name__}: {exc}"[:4000]
    with transaction.atomic():
        fresh = Renewal.objects.select_for_update().get(pk=renewal.pk)
        if fresh.state in (R.DONE, R.SKIPPED, R.ERRORED):
            return
        resume = fresh.state
        check_transition(
            ALLOWED_TRANSITIONS, entity="Renewal", current=fresh.state, target=R.ERRORED
        )
        fresh.state = R.ERRORED
        fresh.resume_state = resume
        fresh.error = text
        fresh.finished_at = timezone.now()
        fresh.save(update_fields=["state", "resume_state", "error", "finished_at", "updated_at"])
        record_event(fresh, RenewalEventKind.ERRORED, ctx, message=text, step=resume)
    renewal.state, renewal.error, renewal.resume_state = R.ERRORED, text, resume


# --- the apps below -------------------------------------------------------------------------


def _subscription(renewal: Renewal) -> Any:
    cached = getattr(renewal, "_subscription_cache", None)
    if cached is not None:
        return cached
    from subscriptions.models import Subscription

    sub = Subscription.objects.select_related("customer", "channel", "plan_version__plan").get(
        pk=renewal.subscription_id
    )
    renewal._subscription_cache = sub  # type: ignore[attr-defined]
    return sub


def _preview(renewal: Renewal) -> Any:
    cached = getattr(renewal, "_preview_cache", None)
    if cached is None:
        cached = preview_load(renewal.preview)
        renewal._preview_cache = cached  # type: ignore[attr-defined]
    return cached


def order_external_id(renewal: Renewal) -> str:
    return f"renewal:{renewal.subscription_id}:{renewal.period_start.isoformat()}"


def renewal_channel(subscription: Any, cache: dict[int | None, Any] | None = None) -> Any:
    """Renewal orders go to the subscription's channel, else the subscriptions channel
    (``OMS_RENEWAL_CHANNEL_CODE``), created on first use."""
    cache = {} if cache is None else cache
    key = subscription.channel_id
    if key not in cache:
        cache[key] = _channel_for(subscription)
    return cache[key]


def _channel_for(subscription: Any) -> Any:
    if subscription.channel_id:
        return subscription.channel
    from oms.core.models import Channel, ChannelKind

    code = getattr(settings, "OMS_RENEWAL_CHANNEL_CODE", "subscriptions")
    channel, _ = Channel.objects.get_or_create(
        code=code,
        defaults={"name": "Subscription renewals", "kind": ChannelKind.SUBSCRIPTIONS,
                  "allow_backorders": True, "default_currency": subscription.currency},
    )  # fmt: skip
    return channel


# --- steps ----------------------------------------------------------------------------------


def step_invoice(renewal: Renewal, ctx: Context) -> None:
    """claimed → invoiced, and the subscription advanced past the period.

    The claim normally does this inside its own transaction; this step is the path of a
    renewal an operator retries after its claim failed. Both calls are idempotent: the
    invoice of (subscription, period start) is returned if it exists, and advancing a period
    already advanced is a no-op."""
    from billing.services.invoices import invoice_create_for_period, lines_from_preview
    from subscriptions.selectors import Outcome, renewal_preview
    from subscriptions.services.lifecycle import subscription_advance_period

    subscription = _subscription(renewal)
    with transaction.atomic():
        if not renewal.preview:
            preview = renewal_preview(subscription, renewal.period_start)
            renewal.preview = preview_dump(preview)
            renewal._preview_cache = preview  # type: ignore[attr-defined]
            Renewal.objects.filter(pk=renewal.pk).update(
                preview=renewal.preview, amount=preview.total, action=preview.outcome,
                period_end=preview.period_end, pay_later=preview.pay_later,
            )  # fmt: skip
        preview = _preview(renewal)
        if preview.outcome not in Outcome.BILLED:
            subscription_advance_period(
                subscription=subscription, period_start=renewal.period_start, actor=ctx.actor
            )
            move(renewal, R.SKIPPED, finished_at=timezone.now())
            return
        invoice = invoice_create_for_period(
            subscription=subscription, period_start=preview.period_start, period_end=preview.period_end,
            lines=lines_from_preview(preview), actor=ctx.actor,
        )  # fmt: skip
        subscription_advance_period(
            subscription=subscription, period_start=renewal.period_start, actor=ctx.actor
        )
        move(
            renewal, R.INVOICED, invoice_id=invoice.pk, invoice_number=invoice.number,
            invoiced_at=timezone.now(),
        )  # fmt: skip
    renewal._invoice_cache = invoice  # type: ignore[attr-defined]


def _invoice(renewal: Renewal) -> Any:
    cached = getattr(renewal, "_invoice_cache", None)
    if cached is not None:
        return cached
    from billing.models import Invoice

    if renewal.invoice_id is None:
        raise RenewalStepError("The renewal has no invoice.")
    invoice = Invoice.objects.get(pk=renewal.invoice_id)
    renewal._invoice_cache = invoice  # type: ignore[attr-defined]
    return invoice


def _reload_invoice(renewal: Renewal) -> Any:
    renewal._invoice_cache = None  # type: ignore[attr-defined]
    return _invoice(renewal)


def _invoice_payable(invoice: Any) -> bool:
    from billing.models import InvoiceStatus

    return (
        invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)
        and invoice.amount_due > 0
    )


def _invoice_paid(invoice: Any) -> bool:
    from billing.models import InvoiceStatus

    return invoice.status == InvoiceStatus.PAID


def _invoice_given_up(invoice: Any) -> bool:
    from billing.models import InvoiceStatus

    return invoice.status in (InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE)


def step_charge(renewal: Renewal, ctx: Context) -> None:
    """invoiced → charged, or dunning. The charge is billing's ``invoice_pay``: the attempt
    row commits before the gateway is called and its idempotency key derives from (invoice,
    attempt number); an attempt a crash left in flight is resolved by asking the gateway,
    never by charging again. An invoice the customer pays by hand (auto-pay off) waits in
    ``dunning`` like an unpaid one."""
    from billing.models import IN_FLIGHT_STATES, AttemptTrigger, CollectionMethod
    from billing.services.payments import invoice_pay

    invoice = _invoice(renewal)
    attempt_id = renewal.payment_attempt_id
    batch_attempt = getattr(renewal, "_batch_attempt", None)
    if batch_attempt is not None:
        # The run's batch charge already tried this invoice: record what came of it, and
        # never charge again here.
        renewal._batch_attempt = None  # type: ignore[attr-defined]
        if batch_attempt.state in IN_FLIGHT_STATES:
            raise _Wait()  # the answer was lost; billing's reconciliation will know
        _record_charge(renewal, invoice, batch_attempt.pk, ctx)
        return
    if not getattr(renewal, "_claimed_now", False):
        invoice = _settle_abandoned_attempts(renewal, invoice, ctx)
    if (
        _invoice_payable(invoice)
        and invoice.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
    ):
        try:
            attempt = invoice_pay(
                invoice=invoice,
                actor=ctx.actor,
                trigger=AttemptTrigger.RENEWAL,
                gateway=ctx.gateway,
            )
            attempt_id = attempt.pk
            # billing hands back the attempt with the invoice it locked and updated.
            invoice = (
                attempt.invoice if attempt.invoice_id == invoice.pk else _reload_invoice(renewal)
            )
        except ApplicationError as exc:
            if getattr(exc, "code", "") == "payment_in_flight":
                raise _Wait() from exc  # billing reconciles it; a later run goes on
            # Resolving an attempt a crash left behind may have paid the invoice already.
            if getattr(exc, "code", "") != "invoice_not_payable":
                raise
            invoice = _reload_invoice(renewal)
    _record_charge(renewal, invoice, attempt_id, ctx)


def _record_charge(renewal: Renewal, invoice: Any, attempt_id: int | None, ctx: Context) -> None:
    """invoiced → charged when the invoice is paid, else → dunning (and, for a pay-later
    plan, on to the order)."""
    if _invoice_paid(invoice):
        move(renewal, R.CHARGED, payment_attempt_id=attempt_id, charged_at=timezone.now())
        return
    with transaction.atomic():
        move(renewal, R.DUNNING, payment_attempt_id=attempt_id)
        record_event(
            renewal, RenewalEventKind.PAYMENT_FAILED, ctx,
            message=f"Invoice {invoice.number} not paid; dunning follows.",
            invoice_id=invoice.pk, amount_due=invoice.amount_due,
        )  # fmt: skip
    ctx.count("failed_payment")
    if renewal.pay_later:
        # The plan ships before it is paid: the order goes out while dunning goes on.
        step_order(renewal, ctx)


def _settle_abandoned_attempts(renewal: Renewal, invoice: Any, ctx: Context) -> Any:
    """A resumed renewal: an attempt its crashed worker left in flight is resolved now (the
    lease proves that worker is gone, so waiting for the attempt to go stale is pointless).
    Billing believes "Stripe has no such charge" only after its grace period (search lags);
    until then the renewal waits — it stays invoiced and a later run resumes it."""
    from billing.models import IN_FLIGHT_STATES, PaymentAttempt
    from billing.services.payments import payment_attempt_resolve

    open_attempts = list(
        PaymentAttempt.objects.filter(invoice_id=invoice.pk, state__in=IN_FLIGHT_STATES)
    )
    if not open_attempts:
        return invoice
    for attempt in open_attempts:
        resolved = payment_attempt_resolve(
            attempt=attempt, actor=ctx.actor, gateway=ctx.gateway, force=True
        )
        if resolved.state in IN_FLIGHT_STATES:
            raise _Wait()
    return _reload_invoice(renewal)


def step_after_dunning(renewal: Renewal, ctx: Context) -> None:
    """dunning → charged once dunning collected the invoice; → done (nothing ships) if it
    gave up. A pay-later plan ships while dunning goes on."""
    invoice = _reload_invoice(renewal)
    if _invoice_paid(invoice):
        with transaction.atomic():
            move(renewal, R.CHARGED, charged_at=timezone.now())
            record_event(renewal, RenewalEventKind.PAYMENT_RECOVERED, ctx, invoice_id=invoice.pk)
        return
    if renewal.pay_later and not renewal.order_id:
        step_order(renewal, ctx)
        return
    if _invoice_given_up(invoice):
        move(renewal, R.DONE, finished_at=timezone.now())
        return
    raise _Wait()


class _Wait(Exception):
    """Nothing to do until billing settles the invoice."""


def step_order(renewal: Renewal, ctx: Context) -> None:
    """charged (or pay-later dunning) → ordered → allocated / backordered → shipment created.

    ``order_place`` allocates inside its own (durable) transaction and fulfillment's
    ``orders_placed`` hook creates the shipments there, so after it returns the order is
    already allocated or backordered and shipped-to-be; the renewal records each step."""
    from orders.models import OrderStatus
    from orders.services import order_place_or_get

    preview = _preview(renewal)
    if not preview.items:
        move(renewal, R.DONE, finished_at=timezone.now())
        return
    request = _order_request(renewal, ctx)
    order, _created = order_place_or_get(
        actor=ctx.actor, **{f.name: getattr(request, f.name) for f in dataclass_fields(request)}
    )
    backordered = order.status == OrderStatus.BACKORDERED
    now = timezone.now()
    done = {
        "order_id": order.pk,
        "order_number": order.number,
        "ordered_at": now,
        "finished_at": now,
    }
    if backordered:
        with transaction.atomic():
            move(renewal, R.ORDERED, R.BACKORDERED, R.DONE, backordered=True, **done)
            record_event(
                renewal, RenewalEventKind.BACKORDERED, ctx,
                message=f"Order {order.number} is waiting for stock.", order_id=order.pk,
            )  # fmt: skip
            on_commit(send_backorder_notice, renewal.pk)
        ctx.count("backordered")
        return
    shipment_ids = _shipment_ids(order)
    if shipment_ids:
        move(
            renewal,
            R.ORDERED,
            R.ALLOCATED,
            R.SHIPMENT_CREATED,
            R.DONE,
            shipment_ids=shipment_ids,
            **done,
        )
    else:
        move(renewal, R.ORDERED, R.ALLOCATED, R.DONE, **done)


def _order_request(renewal: Renewal, ctx: Context) -> Any:
    """The renewal's order as ``orders.services.PlaceRequest`` (priced from the plan)."""
    from orders.services import PlaceRequest

    preview = _preview(renewal)
    subscription = _subscription(renewal)
    return PlaceRequest(
        channel=renewal_channel(subscription, ctx.channels),
        external_id=order_external_id(renewal),
        customer=subscription.customer,
        lines=[
            {"sku": item.sku_code, "quantity": item.quantity, "unit_price": 0}
            for item in preview.items
        ],
        shipping_address=subscription.shipping_address,
        currency=subscription.currency,
        notes=f"Renewal of SUB-{subscription.pk} for {renewal.period_start.isoformat()}",
        origin="subscription",
        subscription_id=subscription.pk,
        trust_prices=True,
    )


def _paid_by_batch(renewal: Renewal) -> bool:
    """Freshly charged by the run's batch (or nothing to charge) and now paid in full."""
    from billing.models import IN_FLIGHT_STATES

    invoice = getattr(renewal, "_invoice_cache", None)
    attempt = getattr(renewal, "_batch_attempt", None)
    if renewal.state != R.INVOICED or invoice is None or not _invoice_paid(invoice):
        return False
    return attempt is None or attempt.state not in IN_FLIGHT_STATES


def _hops(renewal: Renewal, *states: str) -> None:
    """``move`` in memory only: the batch writes every renewal's state in one statement."""
    renewal.state = _checked_path(renewal.state, *states)


def orders_for_paid_batch(renewals: list[Renewal], ctx: Context) -> list[Renewal]:
    """The charge → order → allocation → shipment steps of a claimed batch at once: every
    renewal the batch charge paid gets its order through ``orders_place_many`` (one read,
    one allocation, one write for the batch, shipments planned in it) and its state moved
    to done (or charged, when its order was refused) in the same transaction. Returns the
    renewals left to drive one by one: those not paid by the batch, and those whose order
    was refused (``step_order`` retries it and records the error). If the batch fails as a
    whole nothing of it is kept, and every renewal is driven one by one."""
    from oms.core.bulk import Writes
    from orders.services import orders_place_many

    paid = [r for r in renewals if _paid_by_batch(r)]
    if not paid:
        return renewals
    now = timezone.now()
    with_items = [r for r in paid if _preview(r).items]
    # Built before the batch's transaction: the run's channel cache must never hold a
    # channel created inside a transaction that may roll back.
    requests = [_order_request(r, ctx) for r in with_items]
    try:
        with transaction.atomic():
            outcomes = orders_place_many(requests=requests, actor=ctx.actor)
            placed = {
                r.pk: outcome
                for r, outcome in zip(with_items, outcomes, strict=True)
                if not isinstance(outcome, Exception)
            }
            shipments = _shipment_ids_of([order.pk for order, _ in placed.values()])
            events, notices = _settle_paid(paid, placed, shipments, ctx=ctx, now=now)
            writes = Writes()
            writes.update(Renewal, paid, _SETTLED_FIELDS)
            writes.insert(RenewalEvent, events)
            writes.run()
            for renewal_id in notices:
                on_commit(send_backorder_notice, renewal_id)
    except Exception:  # noqa: BLE001 - each renewal goes the one-by-one way instead
        logger.warning("Batch ordering failed; ordering renewal by renewal", exc_info=True)
        for r in paid:  # _settle_paid moved them on in memory: back to what was kept
            r.refresh_from_db(fields=_SETTLED_FIELDS)
        return renewals
    for r in paid:
        r._batch_attempt = None  # type: ignore[attr-defined]
    ctx.count("backordered", len(notices))
    return [r for r in renewals if r.state != R.DONE]


_SETTLED_FIELDS = [
    "state", "payment_attempt_id", "charged_at", "order_id", "order_number", "ordered_at",
    "finished_at", "backordered", "shipment_ids", "updated_at",
]  # fmt: skip


def _settle_paid(
    paid: list[Renewal],
    placed: dict[int, tuple[Any, bool]],
    shipments: dict[int, list[int]],
    *,
    ctx: Context,
    now: Any,
) -> tuple[list[RenewalEvent], list[int]]:
    """Move each paid renewal on in memory: to done through the steps its order took, or
    to charged when its order was refused. Returns (events, backorder notices)."""
    from orders.models import OrderStatus

    events: list[RenewalEvent] = []
    notices: list[int] = []
    for renewal in paid:
        attempt = getattr(renewal, "_batch_attempt", None)
        if attempt is not None:
            renewal.payment_attempt_id = attempt.pk
        renewal.charged_at = now
        renewal.updated_at = now
        _hops(renewal, R.CHARGED)
        if not _preview(renewal).items:
            _hops(renewal, R.DONE)
            renewal.finished_at = now
            continue
        if renewal.pk not in placed:
            continue  # refused: step_order tries again and records why
        order, _ = placed[renewal.pk]
        renewal.order_id, renewal.order_number = order.pk, order.number
        renewal.ordered_at = renewal.finished_at = now
        if order.status == OrderStatus.BACKORDERED:
            _hops(renewal, R.ORDERED, R.BACKORDERED, R.DONE)
            renewal.backordered = True
            events.append(
                RenewalEvent(
                    renewal=renewal, kind=RenewalEventKind.BACKORDERED,
                    message=f"Order {order.number} is waiting for stock.",
                    payload={"order_id": order.pk}, created_at=now, **ctx.actor.as_fields(),
                )
            )  # fmt: skip
            notices.append(renewal.pk)
        elif shipments.get(order.pk):
            renewal.shipment_ids = shipments[order.pk]
            _hops(renewal, R.ORDERED, R.ALLOCATED, R.SHIPMENT_CREATED, R.DONE)
        else:
            _hops(renewal, R.ORDERED, R.ALLOCATED, R.DONE)
    return events, notices


def _shipment_ids_of(order_ids: list[int]) -> dict[int, list[int]]:
    try:
        from fulfillment.models import Shipment
    except ImportError:  # fulfillment not installed yet
        return {}
    found: dict[int, list[int]] = {}
    for order_id, pk in (
        Shipment.objects.filter(order_id__in=order_ids).order_by("pk").values_list("order_id", "pk")
    ):
        found.setdefault(order_id, []).append(pk)
    return found


def _shipment_ids(order: Any) -> list[int]:
    return _shipment_ids_of([order.pk]).get(order.pk, [])


def step_finish(renewal: Renewal, ctx: Context) -> None:
    """ordered / allocated / backordered / shipment created (a crash between the order and
    the renewal's last update) → done: the order step finds the order and completes."""
    from orders.models import Order

    order = Order.objects.filter(pk=renewal.order_id).first() if renewal.order_id else None
    if order is None:
        raise RenewalStepError("The renewal's order is missing.")
    if renewal.state == R.ORDERED:
        from orders.models import OrderStatus

        target = R.BACKORDERED if order.status == OrderStatus.BACKORDERED else R.ALLOCATED
        move(renewal, target)
    if renewal.state == R.ALLOCATED:
        ids = _shipment_ids(order)
        if ids:
            move(renewal, R.SHIPMENT_CREATED, shipment_ids=ids)
    move(renewal, R.DONE, finished_at=timezone.now())


STEPS: dict[str, Callable[[Renewal, Context], None]] = {
    R.CLAIMED: step_invoice,
    R.INVOICED: step_charge,
    R.CHARGED: step_order,
    R.DUNNING: step_after_dunning,
    R.ORDERED: step_finish,
    R.ALLOCATED: step_finish,
    R.BACKORDERED: step_finish,
    R.SHIPMENT_CREATED: step_finish,
}


def drive(renewal: Renewal, ctx: Context) -> str:
    """Run the renewal's remaining steps. Returns its final state for this run: a terminal
    state, or ``dunning`` when it waits for billing. Errors mark it errored, never raise."""
    try:
        while renewal.state in STEPS:
            before = renewal.state
            try:
                STEPS[renewal.state](renewal, ctx)
            except _Wait:
                break
            if renewal.state == before:  # a step that cannot progress must not spin
                break
            if renewal.state == R.DUNNING:  # just handed to dunning: billing's turn now
                break
    except (ApplicationError, RenewalStepError) as exc:
        mark_errored(renewal, ctx, exc)
    except Exception as exc:  # noqa: BLE001 - one renewal's bug must not stop the night
        logger.exception("Renewal %s failed in state %s", renewal.pk, renewal.state)
        mark_errored(renewal, ctx, exc)
    return renewal.state


# --- notices --------------------------------------------------------------------------------


def portal_links(subscription_id: int) -> dict[str, str]:
    base = getattr(settings, "OMS_PUBLIC_URL", "http://localhost:8000").rstrip("/")
    page = f"{base}/portal/subscriptions/{subscription_id}/"
    return {"manage": page, "skip": f"{page}#skip", "change": f"{page}#change"}


def send_backorder_notice(renewal_id: int) -> None:
    renewal = Renewal.objects.select_related("subscription__customer").get(pk=renewal_id)
    customer = renewal.subscription.customer
    context = {
        "renewal": renewal, "customer": customer, "items": renewal.preview.get("items", []),
        "links": portal_links(renewal.subscription_id),
    }  # fmt: skip
    send_mail(
        subject=f"Your box {renewal.order_number} is on its way soon (waiting for stock)",
        message=render_to_string("renewal/emails/backordered.txt", context),
        from_email=None,
        recipient_list=[customer.email],
    )
