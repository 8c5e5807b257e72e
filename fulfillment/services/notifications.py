"""Customer emails, sent after commit (``oms.core.transactions.on_commit``): a shipment
shipped (with its tracking link), out for delivery, delivered or hit an exception; a return
label / instructions; a refund. Every email sent is written on the order's timeline
(``email_sent``) and on the shipment's or return's own."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from oms.core.actors import Actor
from oms.core.money import Money

from ..models import ReturnEventKind, ReturnRequest, Shipment, ShipmentEventKind
from ..statuses import ReturnStatus, ShipmentStatus
from . import order_sync
from ._common import return_event, shipment_event

logger = logging.getLogger(__name__)

S = ShipmentStatus
ACTOR = Actor.system("fulfillment")

SHIPMENT_SUBJECTS: dict[str, str] = {
    S.SHIPPED: "Your order {order} is on its way",
    S.OUT_FOR_DELIVERY: "Your order {order} is out for delivery",
    S.DELIVERED: "Your order {order} was delivered",
    S.EXCEPTION: "A problem with the delivery of your order {order}",
}
RETURN_SUBJECTS: dict[str, str] = {
    ReturnStatus.LABEL_SENT: "How to send back your return {rma}",
    ReturnStatus.REFUNDED: "Your refund for return {rma}",
}


def send_shipment_email(*, shipment_id: int, kind: str) -> bool:
    """Email the customer about a shipment. Returns whether an email went out."""
    shipment = (
        Shipment.objects.select_related("order__customer", "carrier", "warehouse")
        .prefetch_related("lines__order_line")
        .get(pk=shipment_id)
    )
    order = shipment.order
    to = order.customer.email
    if kind not in SHIPMENT_SUBJECTS or not to:
        return False
    subject = SHIPMENT_SUBJECTS[kind].format(order=order.number)
    body = render_to_string(
        "fulfillment/email/shipment.txt",
        {"shipment": shipment, "order": order, "customer": order.customer, "kind": kind},
    )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    with transaction.atomic():
        order_sync.record_email(
            order=order,
            to=to,
            subject=subject,
            actor=ACTOR,
            payload={"template": f"shipment_{kind}", "reference": shipment.reference},
        )
        shipment_event(
            shipment=shipment,
            kind=ShipmentEventKind.EMAIL_SENT,
            actor=ACTOR,
            message=subject,
            payload={"to": to, "template": f"shipment_{kind}"},
        )
    return True


def send_return_email(*, return_id: int, kind: str) -> bool:
    return_request = ReturnRequest.objects.select_related("order__customer", "warehouse").get(
        pk=return_id
    )
    order = return_request.order
    to = order.customer.email
    if kind not in RETURN_SUBJECTS or not to:
        return False
    subject = RETURN_SUBJECTS[kind].format(rma=str(return_request))
    body = render_to_string(
        "fulfillment/email/return.txt",
        {
            "return_request": return_request,
            "order": order,
            "customer": order.customer,
            "kind": kind,
            "refund": Money(return_request.refund_amount, order.currency).format()
            if return_request.refund_amount is not None
            else "",
        },
    )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    with transaction.atomic():
        order_sync.record_email(
            order=order,
            to=to,
            subject=subject,
            actor=ACTOR,
            payload={"template": f"return_{kind}", "reference": return_request.reference},
        )
        return_event(
            return_request=return_request,
            kind=ReturnEventKind.NOTE,
            actor=ACTOR,
            message=f"Email sent: {subject}",
            payload={"to": to, "template": f"return_{kind}"},
        )
    return True
