"""Django's PostgreSQL backend, with two changes. The health check of a reused connection
(``CONN_HEALTH_CHECKS``), persistent or lent by Django's connection pool, is skipped when the
connection served a request without error in the last ``HEALTH_CHECK_BYPASS_SECONDS``; and the
query log shows the statements we bind on the server (``cursors.NumberedCursor``) with their
values.

Django checks a reused connection with a ``SELECT 1`` round trip at the start of every
request. Under load a connection serves a request every few milliseconds, so that check was
one statement in four of an order placement and a sixth of an authenticated ping. A
connection that just worked is checked by nothing but its own next statement — the rule
connection pools use (HikariCP's ``aliveBypassWindowMs``). A connection idle for longer, the
kind a database restart or an idle timeout breaks, is still checked before reuse. A request
that fails on a broken connection marks it (``errors_occurred``) and Django closes it when
that request ends. A pooled connection is checked the same way as the pool lends it (psycopg's
``ConnectionPool.check_connection`` unless it came back from a request less than a second
ago); one that comes back broken is discarded by the pool."""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import Any
from weakref import WeakKeyDictionary

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base, operations
from psycopg import Connection, errors

from .cursors import NumberedCursor

HEALTH_CHECK_BYPASS_SECONDS = 1.0

# Pooled connections given back after a request without error: when.
_returned_at: WeakKeyDictionary[Connection[Any], float] = WeakKeyDictionary()


def check_unless_fresh(conn: Connection[Any]) -> None:
    """The pool's check before lending ``conn``: none if it came back from a request in the
    last ``HEALTH_CHECK_BYPASS_SECONDS``, else psycopg's (a round trip; raises if broken, and
    the pool then opens another)."""
    from psycopg_pool import ConnectionPool

    returned = _returned_at.pop(conn, None)
    if returned is not None and monotonic() - returned < HEALTH_CHECK_BYPASS_SECONDS:
        return
    ConnectionPool.check_connection(conn)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> str:
        """For a statement bound on the server (``NumberedCursor``) Django's query log gets
        the SQL with its values quoted in, as Django logs its own server-side bindings (the
        SQL as written if a value cannot be quoted)."""
        if isinstance(cursor, NumberedCursor):
            try:
                return str(self.compose_sql(sql, params))
            except errors.DataError:
                return sql
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    _served_at: float | None = None
    health_check_done: bool  # set by Django's base class
    # Django's, missing from its type stubs:
    _connection_pools: dict[str, Any]
    _configure_connection: Callable[[Connection[Any]], Any]

    @property
    def pool(self) -> Any:
        """Django's pool (``OPTIONS["pool"]``), built as Django builds it but for the check:
        ``check_unless_fresh`` where ``CONN_HEALTH_CHECKS`` asks for one."""
        options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not options:
            return None
        pools = self._connection_pools
        if self.alias not in pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            from psycopg_pool import ConnectionPool

            kwargs = {**self.get_connection_params(), "autocommit": True}
            checked = self.settings_dict["CONN_HEALTH_CHECKS"]
            pool = ConnectionPool(
                kwargs=kwargs,
                open=False,
                configure=self._configure_connection,
                check=check_unless_fresh if checked else None,
                **({} if options is True else options),
            )
            pools.setdefault(self.alias, pool)  # the first thread to get here wins
        return pools[self.alias]

    def _close(self) -> None:
        if self.connection is not None and not self.errors_occurred and self.pool is not None:
            _returned_at[self.connection] = monotonic()
        super()._close()  # type: ignore[misc] # Django's, missing from its type stubs

    def close_if_health_check_failed(self) -> None:
        served_at = self._served_at
        if (
            not self.health_check_done
            and served_at is not None
            and self.connection is not None
            and not self.connection.closed
            and monotonic() - served_at < HEALTH_CHECK_BYPASS_SECONDS
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self) -> None:
        """Called as each request starts and ends. When the connection was used since the
        last call (its health check was done, or skipped, on first use; or it was just
        opened, or just passed the check Django runs after an error) and no error is
        pending, remember when: that is the use the next request may rely on."""
        used = self.health_check_done and not self.errors_occurred
        super().close_if_unusable_or_obsolete()
        if used and self.connection is not None:
            self._served_at = monotonic()
