"""Celery-beat: poll the carriers without webhooks for the tracking of every parcel on the
road, hourly (``fulfillment.poll_tracking_in_flight``)."""

from django.db import migrations

from oms.core.beat import schedule_every, unschedule

NAME = "fulfillment: poll tracking of parcels on the road"


def create(apps, schema_editor):
    schedule_every(apps, name=NAME, task="fulfillment.poll_tracking_in_flight", minutes=60)


def remove(apps, schema_editor):
    unschedule(apps, [NAME])


class Migration(migrations.Migration):
    dependencies = [
        ("fulfillment", "0002_shipment_event_replanned"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
