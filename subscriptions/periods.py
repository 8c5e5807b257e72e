"""Period maths: the one place that turns a billing anchor and an interval into dates.

Renewal dates are business dates (``datetime.date``) in the business time zone
(``settings.OMS_TIME_ZONE``). A date has no clock, so a daylight-saving change can neither
repeat nor drop a renewal day: the only place a clock meets a date is ``business_today``.

Every period is computed *directly from the anchor*: period ``n`` starts at
``anchor + n × interval``. Month and year steps clamp to the last day of a short month but
never forget the anchor's day, so a subscription anchored on Jan 31 renews on Feb 28 (Feb 29
in a leap year), Mar 31, Apr 30, ...; one anchored on Feb 29 renews yearly on Feb 28 and
again on Feb 29 in leap years. Iterating "last date + one month" would drift to the 28th
for ever after February; computing from the anchor cannot.

Periods are half-open ``[start, end)``: the end of period ``n`` is the start of ``n + 1``, so
consecutive periods touch and never overlap.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.utils import timezone


class IntervalUnit(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


def business_tz() -> ZoneInfo:
    return ZoneInfo(settings.OMS_TIME_ZONE)


def business_today(now: dt.datetime | None = None) -> dt.date:
    """The business date at the instant ``now`` (an aware datetime; default: the current time)."""
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("business_today needs an aware datetime.")
    return now.astimezone(business_tz()).date()


def business_day_start(day: dt.date) -> dt.datetime:
    """The aware instant the business date ``day`` begins (midnight in the business zone,
    or the first instant that exists if a DST change skips midnight)."""
    tz = business_tz()
    naive = dt.datetime.combine(day, dt.time.min)
    aware = naive.replace(tzinfo=tz)
    # A skipped wall-clock midnight round-trips to another time; step forward to a real one.
    while aware.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) != naive:
        naive += dt.timedelta(minutes=15)
        aware = naive.replace(tzinfo=tz)
    return aware


def add_months(anchor: dt.date, months: int) -> dt.date:
    """``anchor`` moved by ``months`` calendar months, day clamped to the target month's end."""
    years, month_index = divmod(anchor.month - 1 + months, 12)
    year = anchor.year + years
    month = month_index + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def _check(unit: str, count: int) -> None:
    if unit not in IntervalUnit.values:
        raise ValueError(f"Unknown interval unit '{unit}'.")
    if count < 1:
        raise ValueError("An interval count is at least 1.")


def period_start(anchor: dt.date, unit: str, count: int, n: int) -> dt.date:
    """Start of period ``n`` (0 = the anchor), computed directly from the anchor."""
    _check(unit, count)
    if unit == IntervalUnit.DAY:
        return anchor + dt.timedelta(days=n * count)
    if unit == IntervalUnit.WEEK:
        return anchor + dt.timedelta(weeks=n * count)
    if unit == IntervalUnit.MONTH:
        return add_months(anchor, n * count)
    return add_months(anchor, 12 * n * count)


def period_bounds(anchor: dt.date, unit: str, count: int, n: int) -> tuple[dt.date, dt.date]:
    """Period ``n`` as a half-open range ``(start, end)``; ``end`` is the start of ``n + 1``."""
    return period_start(anchor, unit, count, n), period_start(anchor, unit, count, n + 1)


def period_index_for(anchor: dt.date, unit: str, count: int, day: dt.date) -> int:
    """The ``n`` whose period contains ``day`` (``period_start(n) <= day < period_start(n+1)``).
    Days before the anchor belong to negative periods."""
    _check(unit, count)
    if unit in (IntervalUnit.DAY, IntervalUnit.WEEK):
        step = count * (7 if unit == IntervalUnit.WEEK else 1)
        return (day - anchor).days // step
    months_per = count * (12 if unit == IntervalUnit.YEAR else 1)
    months = (day.year - anchor.year) * 12 + (day.month - anchor.month)
    n = months // months_per
    # The estimate is off by at most one period because of day clamping; settle it exactly.
    while period_start(anchor, unit, count, n) > day:
        n -= 1
    while period_start(anchor, unit, count, n + 1) <= day:
        n += 1
    return n


def next_period_start_on_or_after(anchor: dt.date, unit: str, count: int, day: dt.date) -> dt.date:
    """The first period boundary on or after ``day`` (``day`` itself if it is one)."""
    n = period_index_for(anchor, unit, count, day)
    start = period_start(anchor, unit, count, n)
    return start if start == day else period_start(anchor, unit, count, n + 1)


def period_end_for(anchor: dt.date, unit: str, count: int, start: dt.date) -> dt.date:
    """End of the period that contains ``start`` (the next boundary strictly after it)."""
    return period_start(anchor, unit, count, period_index_for(anchor, unit, count, start) + 1)


def describe_interval(unit: str, count: int) -> str:
    return f"every {unit}" if count == 1 else f"every {count} {unit}s"
