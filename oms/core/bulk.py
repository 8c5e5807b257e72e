"""Several bulk writes in one round trip. On PostgreSQL the INSERTs and UPDATEs of a hot path
(order intake, a stock allocation) go out as one statement of data-modifying CTEs; elsewhere
(the embedded SQLite quick start) as one ``bulk_create`` / ``bulk_update`` each.

The SQL of each part is Django's own (its insert and update compilers), so field
preparation, ``auto_now`` stamps and value adaptation are exactly those of ``bulk_create`` and
``bulk_update``. What PostgreSQL changes when the parts share a statement: they run on one
snapshot and cannot see each other's rows. So a batch never reads what another part writes:
every primary key a part refers to must already be set on the objects (reserve ids from the
sequence first), and foreign keys are checked at commit (Django makes them DEFERRABLE
INITIALLY DEFERRED). CHECK and UNIQUE constraints still refuse the whole statement, as they
would refuse the bulk call that broke them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import AutoField, BinaryField, Case, Field, Model, Q, Value, When
from django.db.models.functions import Cast
from django.db.models.sql import InsertQuery, UpdateQuery
from django.utils import timezone
from psycopg import Connection as PsycopgConnection
from psycopg.types.array import ListBinaryDumper
from psycopg.types.json import Json, Jsonb

from .db import NumberedCursor, is_postgres
from .rows import new_row


@dataclass(slots=True)
class _Part:
    model: type[Model]
    objs: list[Model]
    fields: list[str] = field(default_factory=list)  # updates only
    # A history part is filled from its source's rows once those are stamped (auto_now).
    history_of: _Part | None = None
    history_date: Any = None
    with_history: bool = False  # a history part follows, made from these rows

    @property
    def is_insert(self) -> bool:
        return not self.fields

    def resolve(self) -> None:
        if self.history_of is not None:
            self.objs = history_rows(
                self.history_of.model, self.history_of.objs, date=self.history_date
            )


class Writes:
    """Collect ``insert`` / ``update`` batches, then ``run`` them together. Inserted objects
    without a primary key get theirs back (in order, as ``bulk_create`` assigns them)."""

    def __init__(self) -> None:
        self._parts: list[_Part] = []
        self._then: list[Callable[[Writes], None]] = []

    def __len__(self) -> int:
        return len(self._parts)

    def then(self, callback: Callable[[Writes], None]) -> None:
        """Rows that depend on the rows added so far as they will be written: ``run`` calls
        ``callback(self)`` once those are prepared (``auto_now`` stamped, history rows made)
        and whatever it adds goes out with them — in the same statement on PostgreSQL —
        so they commit or fail together. (Intake renders an order's API answer, stored with
        its Idempotency-Key, this way.)"""
        self._then.append(callback)

    def _call_then(self) -> None:
        callbacks, self._then = self._then, []
        for callback in callbacks:
            callback(self)

    def insert(self, model: type[Model], objs: Sequence[Model]) -> None:
        if not objs:
            return
        keyed = objs[0].pk is not None
        for part in self._parts:  # one part per table: a batch adds rows, not statements
            if (
                part.model is model
                and part.is_insert
                and part.history_of is None
                and not part.with_history
                and part.objs
                and (part.objs[0].pk is not None) == keyed
            ):
                part.objs.extend(objs)
                return
        self._parts.append(_Part(model, list(objs)))

    def insert_with_history(
        self, model: type[Model], objs: Sequence[Model], *, date: Any = None
    ) -> None:
        """Insert ``objs`` and their django-simple-history "+" rows, as
        ``bulk_create_with_history`` would. The objects' primary keys must be set."""
        if not objs:
            return
        if any(obj.pk is None for obj in objs):
            raise ValueError(f"{model.__name__} rows need their primary key before history.")
        for part in self._parts:
            if part.model is model and part.with_history:
                part.objs.extend(objs)  # its history part is made from all of them
                return
        source = _Part(model, list(objs), with_history=True)
        historical = historical_model(model)
        self._parts += [source, _Part(historical, [], history_of=source, history_date=date)]

    def update(self, model: type[Model], objs: Sequence[Model], fields: Sequence[str]) -> None:
        if not fields:
            raise ValueError("update() needs the field names to write.")
        if not objs:
            return
        for part in self._parts:
            if part.model is model and part.fields == list(fields):
                part.objs.extend(objs)
                return
        self._parts.append(_Part(model, list(objs), list(fields)))

    def run(self) -> None:
        if is_postgres():
            _run_as_one_statement(self)
            return
        while self._parts or self._then:
            parts, self._parts = self._parts, []
            for part in parts:
                part.resolve()
                manager = part.model._default_manager
                if part.is_insert:
                    manager.bulk_create(part.objs)
                else:
                    manager.bulk_update(part.objs, part.fields)
            self._call_then()


