"""Database portability. PostgreSQL is the database of record and gets the fast paths
(sequences, advisory locks, triggers); the embedded SQLite quick start gets equivalent,
simpler ones. SQLite allows one writer at a time, so locks that PostgreSQL needs between
concurrent writers are unnecessary there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, migrations, models
from psycopg import Connection as PsycopgConnection

from .pgbackend.cursors import NumberedCursor


def is_postgres(conn: Any = None) -> bool:
    return (conn or connection).vendor == "postgresql"


class Counter(models.Model):
    """A named counter standing in for a PostgreSQL sequence on other databases."""

    name = models.CharField(max_length=100, primary_key=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        app_label = "core"

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


def next_values(sequence: str, count: int = 1) -> list[int]:
    """The next ``count`` values of ``sequence``: ``nextval`` on PostgreSQL (never blocks a
    concurrent transaction; rolled-back values leave gaps), a counter row elsewhere."""
    if count <= 0:
        return []
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [sequence, count])
            return [int(row[0]) for row in cursor.fetchall()]
    Counter.objects.get_or_create(name=sequence)
    Counter.objects.filter(name=sequence).update(value=models.F("value") + count)
    last = Counter.objects.get(name=sequence).value
    return list(range(last - count + 1, last + 1))


def next_value(sequence: str) -> int:
    return next_values(sequence, 1)[0]


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that only runs on PostgreSQL (triggers, sequences, advisory-lock helpers);
    other databases get the portable fallbacks in this module."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if is_postgres(schema_editor.connection):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if is_postgres(schema_editor.connection):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


@contextmanager
def prepared_cursor() -> Iterator[Any]:
    """Django's cursor (in the current transaction, counted and logged like any other) whose
    statements are prepared on the server: parsed and planned once per connection, then
    only bound and run. For short hand-written statements that every request runs, where
    planning is most of the database's work: the API-key lookup costs PostgreSQL ~200 µs of
    CPU as a plain statement, ~70 µs prepared. A plain cursor where prepared statements are
    off (``DB_PREPARED_STATEMENTS=0``: behind a transaction-pooling PgBouncer) or the
    database is not PostgreSQL."""
    with connection.cursor() as cursor:
        raw = connection.connection
        if isinstance(raw, PsycopgConnection) and raw.prepare_threshold is not None:
            cursor.cursor = NumberedCursor(raw, prepare=True)
        yield cursor
