"""Who works on which renewal.

Two locks, each for what it is good at:

- **The claim**: due subscriptions are read ``FOR UPDATE SKIP LOCKED`` in due order (the
  renewal queue index), a batch at a time. In the claim's transaction each gets its
  ``Renewal`` row (unique per subscription and period start) and is advanced past the
  period, so once the claim commits the period is no longer due for anyone: two runs, or
  any number of workers, can never claim the same period, and a period can never be lost
  between them.
- **The lease**: the steps after the claim (invoice, charge, order) each commit on their own
  (the charge must be recorded before Stripe is called), so a row lock cannot cover them. The
  worker holds a PostgreSQL *session* advisory lock on each renewal it works on, taken inside
  the claim's transaction (before the renewal is visible to anyone) and released when it is
  done. A crashed worker's connection closes and its leases vanish with it, so the next run's
  resume scan picks up exactly the renewals nobody is working on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection

from oms.core.db import is_postgres

# Advisory lock keys for renewals live in their own slice of the bigint key space.
LEASE_NAMESPACE = 0x5245_4E00_0000_0000


def _keys(ids: Iterable[int]) -> list[int]:
    return [LEASE_NAMESPACE + int(i) for i in ids]


def lease_acquire(ids: Sequence[int]) -> None:
    """Take the lease on freshly claimed renewals (nobody else can know them yet)."""
    if not ids or not is_postgres():
        return  # other databases (SQLite quick start) run one writer at a time
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(k) FROM unnest(%s::bigint[]) AS k", [_keys(ids)])


def lease_try(ids: Sequence[int]) -> list[int]:
    """Take the lease on those of ``ids`` that no live worker holds; return them."""
    if not ids:
        return []
    if not is_postgres():
        return list(ids)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k - %s FROM unnest(%s::bigint[]) AS k WHERE pg_try_advisory_lock(k)",
            [LEASE_NAMESPACE, _keys(ids)],
        )
        return [int(row[0]) for row in cursor.fetchall()]


def lease_release(ids: Sequence[int]) -> None:
    if not ids or not is_postgres():
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) AS k", [_keys(ids)])
