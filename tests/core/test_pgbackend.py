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


def _closed_connection(stamped_at: float | None) -> object:
    import psycopg

    params = _db().get_connection_params()
    conn = psycopg.connect(**params, autocommit=True)
    conn.close()  # any check that touches it fails
    if stamped_at is not None:
        pgbackend._returned_at[conn] = stamped_at
    return conn


def test_a_pooled_connection_back_from_a_request_just_now_is_lent_unchecked(monkeypatch):
    monkeypatch.setattr(pgbackend, "monotonic", lambda: 1000.0)
    pgbackend.check_unless_fresh(_closed_connection(stamped_at=999.5))  # no round trip


@pytest.mark.parametrize("stamped_at", [None, 998.0])
def test_a_pooled_connection_idle_or_unknown_is_checked(monkeypatch, stamped_at):
    import psycopg

    monkeypatch.setattr(pgbackend, "monotonic", lambda: 1000.0)
    with pytest.raises(psycopg.OperationalError):
        pgbackend.check_unless_fresh(_closed_connection(stamped_at=stamped_at))


@pytest.mark.parametrize("failed", [False, True])
def test_the_pool_lends_through_the_check_and_learns_of_clean_returns(failed):
    settings = {
        **_db().settings_dict,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {**_db().settings_dict["OPTIONS"], "pool": {"min_size": 1, "max_size": 2}},
    }
    wrapper = pgbackend.DatabaseWrapper(settings, alias="pool_test")
    try:
        assert wrapper.pool._check is pgbackend.check_unless_fresh
        wrapper.ensure_connection()
        conn = wrapper.connection
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
        wrapper.errors_occurred = failed
        wrapper.close()
        assert (conn in pgbackend._returned_at) is not failed
    finally:
        wrapper.close_pool()
