from django.apps import AppConfig


class RenewalConfig(AppConfig):
    """Registers the renewal cycle's command, admin, Celery task and schedule migration.

    The models declare ``app_label = "subscriptions"``: they belong with the subscriptions
    they renew (and in that app's migrations); this config only gives the package a place in
    ``INSTALLED_APPS`` so Django and Celery discover ``management/``, ``admin`` and ``tasks``."""

    name = "subscriptions.renewal"
    label = "renewal"
    verbose_name = "Renewals"
    default_auto_field = "django.db.models.BigAutoField"
