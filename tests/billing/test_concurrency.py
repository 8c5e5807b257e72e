"""Real parallel connections: two workers charging one invoice charge it once; two dunning
runs at once retry once."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import time_machine
from django.db import connection

from billing.gateway import InProcessGateway
from billing.models import AttemptState, DunningCase, InvoiceStatus, PaymentAttempt
from billing.services import dunning_run, invoice_pay, payment_method_save
from oms.core.errors import Conflict
from tests.factories.billing import ACTOR, customer_in, make_invoice


class SlowGateway(InProcessGateway):
    """Holds each charge for a moment so concurrent callers overlap."""

    def charge_off_session(self, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return super().charge_off_session(**kwargs)


def _customer_with_card(gateway: InProcessGateway, number: str = "4242424242424242") -> Any:
    customer = customer_in("DE")
    customer.stripe_customer_id = f"cus_conc_{customer.pk}"
    customer.save(update_fields=["stripe_customer_id"])
    payment_method_save(
        customer=customer, stripe_payment_method_id=gateway.add_card(number), brand="visa",
        last4=number[-4:], exp_month=1, exp_year=2035, actor=ACTOR, retry_dunning=False,
    )  # fmt: skip
    return customer


def _in_threads(n: int, target: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_workers_paying_one_invoice_charge_once(transactional_db):
    gateway = SlowGateway()
    invoice = make_invoice(customer=_customer_with_card(gateway), amounts=[4100])

    results = _in_threads(3, lambda: invoice_pay(invoice=invoice, actor=ACTOR, gateway=gateway))

    succeeded = [r for r in results if isinstance(r, PaymentAttempt)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(succeeded) == 1 and len(refused) == 2, results
    assert {r.code for r in refused} <= {"payment_in_flight", "invoice_not_payable"}
    assert len(gateway.calls_to("charge_off_session")) == 1
    assert gateway.payment_intent_count() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 4100)
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1


def test_two_dunning_runs_at_once_retry_once(transactional_db):
    gateway = SlowGateway()
    invoice = make_invoice(customer=_customer_with_card(gateway, "4000000000000341"), amounts=[900])
    t0 = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
    with time_machine.travel(t0, tick=False):
        assert (
            invoice_pay(invoice=invoice, actor=ACTOR, gateway=gateway).state == AttemptState.FAILED
        )
    with time_machine.travel(t0 + dt.timedelta(days=1, hours=1), tick=False):
        results = _in_threads(2, lambda: dunning_run(actor=ACTOR, gateway=gateway))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.retried for r in results) == 1
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 2
    assert len(gateway.calls_to("charge_off_session")) == 2
    case = DunningCase.objects.get(invoice=invoice)
    assert (case.retries_done, case.failures) == (1, 2)