@functools.cache
def historical_model(model: type[Model]) -> Any:
    """django-simple-history's model for ``model``'s history. (``model.history`` builds a
    new manager class on every access — about a millisecond — so hot paths ask here.)"""
    return model.history.model  # type: ignore[attr-defined]


def history_rows(
    model: type[Model], objs: Sequence[Model], *, date: Any = None, history_type: str = "+"
) -> list[Model]:
    """Unsaved historical rows for ``objs``: "+" for freshly inserted ones (the rows
    django-simple-history's ``bulk_history_create`` writes), "~" for changed ones (what its
    ``post_save`` would have written for a ``save``)."""
    historical = historical_model(model)
    date = date or timezone.now()
    rows = []
    for obj in objs:
        if obj.pk is None:
            raise ValueError(f"{model.__name__} rows need their primary key before history.")
        rows.append(
            new_row(
                historical,
                history_date=getattr(obj, "_history_date", date),
                history_user=getattr(
                    obj, "_history_user", historical.get_default_history_user(obj)
                ),
                history_change_reason=getattr(obj, "_change_reason", None) or "",
                history_type=history_type,
                **{f.attname: getattr(obj, f.attname) for f in historical.tracked_fields},
            )
        )
        if hasattr(historical, "history_relation"):
            rows[-1].history_relation_id = obj.pk
    return rows


def _insert_sql(part: _Part, *, returning: bool) -> tuple[str, tuple[Any, ...]]:
    opts = part.model._meta
    fields = [f for f in opts.concrete_fields if not f.generated]
    if returning:
        fields = [f for f in fields if not isinstance(f, AutoField)]
    for obj in part.objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
    fast = _insert_sql_unnest(part, fields, returning=returning)
    if fast is not None:
        return fast
    query = InsertQuery(part.model)
    query.insert_values(fields, part.objs, raw=False)
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = [opts.pk] if returning else None
    (statement,) = compiler.as_sql()
    return statement[0], tuple(statement[1])


def _insert_sql_unnest(
    part: _Part, fields: list[Field], *, returning: bool
) -> tuple[str, tuple[Any, ...]] | None:
    """The INSERT Django's compiler writes for a PostgreSQL bulk insert (``INSERT ... SELECT
    * FROM UNNEST(arrays)``), with each value prepared exactly as it prepares it
    (``pre_save`` stamps ``auto_now``, then ``get_db_prep_save``), minus its per-value
    expression handling — which hot batches never use and which costs more Python than the
    rest of the batch. None (use Django's compiler) when a value is an expression or a
    field cannot travel in an array."""
    conn = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the thread-local proxy
    types = [_unnest_type(f) for f in fields]
    if None in types:
        return None
    columns: list[str | list[Any]] = []
    for f in fields:
        raw = [f.pre_save(obj, True) for obj in part.objs]  # type: ignore[arg-type]
        if any(hasattr(value, "resolve_expression") for value in raw):
            return None
        columns.append(_prepared(f, raw, conn))
    qn = connection.ops.quote_name
    names = ", ".join(qn(str(f.column)) for f in fields)
    arrays = ", ".join(f"(%s::{t}[])" for t in types)
    sql = f"INSERT INTO {qn(part.model._meta.db_table)} ({names}) SELECT * FROM UNNEST({arrays})"
    if returning:
        sql += f" RETURNING {qn(str(part.model._meta.pk.column))}"
    return sql, tuple(columns)


# Values of these Python types pass through these fields' get_db_prep_save unchanged on
# PostgreSQL (so do aware datetimes in a DateTimeField; a naive one takes Django's path and
# its warning). None means SQL NULL. Integers go in an explicitly cast array, so Django's
# psycopg Int4/Int8 wrappers (there to type a literal) are not needed.
_TEXT: frozenset[type] = frozenset({str, type(None)})
_INT: frozenset[type] = frozenset({int, type(None)})
_PLAIN_TYPES: dict[str, frozenset[type]] = {
    "CharField": _TEXT,
    "TextField": _TEXT,
    "SlugField": _TEXT,
    "EmailField": _TEXT,
    "IntegerField": _INT,
    "BigIntegerField": _INT,
    "SmallIntegerField": _INT,
    "PositiveIntegerField": _INT,
    "PositiveBigIntegerField": _INT,
    "PositiveSmallIntegerField": _INT,
    "AutoField": _INT,
    "BigAutoField": _INT,
    "ForeignKey": _INT,
    "BooleanField": frozenset({bool, type(None)}),
    "DateField": frozenset({dt.date, type(None)}),
}


