"""Returns (RMA): requested → approved → label/instructions sent → received → inspected →
restocked or written off → refunded or replaced.

Stock comes back through the ledger (``inventory.stock_return``: restocked units become
sellable, written-off ones are recorded and written off at once). The order counts the
units as returned when they arrive; the refund (billing, through
``orders.hooks.refund_requester``) or the free replacement order comes last."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from inventory.services import stock_return
from oms.core.actors import Actor
from oms.core.errors import Conflict, ValidationError
from oms.core.transactions import on_commit
from oms.core.transitions import check_transition
from orders.models import Order, OrderLine

from .. import errors
from ..carriers import CarrierError, LabelRequest, get_adapter
from ..models import (
    Carrier,
    ReturnEventKind,
    ReturnLine,
    ReturnRequest,
    Shipment,
)
from ..selectors import returnable_units
from ..statuses import (
    RETURN_TRANSITIONS,
    Disposition,
    ItemCondition,
    ReturnReason,
    ReturnResolution,
    ReturnStatus,
    ShipmentStatus,
)
from . import order_sync
from ._common import lock_order, lock_return, require_reason, return_event, set_return_status

R = ReturnStatus

RESELLABLE = frozenset({ItemCondition.NEW, ItemCondition.OPENED})


def _status_change(
    return_request: ReturnRequest,
    target: str,
    *,
    kind: str,
    actor: Actor,
    message: str = "",
    payload: dict[str, Any] | None = None,
    **fields: Any,
) -> ReturnRequest:
    previous = set_return_status(return_request, target)
    for name, value in fields.items():
        setattr(return_request, name, value)
    return_request.save()
    return_event(
        return_request=return_request,
        kind=kind,
        actor=actor,
        message=message,
        payload={"from": previous, "to": target, **(payload or {})},
    )
    return return_request


def _default_warehouse_id(order: Order) -> int | None:
    return (
        Shipment.objects.filter(
            order=order,
            status__in=[
                ShipmentStatus.DELIVERED,
                ShipmentStatus.SHIPPED,
                ShipmentStatus.IN_TRANSIT,
                ShipmentStatus.OUT_FOR_DELIVERY,
                ShipmentStatus.EXCEPTION,
                ShipmentStatus.RETURNED_TO_SENDER,
            ],
        )
        .order_by("-shipped_at", "-id")
        .values_list("warehouse_id", flat=True)
        .first()
    )


@transaction.atomic
def return_request_create(
    *,
    order: Order,
    lines: list[dict[str, Any]],
    reason: str,
    actor: Actor,
    resolution: str = ReturnResolution.REFUND,
    customer_note: str = "",
    warehouse_id: int | None = None,
) -> ReturnRequest:
    """Open an RMA. ``lines``: ``[{"order_line": id | OrderLine, "quantity": n, "reason"?,
    "condition"?}]``. Only shipped units that are not back and not already in another open
    return can be asked for."""
    if reason not in ReturnReason.values:
        raise ValidationError(
            f"Unknown return reason '{reason}'.", fields={"reason": ReturnReason.values}
        )
    if resolution not in ReturnResolution.values:
        raise ValidationError(
            f"Unknown resolution '{resolution}'.", fields={"resolution": ReturnResolution.values}
        )
    if not lines:
        raise ValidationError("Name at least one line.", code=errors.NOTHING_TO_RETURN)
    order = lock_order(order)
    wanted: dict[int, dict[str, Any]] = {}
    for item in lines:
        key = item.get("order_line")
        line_id = key.pk if isinstance(key, OrderLine) else int(key)  # type: ignore[arg-type]
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise ValidationError(
                "Quantities must be positive whole numbers.", code=errors.INVALID_QUANTITY
            )
        line_reason = item.get("reason") or reason
        if line_reason not in ReturnReason.values:
            raise ValidationError(f"Unknown return reason '{line_reason}'.")
        condition = item.get("condition") or ItemCondition.UNKNOWN
        if condition not in ItemCondition.values:
            raise ValidationError(f"Unknown condition '{condition}'.")
        entry = wanted.setdefault(
            line_id, {"quantity": 0, "reason": line_reason, "condition": condition}
        )
        entry["quantity"] += quantity
    order_lines = {line.pk: line for line in OrderLine.objects.filter(order=order, pk__in=wanted)}
    unknown = sorted(set(wanted) - set(order_lines))
    if unknown:
        raise ValidationError(
            f"Lines {unknown} are not on order {order.number}.",
            code=errors.UNKNOWN_LINE,
            fields={"lines": unknown},
        )
    allowed = returnable_units(order_lines=order_lines.values())
    over = {
        str(line_id): allowed[line_id]
        for line_id, entry in wanted.items()
        if entry["quantity"] > allowed[line_id]
    }
    if over:
        raise Conflict(
            "More units than were shipped and are not already being returned.",
            code=errors.OVER_RETURN,
            fields={"returnable": over},
        )
    return_request = ReturnRequest.objects.create(
        order=order,
        reason=reason,
        resolution=resolution,
        customer_note=customer_note,
        warehouse_id=warehouse_id or _default_warehouse_id(order),
    )
    ReturnLine.objects.bulk_create(
        ReturnLine(
            return_request=return_request,
            order_line=order_lines[line_id],
            quantity=entry["quantity"],
            reason=entry["reason"],
            condition=entry["condition"],
        )
        for line_id, entry in sorted(wanted.items())
    )
    return_event(
        return_request=return_request,
        kind=ReturnEventKind.REQUESTED,
        actor=actor,
        message=customer_note,
        payload={
            "reason": reason,
            "resolution": resolution,
            "lines": {str(k): v["quantity"] for k, v in wanted.items()},
        },
    )
    return return_request


@transaction.atomic
def return_approve(*, return_request: ReturnRequest, actor: Actor) -> ReturnRequest:
    return_request = lock_return(return_request)
    if return_request.warehouse_id is None:
        raise ValidationError(
            "Choose the warehouse the parcel comes back to.", fields={"warehouse": ["Required."]}
        )
    return _status_change(
        return_request,
        R.APPROVED,
        kind=ReturnEventKind.STATUS_CHANGED,
        actor=actor,
        approved_at=timezone.now(),
    )


@transaction.atomic
def return_reject(*, return_request: ReturnRequest, reason: str, actor: Actor) -> ReturnRequest:
    return_request = lock_return(return_request)
    return _status_change(
        return_request,
        R.REJECTED,
        kind=ReturnEventKind.STATUS_CHANGED,
        actor=actor,
        message=require_reason(reason),
        resolved_at=timezone.now(),
    )


@transaction.atomic
def return_cancel(*, return_request: ReturnRequest, reason: str, actor: Actor) -> ReturnRequest:
    return_request = lock_return(return_request)
    return _status_change(
        return_request,
        R.CANCELLED,
        kind=ReturnEventKind.STATUS_CHANGED,
        actor=actor,
        message=require_reason(reason),
        resolved_at=timezone.now(),
    )


def default_instructions(return_request: ReturnRequest) -> str:
    warehouse = return_request.warehouse
    address = (
        ", ".join(
            p
            for p in [
                warehouse.name,
                warehouse.line1,
                f"{warehouse.postal_code} {warehouse.city}".strip(),
                warehouse.country,
            ]
            if p
        )
        if warehouse
        else "the address on your packing slip"
    )
    return (
        f"Write {return_request} on the parcel and send it to: {address}. "
        "Keep the receipt from the carrier until we confirm it arrived."
    )


def return_send_label(
    *,
    return_request: ReturnRequest,
    actor: Actor,
    carrier: Carrier | None = None,
    tracking_number: str = "",
    instructions: str = "",
) -> ReturnRequest:
    """Give the customer a way back: a return label bought from ``carrier`` (network call
    before the transaction), a tracking number typed in, or written instructions. The
    customer is emailed after commit."""
    return_request = ReturnRequest.objects.select_related("order", "warehouse").get(
        pk=return_request.pk
    )
    check_transition(
        RETURN_TRANSITIONS, entity="Return", current=return_request.status, target=R.LABEL_SENT
    )
    label_url = ""
    tracking_number = (tracking_number or "").strip()
    if carrier is not None and not tracking_number:
        adapter = get_adapter(carrier.config(), carrier.adapter)
        if adapter.supports_labels:
            warehouse = return_request.warehouse
            try:
                label = adapter.create_label(
                    LabelRequest(
                        reference=return_request.reference,
                        service_level="return",
                        ship_from=dict(return_request.order.shipping_address),
                        ship_to={
                            "code": warehouse.code if warehouse else "",
                            "line1": warehouse.line1 if warehouse else "",
                            "city": warehouse.city if warehouse else "",
                            "postal_code": warehouse.postal_code if warehouse else "",
                            "country": warehouse.country if warehouse else "",
                        },
                        items=[
                            {"sku": row.order_line.sku_code, "quantity": row.quantity}
                            for row in return_request.lines.select_related("order_line")
                        ],
                    )
                )
            except CarrierError as exc:
                raise Conflict(str(exc), code=errors.CARRIER_ERROR) from None
            tracking_number, label_url = label.tracking_number, label.label_url
    text = (instructions or "").strip() or default_instructions(return_request)
    return _label_sent(
        return_request_id=return_request.pk,
        carrier=carrier,
        tracking_number=tracking_number,
        label_url=label_url,
        instructions=text,
        actor=actor,
    )


@transaction.atomic
def _label_sent(
    *,
    return_request_id: int,
    carrier: Carrier | None,
    tracking_number: str,
    label_url: str,
    instructions: str,
    actor: Actor,
) -> ReturnRequest:
    return_request = lock_return(return_request_id)
    _status_change(
        return_request,
        R.LABEL_SENT,
        kind=ReturnEventKind.LABEL_SENT,
        actor=actor,
        message=instructions,
        payload={"carrier": carrier.code if carrier else "", "tracking_number": tracking_number},
        carrier=carrier,
        tracking_number=tracking_number,
        label_url=label_url,
        instructions=instructions,
    )
    from .notifications import send_return_email

    on_commit(send_return_email, return_id=return_request.pk, kind=R.LABEL_SENT)
    return return_request


@transaction.atomic
def return_receive(
    *, return_request: ReturnRequest, actor: Actor, quantities: Mapping[int, int] | None = None
) -> ReturnRequest:
    """The parcel arrived. ``quantities`` (return line id → units) when fewer came back than
    were asked for (None: all of them). The order counts them as returned."""
    return_request = lock_return(return_request)
    check_transition(
        RETURN_TRANSITIONS, entity="Return", current=return_request.status, target=R.RECEIVED
    )
    lock_order(return_request.order_id)
    rows = list(return_request.lines.select_related("order_line").order_by("pk"))
    received = {row.pk: row.quantity for row in rows} if quantities is None else dict(quantities)
    unknown = set(received) - {row.pk for row in rows}
    if unknown:
        raise ValidationError(f"Return lines {sorted(unknown)} are not on {return_request}.")
    for row in rows:
        units = received.get(row.pk, 0)
        if isinstance(units, bool) or not isinstance(units, int) or not 0 <= units <= row.quantity:
            raise ValidationError(
                f"Received units for line {row.pk} must be between 0 and {row.quantity}.",
                code=errors.INVALID_QUANTITY,
            )
        row.received_quantity = units
    if not any(row.received_quantity for row in rows):
        raise ValidationError("Nothing was received.", code=errors.NOTHING_TO_RETURN)
    ReturnLine.objects.bulk_update(rows, ["received_quantity", "updated_at"])
    now = timezone.now()
    _status_change(
        return_request,
        R.RECEIVED,
        kind=ReturnEventKind.RECEIVED,
        actor=actor,
        payload={"received": {str(row.pk): row.received_quantity for row in rows}},
        received_at=now,
    )
    order_sync.record_return(
        order=return_request.order,
        quantities={
            row.order_line_id: row.received_quantity for row in rows if row.received_quantity
        },
        actor=actor,
        reason=f"{return_request} received",
        reference=return_request.reference,
    )
    return return_request


@transaction.atomic
def return_inspect(
    *,
    return_request: ReturnRequest,
    actor: Actor,
    lines: Mapping[int, Mapping[str, str]] | None = None,
) -> ReturnRequest:
    """Record each line's condition and what to do with it: ``lines`` maps return line id
    to ``{"condition": ..., "disposition"?: "restock" | "write_off"}``. Without a
    disposition, new or opened-but-resellable goods are restocked, the rest written off."""
    return_request = lock_return(return_request)
    check_transition(
        RETURN_TRANSITIONS, entity="Return", current=return_request.status, target=R.INSPECTED
    )
    rows = list(return_request.lines.order_by("pk"))
    given = dict(lines or {})
    unknown = set(given) - {row.pk for row in rows}
    if unknown:
        raise ValidationError(f"Return lines {sorted(unknown)} are not on {return_request}.")
    for row in rows:
        entry = given.get(row.pk, {})
        condition = entry.get("condition") or (
            row.condition if row.condition != ItemCondition.UNKNOWN else ItemCondition.OPENED
        )
        if condition not in ItemCondition.values or condition == ItemCondition.UNKNOWN:
            raise ValidationError(
                f"Give line {row.pk} a condition.", fields={"condition": ItemCondition.values}
            )
        disposition = entry.get("disposition") or (
            Disposition.RESTOCK if condition in RESELLABLE else Disposition.WRITE_OFF
        )
        if disposition not in (Disposition.RESTOCK, Disposition.WRITE_OFF):
            raise ValidationError(f"Unknown disposition '{disposition}'.")
        row.condition, row.disposition = condition, disposition
    ReturnLine.objects.bulk_update(rows, ["condition", "disposition", "updated_at"])
    return _status_change(
        return_request,
        R.INSPECTED,
        kind=ReturnEventKind.INSPECTED,
        actor=actor,
        payload={
            "lines": {
                str(row.pk): {"condition": row.condition, "disposition": row.disposition}
                for row in rows
            }
        },
        inspected_at=timezone.now(),
    )


@transaction.atomic
def return_restock(*, return_request: ReturnRequest, actor: Actor) -> ReturnRequest:
    """Put the received units through the ledger: restocked lines back to sellable stock
    (``return`` movements), written-off lines recorded and written off. The return becomes
    restocked if anything went back to stock, else written off."""
    return_request = lock_return(return_request)
    rows = list(return_request.lines.select_related("order_line").order_by("pk"))
    restocked = any(r.disposition == Disposition.RESTOCK and r.received_quantity for r in rows)
    target = R.RESTOCKED if restocked else R.WRITTEN_OFF
    check_transition(
        RETURN_TRANSITIONS, entity="Return", current=return_request.status, target=target
    )
    if return_request.warehouse_id is None:
        raise ValidationError("The return has no warehouse.", fields={"warehouse": ["Required."]})
    moved: dict[str, dict[str, int]] = {"restock": {}, "write_off": {}}
    for row in rows:
        if not row.received_quantity or not row.order_line.is_physical:
            continue
        stock_return(
            sku_id=row.order_line.sku_id,
            warehouse_id=return_request.warehouse_id,
            quantity=row.received_quantity,
            reference=return_request.reference,
            actor=actor,
            restock=row.disposition == Disposition.RESTOCK,
            reason=f"{return_request}: {row.get_reason_display().lower()} ({row.get_condition_display().lower()})",
        )
        moved[row.disposition][str(row.pk)] = row.received_quantity
    return _status_change(
        return_request,
        target,
        kind=ReturnEventKind.RESTOCKED if restocked else ReturnEventKind.WRITTEN_OFF,
        actor=actor,
        payload=moved,
    )


def _received(return_request: ReturnRequest) -> dict[OrderLine, int]:
    return {
        row.order_line: row.received_quantity
        for row in return_request.lines.select_related("order_line").order_by("pk")
        if row.received_quantity
    }


@transaction.atomic
def return_refund(
    *, return_request: ReturnRequest, actor: Actor, amount: int | None = None
) -> ReturnRequest:
    """Ask billing to refund the received units' share of their line totals (or
    ``amount``, never more than that share) and close the return as refunded."""
    return_request = lock_return(return_request)
    check_transition(
        RETURN_TRANSITIONS, entity="Return", current=return_request.status, target=R.REFUNDED
    )
    order = return_request.order
    due = order_sync.refund_amount(quantities=_received(return_request))
    if amount is None:
        amount = due
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= due:
        raise ValidationError(
            f"The refund must be between 0 and {due} (the returned units' value).",
            fields={"amount": [f"At most {due}."]},
        )
    asked = order_sync.request_refund(
        order=order,
        amount=amount,
        reason=f"{return_request}: {return_request.get_reason_display().lower()}",
        actor=actor,
        reference=return_request.reference,
    )
    return_event(
        return_request=return_request,
        kind=ReturnEventKind.REFUND_REQUESTED,
        actor=actor,
        payload={"amount": amount, "currency": order.currency, "refunder_registered": asked},
    )
    _status_change(
        return_request,
        R.REFUNDED,
        kind=ReturnEventKind.STATUS_CHANGED,
        actor=actor,
        refund_amount=amount,
        resolution=ReturnResolution.REFUND,
        resolved_at=timezone.now(),
    )
    from .notifications import send_return_email

    on_commit(send_return_email, return_id=return_request.pk, kind=R.REFUNDED)
    return return_request


def return_replace(*, return_request: ReturnRequest, actor: Actor) -> ReturnRequest:
    """Send the received units again, free: a replacement order through order intake (its
    own durable transaction, keyed by the RMA so a retry finds the same order), then the
    return closes as replaced."""
    return_request = ReturnRequest.objects.select_related("order__channel", "order__customer").get(
        pk=return_request.pk
    )
    check_transition(
        RETURN_TRANSITIONS, entity="Return", current=return_request.status, target=R.REPLACED
    )
    replacement = order_sync.place_replacement(
        order=return_request.order,
        quantities=_received(return_request),
        actor=actor,
        external_id=f"replacement-{return_request}",
    )
    with transaction.atomic():
        locked = lock_return(return_request)
        _status_change(
            locked,
            R.REPLACED,
            kind=ReturnEventKind.REPLACEMENT_PLACED,
            actor=actor,
            payload={"order": replacement.number},
            replacement_order=replacement,
            resolution=ReturnResolution.REPLACEMENT,
            resolved_at=timezone.now(),
        )
    return locked
