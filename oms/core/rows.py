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
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class _Plan:
    constants: dict[str, Any]  # attname -> the default every instance starts with
    factories: tuple[tuple[str, Callable[[], Any]], ...]  # attname -> makes its default
    attname_of: dict[str, str]  # relation name (set through Django's descriptor) -> its id
    accepted: frozenset[str]  # the keywords this path takes


@functools.cache
def _plan(model: type[Model]) -> _Plan:
    """How ``Model.__init__`` fills ``model``'s fields, worked out once."""
    constants: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    attname_of: dict[str, str] = {}
    for field in model._meta.fields:
        if field.column is None or field.generated:
            continue
        if isinstance(field.remote_field, ForeignObjectRel):
            attname_of[field.name] = field.attname
        if field.has_default() and not callable(field.default):
            constants[field.attname] = field.get_default()  # the same object every time
        elif field.default is timezone.now and settings.USE_TZ:
            factories.append((field.attname, _utc_now))  # no settings lookup per row
        elif field.has_default() or field.has_db_default():
            factories.append((field.attname, field.get_default))
        else:
            constants[field.attname] = field.get_default()  # None or ""
    accepted = {*constants, *(a for a, _ in factories), *attname_of, "pk"}
    return _Plan(constants, tuple(factories), attname_of, frozenset(accepted))


def new_row(model: type[M], /, **values: Any) -> M:
    """``model(**values)``, built from a per-model plan (see the module docstring)."""
    plan = _plan(model)
    listened = (pre_init.receivers or post_init.receivers) and (  # none at all: no lookup
        pre_init.has_listeners(model) or post_init.has_listeners(model)
    )
    if listened or not values.keys() <= plan.accepted:
        return model(**values)
    pk = values.pop("pk", _UNSET)  # the property, set after the fields as Django does
    obj = model.__new__(model)
    obj._state = ModelState()
    attrs = obj.__dict__
    attrs.update(plan.constants)
    for attname, make in plan.factories:
        if attname not in values:
            attrs[attname] = make()
    for name in plan.attname_of.keys() & values.keys():
        setattr(obj, name, values.pop(name))  # the descriptor checks and caches it
        attname = plan.attname_of[name]
        if attname in values:  # both given: the id wins (and drops a stale cache)
            setattr(obj, attname, values.pop(attname))
    attrs.update(values)
    if pk is not _UNSET:
        obj.pk = pk
    return obj
