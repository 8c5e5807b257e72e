"""Celery-beat entries for billing (editable by operators in the admin afterwards): the daily
dunning run, reconciliation of payment attempts whose outcome is unknown, and a retry of
webhook events whose processing failed."""

from django.db import migrations

from oms.core.beat import schedule_every, unschedule

TASKS = [
    # (name, task, kind, value)
    ("billing: dunning run", "billing.tasks.dunning_run_task", "crontab", {"minute": "0", "hour": "7"}),
    ("billing: reconcile unknown payments", "billing.tasks.payments_reconcile_task", "interval", 10),
    ("billing: retry failed webhook events", "billing.tasks.webhook_retry_unprocessed_task", "interval", 5),
]


def create(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    for name, task, kind, value in TASKS:
        if kind == "interval":
            schedule_every(apps, name=name, task=task, minutes=value)
            continue
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=value["minute"], hour=value["hour"], day_of_week="*", day_of_month="*",
            month_of_year="*", timezone="UTC",
        )  # fmt: skip
        PeriodicTask.objects.create(name=name, task=task, crontab=schedule)


def remove(apps, schema_editor):
    unschedule(apps, [name for name, *_ in TASKS])


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
