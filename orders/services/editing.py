"""``order_edit``: change an order before anything ships — quantities, lines added or
removed, addresses, delivery option — re-allocating stock for what changed and recording the
diff on the timeline."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from oms.core.actors import Actor
from oms.core.errors import Conflict, ValidationError
from oms.core.transactions import retry_on_deadlock

from .. import errors, pricing
from ..models import EDITABLE, Order, OrderEventKind, OrderLine, OrderOrigin, OrderStatus
from ._common import (
    clean_address,
    event,
    lock_order,
    notify_allocated,
    status_from_lines,
    stock_allocate,
    stock_release,
    transition,
)
from .intake import clean_delivery_option, clean_requested_lines, load_skus, price_lines

LINE_FIELDS = [
    "quantity",
    "discount",
    "tax",
    "total",
    "cancelled_quantity",
    "allocated_quantity",
    "backordered_quantity",
    "updated_at",
]


def _amounts(line: OrderLine, tax_category: str) -> pricing.LineAmounts:
    return pricing.LineAmounts(
        line_no=line.line_no,
        sku_id=line.sku_id,
        tax_category=tax_category,
        quantity=line.quantity,
        unit_price=line.unit_price,
        discount=line.discount,
    )


@retry_on_deadlock
@transaction.atomic
def order_edit(
    *,
    order: Order,
    actor: Actor,
    quantities: dict[int, int] | None = None,
    add_lines: list[dict[str, Any]] | None = None,
    remove_lines: list[int] | None = None,
    shipping_address: dict[str, Any] | None = None,
    billing_address: dict[str, Any] | None = None,
    delivery_option: str | None = None,
    reason: str = "",
) -> Order:
    """Edit an order that has not started shipping. ``quantities`` maps line id → new
    quantity (0 removes the line); ``remove_lines`` lists line ids; ``add_lines`` takes the
    intake shape (new lines are priced now, existing lines keep their price). A quantity
    change allocates or releases only the difference. A removed line
    is kept with all its units cancelled and a zero total (shipments and history refer to it). New lines and
    added units are allocated, removed units released; when the destination country changes
    every line is released and allocated again; if stock refuses (OutOfStock, the channel allows no
    backorder) the whole edit is refused and the order stays as it was. Totals are
    recomputed; the event payload holds the diff."""
    order = lock_order(order)
    if order.status not in EDITABLE:
        raise Conflict(
            f"Order {order.number} is {order.status}; it can only be edited before it ships.",
            code=errors.NOT_EDITABLE,
            fields={"status": order.status},
        )
    quantities = dict(quantities or {})
    removing = set(remove_lines or [])
    every_line = list(order.lines.select_related("sku"))
    # Removed lines stay (shipments and history point at them) with all units cancelled.
    lines = {line.pk: line for line in every_line if line.cancelled_quantity == 0}
    unknown = sorted((set(quantities) | removing) - set(lines))
    if unknown:
        raise ValidationError(
            f"Order {order.number} has no line(s) {unknown}.",
            code=errors.UNKNOWN_LINE,
            fields={"lines": unknown},
        )
    for line_id, qty in quantities.items():
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
            raise ValidationError(
                "Quantities must be whole numbers ≥ 0 (0 removes the line).",
                code=errors.INVALID_QUANTITY,
                fields={"quantities": {line_id: ["Invalid."]}},
            )
        if qty == 0:
            removing.add(line_id)
    diff: dict[str, Any] = {}
    deltas: dict[int, int] = {}
    for line_id, qty in quantities.items():
        line = lines[line_id]
        if line_id in removing or qty == line.quantity:
            continue
        diff.setdefault("quantities", {})[str(line.line_no)] = {
            "sku": line.sku_code,
            "from": line.quantity,
            "to": qty,
        }
        deltas[line_id] = qty - line.quantity
        line.quantity = qty
        line.discount = min(line.discount, qty * line.unit_price)

    old_country = order.shipping_address.get("country")
    if shipping_address is not None:
        new_address = clean_address(shipping_address, field="shipping_address")
        if new_address != order.shipping_address:
            diff["shipping_address"] = {"from": order.shipping_address, "to": new_address}
            order.shipping_address = new_address
    if billing_address is not None:
        new_billing = clean_address(billing_address, field="billing_address")
        if new_billing != order.billing_address:
            diff["billing_address"] = {"from": order.billing_address, "to": new_billing}
            order.billing_address = new_billing
    if delivery_option is not None:
        option = clean_delivery_option(delivery_option)
        if option != order.delivery_option:
            diff["delivery_option"] = {"from": order.delivery_option, "to": option}
            order.delivery_option = option

    requested = clean_requested_lines(add_lines, field="add_lines") if add_lines else []
    skus = (
        load_skus(codes={r["sku"] for r in requested}, currency=order.currency) if requested else {}
    )
    next_no = max((line.line_no for line in every_line), default=0) + 1
    new_amounts = price_lines(
        requested=requested,
        skus=skus,
        currency=order.currency,
        trust_prices=False,
        first_line_no=next_no,
        field="add_lines",
    )
    if removing and removing >= set(lines) and not new_amounts:
        raise ValidationError(
            "An edit cannot remove every line; cancel the order instead.",
            code=errors.NO_LINES,
            fields={"remove_lines": ["Would leave no lines."]},
        )
    if not diff and not removing and not new_amounts:
        return order

    stock_reason = f"order {order.number} edited"
    removed = [lines.pop(line_id) for line_id in sorted(removing)]
    # Units this edit takes away (removed lines, lowered quantities, a re-allocation).
    released = bool(removed) or any(delta < 0 for delta in deltas.values())
    for line in removed:
        stock_release(line=line, actor=actor, reason=stock_reason)
    if removed:
        diff["removed"] = [
            {"line_no": line.line_no, "sku": line.sku_code, "quantity": line.quantity}
            for line in removed
        ]
        for line in removed:
            line.cancelled_quantity = line.quantity
            line.allocated_quantity = line.backordered_quantity = 0
            line.discount = line.tax = line.total = 0

    # Only the difference moves, so units already allocated (and the parcels fulfillment
    # planned for them) stay where they are. A new destination country re-allocates all.
    grow: dict[int, int] = {}
    if order.shipping_address.get("country") != old_country:
        released = True
        for line in lines.values():
            stock_release(line=line, actor=actor, reason=stock_reason)
            grow[line.pk] = line.quantity
    else:
        for line_id, delta in deltas.items():
            if delta < 0:
                stock_release(
                    line=lines[line_id], actor=actor, reason=stock_reason, quantity=-delta
                )
            else:
                grow[line_id] = delta

    now = timezone.now()
    by_id = {sku.pk: sku for sku in skus.values()}
    added = [
        OrderLine(
            order=order,
            line_no=a.line_no,
            sku_id=a.sku_id,
            sku_code=by_id[a.sku_id].code,
            name=by_id[a.sku_id].name[:200],
            is_physical=by_id[a.sku_id].is_physical,
            quantity=a.quantity,
            unit_price=a.unit_price,
            discount=a.discount,
            created_at=now,
        )
        for a in new_amounts
    ]
    if added:
        bulk_create_with_history(added, OrderLine, default_date=now)  # ids for the line refs
        diff["added"] = [
            {"line_no": line.line_no, "sku": line.sku_code, "quantity": line.quantity}
            for line in added
        ]
    grow.update({line.pk: line.quantity for line in added})
    to_allocate = [line for line in (*lines.values(), *added) if line.pk in grow]
    parts = stock_allocate(order=order, lines=to_allocate, actor=actor, quantities=grow)

    active_lines = sorted([*lines.values(), *added], key=lambda line: line.line_no)
    categories = {line.pk: line.sku.tax_category for line in lines.values()}
    categories.update({line.pk: by_id[line.sku_id].tax_category for line in added})
    amounts = [_amounts(line, categories[line.pk]) for line in active_lines]
    totals = pricing.compute_totals(
        lines=amounts,
        currency=order.currency,
        delivery_option=order.delivery_option,
        address=order.shipping_address,
        ships=any(line.is_physical for line in active_lines),
        subscription=order.origin == OrderOrigin.SUBSCRIPTION,
        waive_shipping=order.shipping_waived,
    )
    for line, amount in zip(active_lines, amounts, strict=True):
        line.tax = amount.tax
        line.total = amount.total
    for line in (*active_lines, *removed):
        line.updated_at = now
    bulk_update_with_history([*active_lines, *removed], OrderLine, LINE_FIELDS, default_date=now)
    old_totals = {
        "subtotal": order.subtotal,
        "discount_total": order.discount_total,
        "shipping_total": order.shipping_total,
        "tax_total": order.tax_total,
        "total": order.total,
    }
    new_totals = totals.as_dict()
    if new_totals != old_totals:
        diff["totals"] = {"from": old_totals, "to": new_totals}
    for name, value in new_totals.items():
        setattr(order, name, value)
    order.save(
        update_fields=[
            *new_totals,
            "shipping_address",
            "billing_address",
            "delivery_option",
            "updated_at",
        ]
    )
    if parts:
        diff["allocation"] = parts
    event(
        order=order,
        kind=OrderEventKind.EDITED,
        actor=actor,
        message=(reason or "").strip(),
        payload=diff,
    ).save()

    if order.status in (OrderStatus.ALLOCATED, OrderStatus.BACKORDERED):
        target = status_from_lines(active_lines)
        if target != order.status:
            transition(order, target, actor=actor, payload={"edit": True})
        if target == OrderStatus.ALLOCATED and (to_allocate or released):
            # Fulfillment reconciles its pending parcels with the allocation (its callback is
            # re-entrant): added units are planned, units taken away leave their parcel.
            notify_allocated(order=order, lines=[*active_lines, *removed], actor=actor)
    return order
