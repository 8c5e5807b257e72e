"""Schedule the nightly renewal cycle: a django-celery-beat PeriodicTask on a crontab at
``OMS_RENEWAL_HOUR_UTC``:``OMS_RENEWAL_MINUTE_UTC`` (UTC). Operators edit or disable it in the
admin (Periodic tasks); re-running this migration never overwrites their edits."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

TASK_NAME = "Nightly subscription renewals"
TASK = "subscriptions.renewal.tasks.run_renewals"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    hour = int(getattr(settings, "OMS_RENEWAL_HOUR_UTC", 6))
    minute = int(getattr(settings, "OMS_RENEWAL_MINUTE_UTC", 0))
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=str(minute), hour=str(hour), day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    _, created = PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": TASK,
            "crontab": crontab,
            "enabled": True,
            "description": "Renews every subscription due up to today's business date "
            "(subscriptions.periods.business_today). Safe to run twice.",
        },
    )
    if created:
        # Tell a running beat that its schedule changed (what the admin does on save).
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME, task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
