"""Celery-beat: give free stock to the waiting backorders (oldest first) every 15 minutes
(``inventory.fill_backorders_from_stock``). Receipts fill backorders themselves and a
release queues the sweep once it commits; this catches what a lost or failed sweep left."""

from django.db import migrations

from oms.core.beat import ScheduleEvery


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        ScheduleEvery(
            name="inventory: fill backorders from freed stock",
            task="inventory.fill_backorders_from_stock",
            minutes=15,
        )
    ]