def _prepared(f: Field, values: list[Any], conn: Any) -> str | list[Any]:
    """``f.get_db_prep_save`` of each value, skipped where it would hand the value back; as
    an array literal (``_array_literal``) where every value has one, else as the list."""
    plain = _PLAIN_TYPES.get(f.get_internal_type())
    aware = f.get_internal_type() == "DateTimeField"
    out = []
    for value in values:
        if (plain is not None and type(value) in plain) or (
            aware and type(value) is dt.datetime and value.tzinfo is not None
        ):
            out.append(value)  # already what the database takes
        else:
            out.append(f.get_db_prep_save(value, connection=conn))
    literal = _array_literal(out)
    return out if literal is None else literal


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _json_text(value: Any) -> str:
    return (value.dumps or json.dumps)(value.obj)


# How each value type is written as an element of a PostgreSQL array literal.
_ELEMENT: dict[type, Any] = {
    type(None): lambda v: "NULL",
    int: str,
    bool: lambda v: "t" if v else "f",
    str: _quoted,
    dt.datetime: lambda v: _quoted(v.isoformat()),
    dt.date: lambda v: _quoted(v.isoformat()),
    dt.time: lambda v: _quoted(v.isoformat()),
    decimal.Decimal: lambda v: _quoted(str(v)),
    uuid.UUID: lambda v: _quoted(str(v)),
    Json: lambda v: _quoted(_json_text(v)),
    Jsonb: lambda v: _quoted(_json_text(v)),
}


def _array_literal(values: list[Any]) -> str | None:
    """``values`` as the text of a PostgreSQL array (``{1,NULL,"a \\"b\\""}``), or None if
    a value is of a type without a rule here (psycopg then dumps the list).

    The statement casts each array parameter to its column's type, so the server parses
    the text with that type's own input function — the same text psycopg would send for
    each value in text format. psycopg's list dumping runs Python per array (finding the
    element type, a dumper per list) and per element; an intake group sends about 200
    short arrays, and these rules written with ``str.join`` take that group 3-4 % less
    CPU in all (measured in process, one group of 8 orders, alternating old and new)."""
    parts = []
    for value in values:
        write = _ELEMENT.get(type(value)) or _subclass_rule(value)
        if write is None:
            return None
        parts.append(write(value))
    return "{" + ",".join(parts) + "}"


def _subclass_rule(value: Any) -> Any:
    """The rule for a str or int subclass (a ``TextChoices`` / ``IntegerChoices`` member):
    its plain value, whatever its ``__str__`` says."""
    if isinstance(value, str):
        return _quoted
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__repr__
    return None


@functools.cache
def _unnest_type(model_field: Field) -> str | None:
    """The array element type to send ``model_field``'s values as (the rule Django's own
    UNNEST bulk insert uses), or None when they cannot travel that way."""
    target = model_field.target_field if model_field.is_relation else model_field  # type: ignore[attr-defined]
    # A field with its own placeholder needs it per value — except bytea on PostgreSQL,
    # whose placeholder is the plain one (only MySQL dresses binary values up).
    plain_binary = isinstance(model_field, BinaryField) and connection.vendor == "postgresql"
    if (hasattr(model_field, "get_placeholder") and not plain_binary) or (
        target.get_internal_type() not in connection.data_types
    ):
        return None
    db_type = model_field.db_type(connection)
    return db_type.split("(")[0] if db_type else None


def _update_sql(part: _Part) -> tuple[str, tuple[Any, ...]]:
    """One UPDATE for the batch: each row's new values joined in from arrays (UNNEST), which
    plans and compiles far faster than ``bulk_update``'s CASE WHEN per field and row."""
    opts = part.model._meta
    fields = []
    for name in part.fields:
        model_field = opts.get_field(name)
        if not isinstance(model_field, Field) or not model_field.concrete:
            raise ValueError(f"{name} is not a concrete field of {part.model.__name__}.")
        fields.append(model_field)
    pk: Field = opts.pk  # type: ignore[assignment]
    types = [_unnest_type(f) for f in (pk, *fields)]
    if None in types:
        return _update_sql_case(part)
    qn = connection.ops.quote_name
    table = qn(opts.db_table)
    columns = [qn(str(f.column)) for f in (pk, *fields)]
    arrays = ", ".join(f"%s::{t}[]" for t in types)
    assignments = ", ".join(f"{c} = v.{c}" for c in columns[1:])
    sql = (
        f"UPDATE {table} SET {assignments} FROM UNNEST({arrays}) AS v({', '.join(columns)}) "
        f"WHERE {table}.{columns[0]} = v.{columns[0]}"
    )
    conn = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the thread-local proxy
    params: list[str | list[Any]] = [_prepared(pk, [obj.pk for obj in part.objs], conn)]
    for f in fields:
        params.append(_prepared(f, [getattr(obj, f.attname) for obj in part.objs], conn))
    return sql, tuple(params)


