"""Charging a batch of invoices: the same outcome as one by one, in a constant number of
queries per batch."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.gateway import InProcessGateway
from billing.models import (
    AttemptState,
    BillingEvent,
    DunningCase,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
)
from billing.services import (
    billing_account_update,
    invoice_pay,
    invoices_pay_batch,
    payment_attempt_begin,
    payment_method_save,
)
from tests.factories.billing import ACTOR, customer_in, make_invoice

pytestmark = pytest.mark.django_db


def _customer(gateway: InProcessGateway, number: str | None = "4242424242424242") -> Any:
    customer = customer_in("DE")
    customer.stripe_customer_id = f"cus_batch_{customer.pk}"
    customer.save(update_fields=["stripe_customer_id"])
    if number:
        payment_method_save(
            customer=customer, stripe_payment_method_id=gateway.add_card(number), brand="visa",
            last4=number[-4:], exp_month=1, exp_year=2035, actor=ACTOR, retry_dunning=False,
        )  # fmt: skip
    return customer


def test_batch_gives_each_invoice_the_one_by_one_outcome(django_capture_on_commit_callbacks):
    gateway = InProcessGateway()
    ok = [make_invoice(customer=_customer(gateway), amounts=[1000 + i]) for i in range(3)]
    declined = make_invoice(customer=_customer(gateway, "4000000000000341"), amounts=[500])
    no_card = make_invoice(customer=_customer(gateway, None), amounts=[700])
    manual_customer = _customer(gateway)
    billing_account_update(customer=manual_customer, actor=ACTOR, auto_pay=False)
    manual = make_invoice(customer=manual_customer, amounts=[900])
    busy = make_invoice(customer=_customer(gateway), amounts=[300])
    payment_attempt_begin(invoice=busy, actor=ACTOR, trigger="renewal")  # in flight elsewhere

    batch = [*ok, declined, no_card, manual, busy]
    with django_capture_on_commit_callbacks(execute=True):
        items = invoices_pay_batch(invoices=batch, actor=ACTOR, gateway=gateway)

    assert [item.invoice_id for item in items] == [i.pk for i in batch]
    outcome = {
        item.invoice_id: (item.attempt.state if item.attempt else item.error.code) for item in items
    }
    assert outcome == {
        ok[0].pk: "succeeded", ok[1].pk: "succeeded", ok[2].pk: "succeeded",
        declined.pk: "failed", no_card.pk: "failed", manual.pk: "auto_pay_off", busy.pk: "payment_in_flight",
    }  # fmt: skip
    written = {item.invoice_id: item.invoice for item in items}
    for invoice in ok:
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
            InvoiceStatus.PAID,
            invoice.total,
            0,
        )
        # The batch hands back the invoice exactly as it wrote it (no re-read needed).
        mine = written[invoice.pk]
        assert [getattr(mine, f.attname) for f in Invoice._meta.concrete_fields] == [
            getattr(invoice, f.attname) for f in Invoice._meta.concrete_fields
        ]
        assert list(invoice.events.values_list("kind", flat=True)) == [
            "invoice_created", "invoice_finalized", "payment_started", "payment_succeeded", "invoice_paid",
        ]  # fmt: skip
        attempt = invoice.payment_attempts.get()
        assert (attempt.idempotency_key, attempt.stripe_payment_intent_id[:3]) == (
            f"oms-inv{invoice.pk}-a1",
            "pi_",
        )
    assert [written[i.pk] for i in (declined, no_card, manual, busy)] == [None] * 4
    assert DunningCase.objects.filter(invoice__in=[declined, no_card]).count() == 2
    assert PaymentAttempt.objects.filter(invoice=manual).count() == 0
    assert PaymentAttempt.objects.get(invoice=busy).state == AttemptState.PENDING
    assert len(gateway.calls_to("charge_off_session")) == 4  # 3 good cards + the declined one

    # Again: nothing is charged twice.
    again = invoices_pay_batch(invoices=ok, actor=ACTOR, gateway=gateway)
    assert {item.error.code for item in again} == {"invoice_not_payable"}
    assert len(gateway.calls_to("charge_off_session")) == 4


def test_batch_queries_do_not_grow_with_the_batch():
    gateway = InProcessGateway()

    def run(n: int) -> int:
        invoices = [make_invoice(customer=_customer(gateway), amounts=[1000]) for _ in range(n)]
        with CaptureQueriesContext(connection) as queries:
            items = invoices_pay_batch(invoices=invoices, actor=ACTOR, gateway=gateway)
        assert all(item.attempt and item.attempt.state == "succeeded" for item in items)
        return len(queries.captured_queries)

    assert run(3) == run(12)
    assert BillingEvent.objects.filter(kind="payment_succeeded").count() == 15


def test_one_by_one_and_batch_write_the_same_rows():
    gateway = InProcessGateway()
    single = make_invoice(customer=_customer(gateway), amounts=[1234])
    batched = make_invoice(customer=_customer(gateway), amounts=[1234])
    invoice_pay(invoice=single, actor=ACTOR, trigger="renewal", gateway=gateway)
    invoices_pay_batch(invoices=[batched], actor=ACTOR, gateway=gateway)
    fields = (
        "attempt_number",
        "trigger",
        "state",
        "amount",
        "currency",
        "decline_code",
        "decline_kind",
    )
    assert list(single.payment_attempts.values(*fields)) == list(
        batched.payment_attempts.values(*fields)
    )
    single.refresh_from_db()
    batched.refresh_from_db()
    assert (single.status, single.amount_paid, single.amount_due) == (
        batched.status,
        batched.amount_paid,
        batched.amount_due,
    )
    assert list(single.events.values_list("kind", flat=True)) == list(
        batched.events.values_list("kind", flat=True)
    )


def test_batch_invoice_creation_matches_one_by_one_and_is_idempotent():
    import datetime as dt

    from billing.models import Invoice, InvoiceLineKind
    from billing.services import (
        LineInput,
        PeriodInput,
        invoice_create_for_period,
        invoices_create_for_periods,
    )
    from tests.factories.subscriptions import make_plan, make_subscription

    plan = make_plan(price=1500, currency="EUR")
    subs = [
        make_subscription(plan=plan, customer=customer_in("DE"), currency="EUR") for _ in range(4)
    ]
    lines = [LineInput(kind=InvoiceLineKind.PLAN, description="Plan", unit_amount=1500)]
    single = invoice_create_for_period(
        subscription=subs[0], period_start=subs[0].current_period_start, actor=ACTOR, lines=lines
    )
    periods = [PeriodInput(s, s.current_period_start, s.current_period_end, lines) for s in subs]

    with CaptureQueriesContext(connection) as queries:
        created = invoices_create_for_periods(periods=periods, actor=ACTOR)
    assert len(queries.captured_queries) <= 8
    assert created[0].pk == single.pk  # existing: returned, not duplicated
    assert len({i.number for i in created}) == 4 and Invoice.objects.count() == 4
    fields = (
        "status",
        "subtotal",
        "tax",
        "total",
        "amount_due",
        "collection_method",
        "billing_reason",
    )
    for invoice in created[1:]:
        invoice.refresh_from_db()
        assert [getattr(invoice, f) for f in fields] == [getattr(single, f) for f in fields]
        assert list(invoice.events.values_list("kind", flat=True)) == list(
            single.events.values_list("kind", flat=True)
        )
        assert invoice.lines.count() == 1
    again = invoices_create_for_periods(periods=periods, actor=ACTOR)
    assert [i.pk for i in again] == [i.pk for i in created]
    assert dt.date.today() is not None


def test_batch_with_concurrent_gateway_calls_charges_each_once(django_capture_on_commit_callbacks):
    gateway = InProcessGateway()
    invoices = [make_invoice(customer=_customer(gateway), amounts=[800 + i]) for i in range(8)]
    with django_capture_on_commit_callbacks(execute=True):
        items = invoices_pay_batch(invoices=invoices, actor=ACTOR, gateway=gateway, concurrency=4)
    assert [item.attempt.state for item in items] == ["succeeded"] * 8
    assert gateway.payment_intent_count() == 8
    assert sorted(c["amount"] for c in gateway.calls_to("charge_off_session")) == [
        800 + i for i in range(8)
    ]


def test_the_portable_update_path_used_on_sqlite_writes_the_same_outcome(monkeypatch):
    import oms.core.bulk as bulk

    # The batch writes through oms.core.bulk; its portable path is what SQLite runs.
    monkeypatch.setattr(bulk, "is_postgres", lambda conn=None: False)
    gateway = InProcessGateway()
    invoices = [make_invoice(customer=_customer(gateway), amounts=[1500 + i]) for i in range(2)]
    items = invoices_pay_batch(invoices=invoices, actor=ACTOR, gateway=gateway)
    assert [item.attempt.state for item in items] == ["succeeded", "succeeded"]
    for invoice in invoices:
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
            InvoiceStatus.PAID,
            invoice.total,
            0,
        )
        assert invoice.payment_attempts.get().state == AttemptState.SUCCEEDED


def test_a_past_due_subscription_invoice_takes_the_one_invoice_completion():
    """A success for a past-due subscription's invoice is not recorded in bulk: the
    one-invoice completion handles it (it knows dunning). The bulk ones come back with
    their invoice as written; that one without (the caller reads it afresh)."""
    from billing.models import InvoiceLineKind
    from billing.services import LineInput, invoice_create_for_period
    from subscriptions.models import Subscription
    from tests.factories.subscriptions import make_plan, make_subscription

    gateway = InProcessGateway()
    sub = make_subscription(
        plan=make_plan(price=1500, currency="EUR"), customer=_customer(gateway), currency="EUR"
    )
    Subscription.objects.filter(pk=sub.pk).update(status="past_due")
    late = invoice_create_for_period(
        subscription=sub, period_start=sub.current_period_start, actor=ACTOR,
        lines=[LineInput(kind=InvoiceLineKind.PLAN, description="Plan", unit_amount=1500)],
    )  # fmt: skip
    fine = make_invoice(customer=_customer(gateway), amounts=[900])

    items = invoices_pay_batch(invoices=[late, fine], actor=ACTOR, gateway=gateway)

    assert [item.attempt.state for item in items] == ["succeeded", "succeeded"]
    assert items[0].invoice is None and items[1].invoice is not None
    for invoice in (late, fine):
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.PAID, 0)
