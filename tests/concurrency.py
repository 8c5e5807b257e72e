"""Helpers for tests that race real PostgreSQL connections in threads or processes."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def database_url() -> str:
    """The URL of the database this test runs on, for a process of its own (a server, a
    management command) to use."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def wait_until_blocked(backend: list[int], who: str) -> None:
    """Poll (on this thread's connection) until ``backend`` waits on a lock. Each poll clears
    the backend-status snapshot first: PostgreSQL may serve pg_stat_activity from the
    snapshot of the transaction's first look, and a poller inside a transaction (the claim
    test's) would then never see the wait."""
    with connection.cursor() as cursor:
        for _ in range(500):
            if backend:
                cursor.execute("SELECT pg_stat_clear_snapshot()")
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


def race(calls: dict[str, Callable[[], object]], *, timeout: float = 60) -> dict[str, str]:
    """Run each call in its own thread (so on its own connection, closed after) at once;
    returns, by name, "ok" or the repr of what it raised. Fails if a thread hangs."""
    outcomes: dict[str, str] = {}

    def run(name: str, call: Callable[[], object]) -> None:
        try:
            call()
            outcomes[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported to the test
            outcomes[name] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return outcomes
