"""Reminder emails N days before each renewal (``OMS_RENEWAL_REMINDER_DAYS``, default 3):
what will ship, the amount, and links to skip or change the box in the portal.

Once per period: the ``RenewalReminder`` row (unique per subscription and period start) is
inserted with ``ON CONFLICT DO NOTHING ... RETURNING``, and only the run whose insert went in
sends the email, after its commit. A run that missed nights still reminds every renewal up to
N days ahead that has not been reminded, as long as it has not happened yet."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.utils import timezone

from oms.core.db import is_postgres
from oms.core.money import Money
from oms.core.transactions import on_commit

from .models import RenewalReminder
from .steps import portal_links

logger = logging.getLogger(__name__)


def reminder_days() -> int:
    return int(getattr(settings, "OMS_RENEWAL_REMINDER_DAYS", 3))


def _due_for_reminder(as_of: dt.date, days: int) -> Any:
    from subscriptions.models import LIVE_STATUSES, Subscription

    reminded = RenewalReminder.objects.filter(
        subscription_id=OuterRef("pk"), period_start=OuterRef("next_renewal_date")
    )
    return (
        Subscription.objects.filter(
            status__in=LIVE_STATUSES,
            next_renewal_date__gt=as_of,
            next_renewal_date__lte=as_of + dt.timedelta(days=days),
        )
        .filter(~Exists(reminded))
        .order_by("pk")
    )


def renewal_reminders_send(
    *, as_of: dt.date, days: int | None = None, batch_size: int = 500
) -> int:
    """Remind every live subscription renewing within ``days`` after ``as_of`` that has not
    been reminded for that period. Returns how many reminders this call sent."""
    from subscriptions.selectors import Outcome, renewal_preview, with_renewal_data

    days = reminder_days() if days is None else days
    if days <= 0:
        return 0
    sent = 0
    after = 0
    while True:
        subs = list(
            with_renewal_data(_due_for_reminder(as_of, days).filter(pk__gt=after))[:batch_size]
        )
        if not subs:
            return sent
        after = subs[-1].pk
        rows: list[tuple[Any, Any]] = []
        for sub in subs:
            try:
                preview = renewal_preview(sub)
            except Exception:  # noqa: BLE001 - the renewal itself will record the problem
                logger.warning("No renewal preview for subscription %s", sub.pk, exc_info=True)
                continue
            if preview.outcome in Outcome.BILLED:
                rows.append((sub, preview))
        with transaction.atomic():
            inserted = _insert(rows)
            for sub, preview in rows:
                if sub.pk in inserted:
                    on_commit(_send, inserted[sub.pk], sub.customer.email, _context(sub, preview))
        sent += len(inserted)


def _insert(rows: list[tuple[Any, Any]]) -> dict[int, int]:
    """Insert the reminder rows that do not exist yet; {subscription id: reminder id}."""
    if not rows:
        return {}
    now = timezone.now()
    if not is_postgres():
        return _insert_portable(rows, now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RenewalReminder._meta.db_table} "
            "(subscription_id, period_start, created_at, email, amount, currency) "
            "SELECT * FROM unnest(%s::bigint[], %s::date[], %s::timestamptz[], %s::varchar[], "
            "%s::bigint[], %s::varchar[]) "
            "ON CONFLICT (subscription_id, period_start) DO NOTHING RETURNING id, subscription_id",
            [
                [sub.pk for sub, _ in rows],
                [p.period_start for _, p in rows],
                [now] * len(rows),
                [sub.customer.email for sub, _ in rows],
                [p.total for _, p in rows],
                [p.currency for _, p in rows],
            ],
        )
        return {int(sub_id): int(pk) for pk, sub_id in cursor.fetchall()}


def _insert_portable(rows: list[tuple[Any, Any]], now: Any) -> dict[int, int]:
    """Other databases (the SQLite quick start, one writer at a time): skip the periods that
    already have a reminder, insert the rest."""
    existing = set(
        RenewalReminder.objects.filter(subscription_id__in=[sub.pk for sub, _ in rows]).values_list(
            "subscription_id", "period_start"
        )
    )
    inserted = {}
    for sub, preview in rows:
        if (sub.pk, preview.period_start) in existing:
            continue
        reminder = RenewalReminder.objects.create(
            subscription_id=sub.pk,
            period_start=preview.period_start,
            created_at=now,
            email=sub.customer.email,
            amount=preview.total,
            currency=preview.currency,
        )
        inserted[sub.pk] = reminder.pk
    return inserted


def _context(sub: Any, preview: Any) -> dict[str, Any]:
    return {
        "customer": sub.customer,
        "subscription": sub,
        "preview": preview,
        "renewal_date": preview.period_start,
        "items": [{"sku_code": i.sku_code, "quantity": i.quantity, "kind": i.kind} for i in preview.items],
        "lines": [{"description": line.description, "amount": Money(line.amount, preview.currency).format()}
                  for line in preview.lines],
        "amount": Money(preview.total, preview.currency).format(),
        "links": portal_links(sub.pk),
    }  # fmt: skip


def _send(reminder_id: int, email: str, context: dict[str, Any]) -> None:
    send_mail(
        subject=f"Your next renewal on {context['renewal_date']:%B %d}: {context['amount']}",
        message=render_to_string("renewal/emails/reminder.txt", context),
        from_email=None,
        recipient_list=[email],
    )
    RenewalReminder.objects.filter(pk=reminder_id).update(sent_at=timezone.now())
