"""The cycle end to end with the in-process gateway: what a renewal writes, and what it must not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail

from billing.models import Invoice, InvoiceStatus, PaymentAttempt
from inventory.models import StockLevel
from orders.models import Order, OrderStatus
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.renewal.cycle import renewal_run_execute
from subscriptions.renewal.models import Renewal, RenewalEvent, RenewalRun, RenewalState
from tests.renewal.conftest import subscribe

D = dt.date
pytestmark = pytest.mark.django_db


def _on_hand_free(sku: Any) -> int:
    return sum(level.on_hand - level.allocated for level in StockLevel.objects.filter(sku=sku))


def test_a_due_subscription_is_invoiced_charged_ordered_allocated_and_shipped(
    box_plan, catalog, gateway
):
    sub = subscribe(box_plan)
    free_before = _on_hand_free(catalog["beans"])

    run = renewal_run_execute(as_of=D(2026, 1, 15))

    renewal = Renewal.objects.get(subscription=sub)
    assert renewal.state == RenewalState.DONE
    assert renewal.period_start == D(2026, 1, 15) and renewal.period_end == D(2026, 2, 15)
    invoice = Invoice.objects.get(subscription=sub, period_start=D(2026, 1, 15))
    assert invoice.status == InvoiceStatus.PAID and invoice.total == 2500 == renewal.amount
    assert renewal.invoice_id == invoice.pk
    assert [c["amount"] for c in gateway.calls_to("charge_off_session")] == [2500]
    order = Order.objects.get(pk=renewal.order_id)
    assert order.external_id == f"renewal:{sub.pk}:2026-01-15"
    assert order.origin == "subscription" and order.subscription_id == sub.pk
    assert order.status in (OrderStatus.ALLOCATED,)
    assert sorted((line.sku_code, line.quantity) for line in order.lines.all()) == [
        ("BEANS", 1),
        ("FILTERS", 2),
    ]
    assert _on_hand_free(catalog["beans"]) == free_before - 1
    assert renewal.shipment_ids, "fulfillment's order_allocated hook created the shipment"
    sub.refresh_from_db()
    assert sub.next_renewal_date == D(2026, 2, 15) and sub.cycles_completed == 1
    run.refresh_from_db()
    assert (
        run.due,
        run.renewed,
        run.failed_payment,
        run.backordered,
        run.skipped,
        run.errored,
    ) == (1, 1, 0, 0, 0, 0)
    assert run.finished_at is not None and run.duration_seconds is not None


def test_running_the_same_date_again_does_nothing(box_plan, gateway):
    subs = [subscribe(box_plan) for _ in range(3)]
    renewal_run_execute(as_of=D(2026, 1, 15))

    again = renewal_run_execute(as_of=D(2026, 1, 15))

    assert again.due == 0 and RenewalRun.objects.count() == 2
    assert (
        Renewal.objects.count() == 3 and Invoice.objects.count() == 3 and Order.objects.count() == 3
    )
    assert len(gateway.calls_to("charge_off_session")) == 3
    assert {r.subscription_id for r in Renewal.objects.all()} == {s.pk for s in subs}


def test_nothing_is_due_before_its_date(box_plan, gateway):
    subscribe(box_plan, start=D(2026, 1, 20))

    run = renewal_run_execute(as_of=D(2026, 1, 19))

    assert run.due == 0 and not Renewal.objects.exists() and not Invoice.objects.exists()
    assert gateway.calls_to("charge_off_session") == []


def test_a_declined_card_goes_to_dunning_and_no_order_ships(box_plan, catalog, gateway):
    card = gateway.add_card("4000000000000341")
    sub = subscribe(box_plan, card=card)
    free_before = _on_hand_free(catalog["beans"])

    run = renewal_run_execute(as_of=D(2026, 1, 15))

    renewal = Renewal.objects.get(subscription=sub)
    assert renewal.state == RenewalState.DUNNING and renewal.order_id is None
    assert not Order.objects.exists()
    assert _on_hand_free(catalog["beans"]) == free_before
    invoice = Invoice.objects.get(pk=renewal.invoice_id)
    assert invoice.status == InvoiceStatus.OPEN and invoice.amount_paid == 0
    assert PaymentAttempt.objects.get(invoice=invoice).state == "failed"
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.PAST_DUE
    assert RenewalEvent.objects.filter(renewal=renewal, kind="payment_failed").exists()
    run.refresh_from_db()
    assert (run.due, run.renewed, run.failed_payment) == (1, 0, 1)


def test_a_pay_later_plan_ships_even_when_the_payment_fails(catalog, gateway):
    from tests.factories.subscriptions import make_plan

    plan = make_plan(price=2500, items=[(catalog["beans"], 1)], pay_later=True)
    sub = subscribe(plan, card=gateway.add_card("4000000000000341"))

    renewal_run_execute(as_of=D(2026, 1, 15))

    renewal = Renewal.objects.get(subscription=sub)
    assert renewal.state == RenewalState.DONE
    assert Order.objects.get(pk=renewal.order_id).status == OrderStatus.ALLOCATED
    assert Invoice.objects.get(pk=renewal.invoice_id).status == InvoiceStatus.OPEN


def test_dunning_that_recovers_places_the_order_on_the_next_run(box_plan, gateway):
    from billing.services.payments import invoice_pay

    card = gateway.add_card("4000000000000341")
    sub = subscribe(box_plan, card=card)
    renewal_run_execute(as_of=D(2026, 1, 15))
    renewal = Renewal.objects.get(subscription=sub)
    assert renewal.state == RenewalState.DUNNING
    # The customer fixes the card; billing's retry collects the invoice.
    Subscription.objects.filter(pk=sub.pk).update(payment_method="pm_card_visa")
    invoice = Invoice.objects.get(pk=renewal.invoice_id)
    from oms.core.actors import Actor

    invoice_pay(invoice=invoice, actor=Actor.system("tests"), gateway=gateway)
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID

    run = renewal_run_execute(as_of=D(2026, 1, 16))

    renewal.refresh_from_db()
    assert renewal.state == RenewalState.DONE and renewal.order_id
    assert run.resumed == 1 and run.renewed == 1
    assert Order.objects.filter(subscription_id=sub.pk).count() == 1


def test_out_of_stock_backorders_tells_the_customer_and_the_operator(
    catalog, gateway, django_capture_on_commit_callbacks
):
    from tests.factories.subscriptions import make_plan

    plan = make_plan(price=900, items=[(catalog["rare"], 1)])
    sub = subscribe(plan)

    with django_capture_on_commit_callbacks(execute=True):
        run = renewal_run_execute(as_of=D(2026, 1, 15))

    renewal = Renewal.objects.get(subscription=sub)
    order = Order.objects.get(pk=renewal.order_id)
    assert order.status == OrderStatus.BACKORDERED
    assert renewal.state == RenewalState.DONE
    assert RenewalEvent.objects.filter(renewal=renewal, kind="backordered").exists()
    run.refresh_from_db()
    assert run.backordered == 1
    assert [m.to for m in mail.outbox if "waiting for stock" in m.subject] == [[sub.customer.email]]


def test_the_run_reports_the_time_spent_waiting_on_the_rate_limiter(box_plan):
    from billing.gateway import InProcessGateway, RateLimiter, use_gateway

    limited = InProcessGateway(limiter=RateLimiter(rate=20, burst=1))
    for _ in range(5):
        subscribe(box_plan)

    with use_gateway(limited):
        run = renewal_run_execute(as_of=D(2026, 1, 15), gateway=limited)

    run.refresh_from_db()
    assert run.renewed == 5 and len(limited.calls_to("charge_off_session")) == 5
    # Five charges at 20/s with a burst of one: at least four waits of about 50 ms.
    assert run.rate_limit_wait_seconds >= Decimal("0.15")


def test_a_batch_orders_together_and_a_refused_order_errors_alone(
    box_plan, catalog, gateway, django_capture_on_commit_callbacks
):
    """The paid renewals of a claim are ordered as one batch (``orders_place_many``): the
    allocated ones get their parcels, the short one is backordered and told, and one whose
    order is refused (its SKU was withdrawn from sale) is retried on its own and recorded as
    errored — without taking the others down."""
    from fulfillment.models import Shipment
    from tests.factories.inventory import SkuFactory
    from tests.factories.subscriptions import make_plan

    withdrawn = SkuFactory(code="WITHDRAWN", price=500)
    ok = [subscribe(box_plan) for _ in range(3)]
    short = subscribe(make_plan(price=900, items=[(catalog["rare"], 1)]))
    refused = subscribe(make_plan(price=700, items=[(withdrawn, 1)]))
    withdrawn.is_active = False
    withdrawn.save(update_fields=["is_active"])

    with django_capture_on_commit_callbacks(execute=True):
        run = renewal_run_execute(as_of=D(2026, 1, 15), batch_size=10)

    run.refresh_from_db()
    assert (run.due, run.renewed, run.backordered, run.errored) == (5, 4, 1, 1)
    for sub in ok:
        renewal = Renewal.objects.get(subscription=sub)
        order = Order.objects.get(pk=renewal.order_id)
        assert renewal.state == RenewalState.DONE and order.status == OrderStatus.ALLOCATED
        assert renewal.shipment_ids == list(
            Shipment.objects.filter(order=order).order_by("pk").values_list("pk", flat=True)
        )
        assert renewal.payment_attempt_id and renewal.charged_at and renewal.ordered_at
    backordered = Renewal.objects.get(subscription=short)
    assert backordered.state == RenewalState.DONE and backordered.backordered
    assert [m.to for m in mail.outbox if "waiting for stock" in m.subject] == [
        [short.customer.email]
    ]
    errored = Renewal.objects.get(subscription=refused)
    assert errored.state == RenewalState.ERRORED and errored.resume_state == RenewalState.CHARGED
    assert "not for sale" in errored.error and errored.order_id is None
    assert not Order.objects.filter(subscription_id=refused.pk).exists()
    # Paid once each, whatever path the order took.
    assert PaymentAttempt.objects.filter(state="succeeded").count() == 5


def test_the_claim_takes_the_longest_overdue_first(box_plan, gateway):
    """Claims read the renewal queue in due order, not creation order: with room for one,
    the subscription due earliest is renewed first."""
    later = subscribe(box_plan, start=D(2026, 1, 10))  # created first, due last
    earliest = subscribe(box_plan, start=D(2025, 12, 20))
    middle = subscribe(box_plan, start=D(2026, 1, 1))
    due = {s.pk: s.next_renewal_date for s in (later, earliest, middle)}
    assert due[earliest.pk] < due[middle.pk] < due[later.pk] <= D(2026, 1, 12)

    renewal_run_execute(as_of=D(2026, 1, 12), batch_size=1, limit=1)
    assert list(Renewal.objects.values_list("subscription_id", flat=True)) == [earliest.pk]

    renewal_run_execute(as_of=D(2026, 1, 12), batch_size=1)
    assert list(Renewal.objects.order_by("pk").values_list("subscription_id", "period_start")) == [
        (earliest.pk, due[earliest.pk]),
        (middle.pk, due[middle.pk]),
        (later.pk, due[later.pk]),
    ]
