"""Returns (RMA): the full path with restock and refund, write-offs, replacements, limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core import mail

from fulfillment import services
from fulfillment.models import ReturnEventKind
from fulfillment.statuses import Disposition, ItemCondition, ReturnStatus
from inventory.models import MovementKind, StockLevel, StockMovement
from oms.core.errors import Conflict, InvalidTransition
from oms.core.money import Money, round_minor
from orders import hooks
from orders.models import Order, OrderEventKind, OrderStatus
from tests.factories.fulfillment import HttpCarrierFactory

from .carrier_server import running_carrier
from .helpers import ACTOR, pack_and_ship

R = ReturnStatus


@pytest.fixture
def refunds():
    asked: list[dict[str, Any]] = []

    def requester(*, order, amount, reason, actor):
        asked.append({"order": order.number, "amount": amount, "reason": reason})

    hooks.refund_requester.register(requester)
    yield asked
    hooks.refund_requester.unregister(requester)


@pytest.fixture
def delivered(order_for, stocked, east, manual_carrier):
    sku = stocked(10, price=1999)
    order = order_for([(sku, 3)])
    shipment = pack_and_ship(order.shipments.get(), manual_carrier, tracking_number="R-1")
    services.shipment_mark_delivered(shipment=shipment, actor=ACTOR)
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    return order, sku


def _on_hand(sku, warehouse):
    return StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand


def test_full_return_with_restock_and_refund(
    delivered, east, refunds, django_capture_on_commit_callbacks
):
    order, sku = delivered
    line = order.lines.get()
    assert _on_hand(sku, east) == 7

    with django_capture_on_commit_callbacks(execute=True):
        rma = services.return_request_create(
            order=order,
            lines=[{"order_line": line.pk, "quantity": 2}],
            reason="no_longer_needed",
            actor=ACTOR,
        )
        assert rma.warehouse_id == east.pk  # where it shipped from
        services.return_approve(return_request=rma, actor=ACTOR)
        services.return_send_label(return_request=rma, actor=ACTOR)
        rma = services.return_receive(return_request=rma, actor=ACTOR)
        order.refresh_from_db()
        line.refresh_from_db()
        assert order.status == OrderStatus.PARTIALLY_RETURNED
        assert line.returned_quantity == 2
        assert _on_hand(sku, east) == 7  # not sellable until inspected and restocked

        services.return_inspect(
            return_request=rma,
            lines={rma.lines.get().pk: {"condition": ItemCondition.OPENED}},
            actor=ACTOR,
        )
        rma = services.return_restock(return_request=rma, actor=ACTOR)
        assert rma.status == R.RESTOCKED
        assert _on_hand(sku, east) == 9
        movement = StockMovement.objects.get(kind=MovementKind.RETURN)
        assert (movement.quantity, movement.reference) == (2, rma.reference)

        rma = services.return_refund(return_request=rma, actor=ACTOR)

    expected = round_minor(Decimal(line.total * 2) / 3)
    assert rma.status == R.REFUNDED and rma.refund_amount == expected
    assert refunds == [{"order": order.number, "amount": expected, "reason": refunds[0]["reason"]}]
    assert (
        order.events.filter(kind=OrderEventKind.REFUND_REQUESTED).get().payload["amount"]
        == expected
    )
    assert [e.kind for e in rma.events.order_by("id")][:3] == [
        ReturnEventKind.REQUESTED,
        ReturnEventKind.STATUS_CHANGED,
        ReturnEventKind.LABEL_SENT,
    ]
    # Instructions and the refund were emailed, and both are on the order's timeline.
    assert [m.subject for m in mail.outbox][-2:] == [
        f"How to send back your return {rma}",
        f"Your refund for return {rma}",
    ]
    assert str(rma) in mail.outbox[-2].body
    assert Money(expected, "USD").format() in mail.outbox[-1].body
    assert order.events.filter(kind=OrderEventKind.EMAIL_SENT).count() == len(mail.outbox) == 2


def test_damaged_units_are_written_off_through_the_ledger(delivered, east, refunds):
    order, sku = delivered
    line = order.lines.get()
    rma = services.return_request_create(
        order=order, lines=[{"order_line": line, "quantity": 1}], reason="damaged", actor=ACTOR
    )
    services.return_approve(return_request=rma, actor=ACTOR)
    services.return_receive(return_request=rma, actor=ACTOR)
    services.return_inspect(
        return_request=rma, lines={rma.lines.get().pk: {"condition": "damaged"}}, actor=ACTOR
    )
    assert rma.lines.get().disposition == Disposition.WRITE_OFF

    rma = services.return_restock(return_request=rma, actor=ACTOR)

    assert rma.status == R.WRITTEN_OFF
    assert _on_hand(sku, east) == 7  # in and straight out again
    kinds = list(
        StockMovement.objects.filter(reference=rma.reference).values_list("kind", "quantity")
    )
    assert sorted(kinds) == [(MovementKind.RETURN, 1), (MovementKind.WRITE_OFF, -1)]


def test_cannot_return_more_than_shipped_or_already_returning(delivered):
    order, _ = delivered
    line = order.lines.get()
    with pytest.raises(Conflict):
        services.return_request_create(
            order=order, lines=[{"order_line": line.pk, "quantity": 4}], reason="other", actor=ACTOR
        )
    services.return_request_create(
        order=order, lines=[{"order_line": line.pk, "quantity": 2}], reason="other", actor=ACTOR
    )
    with pytest.raises(Conflict):
        services.return_request_create(
            order=order, lines=[{"order_line": line.pk, "quantity": 2}], reason="other", actor=ACTOR
        )
    assert order.returns.count() == 1


def test_refund_before_restock_is_refused(delivered, refunds):
    order, _ = delivered
    rma = services.return_request_create(
        order=order,
        lines=[{"order_line": order.lines.get().pk, "quantity": 1}],
        reason="other",
        actor=ACTOR,
    )
    services.return_approve(return_request=rma, actor=ACTOR)
    with pytest.raises(InvalidTransition):
        services.return_refund(return_request=rma, actor=ACTOR)
    assert refunds == []
    assert not order.events.filter(kind=OrderEventKind.REFUND_REQUESTED).exists()


def test_replacement_order_for_a_defective_unit(delivered, refunds):
    order, sku = delivered
    rma = services.return_request_create(
        order=order,
        lines=[{"order_line": order.lines.get().pk, "quantity": 1}],
        reason="defective",
        resolution="replacement",
        actor=ACTOR,
    )
    services.return_approve(return_request=rma, actor=ACTOR)
    services.return_receive(return_request=rma, actor=ACTOR)
    services.return_inspect(
        return_request=rma, lines={rma.lines.get().pk: {"condition": "defective"}}, actor=ACTOR
    )
    services.return_restock(return_request=rma, actor=ACTOR)

    rma = services.return_replace(return_request=rma, actor=ACTOR)

    replacement = Order.objects.get(pk=rma.replacement_order_id)
    assert rma.status == R.REPLACED
    assert replacement.customer_id == order.customer_id
    # The goods and the shipping are free: the customer pays nothing for a replacement.
    assert replacement.subtotal == 0
    assert replacement.shipping_waived
    assert replacement.shipping_total == 0 and replacement.total == 0
    assert [line.unit_price for line in replacement.lines.all()] == [0]
    assert [(line.sku_id, line.quantity) for line in replacement.lines.all()] == [(sku.pk, 1)]
    assert replacement.status == OrderStatus.ALLOCATED
    assert replacement.shipments.count() == 1  # planned like any allocated order
    assert refunds == []


def test_return_label_bought_from_the_http_carrier(delivered):
    order, _ = delivered
    rma = services.return_request_create(
        order=order,
        lines=[{"order_line": order.lines.get().pk, "quantity": 1}],
        reason="other",
        actor=ACTOR,
    )
    services.return_approve(return_request=rma, actor=ACTOR)
    with running_carrier() as server:
        carrier = HttpCarrierFactory(base_url=server.base_url, api_key=server.api_key)
        rma = services.return_send_label(return_request=rma, carrier=carrier, actor=ACTOR)
    assert rma.tracking_number == "TRK000001"
    assert rma.label_url.endswith("/labels/TRK000001.pdf")
    assert server.requests[-1]["body"]["reference"] == rma.reference
    assert server.requests[-1]["body"]["service_level"] == "return"


def test_return_refund_moves_money_back_through_billing(
    order_for, stocked, manual_carrier, django_capture_on_commit_callbacks
):
    """End to end with billing's registered refunder (in-process payment gateway): the
    customer paid for the order, returns one unit of three, and gets that unit's share of
    the line back on the paid invoice."""
    from billing.gateway import InProcessGateway, use_gateway
    from billing.services import invoice_create_for_order, invoice_pay, payment_method_save
    from tests.factories.billing import customer_in

    gateway = InProcessGateway()
    customer = customer_in("US")
    payment_method_save(
        customer=customer,
        stripe_payment_method_id=gateway.add_card("4242424242424242"),
        brand="visa",
        last4="4242",
        exp_month=1,
        exp_year=2035,
        actor=ACTOR,
        retry_dunning=False,
    )
    order = order_for([(stocked(10, price=2000), 3)], customer=customer)
    with use_gateway(gateway):
        invoice = invoice_create_for_order(order=order, actor=ACTOR)
        assert invoice_pay(invoice=invoice, actor=ACTOR).state == "succeeded"
        shipment = pack_and_ship(order.shipments.get(), manual_carrier, tracking_number="PAID-1")
        services.shipment_mark_delivered(shipment=shipment, actor=ACTOR)
        rma = services.return_request_create(
            order=order,
            lines=[{"order_line": order.lines.get().pk, "quantity": 1}],
            reason="damaged",
            actor=ACTOR,
        )
        services.return_approve(return_request=rma, actor=ACTOR)
        services.return_receive(return_request=rma, actor=ACTOR)
        services.return_inspect(return_request=rma, lines={}, actor=ACTOR)
        services.return_restock(return_request=rma, actor=ACTOR)
        with django_capture_on_commit_callbacks(execute=True):
            rma = services.return_refund(return_request=rma, actor=ACTOR)

    line = order.lines.get()
    expected = round_minor(Decimal(line.total) / 3)
    assert rma.refund_amount == expected
    invoice.refresh_from_db()
    assert invoice.amount_refunded == expected
    assert [call["amount"] for call in gateway.calls_to("refund")] == [expected]
