"""Test settings: the real PostgreSQL this machine runs, unless DATABASE_URL names another."""

import os

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/oms")
# Tests run Celery tasks in-process; a broker in the environment must not leak in.
os.environ.pop("CELERY_BROKER_URL", None)

from .base import *  # noqa: E402,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"channel": "100000/min"}}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False}
