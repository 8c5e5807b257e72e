"""oms.core.pgbackend: persistent connections skip the health check only right after a
request used them without error."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from oms.core.pgbackend import base as pgbackend

pytestmark = pytest.mark.django_db(transaction=True)


def _db():
    return connections[DEFAULT_DB_ALIAS]


@pytest.fixture
def checks(monkeypatch):
    """Health checks on (as in production), counting the SELECT 1 pings; a clock to move."""
    connection = _db()
    if not isinstance(connection, pgbackend.DatabaseWrapper):
        pytest.skip("the project's PostgreSQL backend is not in use")
    clock = [1000.0]
    monkeypatch.setattr(pgbackend, "monotonic", lambda: clock[0])
    connection.ensure_connection()
    monkeypatch.setattr(connection, "health_check_enabled", True)
    monkeypatch.setattr(connection, "close_at", None)  # persistent (CONN_MAX_AGE)
    pings = []
    real = connection.is_usable

    def counted() -> bool:
        pings.append(clock[0])
        return real()

    monkeypatch.setattr(connection, "is_usable", counted)
    # A connection about which nothing is known yet.
    connection.health_check_done = False
    connection._served_at = None
    return pings, clock


def _request(*, fail: bool = False) -> None:
    """What Django does around a request that reads the database."""
    connection = _db()
    connection.close_if_unusable_or_obsolete()  # request_started
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    if fail:
        connection.errors_occurred = True
    connection.close_if_unusable_or_obsolete()  # request_finished


def test_a_connection_that_just_served_a_request_is_not_pinged(checks):
    pings, clock = checks
    _request()
    assert len(pings) == 1  # nothing known of it yet: checked
    clock[0] += 0.5
    _request()
    _request()
    assert len(pings) == 1


def test_an_idle_connection_is_checked_again(checks):
    pings, clock = checks
    _request()
    clock[0] += pgbackend.HEALTH_CHECK_BYPASS_SECONDS + 0.1
    _request()
    assert len(pings) == 2
    clock[0] += 0.1
    _request()
    assert len(pings) == 2  # the check just passed and the request used it


def test_after_an_error_the_connection_is_checked_before_it_counts_as_good(checks):
    pings, clock = checks
    _request()
    clock[0] += 0.1
    _request(fail=True)
    assert len(pings) == 2  # the failed request's end checks the connection (Django's rule)
    clock[0] += 0.5
    _request()
    assert len(pings) == 2  # that check just passed


def test_a_request_start_alone_does_not_count_as_use(checks):
    pings, clock = checks
    connection = _db()
    _request()
    clock[0] += pgbackend.HEALTH_CHECK_BYPASS_SECONDS + 0.1
    connection.close_if_unusable_or_obsolete()  # a request that never used the database
    connection.close_if_unusable_or_obsolete()
    _request()
    assert len(pings) == 2
