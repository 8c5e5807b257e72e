"""Every call fulfillment makes into orders, in one place: shipped units, deliveries,
returns, timeline entries, refunds and replacement orders."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from oms.core.actors import Actor
from oms.core.money import round_minor
from oms.core.transactions import on_commit
from orders import hooks as order_hooks
from orders import services as order_services
from orders.models import Order, OrderEventKind, OrderLine, OrderStatus

from ..statuses import ShipmentStatus

if TYPE_CHECKING:
    from ..models import Shipment

S = ShipmentStatus


def record_shipment(
    *, order: Order, shipment: Shipment, quantities: dict[int, int], actor: Actor
) -> Order:
    return order_services.order_record_shipment(
        order=order,
        quantities=quantities,
        actor=actor,
        reference=shipment.reference,
        tracking={
            "carrier": shipment.carrier.code if shipment.carrier else "",
            "tracking_number": shipment.tracking_number,
            "tracking_url": shipment.tracking_url,
            "warehouse_id": shipment.warehouse_id,
        },
    )


def record_tracking(*, shipment: Shipment, status: str, actor: Actor, message: str = "") -> None:
    """Carrier progress short of delivery goes on the order's timeline."""
    if status == S.DELIVERED:
        return
    order_services.order_event_record(
        order=shipment.order,
        kind=OrderEventKind.TRACKING,
        actor=actor,
        message=message or f"Shipment {shipment}: {ShipmentStatus(status).label.lower()}",
        payload={
            "reference": shipment.reference,
            "status": status,
            "tracking_number": shipment.tracking_number,
            **({"exception_reason": shipment.exception_reason} if status == S.EXCEPTION else {}),
        },
    )


def record_delivery_if_complete(*, order: Order, actor: Actor) -> Order:
    """A parcel arrived. The order is delivered once everything has shipped (it is
    fulfilled) and every live parcel has arrived; otherwise the arrival is only noted on
    its timeline. The caller holds the order lock (``order`` is the locked row), so sibling
    parcels are seen committed."""
    from ..models import Shipment

    statuses = set(
        Shipment.objects.filter(order_id=order.pk)
        .exclude(status=S.CANCELLED)
        .values_list("status", flat=True)
    )
    everything = order.status == OrderStatus.FULFILLED and statuses == {S.DELIVERED}
    return order_services.order_record_delivery(
        order=order, actor=actor, reference=f"order:{order.number}", all_delivered=everything
    )


def record_return(
    *, order: Order, quantities: dict[int, int], actor: Actor, reason: str, reference: str
) -> Order:
    """Units came back. The refund is asked for separately, when the return is resolved."""
    return order_services.order_record_return(
        order=order,
        quantities=quantities,
        actor=actor,
        reason=reason,
        reference=reference,
        refund=False,
    )


def record_email(
    *, order: Order, to: str, subject: str, actor: Actor, payload: dict[str, Any]
) -> None:
    order_services.order_event_record(
        order=order,
        kind=OrderEventKind.EMAIL_SENT,
        actor=actor,
        message=subject,
        payload={"to": to, **payload},
    )


def refund_amount(*, quantities: dict[OrderLine, int]) -> int:
    """The returned units' share of each line total, rounded once per line (the rule
    orders uses for returns)."""
    return sum(
        round_minor(Decimal(line.total * quantity) / line.quantity)
        for line, quantity in quantities.items()
        if quantity
    )


def request_refund(*, order: Order, amount: int, reason: str, actor: Actor, reference: str) -> bool:
    """Ask billing (``orders.hooks.refund_requester``, after commit) for ``amount``, and put
    the request on the order's timeline. Returns whether any refunder is registered."""
    asked = bool(order_hooks.refund_requester)
    for requester in order_hooks.refund_requester:
        on_commit(requester, order=order, amount=amount, reason=reason, actor=actor)
    order_services.order_event_record(
        order=order,
        kind=OrderEventKind.REFUND_REQUESTED,
        actor=actor,
        message=reason,
        payload={
            "amount": amount,
            "currency": order.currency,
            "reference": reference,
            "refunder_registered": asked,
        },
    )
    return asked


def place_replacement(
    *, order: Order, quantities: dict[OrderLine, int], actor: Actor, external_id: str
) -> Order:
    """A free replacement order for the returned units (same customer, channel and address).
    ``external_id`` makes a retry return the same order. Runs in its own transaction
    (order intake is durable)."""
    return order_services.order_place(
        channel=order.channel,
        customer=order.customer,
        lines=[
            {"sku": line.sku_code, "quantity": quantity, "unit_price": 0}
            for line, quantity in quantities.items()
            if quantity
        ],
        shipping_address=order.shipping_address,
        billing_address=order.billing_address or None,
        currency=order.currency,
        delivery_option=order.delivery_option,
        external_id=external_id,
        notes=f"Replacement for {order.number}",
        trust_prices=True,
        waive_shipping=True,
        actor=actor,
    )
