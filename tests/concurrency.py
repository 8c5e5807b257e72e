"""Helpers for tests that race real PostgreSQL connections in threads."""

from __future__ import annotations

from django.db import connection


def wait_until_blocked(backend: list[int], who: str) -> None:
    """Poll (on this thread's connection) until ``backend`` waits on a lock."""
    with connection.cursor() as cursor:
        for _ in range(500):
            if backend:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE pid = %s AND wait_event_type = 'Lock'",
                    [backend[0]],
                )
                if cursor.fetchone()[0]:
                    return
            cursor.execute("SELECT pg_sleep(0.02)")
    raise AssertionError(f"the {who} never waited on a lock")


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
