"""What fulfillment and inventory tell orders: shipments, deliveries, returns and filled
backorders. Stock itself moves in inventory (fulfillment calls ``stock_ship`` /
``stock_return`` with the warehouse it shipped from); these services keep the order's lines
and status in step and write the timeline."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import transaction
from simple_history.utils import bulk_update_with_history

from oms.core.actors import Actor
from oms.core.errors import Conflict, InvalidTransition, ValidationError
from oms.core.money import round_minor

from .. import errors
from ..models import Order, OrderEventKind, OrderLine, OrderStatus
from ._common import event, lock_order, notify_allocated, request_refund, transition
from .lifecycle import LINE_QUANTITY_FIELDS

logger = logging.getLogger(__name__)

SHIPPABLE = frozenset(
    {OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_FULFILLED}
)
RETURNABLE = frozenset(
    {
        OrderStatus.PARTIALLY_FULFILLED,
        OrderStatus.FULFILLED,
        OrderStatus.DELIVERED,
        OrderStatus.PARTIALLY_RETURNED,
    }
)


def _lines_for(order: Order, quantities: dict[int, int], *, field: str) -> dict[int, OrderLine]:
    lines = {line.pk: line for line in order.lines.all()}
    unknown = sorted(set(quantities) - set(lines))
    if unknown:
        raise ValidationError(
            f"Order {order.number} has no line(s) {unknown}.",
            code=errors.UNKNOWN_LINE,
            fields={field: unknown},
        )
    for line_id, qty in quantities.items():
        if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
            raise ValidationError(
                "Quantities must be positive whole numbers.",
                code=errors.INVALID_QUANTITY,
                fields={field: {line_id: ["Must be > 0."]}},
            )
    return lines


def _fully_shipped(lines: list[OrderLine]) -> bool:
    return all(line.open_quantity == 0 for line in lines if line.is_physical)


@transaction.atomic
def order_record_shipment(
    *,
    order: Order,
    quantities: dict[int, int],
    actor: Actor,
    reference: str = "",
    tracking: dict[str, Any] | None = None,
) -> Order:
    """Units of allocated lines left the warehouse (``quantities``: line id → units).
    The order becomes partially_fulfilled or fulfilled. Refused on a cancelled or held order
    (the row lock makes a racing cancel and shipment exclusive: one wins)."""
    order = lock_order(order)
    if order.status not in SHIPPABLE:
        raise InvalidTransition(entity="Order", current=order.status, target=OrderStatus.FULFILLED)
    lines = _lines_for(order, quantities, field="quantities")
    for line_id, qty in quantities.items():
        line = lines[line_id]
        if qty > line.allocated_quantity:
            raise Conflict(
                f"Line {line.line_no} ({line.sku_code}) has {line.allocated_quantity} allocated "
                f"unit(s); cannot ship {qty}.",
                code=errors.NOTHING_TO_SHIP,
                fields={"quantities": {line_id: ["More than allocated."]}},
            )
        line.allocated_quantity -= qty
        line.shipped_quantity += qty
    ordered = sorted(lines.values(), key=lambda line: line.line_no)
    bulk_update_with_history(ordered, OrderLine, LINE_QUANTITY_FIELDS)
    event(
        order=order,
        kind=OrderEventKind.SHIPMENT,
        actor=actor,
        payload={
            "reference": reference,
            "lines": {str(lines[k].line_no): v for k, v in quantities.items()},
            "tracking": tracking or {},
        },
    ).save()
    target = OrderStatus.FULFILLED if _fully_shipped(ordered) else OrderStatus.PARTIALLY_FULFILLED
    if target != order.status:
        transition(order, target, actor=actor, payload={"reference": reference})
    return order


@transaction.atomic
def order_record_delivery(
    *, order: Order, actor: Actor, reference: str = "", all_delivered: bool = True
) -> Order:
    """A shipment arrived. When fulfillment says every shipment of the order has been
    delivered (``all_delivered``) a fulfilled order becomes delivered; otherwise the
    delivery is only written to the timeline."""
    order = lock_order(order)
    if all_delivered:
        transition(order, OrderStatus.DELIVERED, actor=actor, payload={"reference": reference})
    else:
        event(
            order=order,
            kind=OrderEventKind.TRACKING,
            actor=actor,
            message="Shipment delivered",
            payload={"reference": reference},
        ).save()
    return order


@transaction.atomic
def order_record_return(
    *,
    order: Order,
    quantities: dict[int, int],
    actor: Actor,
    reason: str,
    reference: str = "",
    refund: bool = True,
) -> Order:
    """Shipped units came back. Lines count them as returned; the order becomes returned
    when everything it shipped has come back and nothing is left to ship, else
    partially_returned. With ``refund`` billing is asked (after commit) for the returned
    units' share of each line total (``round_minor``, once per line)."""
    order = lock_order(order)
    if order.status not in RETURNABLE:
        raise InvalidTransition(
            entity="Order", current=order.status, target=OrderStatus.PARTIALLY_RETURNED
        )
    lines = _lines_for(order, quantities, field="quantities")
    amount = 0
    for line_id, qty in quantities.items():
        line = lines[line_id]
        if qty > line.shipped_quantity - line.returned_quantity:
            raise Conflict(
                f"Line {line.line_no} ({line.sku_code}): only "
                f"{line.shipped_quantity - line.returned_quantity} shipped unit(s) can come back.",
                code=errors.NOTHING_TO_RETURN,
                fields={"quantities": {line_id: ["More than shipped."]}},
            )
        line.returned_quantity += qty
        amount += round_minor(Decimal(line.total * qty) / line.quantity)
    ordered = sorted(lines.values(), key=lambda line: line.line_no)
    bulk_update_with_history(ordered, OrderLine, LINE_QUANTITY_FIELDS)
    event(
        order=order,
        kind=OrderEventKind.RETURN,
        actor=actor,
        message=reason,
        payload={
            "reference": reference,
            "lines": {str(lines[k].line_no): v for k, v in quantities.items()},
            "refund_amount": amount if refund else 0,
        },
    ).save()
    everything_back = all(
        line.returned_quantity == line.shipped_quantity and line.open_quantity == 0
        for line in ordered
        if line.is_physical
    )
    target = OrderStatus.RETURNED if everything_back else OrderStatus.PARTIALLY_RETURNED
    if target != order.status:
        transition(order, target, actor=actor, message=reason)
    if (
        refund
        and amount
        and request_refund(order=order, amount=amount, reason=f"Return: {reason}", actor=actor)
    ):
        event(
            order=order,
            kind=OrderEventKind.REFUND_REQUESTED,
            actor=actor,
            message=reason,
            payload={"amount": amount, "currency": order.currency},
        ).save()
    return order


