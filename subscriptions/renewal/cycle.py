"""A renewal run: resume what earlier runs left open, then claim and renew everything due up
to ``as_of``, batch after batch, until nothing is left.

The claim of a batch is one transaction (``FOR UPDATE SKIP LOCKED`` on the subscriptions, in
primary-key order). For each subscription it writes the Renewal row first, then the period's
invoice (exactly the lines ``renewal_preview`` gave) and advances the subscription past the
period, so after the commit the period is invoiced and no longer due: a concurrent run can
neither claim it again nor miss it. The charge and the order follow per renewal, outside the
claim (the payment attempt must commit before Stripe is called), under the worker's lease.

A subscription is claimed one period per batch and not again while that renewal is open, so
a subscription several periods behind is renewed period by period, each with its own invoice,
in order. A plan with ``skip_missed_periods`` skips all but the latest due period instead.

A batch with no failures runs without savepoints (they cost two queries per subscription);
if anything in it fails, the batch is rolled back and claimed again with one savepoint per
subscription, so the failing one is recorded as errored and the rest go through.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from oms.core.actors import Actor
from oms.core.bulk import Writes
from oms.core.errors import Conflict
from oms.core.rows import new_row
from oms.core.transitions import check_transition

from . import claim as lease
from .models import (
    ALLOWED_TRANSITIONS,
    OPEN_STATES,
    Renewal,
    RenewalEvent,
    RenewalEventKind,
    RenewalRun,
    RenewalState,
    RunTrigger,
)
from .snapshot import preview_dump
from .steps import Context, drive, orders_for_paid_batch, record_event

logger = logging.getLogger(__name__)
R = RenewalState

# Open renewals that keep their subscription from being claimed for the next period.
# A renewal in dunning does not: the next period renews (and dunning goes on) as at Stripe.
BLOCKING_STATES = sorted(OPEN_STATES - {R.DUNNING})

Progress = Callable[[int], None]


def batch_size_default() -> int:
    return int(getattr(settings, "OMS_RENEWAL_BATCH_SIZE", 200))


@dataclass
class _Claimed:
    renewal: Renewal
    subscription: Any
    preview: Any


def _claimable(as_of: dt.date) -> Any:
    from subscriptions.selectors import subscriptions_due

    blocking = Renewal.objects.filter(subscription_id=OuterRef("pk")).filter(
        Q(state__in=BLOCKING_STATES) | Q(period_start=OuterRef("next_renewal_date"))
    )
    return subscriptions_due(as_of=as_of).filter(~Exists(blocking)).order_by("pk")


def count_due(as_of: dt.date) -> int:
    return _claimable(as_of).count()


def _claim_batch_tx(
    *,
    as_of: dt.date,
    run: RenewalRun,
    size: int,
    actor: Actor,
    careful: bool,
    leased: list[int],
) -> list[_Claimed]:
    """One claim transaction. ``careful``: a savepoint per subscription (after a failure)."""
    from billing.services.invoices import (
        PeriodInput,
        invoice_create_for_period,
        invoices_create_for_periods,
        lines_from_preview,
    )
    from subscriptions.selectors import Outcome, renewal_preview, with_renewal_data
    from subscriptions.services.lifecycle import subscription_advance_period

    claimed: list[_Claimed] = []
    with transaction.atomic():
        subscriptions = list(
            # In due order, off the renewal queue index: a claim reads the next due rows,
            # not every subscription renewed before them (primary-key order did, so each
            # claim cost grew with the run: 63 ms per batch at the end of 100,000).
            with_renewal_data(
                _claimable(as_of).order_by("next_renewal_date", "pk")
            ).select_for_update(skip_locked=True, of=("self",))[:size]
        )
        if not subscriptions:
            return []
        # Renewal rows first: one INSERT for the batch, leased before anyone can see them.
        rows: list[tuple[Renewal, Any, Any]] = []
        for sub in subscriptions:
            try:
                preview = renewal_preview(sub, sub.next_renewal_date)
            except Exception as exc:  # noqa: BLE001 - recorded on the renewal
                rows.append((_errored_row(sub, run, exc), sub, None))
                continue
            missed = (
                sub.plan_version.plan.skip_missed_periods
                and preview.period_end <= as_of
                and preview.outcome in (*Outcome.BILLED, Outcome.SKIP)
            )
            rows.append((_row(sub, run, preview, missed=missed), sub, preview))
        first = Writes()
        first.insert(Renewal, [row for row, _, _ in rows])
        first.run()
        writes = Writes()
        leased.extend(row.pk for row, _, _ in rows)
        lease.lease_acquire(leased)

        if not careful:
            # The fast path: every invoice of the batch in a constant number of queries.
            billed = [(r, sub, p) for r, sub, p in rows if p is not None and r.state == R.CLAIMED]
            invoices = invoices_create_for_periods(
                periods=[
                    PeriodInput(
                        subscription=sub, period_start=p.period_start, period_end=p.period_end,
                        lines=lines_from_preview(p),
                    )
                    for _, sub, p in billed
                ],
                actor=actor,
            )  # fmt: skip
            for (renewal, _, _), invoice in zip(billed, invoices, strict=True):
                _set_invoiced(renewal, invoice)
        for renewal, sub, preview in rows:
            if preview is None:
                claimed.append(_Claimed(renewal, sub, None))
                continue
            sid = transaction.savepoint() if careful else None
            try:
                if careful and renewal.state == R.CLAIMED:
                    invoice = invoice_create_for_period(
                        subscription=sub, period_start=preview.period_start,
                        period_end=preview.period_end, lines=lines_from_preview(preview),
                        actor=actor,
                    )  # fmt: skip
                    _set_invoiced(renewal, invoice)
                # The claim holds the row lock and loaded it with the renewal data.
                subscription_advance_period(
                    subscription=sub, period_start=preview.period_start, actor=actor,
                    skip=renewal.action == "missed", already_locked=True,
                    writes=None if careful else writes,
                )  # fmt: skip
            except Exception as exc:  # noqa: BLE001
                if sid is None:
                    raise
                transaction.savepoint_rollback(sid)
                _set_errored(renewal, exc)
            else:
                if sid is not None:
                    transaction.savepoint_commit(sid)
            claimed.append(_Claimed(renewal, sub, preview))

        invoiced = [c.renewal for c in claimed if c.renewal.state == R.INVOICED]
        for renewal in invoiced:
            renewal.updated_at = timezone.now()
        writes.update(
            Renewal,
            invoiced,
            ["state", "invoice_id", "invoice_number", "invoiced_at", "updated_at"],
        )
        writes.run()  # the subscriptions advanced and the renewals invoiced: one statement
        errored = [c.renewal for c in claimed if c.renewal.state == R.ERRORED and c.renewal.pk]
        if careful and errored:
            Renewal.objects.bulk_update(errored, ["state", "error", "resume_state", "finished_at"])
        notable = [
            RenewalEvent(
                renewal=c.renewal,
                kind=RenewalEventKind.ERRORED
                if c.renewal.state == R.ERRORED
                else RenewalEventKind.SKIPPED,
                message=c.renewal.error or c.renewal.action,
                payload={"period_start": c.renewal.period_start.isoformat()},
                **actor.as_fields(),
            )
            for c in claimed
            if c.renewal.state in (R.ERRORED, R.SKIPPED)
        ]
        if notable:
            RenewalEvent.objects.bulk_create(notable)
    for c in claimed:
        c.renewal._claimed_now = True  # type: ignore[attr-defined]
        c.renewal._subscription_cache = c.subscription  # type: ignore[attr-defined]
        if c.preview is not None:
            c.renewal._preview_cache = c.preview  # type: ignore[attr-defined]
    return claimed


def _claim_batch(
    *, as_of: dt.date, run: RenewalRun, size: int, actor: Actor, careful: bool
) -> list[_Claimed]:
    """One claim transaction; the leases of a batch that rolled back are given back (the
    session holds advisory locks past a rollback)."""
    leased: list[int] = []
    try:
        return _claim_batch_tx(
            as_of=as_of, run=run, size=size, actor=actor, careful=careful, leased=leased
        )
    except BaseException:
        with contextlib.suppress(Exception):
            lease.lease_release(leased)
        raise


def _set_invoiced(renewal: Renewal, invoice: Any) -> None:
    renewal.state = R.INVOICED
    renewal.invoice_id, renewal.invoice_number = invoice.pk, invoice.number
    renewal.invoiced_at = timezone.now()
    renewal._invoice_cache = invoice  # type: ignore[attr-defined]


def _charge_batch(renewals: list[Renewal], ctx: Context, *, concurrency: int) -> None:
    """Charge the invoices of freshly claimed renewals with billing's batch path (attempts
    committed together before any gateway call, successes recorded together). Each renewal
    keeps what happened to it for ``steps.step_charge``; a renewal the batch did not take,
    or a batch that failed, goes through the one-invoice path there, which settles any
    attempt left in flight before it charges."""
    from billing.models import CollectionMethod, Invoice
    from billing.services.batch import invoices_pay_batch

    chargeable = [
        r
        for r in renewals
        if r.state == R.INVOICED
        and getattr(r, "_invoice_cache", None) is not None
        and r._invoice_cache.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY  # type: ignore[attr-defined]
        and r._invoice_cache.amount_due > 0  # type: ignore[attr-defined]
    ]
    if not chargeable:
        return
    try:
        items = invoices_pay_batch(
            invoices=[r._invoice_cache for r in chargeable],  # type: ignore[attr-defined]
            actor=ctx.actor, gateway=ctx.gateway, concurrency=concurrency,
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - each renewal falls back to the one-invoice path
        logger.warning("Batch charge failed; charging invoice by invoice", exc_info=True)
        return
    # Read afresh only the invoices the batch did not hand back as it wrote them.
    stale = [
        r.invoice_id for r, item in zip(chargeable, items, strict=True) if item.invoice is None
    ]
    fresh = Invoice.objects.in_bulk(stale) if stale else {}
    for renewal, item in zip(chargeable, items, strict=True):
        renewal._invoice_cache = (  # type: ignore[attr-defined]
            item.invoice if item.invoice is not None else fresh.get(renewal.invoice_id)
        )
        if item.attempt is not None:
            renewal._batch_attempt = item.attempt  # type: ignore[attr-defined]


def _row(sub: Any, run: RenewalRun, preview: Any, *, missed: bool) -> Renewal:
    from subscriptions.selectors import Outcome

    billed = preview.outcome in Outcome.BILLED and not missed
    now = timezone.now()
    return new_row(
        Renewal,
        subscription=sub,
        period_start=preview.period_start,
        period_end=preview.period_end,
        state=R.CLAIMED if billed else R.SKIPPED,
        run=run,
        last_run=run,
        action="missed" if missed else preview.outcome,
        currency=preview.currency,
        amount=preview.total if billed else 0,
        preview=preview_dump(preview),
        pay_later=preview.pay_later,
        attempts=1,
        finished_at=None if billed else now,
        created_at=now,
    )


def _errored_row(sub: Any, run: RenewalRun, exc: BaseException) -> Renewal:
    from subscriptions.periods import period_end_for

    start = sub.next_renewal_date
    try:
        end = period_end_for(sub.billing_anchor, sub.interval_unit, sub.interval_count, start)
    except Exception:  # noqa: BLE001
        end = start
    renewal = Renewal(
        subscription=sub, period_start=start, period_end=end, run=run, last_run=run,
        currency=sub.currency, attempts=1,
    )  # fmt: skip
    _set_errored(renewal, exc)
    return renewal


def _set_errored(renewal: Renewal, exc: BaseException) -> None:
    renewal.resume_state = R.CLAIMED
    renewal.state = R.ERRORED
    renewal.error = f"{exc.__class__.__name__}: {exc}"[:4000]
    renewal.finished_at = timezone.now()


def _resumable_ids(after_id: int, limit: int) -> list[int]:
    """Open renewals after ``after_id``: in flight, or in dunning with the invoice settled."""
    from billing.models import Invoice, InvoiceStatus

    settled = Invoice.objects.filter(
        pk=OuterRef("invoice_id"),
        status__in=[InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE],
    )
    dunning_ready = Q(state=R.DUNNING) & (
        Exists(settled) | Q(pay_later=True, order_id__isnull=True)
    )
    return list(
        Renewal.objects.filter(pk__gt=after_id)
        .filter(Q(state__in=BLOCKING_STATES) | dunning_ready)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def _finish_counts(final: str, renewal: Renewal, counts: Counter[str]) -> None:
    if final == R.DONE:
        counts["renewed"] += 1
    elif final == R.SKIPPED:
        counts["skipped"] += 1
    elif final == R.ERRORED:
        counts["errored"] += 1


def renewal_run_execute(
    *,
    as_of: dt.date,
    trigger: str = RunTrigger.MANUAL,
    limit: int | None = None,
    batch_size: int | None = None,
    gateway: Any = None,
    actor: Actor | None = None,
    progress: Progress | None = None,
    threads: int = 1,
) -> RenewalRun:
    """Run the cycle for ``as_of``. Safe to call any number of times, concurrently too: each
    period is claimed by exactly one run, and each run records what it did itself.

    ``threads`` > 1 drives the renewals of each claimed batch in that many threads, each
    with its own database connection, so one worker keeps several charges in flight while
    it writes (the gateway's latency overlaps our own work). The leases stay with the
    claiming connection, so a dead process still drops them all at once."""
    from billing.gateway import get_gateway

    actor = actor or Actor.system("renewals")
    gateway = gateway or get_gateway()
    size = batch_size or batch_size_default()
    limiter = getattr(gateway, "limiter", None)
    waited_before = getattr(limiter, "waited_seconds", 0.0)
    started = time.monotonic()
    run = RenewalRun.objects.create(
        as_of=as_of, trigger=trigger, started_at=timezone.now(),
        worker=f"{socket.gethostname()}:{os.getpid()}"[:200],
    )  # fmt: skip
    ctx = Context(run=run, actor=actor, gateway=gateway)
    counts = ctx.counts
    done = 0

    def finish(renewal: Renewal, final: str) -> None:
        nonlocal done
        with ctx.lock:
            _finish_counts(final, renewal, counts)
            done += 1
            if progress is not None:
                progress(done)

    pool = _DrivePool(threads) if threads > 1 else None

    def drive_all(renewals: list[Renewal]) -> None:
        if pool is None:
            for renewal in renewals:
                finish(renewal, drive(renewal, ctx))
        else:
            for renewal, final in zip(
                renewals, pool.map(lambda r: drive(r, ctx), renewals), strict=True
            ):
                finish(renewal, final)

    try:
        # 1. What earlier (crashed) runs left open, and dunning that has since settled.
        after = 0
        while limit is None or done < limit:
            page = _resumable_ids(after, size)
            if not page:
                break
            after = page[-1]
            mine = lease.lease_try(page)
            try:
                # Re-read under the lease: its owner may have finished it since the scan.
                renewals = [
                    r
                    for r in Renewal.objects.filter(pk__in=mine).order_by("pk")
                    if r.state in OPEN_STATES
                ]
                Renewal.objects.filter(pk__in=mine).update(last_run=run)
                counts["due"] += len(renewals)
                counts["resumed"] += len(renewals)
                drive_all(renewals)
            finally:
                lease.lease_release(mine)

        # 2. Everything due up to as_of, a batch at a time. With threads > 1 a charger
        # thread keeps one batch's charges in flight while the next batch is claimed and
        # the one before is ordered, so the gateway is not left waiting on our own writes.
        budget = None if limit is None else max(limit - done, 0)
        # The charger: one thread, with its own connection, beside the claiming one.
        charger = _DrivePool(1) if threads > 1 else None
        pending: tuple[list[_Claimed], Any] | None = None

        def claim_next() -> list[_Claimed]:
            nonlocal budget
            if budget is not None and budget <= 0:
                return []
            want = size if budget is None else min(size, budget)
            try:
                claimed = _claim_batch(as_of=as_of, run=run, size=want, actor=actor, careful=False)
            except Exception:  # noqa: BLE001 - retried with a savepoint per subscription
                logger.warning(
                    "Renewal claim batch failed; retrying it subscription by subscription",
                    exc_info=True,
                )
                claimed = _claim_batch(as_of=as_of, run=run, size=want, actor=actor, careful=True)
            if budget is not None:
                budget -= len(claimed)
            counts["due"] += len(claimed)
            for c in claimed:
                if c.renewal.state in (R.SKIPPED, R.ERRORED):
                    finish(c.renewal, c.renewal.state)  # settled by the claim itself
            return claimed

        def settle(claimed: list[_Claimed], charging: Any) -> None:
            try:
                if charging is not None:
                    charging.result()
                active = [
                    c.renewal for c in claimed if c.renewal.state not in (R.SKIPPED, R.ERRORED)
                ]
                # What the batch charge paid is ordered as a batch; the rest one by one.
                rest = orders_for_paid_batch(active, ctx)
                for renewal in active:
                    if renewal.state == R.DONE:
                        finish(renewal, R.DONE)
                drive_all(rest)
            finally:
                lease.lease_release([c.renewal.pk for c in claimed])

        try:
            while True:
                claimed = claim_next()
                current = None
                if claimed:
                    renewals = [c.renewal for c in claimed]
                    if charger is None:
                        _charge_batch(renewals, ctx, concurrency=max(threads, 1))
                        settle(claimed, None)
                    else:
                        charging = charger.submit(_charge_batch, renewals, ctx, concurrency=threads)
                        current = (claimed, charging)
                waiting, pending = pending, current
                if waiting is not None:
                    settle(*waiting)
                if pending is None and not claimed:
                    break
        finally:
            if pending is not None:  # an error left a batch in flight: let it land, free it
                with contextlib.suppress(BaseException):
                    pending[1].result()
                with contextlib.suppress(Exception):
                    lease.lease_release([c.renewal.pk for c in pending[0]])
            if charger is not None:
                charger.close()
    except BaseException as exc:
        _close_run(
            run, counts, started, limiter, waited_before, error=f"{exc.__class__.__name__}: {exc}"
        )
        raise
    finally:
        if pool is not None:
            pool.close()
    _close_run(run, counts, started, limiter, waited_before)
    return run


class _DrivePool:
    """A fixed set of threads (the renewal drivers, or the one charger); each keeps one
    database connection for the whole run and closes it at the end."""

    def __init__(self, threads: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.size = threads
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="renewal")

    def map(self, func: Callable[[Renewal], str], items: list[Renewal]) -> list[str]:
        return list(self.executor.map(func, items))

    def submit(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.executor.submit(func, *args, **kwargs)

    def close(self) -> None:
        import threading

        from django.db import connection

        # One task per thread: each waits for the others, so every thread gets exactly one.
        barrier = threading.Barrier(self.size)

        def close_mine() -> None:
            barrier.wait(timeout=30)
            connection.close()

        for future in [self.executor.submit(close_mine) for _ in range(self.size)]:
            future.result()
        self.executor.shutdown()


def _close_run(
    run: RenewalRun,
    counts: Counter[str],
    started: float,
    limiter: Any,
    waited_before: float,
    error: str = "",
) -> None:
    run.finished_at = timezone.now()
    run.duration_seconds = Decimal(f"{time.monotonic() - started:.3f}")
    waited = getattr(limiter, "waited_seconds", 0.0) - waited_before
    run.rate_limit_wait_seconds = Decimal(f"{max(waited, 0.0):.3f}")
    for name in (
        "due",
        "renewed",
        "failed_payment",
        "backordered",
        "skipped",
        "errored",
        "resumed",
    ):
        setattr(run, name, counts.get(name, 0))
    run.error = error
    run.save()


def renewal_retry(
    *, renewal: Renewal, actor: Actor, reason: str = "", gateway: Any = None
) -> Renewal:
    """An operator's retry of an errored renewal: back to the step that failed, then driven
    on under a lease, like a resumed one. Refused (409) while another worker holds it."""
    from billing.gateway import get_gateway

    if not lease.lease_try([renewal.pk]):
        raise Conflict("A renewal run is working on this renewal right now.", code="renewal_busy")
    try:
        with transaction.atomic():
            fresh = Renewal.objects.select_for_update().get(pk=renewal.pk)
            if fresh.state != R.ERRORED:
                raise Conflict(f"Only an errored renewal can be retried (this one is {fresh.state}).",
                               code="renewal_not_errored")  # fmt: skip
            target = fresh.resume_state or R.CLAIMED
            check_transition(
                ALLOWED_TRANSITIONS, entity="Renewal", current=fresh.state, target=target
            )
            fresh.state, fresh.error, fresh.finished_at = target, "", None
            fresh.attempts += 1
            fresh.save(update_fields=["state", "error", "finished_at", "attempts", "updated_at"])
            run = RenewalRun.objects.create(
                as_of=fresh.period_start, trigger=RunTrigger.MANUAL, started_at=timezone.now(),
                worker=f"retry by {actor.label}"[:200], due=1,
            )  # fmt: skip
            ctx = Context(run=run, actor=actor, gateway=gateway or get_gateway())
            record_event(fresh, RenewalEventKind.RETRIED, ctx, message=reason, resume_state=target)
        started = time.monotonic()
        final = drive(fresh, ctx)
        _finish_counts(final, fresh, ctx.counts)
        _close_run(run, Counter({**ctx.counts, "due": 1}), started, None, 0.0)
    finally:
        lease.lease_release([renewal.pk])
    return fresh
