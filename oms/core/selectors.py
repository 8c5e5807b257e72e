from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from django.db import connection
from django.db.models import Model

from .db import is_postgres, prepared_cursor
from .models import ApiKey, Channel, IdempotencyRecord
from .services import hash_api_key

M = TypeVar("M", bound=Model)


class ModelRow(Generic[M]):
    """A model's concrete columns in hand-written SQL, and the instance back from a row, as
    the ORM would build it. For the few reads every API request makes: building an ORM
    query costs several times the PostgreSQL round trip of a primary-key lookup."""

    def __init__(self, model: type[M], alias: str) -> None:
        quote = connection.ops.quote_name
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.width = len(self.fields)
        self.columns = ", ".join(f"{alias}.{quote(str(f.column))}" for f in self.fields)
        self._attnames = [f.attname for f in self.fields]
        self._converters = [
            (i, conv, f.get_col(alias))
            for i, f in enumerate(self.fields)
            for conv in f.get_db_converters(connection)
        ]

    def build(self, row: Sequence[Any], start: int = 0) -> M:
        values = list(row[start : start + self.width])
        for i, conv, expression in self._converters:
            values[i] = conv(values[i], expression, connection)
        return self.model.from_db(connection.alias, self._attnames, values)


_api_key_sql: tuple[str, ModelRow[ApiKey], ModelRow[Channel]] | None = None


def api_key_get_active(*, secret: str) -> ApiKey | None:
    """The key matching ``secret`` with its channel, or None. Revoked keys are returned too so
    the caller can say *revoked* rather than *unknown*. Every API request asks: on PostgreSQL
    one hand-written statement, prepared."""
    hashed = hash_api_key(secret)
    if not is_postgres():
        return ApiKey.objects.select_related("channel").filter(hashed_key=hashed).first()
    global _api_key_sql
    if _api_key_sql is None:
        key_row, channel_row = ModelRow(ApiKey, "k"), ModelRow(Channel, "c")
        quote = connection.ops.quote_name
        sql = (
            f"SELECT {key_row.columns}, {channel_row.columns} "
            f"FROM {quote(ApiKey._meta.db_table)} k JOIN {quote(Channel._meta.db_table)} c "
            "ON c.id = k.channel_id WHERE k.hashed_key = %s"
        )
        _api_key_sql = (sql, key_row, channel_row)
    sql, key_row, channel_row = _api_key_sql
    with prepared_cursor() as cursor:  # planned once per connection
        cursor.execute(sql, [hashed])
        row = cursor.fetchone()
    if row is None:
        return None
    api_key = key_row.build(row)
    api_key.channel = channel_row.build(row, key_row.width)
    return api_key


def idempotency_get(*, channel: Channel, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(channel=channel, key=key).first()
