"""oms.core.beat: the helper data migrations install celery-beat entries with."""

from __future__ import annotations

import pytest
from django.apps import apps
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from oms.core.beat import schedule_every, unschedule

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
