"""Invoices (immutability, void, uncollectible, the order invoice), credit notes and refunds
(full and partial, to the original payment) against localstripe."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import InvoiceLineKind, InvoiceStatus, Refund, RefundState
from billing.services import (
    LineInput,
    credit_note_create,
    invoice_create_for_order,
    invoice_create_for_period,
    invoice_line_add,
    invoice_mark_uncollectible,
    invoice_pay,
    invoice_void,
    order_cancel_and_refund,
    refund_create,
)
from oms.core.errors import Conflict, InvalidTransition
from tests.billing.stripe_helpers import CARD_OK, save_card
from tests.factories.billing import ACTOR, TaxRateFactory, customer_in, make_invoice


@pytest.fixture
def paid_invoice(paying_customer):
    invoice = make_invoice(customer=paying_customer, amounts=[2000])
    attempt = invoice_pay(invoice=invoice, actor=ACTOR)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice, attempt


def _stripe_refunds(gateway, pi_id):
    return [
        r.to_dict() for r in gateway.client.v1.refunds.list(params={"limit": 100}).auto_paging_iter()
        if r.to_dict().get("payment_intent") == pi_id
    ]  # fmt: skip


def test_full_refund_goes_to_the_original_payment(paid_invoice, stripe_gateway):
    invoice, attempt = paid_invoice
    refund = refund_create(invoice=invoice, reason="Customer asked", actor=ACTOR)
    invoice.refresh_from_db()
    assert (refund.state, refund.amount, refund.payment_attempt_id) == (
        RefundState.SUCCEEDED,
        2000,
        attempt.pk,
    )
    assert refund.idempotency_key == f"oms-inv{invoice.pk}-r1"
    assert invoice.amount_refunded == 2000
    assert [
        (r["id"], r["amount"])
        for r in _stripe_refunds(stripe_gateway, attempt.stripe_payment_intent_id)
    ] == [(refund.stripe_refund_id, 2000)]
    with pytest.raises(Conflict):
        refund_create(invoice=invoice, reason="Again", actor=ACTOR)
    assert Refund.objects.filter(invoice=invoice).count() == 1


def test_partial_refunds_add_up_and_never_exceed_the_payment(paid_invoice, stripe_gateway):
    invoice, attempt = paid_invoice
    refund_create(invoice=invoice, amount=500, reason="Damaged item", actor=ACTOR)
    with pytest.raises(Conflict):  # refused before Stripe is called
        refund_create(invoice=invoice, amount=1501, reason="Too much", actor=ACTOR)
    refund_create(invoice=invoice, amount=1500, reason="Rest", actor=ACTOR)
    invoice.refresh_from_db()
    assert invoice.amount_refunded == 2000
    assert sorted(
        r["amount"] for r in _stripe_refunds(stripe_gateway, attempt.stripe_payment_intent_id)
    ) == [500, 1500]
    assert Refund.objects.filter(invoice=invoice).count() == 2


def test_open_invoice_is_immutable_and_corrected_by_credit_note(db):
    invoice = make_invoice(amounts=[3000])
    with pytest.raises(Conflict):
        invoice_line_add(
            invoice=invoice,
            line=LineInput(kind=InvoiceLineKind.ITEM, description="x", unit_amount=1),
            actor=ACTOR,
        )
    note = credit_note_create(invoice=invoice, amount=1000, reason="Goodwill", actor=ACTOR)
    invoice.refresh_from_db()
    assert note.number.startswith("CN-") and note.refund is None
    assert (invoice.amount_credited, invoice.amount_due, invoice.status) == (
        1000,
        2000,
        InvoiceStatus.OPEN,
    )
    credit_note_create(invoice=invoice, amount=2000, reason="Waived", actor=ACTOR)
    invoice.refresh_from_db()
    assert (invoice.amount_due, invoice.status) == (0, InvoiceStatus.PAID)
    with pytest.raises(Conflict):
        credit_note_create(invoice=invoice, amount=1, reason="Too much", actor=ACTOR)


def test_draft_lines_can_change_until_finalized(db):
    from billing.services import invoice_finalize

    TaxRateFactory(country="DE", rate=Decimal("0.19"))
    invoice = make_invoice(amounts=[1000], finalize=False)
    invoice_line_add(
        invoice=invoice,
        line=LineInput(kind=InvoiceLineKind.SETUP_FEE, description="Setup", unit_amount=500),
        actor=ACTOR,
    )
    invoice.refresh_from_db()
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.amount_due) == (
        1500,
        285,
        1785,
        1785,
    )
    invoice_finalize(invoice=invoice, actor=ACTOR)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN and invoice.finalized_at is not None


def test_credit_note_on_paid_invoice_refunds(paid_invoice):
    invoice, _ = paid_invoice
    note = credit_note_create(invoice=invoice, amount=700, reason="Late delivery", actor=ACTOR)
    invoice.refresh_from_db()
    assert (
        note.refund is not None
        and note.refund.state == RefundState.SUCCEEDED
        and note.refund.amount == 700
    )
    assert invoice.amount_refunded == 700


def test_void_and_uncollectible_follow_the_transition_table(paid_invoice):
    invoice, _ = paid_invoice
    with pytest.raises(Conflict):  # money taken: refund first
        invoice_void(invoice=invoice, reason="oops", actor=ACTOR)
    open_invoice = make_invoice(amounts=[100])
    invoice_mark_uncollectible(invoice=open_invoice, reason="Gone", actor=ACTOR)
    invoice_void(invoice=open_invoice, reason="Cleanup", actor=ACTOR)
    open_invoice.refresh_from_db()
    assert (open_invoice.status, open_invoice.amount_due) == (InvoiceStatus.VOID, 0)
    with pytest.raises(InvalidTransition):
        invoice_mark_uncollectible(invoice=open_invoice, reason="again", actor=ACTOR)


def test_order_invoice_matches_the_order_and_cancel_refunds_it(stripe_gateway, channel):
    """Billing's tax calculator prices the order at intake; the invoice copies the order's
    amounts to the cent; cancelling refunds through a credit note."""
    from tests.factories.orders import place_order, stocked_sku

    TaxRateFactory(country="US", region="OR", rate=Decimal("0"), name="OR")
    TaxRateFactory(country="US", rate=Decimal("0.0725"), name="Sales tax")
    customer = customer_in("US", region="CA")
    save_card(stripe_gateway, customer, CARD_OK)
    address = {
        "name": "A",
        "line1": "1 Main",
        "city": "LA",
        "postal_code": "90001",
        "country": "US",
        "region": "CA",
    }
    order = place_order(
        channel=channel,
        customer=customer,
        lines=[(stocked_sku(price=1999), 2)],
        shipping_address=address,
    )
    assert order.tax_total == round(Decimal(3998) * Decimal("0.0725")) + round(
        Decimal(order.shipping_total) * Decimal("0.0725")
    )

    invoice = invoice_create_for_order(order=order, actor=ACTOR)
    assert invoice_create_for_order(order=order, actor=ACTOR).pk == invoice.pk  # once per order
    assert (invoice.total, invoice.tax) == (order.total, order.tax_total)
    assert invoice_pay(invoice=invoice, actor=ACTOR).state == "succeeded"

    order, notes = order_cancel_and_refund(order=order, reason="Changed mind", actor=ACTOR)
    invoice.refresh_from_db()
    assert order.status == "cancelled"
    assert invoice.amount_refunded == order.total
    assert (
        sum(n.amount for n in notes)
        + sum(n.amount for n in invoice.credit_notes.exclude(pk__in=[n.pk for n in notes]))
        == order.total
    )


def test_refund_whose_answer_is_lost_is_resolved_without_refunding_twice(
    localstripe_server, paid_invoice
):
    from billing.gateway import StripeGateway
    from billing.services import payments_reconcile
    from tests.stripe_server import RecordingProxy

    invoice, attempt = paid_invoice
    with RecordingProxy(localstripe_server.url) as proxy:
        proxy.drop_responses(lambda r: r.method == "POST" and r.path == "/v1/refunds", times=1)
        gateway = StripeGateway(api_base=proxy.url, max_network_retries=0, timeout=5)
        refund = refund_create(
            invoice=invoice, amount=800, reason="Lost answer", actor=ACTOR, gateway=gateway
        )
        assert refund.state == RefundState.UNKNOWN
        invoice.refresh_from_db()
        assert invoice.amount_refunded == 0
        with pytest.raises(Conflict):  # the unknown refund still reserves its amount
            refund_create(
                invoice=invoice, amount=1201, reason="Too much", actor=ACTOR, gateway=gateway
            )
        assert payments_reconcile(actor=ACTOR, gateway=gateway) == 1
        posts = proxy.posts_to("/v1/refunds")
    refund.refresh_from_db()
    invoice.refresh_from_db()
    assert refund.state == RefundState.SUCCEEDED and refund.stripe_refund_id
    assert invoice.amount_refunded == 800
    assert len(posts) == 1
    assert [r["amount"] for r in _stripe_refunds(gateway, attempt.stripe_payment_intent_id)] == [
        800
    ]


def test_one_invoice_per_subscription_period(paying_customer, make_period_invoice):
    from django.db import IntegrityError, transaction

    from billing.models import Invoice

    invoice = make_period_invoice(paying_customer, price=1500)
    again = invoice_create_for_period(
        subscription=invoice.subscription, period_start=invoice.period_start, actor=ACTOR,
        lines=[LineInput(kind=InvoiceLineKind.PLAN, description="other", unit_amount=1)],
    )  # fmt: skip
    assert again.pk == invoice.pk and again.total == 1500
    with pytest.raises(IntegrityError), transaction.atomic():  # the database is the last guard
        Invoice.objects.create(
            number="INV-DUP", customer=paying_customer, subscription=invoice.subscription,
            period_start=invoice.period_start, currency="EUR",
        )  # fmt: skip
