"""The nightly renewal task. Thin: works out the business date, runs the cycle, then sends
the reminders for renewals N days ahead.

``acks_late``: if the worker dies mid-run the broker redelivers the task, and running the
cycle again for the same date is safe (each period is claimed once; open renewals resume)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings

from subscriptions.periods import business_today

from .cycle import renewal_run_execute
from .models import RunTrigger
from .reminders import renewal_reminders_send


@shared_task(name="subscriptions.renewal.tasks.run_renewals", acks_late=True)
def run_renewals(as_of: str | None = None) -> dict[str, object]:
    """Renew everything due up to ``as_of`` (ISO date; default: today in the business time
    zone, so a run at 02:00 UTC in New York still renews yesterday's New York date)."""
    day = dt.date.fromisoformat(as_of) if as_of else business_today()
    threads = max(1, int(getattr(settings, "OMS_RENEWAL_THREADS", 1)))
    run = renewal_run_execute(as_of=day, trigger=RunTrigger.BEAT, threads=threads)
    reminded = renewal_reminders_send(as_of=day)
    return {
        "run": run.pk, "as_of": day.isoformat(), "due": run.due, "renewed": run.renewed,
        "failed_payment": run.failed_payment, "backordered": run.backordered,
        "skipped": run.skipped, "errored": run.errored, "reminders": reminded,
    }  # fmt: skip
