"""Celery-beat entries installed by data migrations (operators edit or pause them in the
admin afterwards; a migration never overwrites an entry that already exists)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def schedule_every(apps: Any, *, name: str, task: str, minutes: int) -> None:
    """A PeriodicTask ``name`` running ``task`` every ``minutes``, unless ``name`` exists."""
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    if PeriodicTask.objects.filter(name=name).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
    PeriodicTask.objects.create(name=name, task=task, interval=interval)


def unschedule(apps: Any, names: Iterable[str]) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=list(names)
    ).delete()
