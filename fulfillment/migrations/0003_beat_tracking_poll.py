"""Celery-beat: poll the carriers without webhooks for the tracking of every parcel on the
road, hourly (``fulfillment.poll_tracking_in_flight``)."""

from django.db import migrations

from oms.core.beat import ScheduleEvery


class Migration(migrations.Migration):
    dependencies = [
        ("fulfillment", "0002_shipment_event_replanned"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        ScheduleEvery(
            name="fulfillment: poll tracking of parcels on the road",
            task="fulfillment.poll_tracking_in_flight",
            minutes=60,
        )
    ]
