"""Unsaved model instances for the hot batch writes, built cheaply.

A renewal batch or an order intake builds thousands of rows (events, history rows, stock
movements, allocations, lines, parcels) only to hand them to ``oms.core.bulk``.
``Model.__init__`` is general: for every field it tries the keyword arguments by name and
by attribute name, catches the misses, sends ``pre_init`` and ``post_init``, and reads the
time zone setting again for each ``timezone.now`` default. That generality was the
largest single cost of the renewal cycle (about a fifth of a worker's CPU).

``new_row(Model, **values)`` gives the same instance as ``Model(**values)`` — the same
attribute values, defaults, related-object caching (a related instance passed by field
name still goes through Django's descriptor, with its checks) and ``_state`` — from a plan
made once per model. When anything listens to ``pre_init`` / ``post_init`` for the model,
or a value is not a field's (a property, say), it simply calls ``Model(**values)``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import ForeignObjectRel, Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

M = TypeVar("M", bound=Model)
_UNSET = object()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(tz=dt.UTC)


@functools.cache
def _plan(model: type[Model]) -> tuple[tuple[str, str, bool, Callable[[], Any]], ...]:
    """(name, attname, is a relation, default) for each field ``Model.__init__`` fills."""
    plan = []
    for field in model._meta.fields:
        if field.column is None or field.generated:
            continue
        default: Callable[[], Any] = field.get_default
        if field.default is timezone.now and settings.USE_TZ:
            default = _utc_now  # what timezone.now returns, without the settings lookup
        is_relation = isinstance(field.remote_field, ForeignObjectRel)
        plan.append((field.name, field.attname, is_relation, default))
    return tuple(plan)


def new_row(model: type[M], /, **values: Any) -> M:
    """``model(**values)``, built from a per-model plan (see the module docstring)."""
    if (
        pre_init.has_listeners(model)
        or post_init.has_listeners(model)
        or not values.keys() <= _accepted(model)
    ):
        return model(**values)
    pk = values.pop("pk", _UNSET)  # the property, set after the fields as Django does
    obj = model.__new__(model)
    obj._state = ModelState()
    attrs = obj.__dict__
    for name, attname, is_relation, default in _plan(model):
        if is_relation and name in values:
            setattr(obj, name, values[name])  # the descriptor checks and caches it
            if attname in values:  # both given: the id wins (and drops a stale cache)
                setattr(obj, attname, values[attname])
        elif attname in values:
            attrs[attname] = values[attname]
        else:
            attrs[attname] = default()
    if pk is not _UNSET:
        obj.pk = pk
    return obj


@functools.cache
def _accepted(model: type[Model]) -> frozenset[str]:
    """The keyword arguments the plan handles: attribute names, and relations' names."""
    return frozenset(
        key
        for name, attname, is_relation, _ in _plan(model)
        for key in ((name, attname) if is_relation else (attname,))
    ) | {"pk"}
