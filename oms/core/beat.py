"""Celery-beat entries installed by data migrations (operators edit or pause them in the
admin afterwards; a migration never overwrites an entry that already exists)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import migrations


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


class ScheduleEvery(migrations.RunPython):
    """The data-migration operation for ``schedule_every``: installs PeriodicTask ``name``
    running ``task`` every ``minutes`` (an existing entry is kept as it is); reversed by
    removing it. A class rather than a pair of functions per migration, so a migration is one
    line and stays serializable (squashing rewrites it as the same call)."""

    def __init__(self, *, name: str, task: str, minutes: int) -> None:
        self.entry_name, self.task, self.minutes = name, task, minutes
        super().__init__(self._install, self._remove)

    def _install(self, apps: Any, schema_editor: Any) -> None:
        schedule_every(apps, name=self.entry_name, task=self.task, minutes=self.minutes)

    def _remove(self, apps: Any, schema_editor: Any) -> None:
        unschedule(apps, [self.entry_name])

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs = {"name": self.entry_name, "task": self.task, "minutes": self.minutes}
        return (self.__class__.__qualname__, [], kwargs)

    def describe(self) -> str:
        return f"Schedule {self.task} every {self.minutes} minutes"
