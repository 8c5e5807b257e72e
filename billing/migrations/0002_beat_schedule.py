"""Celery-beat entries for billing (editable by operators in the admin afterwards): the daily
dunning run, reconciliation of payment attempts whose outcome is unknown, and a retry of
webhook events whose processing failed."""

from django.db import migrations

TASKS = [
    # (name, task, kind, value)
    ("billing: dunning run", "billing.tasks.dunning_run_task", "crontab", {"minute": "0", "hour": "7"}),
    ("billing: reconcile unknown payments", "billing.tasks.payments_reconcile_task", "interval", 10),
    ("billing: retry failed webhook events", "billing.tasks.webhook_retry_unprocessed_task", "interval", 5),
]


def create(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    for name, task, kind, value in TASKS:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        if kind == "crontab":
            schedule, _ = CrontabSchedule.objects.get_or_create(
                minute=value["minute"], hour=value["hour"], day_of_week="*", day_of_month="*",
                month_of_year="*", timezone="UTC",
            )  # fmt: skip
            PeriodicTask.objects.create(name=name, task=task, crontab=schedule)
        else:
            schedule, _ = IntervalSchedule.objects.get_or_create(every=value, period="minutes")
            PeriodicTask.objects.create(name=name, task=task, interval=schedule)


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in TASKS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
