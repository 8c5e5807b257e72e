"""oms.core.beat: the helper data migrations install celery-beat entries with."""

from __future__ import annotations

import pytest
from django.apps import apps
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from oms.core.beat import ScheduleEvery, schedule_every, unschedule

pytestmark = pytest.mark.django_db


def test_an_entry_is_created_once_and_an_operators_edit_is_kept():
    schedule_every(apps, name="test: sweep", task="tests.sweep", minutes=7)
    entry = PeriodicTask.objects.get(name="test: sweep")
    assert (entry.task, entry.interval.every, entry.interval.period) == (
        "tests.sweep",
        7,
        "minutes",
    )

    entry.interval = IntervalSchedule.objects.create(every=30, period="minutes")
    entry.enabled = False
    entry.save()
    schedule_every(apps, name="test: sweep", task="tests.sweep", minutes=7)  # migrating again
    entry.refresh_from_db()
    assert (entry.interval.every, entry.enabled) == (30, False)

    unschedule(apps, ["test: sweep"])
    assert not PeriodicTask.objects.filter(name="test: sweep").exists()


def test_the_migration_operation_installs_removes_and_deconstructs():
    op = ScheduleEvery(name="test: poll", task="tests.poll", minutes=60)
    op.code(apps, None)
    entry = PeriodicTask.objects.get(name="test: poll")
    assert (entry.task, entry.interval.every) == ("tests.poll", 60)
    op.reverse_code(apps, None)
    assert not PeriodicTask.objects.filter(name="test: poll").exists()
    path, args, kwargs = op.deconstruct()
    assert (path, args) == ("ScheduleEvery", [])
    assert ScheduleEvery(**kwargs).deconstruct() == (path, args, kwargs)
    assert kwargs == {"name": "test: poll", "task": "tests.poll", "minutes": 60}
