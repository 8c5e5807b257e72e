"""Reads of the renewal records for the admin and the command (bounded query counts)."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Renewal, RenewalEvent, RenewalRun


def renewal_run_list() -> QuerySet[RenewalRun]:
    return RenewalRun.objects.order_by("-started_at", "-id")


def renewal_list() -> QuerySet[Renewal]:
    return Renewal.objects.select_related("subscription__customer", "run").order_by("-id")


def renewal_events(*, renewal: Renewal) -> QuerySet[RenewalEvent]:
    return RenewalEvent.objects.filter(renewal=renewal).order_by("created_at", "id")
