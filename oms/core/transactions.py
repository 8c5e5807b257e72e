"""After-commit side effects and row locking in a fixed order."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models, transaction

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=models.Model)


def on_commit(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``func(*args, **kwargs)`` once the current transaction commits (now if none).

    Emails, Celery tasks and outbound calls go through here so a rolled-back write never
    leaves a side effect behind. A failing side effect is logged, never raised into the
    committed request (``robust``)."""
    callback = functools.partial(func, *args, **kwargs)
    # Django names a failing robust callback by __qualname__, which a partial lacks.
    callback.__qualname__ = getattr(func, "__qualname__", repr(func))  # type: ignore[attr-defined]
    transaction.on_commit(callback, robust=True)


def lock_in_pk_order(queryset: models.QuerySet[M], *, of: tuple[str, ...] = ()) -> list[M]:
    """SELECT ... FOR UPDATE the rows, always in primary-key order, so two transactions that
    lock overlapping sets can never deadlock on each other. ``of=("self",)`` locks only the
    queryset's own rows when it joins or select_relateds other tables."""
    return list(queryset.select_for_update(of=of).order_by("pk"))
