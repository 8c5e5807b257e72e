"""``manage.py renew [--as-of DATE] [--dry-run] [--limit N]``: the nightly cycle by hand."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from oms.core.money import Money
from subscriptions.periods import business_today
from subscriptions.renewal.cycle import count_due, renewal_run_execute
from subscriptions.renewal.models import Renewal, RunTrigger
from subscriptions.renewal.planning import renewal_plan
from subscriptions.renewal.reminders import renewal_reminders_send


class ProgressBar:
    """A one-line progress bar on stderr (redrawn at most ten times a second)."""

    def __init__(self, total: int, stream: Any, width: int = 30) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and done < self.total:
            return
        self.last = now
        fraction = min(done / self.total, 1.0)
        filled = int(self.width * fraction)
        rate = done / max(now - self.started, 1e-6)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {rate:,.1f}/s"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Renew every subscription due up to a business date (default: today)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as-of", help="Business date YYYY-MM-DD (default: today in OMS_TIME_ZONE)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would renew; change nothing."
        )
        parser.add_argument("--limit", type=int, default=None, help="Renew at most N periods.")
        parser.add_argument("--batch-size", type=int, default=None, help="Subscriptions per claim.")
        parser.add_argument(
            "--no-reminders", action="store_true", help="Do not send reminder emails."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
            help="Charges in flight at once; above 1, one batch is charged while the next is "
            "claimed (default: OMS_RENEWAL_THREADS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            as_of = (
                dt.date.fromisoformat(options["as_of"]) if options["as_of"] else business_today()
            )
        except ValueError as exc:
            raise CommandError(f"--as-of: {exc}") from exc
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        if options["dry_run"]:
            self._dry_run(as_of, options["limit"])
            return
        total = count_due(as_of)
        if options["limit"] is not None:
            total = min(total, options["limit"])
        bar = (
            None
            if options["no_progress"]
            else ProgressBar(total, getattr(self.stderr, "_out", sys.stderr))
        )
        run = renewal_run_execute(
            as_of=as_of, trigger=RunTrigger.MANUAL, limit=options["limit"],
            batch_size=options["batch_size"], progress=bar, threads=max(1, options["threads"] or settings.OMS_RENEWAL_THREADS),
        )  # fmt: skip
        if bar is not None:
            bar.close()
        reminded = 0 if options["no_reminders"] else renewal_reminders_send(as_of=as_of)
        rate = run.due / float(run.duration_seconds) if run.duration_seconds else 0.0
        rows = [
            ("run", "as of", "due", "renewed", "failed payment", "backordered", "skipped", "errored",
             "resumed", "seconds", "per second", "rate-limit wait s", "reminders"),
            (str(run.pk), as_of.isoformat(), str(run.due), str(run.renewed), str(run.failed_payment),
             str(run.backordered), str(run.skipped), str(run.errored), str(run.resumed),
             f"{run.duration_seconds}", f"{rate:,.1f}", f"{run.rate_limit_wait_seconds}", str(reminded)),
        ]  # fmt: skip
        self.stdout.write(_table(rows))
        if run.errored:
            errors = Renewal.objects.filter(last_run=run, state="errored").values_list(
                "subscription_id", "period_start", "error"
            )[:20]
            self.stdout.write("\nErrors:")
            for sub_id, start, error in errors:
                self.stdout.write(f"  SUB-{sub_id} {start}: {error}")

    def _dry_run(self, as_of: dt.date, limit: int | None) -> None:
        plan = renewal_plan(as_of=as_of, limit=limit)
        self.stdout.write(f"Dry run for {as_of}: nothing is written.\n")
        if plan.renewals:
            rows: list[tuple[str, ...]] = [
                ("subscription", "customer", "period", "outcome", "amount", "items")
            ]
            for r in plan.renewals:
                rows.append((
                    f"SUB-{r.subscription_id}", r.customer_email,
                    f"{r.period_start} – {r.period_end}", r.outcome,
                    Money(r.amount, r.currency).format(),
                    ", ".join(f"{q} × {code}" for code, q in r.items) or "-",
                ))  # fmt: skip
            self.stdout.write(_table(rows))
        else:
            self.stdout.write("Nothing is due.")
        if plan.open_renewals:
            self.stdout.write(
                f"\n{plan.open_renewals} unfinished renewal(s) from earlier runs would resume."
            )
        self.stdout.write(
            "\nOutcomes: "
            + (", ".join(f"{k} {v}" for k, v in sorted(plan.outcomes.items())) or "-")
        )
        self.stdout.write(
            "Amounts: "
            + (", ".join(Money(v, c).format() for c, v in sorted(plan.amounts.items())) or "-")
        )
        if plan.stock_needed:
            stock_rows: list[tuple[str, ...]] = [("sku", "needed", "available", "short")]
            short = plan.short_skus
            for code, need in sorted(plan.stock_needed.items()):
                stock_rows.append(
                    (
                        code,
                        str(need),
                        str(plan.stock_available.get(code, 0)),
                        str(short.get(code, "")),
                    )
                )
            self.stdout.write("\nStock needed:\n" + _table(stock_rows))