LINE_REF_PREFIX = "order_line:"


def order_backorder_filled(line_ref: str, sku_id: int, warehouse_id: int, quantity: int) -> None:
    """Registered in ``inventory.hooks.backorder_filled``: a receipt allocated ``quantity``
    units (the line's own units) to a waiting line. Runs inside the receipt's transaction.
    When no line of the order waits any more, a backordered order becomes allocated and is
    handed to fulfillment; on a partially fulfilled order (some units already shipped) the
    filled units are handed to fulfillment at once, so they get planned."""
    if not line_ref.startswith(LINE_REF_PREFIX):
        return  # not one of ours
    try:
        line_id = int(line_ref[len(LINE_REF_PREFIX) :])
    except ValueError:
        return
    order_id = OrderLine.objects.filter(pk=line_id).values_list("order_id", flat=True).first()
    if order_id is None:
        logger.warning("Backorder filled for unknown order line %s", line_ref)
        return
    actor = Actor.system("inventory")
    with transaction.atomic():
        order = lock_order(order_id)
        lines = list(order.lines.all())
        line = next(line for line in lines if line.pk == line_id)
        moved = min(quantity, line.backordered_quantity)
        line.backordered_quantity -= moved
        line.allocated_quantity += moved
        bulk_update_with_history([line], OrderLine, LINE_QUANTITY_FIELDS)
        event(
            order=order,
            kind=OrderEventKind.BACKORDER_FILLED,
            actor=actor,
            payload={
                "line_no": line.line_no,
                "sku_id": sku_id,
                "warehouse_id": warehouse_id,
                "quantity": moved,
            },
        ).save()
        if order.status == OrderStatus.BACKORDERED and not any(
            other.backordered_quantity for other in lines
        ):
            transition(order, OrderStatus.ALLOCATED, actor=actor)
            notify_allocated(order=order, lines=lines, actor=actor)
        elif order.status == OrderStatus.PARTIALLY_FULFILLED and moved:
            notify_allocated(order=order, lines=lines, actor=actor)
