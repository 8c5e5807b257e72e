"""The Celery app. Tasks are thin (ids in, one service call) and found by autodiscovery.

`task_acks_late` stays off globally: a task opts in with ``acks_late=True`` only when running
it twice is harmless (the renewal cycle, whose every step is guarded by unique rows)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings.local")

app = Celery("oms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_serializer = "json"
app.conf.result_serializer = "json"
app.conf.accept_content = ["json"]
app.autodiscover_tasks()
