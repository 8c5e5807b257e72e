"""Exactly once with real parallel connections: two runs of the same night in two threads,
two ``manage.py renew`` processes at once, and a process killed with SIGKILL mid-run then
run again."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from billing.models import Invoice, InvoiceStatus, PaymentAttempt
from orders.models import Order
from subscriptions.renewal.cycle import renewal_run_execute
from subscriptions.renewal.models import Renewal, RenewalRun, RenewalState
from tests.concurrency import database_url
from tests.renewal.conftest import subscribe

D = dt.date
ROOT = Path(__file__).resolve().parents[2]


def _attempts(invoice_id: int | None) -> list[tuple[Any, ...]]:
    return list(
        PaymentAttempt.objects.filter(invoice_id=invoice_id).values_list(
            "attempt_number", "state", "decline_code", "failure_message", "stripe_payment_intent_id"
        )
    )


def _assert_each_renewed_once(subs: list[Any]) -> None:
    per_sub = Counter(Renewal.objects.values_list("subscription_id", flat=True))
    assert per_sub == Counter({s.pk: 1 for s in subs})
    states = set(Renewal.objects.values_list("state", flat=True))
    assert states == {RenewalState.DONE}, [
        (r.state, r.error, _attempts(r.invoice_id)) for r in Renewal.objects.exclude(state="done")
    ]
    assert Counter(Invoice.objects.values_list("subscription_id", flat=True)) == per_sub
    assert Counter(Order.objects.values_list("subscription_id", flat=True)) == per_sub
    assert not Invoice.objects.exclude(status=InvoiceStatus.PAID).exists()
    paid = Counter(
        PaymentAttempt.objects.filter(state="succeeded").values_list("invoice_id", flat=True)
    )
    assert set(paid.values()) == {1} and len(paid) == len(subs)


@pytest.mark.parametrize("drive_threads", [1, 3])
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_of_the_same_night_renew_each_subscription_exactly_once(
    box_plan, gateway, drive_threads
):
    subs = [subscribe(box_plan) for _ in range(24)]
    barrier = threading.Barrier(2)
    runs: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            runs.append(
                renewal_run_execute(as_of=D(2026, 1, 15), batch_size=3, threads=drive_threads)
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert not errors, errors
    assert len(runs) == 2
    assert sum(run.due for run in runs) == 24 and sum(run.renewed for run in runs) == 24
    _assert_each_renewed_once(subs)
    keys = [c["idempotency_key"] for c in gateway.calls_to("charge_off_session")]
    assert len(keys) == len(set(keys)) == 24


def _renew_process(
    *, as_of: str, extra_env: dict[str, str] | None = None, batch: int = 2
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.renewal.process_settings",
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "renew", "--as-of", as_of, "--no-progress", "--no-reminders",
         "--batch-size", str(batch)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _paying_subscriptions(plan: Any, gateway: Any, n: int) -> list[Any]:
    from tests.billing.stripe_helpers import save_card

    subs = []
    for _ in range(n):
        sub = subscribe(plan, card="")
        save_card(gateway, sub.customer)
        subs.append(sub)
    return subs


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_renew_processes_at_once_renew_each_subscription_exactly_once(
    box_plan, stripe_gateway, localstripe_server
):
    subs = _paying_subscriptions(box_plan, stripe_gateway, 16)
    env = {"RENEWAL_TEST_STRIPE_API_BASE": localstripe_server.url}

    procs = [_renew_process(as_of="2026-01-15", extra_env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-2000:] for o in outputs]
    _assert_each_renewed_once(subs)
    assert sum(RenewalRun.objects.values_list("due", flat=True)) == 16


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_killed_mid_way_then_run_again_renews_everyone_once_without_double_charge(
    box_plan, stripe_gateway, localstripe_server
):
    """The killed worker talks to localstripe, so its charges outlive it: the re-run must find
    them (not charge again) and finish what the killed run left."""
    subs = _paying_subscriptions(box_plan, stripe_gateway, 12)
    env = {
        "RENEWAL_TEST_STRIPE_API_BASE": localstripe_server.url,
        "RENEWAL_TEST_STRIPE_RATE": "8",  # charges per second: the kill lands mid-run
    }
    proc = _renew_process(as_of="2026-01-15", extra_env=env, batch=3)
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline and Renewal.objects.filter(state=RenewalState.DONE).count() < 4
    ):
        if proc.poll() is not None:
            pytest.fail(f"renew exited early: {proc.stderr.read().decode()[-3000:]}")  # type: ignore[union-attr]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    done_at_kill = Renewal.objects.filter(state=RenewalState.DONE).count()
    assert 4 <= done_at_kill < 12, "the kill must land mid-run"
    # The killed run never finished; the crash left its leases to the database to drop.
    assert RenewalRun.objects.get().finished_at is None

    again = _renew_process(as_of="2026-01-15", extra_env=env, batch=3)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()[-3000:]

    _assert_each_renewed_once(subs)
    # localstripe holds exactly one successful PaymentIntent per invoice.
    page = stripe_gateway.client.v1.payment_intents.list(params={"limit": 100})
    succeeded = Counter(
        (pi.to_dict().get("metadata") or {}).get("oms_invoice")
        for pi in page.auto_paging_iter()
        if pi.to_dict().get("status") == "succeeded"
    )
    numbers = set(Invoice.objects.values_list("number", flat=True))
    assert {n: succeeded[n] for n in numbers} == {n: 1 for n in numbers}
