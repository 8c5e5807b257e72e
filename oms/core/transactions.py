"""After-commit side effects, row locking in a fixed order, and retrying a deadlock's victim."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.db import OperationalError, models, transaction

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=models.Model)
P = ParamSpec("P")
R = TypeVar("R")


def on_commit(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``func(*args, **kwargs)`` once the current transaction commits (now if none).

    Emails, Celery tasks and outbound calls go through here so a rolled-back write never
    leaves a side effect behind. A failing side effect is logged, never raised into the
    committed request (``robust``)."""
    callback = functools.partial(func, *args, **kwargs)
    # Django names a failing robust callback by __qualname__, which a partial lacks.
    callback.__qualname__ = getattr(func, "__qualname__", repr(func))  # type: ignore[attr-defined]
    transaction.on_commit(callback, robust=True)


def on_commit_once(func: Callable[[], Any]) -> None:
    """``on_commit(func)``, unless ``func`` already waits for this transaction's commit (a
    transaction that frees stock line by line asks for one backorder sweep, not one per
    line). Outside a transaction it runs now."""
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(
        getattr(callback, "func", None) is func for _, callback, _ in connection.run_on_commit
    ):
        return
    on_commit(func)


def lock_in_pk_order(queryset: models.QuerySet[M], *, of: tuple[str, ...] = ()) -> list[M]:
    """SELECT ... FOR UPDATE the rows, always in primary-key order, so two transactions that
    lock overlapping sets can never deadlock on each other. ``of=("self",)`` locks only the
    queryset's own rows when it joins or select_relateds other tables."""
    return list(queryset.select_for_update(of=of).order_by("pk"))


DEADLOCK_ATTEMPTS = 3


def _is_deadlock(exc: BaseException) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "40P01"  # deadlock_detected


def retry_on_deadlock(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` (a service that opens its own transaction) again when PostgreSQL aborted
    that transaction as a deadlock's victim, up to ``DEADLOCK_ATTEMPTS`` times in all.

    Some lock-order inversions are in the domain itself: a receipt locks its SKU and stock
    rows and then, filling a backorder, the order; a cancel locks the order and then
    releases its stock. Neither order can change (each must read what the first lock
    guards to know what the second is), so the loser is retried, as PostgreSQL's manual
    advises: its transaction was rolled back whole and the winner has committed (or will:
    the retry waits on its locks). Side effects are after-commit (``on_commit``), so a
    rolled-back attempt left none. Inside a caller's transaction it runs once: that whole
    transaction is the victim, and retrying is its caller's call."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if transaction.get_connection().in_atomic_block:
            return func(*args, **kwargs)
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == DEADLOCK_ATTEMPTS or not _is_deadlock(exc):
                    raise
                logger.warning(
                    "%s was a deadlock's victim (attempt %d of %d); running it again",
                    func.__qualname__,
                    attempt,
                    DEADLOCK_ATTEMPTS,
                )
                time.sleep(random.uniform(0.01, 0.05))  # noqa: S311 - jitter, not security
        raise AssertionError("unreachable")

    return wrapper
