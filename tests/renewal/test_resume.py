"""A crash at any step leaves the renewal in the state to resume from; the next run finishes
it without doing any step twice (one invoice, one charge, one order per period).

The crash is a BaseException raised at a chosen point, so nothing in the cycle catches it,
exactly like a worker dying there (its transaction rolls back, its leases are dropped)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from billing.models import Invoice, InvoiceStatus, PaymentAttempt
from orders.models import Order
from subscriptions.models import Subscription
from subscriptions.renewal import cycle, steps
from subscriptions.renewal.cycle import renewal_run_execute
from subscriptions.renewal.models import Renewal, RenewalRun, RenewalState
from tests.renewal.conftest import subscribe

D = dt.date
pytestmark = pytest.mark.django_db


class Crash(BaseException):
    """The worker dies here."""


def crash_once(monkeypatch: Any, target: Any, name: str, *, after: bool = False) -> dict[str, int]:
    """Make ``target.name`` crash on its first call (before it runs, or ``after`` it ran)."""
    original = getattr(target, name)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1 and not after:
            raise Crash(name)
        result = original(*args, **kwargs)
        if calls["n"] == 1 and after:
            raise Crash(name)
        return result

    monkeypatch.setattr(target, name, wrapper)
    return calls


def _patch_point(monkeypatch: Any, point: str) -> tuple[str, str]:
    """Install the crash; returns (state the renewal is left in, or "" if rolled back)."""
    import billing.services.batch as batch
    import billing.services.payments as payments
    import orders.services as order_services
    import subscriptions.services.lifecycle as lifecycle

    if point == "claim":  # inside the claim transaction: everything rolls back
        crash_once(monkeypatch, lifecycle, "subscription_advance_period")
        return ""
    if point == "before_charge":  # claim committed; the batch charge never started
        crash_once(monkeypatch, cycle, "_charge_batch")
        return RenewalState.INVOICED
    if point == "before_one_invoice_charge":  # the same on the one-invoice path
        monkeypatch.setattr(batch, "invoices_pay_batch", _batch_unavailable)
        crash_once(monkeypatch, steps, "step_charge")
        monkeypatch.setitem(steps.STEPS, RenewalState.INVOICED, steps.step_charge)
        return RenewalState.INVOICED
    if point == "attempt_committed":  # attempt rows committed, Stripe never called
        crash_once(monkeypatch, batch, "payment_attempt_charge")
        return RenewalState.INVOICED
    if point == "charged_not_recorded":  # Stripe charged, our commit never happened
        crash_once(monkeypatch, batch, "_complete_successes")
        return RenewalState.INVOICED
    if point == "one_invoice_path_charged_not_recorded":  # the same on the one-invoice path
        monkeypatch.setattr(batch, "invoices_pay_batch", _batch_unavailable)
        crash_once(monkeypatch, payments, "payment_attempt_complete")
        return RenewalState.INVOICED
    if point == "invoice_paid_state_not_moved":  # paid, but the renewal still says invoiced
        crash_once(monkeypatch, steps, "_invoice_paid")
        return RenewalState.INVOICED
    if point == "order_placed_not_recorded":  # order committed, the renewal not moved
        monkeypatch.setattr(order_services, "orders_place_many", _batch_unavailable)
        crash_once(monkeypatch, order_services, "order_place_or_get", after=True)
        return RenewalState.CHARGED
    if point == "order_batch_written_not_committed":  # the batch's orders roll back with it
        crash_once(monkeypatch, steps, "_shipment_ids_of")
        return RenewalState.INVOICED
    raise AssertionError(point)


def _batch_unavailable(**kwargs: Any) -> Any:
    raise RuntimeError("batch charging unavailable")


POINTS = [
    "claim",
    "before_charge",
    "before_one_invoice_charge",
    "attempt_committed",
    "charged_not_recorded",
    "one_invoice_path_charged_not_recorded",
    "invoice_paid_state_not_moved",
    "order_placed_not_recorded",
    "order_batch_written_not_committed",
]


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_at_any_step_resumes_from_that_step_and_does_nothing_twice(
    point, box_plan, gateway, monkeypatch, settings
):
    _crash_and_resume(point, 1, box_plan, gateway, monkeypatch, settings)


@pytest.mark.parametrize("point", ["charged_not_recorded", "order_batch_written_not_committed"])
@pytest.mark.django_db(transaction=True)  # other threads' connections must see the rows
def test_a_crash_with_a_batch_charging_in_the_charger_thread_resumes_the_same(
    point, box_plan, gateway, monkeypatch, settings
):
    """threads > 1: one batch is charged by the charger thread while the next is claimed;
    a crash there leaves nothing half done either."""
    _crash_and_resume(point, 3, box_plan, gateway, monkeypatch, settings)


def _crash_and_resume(
    point: str, threads: int, box_plan: Any, gateway: Any, monkeypatch: Any, settings: Any
) -> None:
    # The in-process gateway has no search lag: "no such charge" is believed at once.
    settings.OMS_PAYMENT_NOT_FOUND_GRACE_SECONDS = 0
    subs = [subscribe(box_plan) for _ in range(3)]
    left_in = _patch_point(monkeypatch, point)

    with pytest.raises(Crash):
        renewal_run_execute(as_of=D(2026, 1, 15), batch_size=10, threads=threads)

    crashed_run = RenewalRun.objects.get()
    assert crashed_run.finished_at is not None and "Crash" in crashed_run.error
    if left_in:
        assert sorted(Renewal.objects.values_list("state", flat=True))[0] == left_in
    else:
        assert not Renewal.objects.exists() and not Invoice.objects.exists()

    run = renewal_run_execute(as_of=D(2026, 1, 15), batch_size=10, threads=threads)

    assert run.errored == 0
    for sub in subs:
        renewal = Renewal.objects.get(subscription=sub)
        assert renewal.state == RenewalState.DONE, (renewal.state, renewal.error)
        invoice = Invoice.objects.get(subscription=sub)
        assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == 2500
        assert PaymentAttempt.objects.filter(invoice=invoice, state="succeeded").count() == 1
        assert Order.objects.filter(subscription_id=sub.pk).count() == 1
        assert Subscription.objects.get(pk=sub.pk).next_renewal_date == D(2026, 2, 15)
    # The gateway created exactly one PaymentIntent per invoice, and nothing was charged twice.
    charges = gateway.calls_to("charge_off_session")
    assert gateway.payment_intent_count() == 3
    assert sorted(c["amount"] for c in charges if c["amount"]) == [2500] * len(charges)
    assert sum(run.due for run in RenewalRun.objects.all()) >= 3


def test_an_errored_renewal_is_recorded_and_retried_by_the_operator(box_plan, gateway, monkeypatch):
    from oms.core.actors import Actor
    from subscriptions.renewal.cycle import renewal_retry

    sub = subscribe(box_plan)
    import orders.services as order_services

    original = order_services.order_place_or_get
    original_many = order_services.orders_place_many

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("warehouse system down")

    monkeypatch.setattr(order_services, "order_place_or_get", broken)
    monkeypatch.setattr(order_services, "orders_place_many", broken)
    run = renewal_run_execute(as_of=D(2026, 1, 15))

    renewal = Renewal.objects.get(subscription=sub)
    assert renewal.state == RenewalState.ERRORED and renewal.resume_state == RenewalState.CHARGED
    assert "warehouse system down" in renewal.error
    assert run.errored == 1 and not Order.objects.exists()
    assert renewal.events.filter(kind="errored").exists()
    # The next nightly run leaves it alone (an operator decides)...
    assert renewal_run_execute(as_of=D(2026, 1, 16)).due == 0

    monkeypatch.setattr(order_services, "order_place_or_get", original)
    monkeypatch.setattr(order_services, "orders_place_many", original_many)
    renewal_retry(renewal=renewal, actor=Actor.system("tests"), reason="warehouse back")

    renewal.refresh_from_db()
    assert renewal.state == RenewalState.DONE and renewal.error == ""
    assert Order.objects.filter(subscription_id=sub.pk).count() == 1
    assert len(gateway.calls_to("charge_off_session")) == 1


def test_a_charge_the_gateway_cannot_find_yet_waits_instead_of_charging_again(
    box_plan, gateway, monkeypatch, settings
):
    """The worker died after its attempt committed; the gateway has no charge for it (yet —
    Stripe's search lags). Within billing's grace period the renewal waits; after it the
    attempt is declared failed and the next run charges once."""
    import billing.services.batch as batch

    settings.OMS_PAYMENT_NOT_FOUND_GRACE_SECONDS = 600
    sub = subscribe(box_plan)
    crash_once(monkeypatch, batch, "payment_attempt_charge")
    with pytest.raises(Crash):
        renewal_run_execute(as_of=D(2026, 1, 15))

    waiting = renewal_run_execute(as_of=D(2026, 1, 15))

    renewal = Renewal.objects.get(subscription=sub)
    assert renewal.state == RenewalState.INVOICED and waiting.renewed == 0
    assert gateway.calls_to("charge_off_session") == []
    assert list(PaymentAttempt.objects.values_list("state", flat=True)) == ["pending"]

    settings.OMS_PAYMENT_NOT_FOUND_GRACE_SECONDS = 0  # the grace period has passed
    later = renewal_run_execute(as_of=D(2026, 1, 16))

    renewal.refresh_from_db()
    assert renewal.state == RenewalState.DONE and later.resumed == 1 and later.renewed == 1
    assert len(gateway.calls_to("charge_off_session")) == 1
    assert sorted(PaymentAttempt.objects.values_list("attempt_number", "state")) == [
        (1, "failed"),
        (2, "succeeded"),
    ]
