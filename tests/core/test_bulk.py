"""oms.core.bulk: rows of several tables in one statement, each value prepared as Django
prepares it for ``bulk_create``."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid

import pytest
from django.db import IntegrityError, connection, models, transaction
from django.test.utils import CaptureQueriesContext
from psycopg.types.json import Jsonb

from fulfillment.models import Shipment
from oms.core import bulk
from oms.core.bulk import Writes
from oms.core.models import IdempotencyRecord
from oms.core.pgbackend import cursors
from tests.factories.orders import place_order

pytestmark = pytest.mark.django_db


def test_binary_values_travel_in_the_unnest_insert(channel):
    """A bytea column (a shipment's label) no longer sends its table down Django's per-row
    INSERT: the rows go as arrays like every other table's, and read back byte for byte."""
    planned = place_order(channel=channel).shipments.get()
    label = bytes(range(256))  # every byte value, NUL included
    copies = [
        Shipment(order_id=planned.order_id, warehouse_id=planned.warehouse_id, label_data=data)
        for data in (label, None, b"")
    ]
    writes = Writes()
    writes.insert(Shipment, copies)
    with CaptureQueriesContext(connection) as queries:
        writes.run()

    (statement,) = [q["sql"] for q in queries.captured_queries]
    assert "UNNEST(" in statement and "bytea[]" in statement
    assert all(copy.pk for copy in copies)
    stored = dict(
        Shipment.objects.filter(pk__in=[c.pk for c in copies]).values_list("pk", "label_data")
    )
    assert [None if stored[c.pk] is None else bytes(stored[c.pk]) for c in copies] == [
        label,
        None,
        b"",
    ]


def _record(channel, key: str) -> IdempotencyRecord:
    return IdempotencyRecord(
        channel=channel, key=key, method="POST", path="/api/v1/orders/", request_hash="h"
    )


@pytest.mark.parametrize("one_statement", [True, False], ids=["postgresql", "portable"])
def test_then_adds_rows_made_from_the_prepared_ones_to_the_same_write(
    channel, monkeypatch, one_statement
):
    """``Writes.then``: the callback runs once the rows added so far are prepared (their
    ``auto_now`` stamped) and what it adds is written with them — in the same statement on
    PostgreSQL, right after them elsewhere."""
    if not one_statement:
        monkeypatch.setattr(bulk, "is_postgres", lambda: False)
    first = _record(channel, "first")
    writes = Writes()
    writes.insert(IdempotencyRecord, [first])
    seen = []

    def after(batch: Writes) -> None:
        seen.append(first.updated_at)
        batch.insert(IdempotencyRecord, [_record(channel, f"after {first.updated_at:%H%M%S%f}")])

    writes.then(after)
    with CaptureQueriesContext(connection) as queries:
        writes.run()

    assert seen and seen[0] is not None
    keys = set(IdempotencyRecord.objects.filter(channel=channel).values_list("key", flat=True))
    assert keys == {"first", f"after {seen[0]:%H%M%S%f}"}
    writes_sent = [q for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert len(writes_sent) == (1 if one_statement else 2)
    assert len(writes) == 0  # run() drained the batch; running it again writes nothing


def test_then_rows_fail_with_the_rest(channel):
    """One statement: a row the callback adds that breaks a constraint refuses the rows it
    was made from too."""
    writes = Writes()
    writes.insert(IdempotencyRecord, [_record(channel, "same")])
    writes.then(lambda batch: batch.insert(IdempotencyRecord, [_record(channel, "same")]))
    with pytest.raises(IntegrityError), transaction.atomic():
        writes.run()
    assert not IdempotencyRecord.objects.filter(channel=channel).exists()


class _Kind(models.TextChoices):
    PARCEL = "parcel"


class _Rank(models.IntegerChoices):
    FIRST = 1


ARRAYS = [
    (
        "text",
        ["plain", 'say "hi"', "back\\slash", "a, {b}", "", "NULL", None, "üñí ✓", "x\ny", " pad "],
    ),
    ("bigint", [0, -5, 2**40, None]),
    ("boolean", [True, False, None]),
    (
        "timestamptz",
        [dt.datetime(2026, 11, 26, 9, 30, 1, 250, tzinfo=dt.timezone(dt.timedelta(hours=-5)))],
    ),
    ("date", [dt.date(2026, 2, 28), None]),
    ("numeric", [decimal.Decimal("12.345"), decimal.Decimal("-0.5")]),
    ("uuid", [uuid.UUID("12345678-1234-5678-1234-567812345678")]),
    ("text", [_Kind.PARCEL]),
    ("integer", [_Rank.FIRST]),
]


@pytest.mark.parametrize(
    ("db_type", "values"), ARRAYS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(ARRAYS)]
)
def test_array_literals_read_back_as_the_values(db_type, values):
    """Batch columns travel as array literals; the server parses them with the column
    type's own input function and gets the very values back."""
    literal = bulk._array_literal(values)
    assert isinstance(literal, str)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{db_type}[]", [literal])
        (back,) = cursor.fetchone()
    assert back == values


def test_json_array_literals_keep_quotes_and_backslashes():
    payloads = [{"say": 'He said "no"', "path": "C:\\tmp", "n": [1, None]}, [], "text", None]
    literal = bulk._array_literal([None if p is None else Jsonb(p) for p in payloads])
    assert isinstance(literal, str)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb[]", [literal])
        (back,) = cursor.fetchone()
    # Django's cursors hand jsonb back as text (JSONField parses it).
    assert [None if text is None else json.loads(text) for text in back] == payloads


def test_values_without_a_literal_rule_leave_the_list_to_psycopg():
    assert bulk._array_literal([b"\x00bytes"]) is None
    assert bulk._array_literal([1, 2.5]) is None


def test_the_batch_statement_binds_numbered_parameters_on_the_server(channel, monkeypatch):
    """The write goes out numbered (``$1``…), bound on the server; Django still counts it,
    and the values (percent signs among them) arrive intact."""
    records = [
        IdempotencyRecord(
            channel=channel, key=f"k-{n}%s", method="POST", path="/100%", request_hash="h"
        )
        for n in range(3)
    ]
    sent: list[str] = []
    numbered = cursors.numbered
    monkeypatch.setattr(cursors, "numbered", lambda sql: sent.append(numbered(sql)) or sent[-1])
    writes = Writes()
    writes.insert(IdempotencyRecord, records)
    with CaptureQueriesContext(connection) as captured:
        writes.run()
    (statement,) = sent
    assert statement.startswith("WITH w0 AS (INSERT") and "$1" in statement
    assert "%s" not in statement
    (logged,) = captured.captured_queries  # Django logs it with the values quoted in
    assert logged["sql"].startswith("WITH w0 AS (INSERT") and "/100%" in logged["sql"]
    stored = IdempotencyRecord.objects.filter(channel=channel).order_by("key")
    assert [(r.key, r.path) for r in stored] == [(f"k-{n}%s", "/100%") for n in range(3)]
