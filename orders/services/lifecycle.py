"""Lifecycle services: cancel, hold / release, payment confirmation, notes and timeline
entries other apps record (emails, payments, tracking)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from simple_history.utils import bulk_update_with_history

from oms.core.actors import Actor
from oms.core.errors import InvalidTransition, ValidationError
from oms.core.transactions import retry_on_deadlock

from .. import errors, hooks
from ..models import (
    CANCELLABLE,
    HOLDABLE,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    OrderStatus,
)
from ._common import (
    event,
    lock_order,
    notify_allocated,
    request_refund,
    status_from_lines,
    stock_release,
    transition,
)

LINE_QUANTITY_FIELDS = [
    "allocated_quantity",
    "backordered_quantity",
    "shipped_quantity",
    "returned_quantity",
    "cancelled_quantity",
    "updated_at",
]


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            "A reason is required.", code=errors.REASON_REQUIRED, fields={"reason": ["Required."]}
        )
    return reason


@retry_on_deadlock
@transaction.atomic
def order_cancel(*, order: Order, reason: str, actor: Actor) -> Order:
    """Cancel an order that has not started shipping: release every line's stock (allocated
    units and backorders), mark the open units cancelled, and — after commit — ask billing
    (``orders.hooks.refund_requester``) to refund what was paid. A cancel racing a shipment
    on the same order is serialised by the order row lock: the loser gets InvalidTransition."""
    reason = _require_reason(reason)
    order = lock_order(order)
    if order.status not in CANCELLABLE:
        raise InvalidTransition(entity="Order", current=order.status, target=OrderStatus.CANCELLED)
    lines = list(order.lines.all())
    released = []
    for line in lines:
        if line.allocated_quantity or line.backordered_quantity:
            released.append(
                {
                    "line_no": line.line_no,
                    "allocated": line.allocated_quantity,
                    "backordered": line.backordered_quantity,
                }
            )
            stock_release(
                line=line, actor=actor, reason=f"order {order.number} cancelled: {reason}"
            )
        line.cancelled_quantity += line.quantity - line.shipped_quantity - line.cancelled_quantity
        line.allocated_quantity = 0
        line.backordered_quantity = 0
    bulk_update_with_history(lines, OrderLine, LINE_QUANTITY_FIELDS)
    transition(
        order,
        OrderStatus.CANCELLED,
        actor=actor,
        message=reason,
        payload={"released": released},
    )
    for callback in hooks.order_cancelled:
        callback(order=order, actor=actor)
    if request_refund(order=order, amount=None, reason=f"Order cancelled: {reason}", actor=actor):
        event(
            order=order,
            kind=OrderEventKind.REFUND_REQUESTED,
            actor=actor,
            message=reason,
            payload={"amount": None, "currency": order.currency},
        ).save()
    return order


@transaction.atomic
def order_hold(*, order: Order, reason: str, actor: Actor) -> Order:
    """Stop the order where it is (fraud or address check). Stock stays allocated; nothing
    ships while on hold. The status it was held from is recorded in the event."""
    reason = _require_reason(reason)
    order = lock_order(order)
    transition(
        order, OrderStatus.ON_HOLD, actor=actor, message=reason, payload={"held_from": order.status}
    )
    return order


def _held_from(order: Order) -> str:
    payload = (
        OrderEvent.objects.filter(order=order, kind=OrderEventKind.HELD)
        .order_by("-created_at", "-id")
        .values_list("payload", flat=True)
        .first()
    )
    held_from = (payload or {}).get("held_from") or (payload or {}).get("from")
    return held_from if held_from in HOLDABLE else OrderStatus.PLACED


@transaction.atomic
def order_release(*, order: Order, actor: Actor, reason: str = "") -> Order:
    """Release a held order back to the status it was held from. If stock was the question
    (allocated / backordered) the lines decide, since a receipt may have filled a backorder
    meanwhile; an order that becomes allocated is handed to fulfillment."""
    order = lock_order(order)
    if order.status != OrderStatus.ON_HOLD:
        raise InvalidTransition(entity="Order", current=order.status, target="released")
    held_from = _held_from(order)
    target = held_from
    lines: list[OrderLine] = []
    if held_from in (OrderStatus.ALLOCATED, OrderStatus.BACKORDERED):
        lines = list(order.lines.all())
        target = status_from_lines(lines)
    transition(
        order,
        target,
        actor=actor,
        kind=OrderEventKind.RELEASED,
        message=(reason or "").strip(),
        payload={"held_from": held_from},
    )
    # Held while waiting for stock and filled meanwhile: fulfillment has not heard of it yet.
    if held_from == OrderStatus.BACKORDERED and target == OrderStatus.ALLOCATED:
        notify_allocated(order=order, lines=lines, actor=actor)
    return order


@transaction.atomic
def order_payment_confirm(
    *, order: Order, actor: Actor, amount: int | None = None, reference: str = ""
) -> Order:
    """Billing confirms payment of a ``payment_pending`` order: confirmed, then allocated or
    backordered by its lines (stock was reserved at intake). Safe to call twice."""
    order = lock_order(order)
    if order.status != OrderStatus.PAYMENT_PENDING:
        if order.status in (OrderStatus.CONFIRMED, OrderStatus.ALLOCATED, OrderStatus.BACKORDERED):
            return order  # already confirmed: a replayed webhook
        raise InvalidTransition(entity="Order", current=order.status, target=OrderStatus.CONFIRMED)
    event(
        order=order,
        kind=OrderEventKind.PAYMENT,
        actor=actor,
        payload={"amount": amount, "currency": order.currency, "reference": reference},
    ).save()
    transition(order, OrderStatus.CONFIRMED, actor=actor)
    lines = list(order.lines.all())
    transition(order, status_from_lines(lines), actor=actor)
    if order.status == OrderStatus.ALLOCATED:
        notify_allocated(order=order, lines=lines, actor=actor)
    return order


def order_note_add(*, order: Order, text: str, actor: Actor) -> OrderEvent:
    text = (text or "").strip()
    if not text:
        raise ValidationError("A note needs text.", fields={"text": ["Required."]})
    row = event(order=order, kind=OrderEventKind.NOTE, actor=actor, message=text)
    row.save()
    return row


def order_event_record(
    *,
    order: Order,
    kind: str,
    actor: Actor,
    message: str = "",
    payload: dict[str, Any] | None = None,
) -> OrderEvent:
    """Other apps add to the timeline through here: emails sent, payments, tracking updates.
    Status moves are not events one records: they go through the services above."""
    if kind not in OrderEventKind.values or kind in _STATUS_KINDS:
        raise ValidationError(
            f"Cannot record an event of kind '{kind}' directly.", fields={"kind": ["Not allowed."]}
        )
    row = event(order=order, kind=kind, actor=actor, message=message, payload=payload)
    row.save()
    return row


_STATUS_KINDS = frozenset(
    {
        OrderEventKind.PLACED,
        OrderEventKind.STATUS_CHANGED,
        OrderEventKind.HELD,
        OrderEventKind.RELEASED,
        OrderEventKind.CANCELLED,
        OrderEventKind.DELIVERED,
    }
)
