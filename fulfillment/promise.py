"""The delivery promise: when a parcel must leave (the warehouse cut-off) and when it should
arrive (that dispatch day plus the delivery option's lead time, in business days).

Rules, all in the business time zone (``settings.OMS_TIME_ZONE``):
- Business days are Monday to Friday.
- An order allocated on a business day before the warehouse's cut-off ships that day;
  otherwise on the next business day. Without a cut-off the warehouse uses
  ``DEFAULT_CUTOFF``.
- ``promised_ship_by`` is the cut-off moment of the dispatch day (an aware datetime).
- ``promised_delivery`` is the dispatch day plus ``lead_days`` business days (a date).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

DEFAULT_CUTOFF = time(15, 0)


def business_zone() -> ZoneInfo:
    return ZoneInfo(getattr(settings, "OMS_TIME_ZONE", "UTC") or "UTC")


def is_business_day(day: date) -> bool:
    return day.weekday() < 5


def add_business_days(day: date, count: int) -> date:
    current = day
    remaining = count
    while remaining > 0:
        current += timedelta(days=1)
        if is_business_day(current):
            remaining -= 1
    return current


def next_business_day(day: date) -> date:
    return add_business_days(day, 1)


def dispatch_day(*, now: datetime, cutoff: time | None) -> date:
    local = now.astimezone(business_zone())
    limit = cutoff or DEFAULT_CUTOFF
    today = local.date()
    if is_business_day(today) and local.time() < limit:
        return today
    return next_business_day(today)


def promise_for(*, now: datetime, cutoff: time | None, lead_days: int) -> tuple[datetime, date]:
    """(promised_ship_by, promised_delivery) for a parcel planned at ``now``."""
    day = dispatch_day(now=now, cutoff=cutoff)
    ship_by = datetime.combine(day, cutoff or DEFAULT_CUTOFF, tzinfo=business_zone())
    return ship_by, add_business_days(day, max(lead_days, 0))


def business_date(moment: datetime) -> date:
    return moment.astimezone(business_zone()).date()
