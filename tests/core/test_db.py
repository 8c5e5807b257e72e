"""oms.core.db: numbered placeholders and prepared statements on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection

from oms.core.pgbackend import cursors
from oms.core.selectors import api_key_get_active

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("sql", "numbered"),
    [
        ("SELECT 1", "SELECT 1"),
        ("SELECT %s, %s::int[]", "SELECT $1, $2::int[]"),
        ("SELECT '100%%', %s", "SELECT '100%', $1"),
        ("SELECT '%%s', %s", "SELECT '%s', $1"),
        ("SELECT '%%%s'", "SELECT '%$1'"),
        ("%s%s", "$1$2"),
    ],
)
def test_placeholders_are_numbered_for_the_server(sql, numbered):
    assert cursors.numbered(sql) == numbered


@pytest.mark.parametrize("sql", ["SELECT %(name)s", "SELECT %b", "SELECT 5 %"])
def test_other_placeholder_styles_are_refused(sql):
    with pytest.raises(ValueError, match="Unsupported placeholder"):
        cursors.numbered(sql)


def _prepared_key_lookups() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%core_apikey%hashed_key%"],
        )
        return [row[0] for row in cursor.fetchall()]


def test_the_api_key_lookup_is_prepared_once_per_connection(api_key):
    """Every API request looks its key up: the statement is parsed and planned once per
    connection, then only bound and run."""
    key, secret = api_key
    for _ in range(3):
        found = api_key_get_active(secret=secret)
        assert found is not None and found.pk == key.pk and found.channel == key.channel
    assert api_key_get_active(secret="oms_unknown") is None
    (statement,) = _prepared_key_lookups()
    assert "$1" in statement and "%s" not in statement


def test_without_prepared_statements_the_lookup_runs_plain(api_key, monkeypatch):
    """DB_PREPARED_STATEMENTS=0 (prepare_threshold None, for a transaction-pooling
    PgBouncer): the same lookup, nothing prepared."""
    key, secret = api_key
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)
    assert api_key_get_active(secret=secret).pk == key.pk
    assert _prepared_key_lookups() == []
