"""psycopg cursors for the statements we write by hand (see ``oms.core.db``)."""

from __future__ import annotations

from typing import Any

from psycopg import RawCursor


class NumberedCursor(RawCursor):
    """A server-binding psycopg cursor that takes Django's ``%s`` placeholders and numbers
    them itself (``numbered``). psycopg's own conversion parses the statement for every
    placeholder style it knows and caches the result only for statements under 4 KB; a
    batch statement is longer, so it was parsed again each time: about 3 % of an intake
    group's Python. ``prepare``: passed to each ``execute`` (True: a prepared statement)."""

    def __init__(self, connection: Any, *, prepare: bool | None = None) -> None:
        super().__init__(connection)
        self.prepare = prepare

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("prepare", self.prepare)
        return super().execute(numbered(query), params, **kwargs)


def numbered(sql: str) -> str:
    """``sql`` with PostgreSQL's placeholders for psycopg's: each ``%s`` becomes ``$1``,
    ``$2``, … in order and ``%%`` a literal ``%``. Any other ``%`` sequence is refused."""
    pieces = sql.split("%")
    out = [pieces[0]]
    n, i = 0, 1
    while i < len(pieces):
        piece = pieces[i]
        if piece.startswith("s"):
            n += 1
            out.append(f"${n}{piece[1:]}")
        elif piece == "" and i + 1 < len(pieces):  # "%%"
            i += 1
            out.append("%" + pieces[i])
        else:
            raise ValueError(f"Unsupported placeholder %{piece[:1]} in a batch statement.")
        i += 1
    return "".join(out)