def _update_sql_case(part: _Part) -> tuple[str, tuple[Any, ...]]:
    """The statement ``bulk_update`` would run for one batch (CASE WHEN pk ... per field)."""
    opts = part.model._meta
    cases: dict[str, Any] = {}
    for name in part.fields:
        model_field = opts.get_field(name)
        if not isinstance(model_field, Field) or not model_field.concrete:
            raise ValueError(f"{name} is not a concrete field of {part.model.__name__}.")
        whens = [
            When(pk=obj.pk, then=Value(getattr(obj, model_field.attname), output_field=model_field))
            for obj in part.objs
        ]
        case: Any = Case(*whens, output_field=model_field)
        if connection.features.requires_casted_case_in_updates:
            case = Cast(case, output_field=model_field)
        cases[model_field.attname] = case
    query = UpdateQuery(part.model)
    query.add_update_values(cases)
    query.add_q(Q(pk__in=[obj.pk for obj in part.objs]))
    sql, params = query.get_compiler(connection=connection).as_sql()
    return sql, tuple(params)


def _run_as_one_statement(writes: Writes) -> None:
    ctes: list[str] = []
    params: list[Any] = []
    returned: list[tuple[str, _Part]] = []
    parts: list[_Part] = []
    while writes._parts or writes._then:
        batch, writes._parts = writes._parts, []
        for part in batch:
            name = f"w{len(parts)}"
            parts.append(part)
            part.resolve()  # after its source compiled (and so stamped) its rows
            if part.is_insert:
                returning = any(obj.pk is None for obj in part.objs)
                if returning and not all(obj.pk is None for obj in part.objs):
                    raise ValueError("Insert batches either all carry primary keys or none do.")
                sql, part_params = _insert_sql(part, returning=returning)
                if returning:
                    returned.append((name, part))
            else:
                sql, part_params = _update_sql(part)
            ctes.append(f"{name} AS ({sql})")
            params.extend(part_params)
        writes._call_then()  # what they add joins the statement
    if not parts:
        return
    # Every data-modifying CTE runs to completion whether or not the main query reads it;
    # the main query only hands back the new primary keys, in insertion order.
    select = ", ".join(f"ARRAY(SELECT * FROM {name})" for name, _ in returned) or "1"
    with connection.cursor() as cursor:
        _bind_on_server(cursor)
        cursor.execute(f"WITH {', '.join(ctes)} SELECT {select}", params)
        row = cursor.fetchone()
    for (_, part), ids in zip(returned, row or (), strict=False):
        if len(ids) != len(part.objs):
            raise RuntimeError(f"{part.model.__name__}: {len(ids)} ids for {len(part.objs)} rows.")
        for obj, pk in zip(part.objs, ids, strict=True):
            obj.pk = pk
    alias = connection.alias
    for part in parts:
        for obj in part.objs:
            obj._state.adding = False
            obj._state.db = alias


def _bind_on_server(cursor: Any) -> None:
    """Send this statement's parameters apart from its text, arrays in binary.

    Django's psycopg cursors bind on the client: every value is quoted into the SQL text in
    Python, and for the arrays of a batch (thousands of values, strings escaped one by one)
    that costs more than the database's own work — about 7 times what psycopg's binary
    array format costs. A psycopg cursor of our own on the same connection (so the same
    transaction) binds on the server: the arrays go as the literals ``_array_literal``
    writes (cheaper still), and a list it has no rule for goes in binary. Django's wrapper
    stays around it, so the statement is still counted and logged like any other."""
    raw = connection.connection
    if isinstance(raw, PsycopgConnection) and not isinstance(cursor.cursor, NumberedCursor):
        server_side = NumberedCursor(raw)
        server_side.adapters.register_dumper(list, ListBinaryDumper)
        cursor.cursor = server_side
