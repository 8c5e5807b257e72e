"""Period maths: worked examples, leap years, DST and properties over any anchor/interval."""

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subscriptions.periods import (
    IntervalUnit,
    add_months,
    business_day_start,
    business_today,
    next_period_start_on_or_after,
    period_bounds,
    period_end_for,
    period_index_for,
    period_start,
)

D = dt.date


def starts(anchor, unit, count, k):
    return [period_start(anchor, unit, count, n) for n in range(k)]


# --- worked examples -----------------------------------------------------------------------


def test_monthly_from_jan_31_keeps_the_anchor_day_through_short_months():
    assert starts(D(2025, 1, 31), "month", 1, 6) == [
        D(2025, 1, 31),
        D(2025, 2, 28),
        D(2025, 3, 31),
        D(2025, 4, 30),
        D(2025, 5, 31),
        D(2025, 6, 30),
    ]


def test_monthly_from_jan_31_in_a_leap_year_gets_feb_29():
    assert starts(D(2024, 1, 31), "month", 1, 4) == [
        D(2024, 1, 31),
        D(2024, 2, 29),
        D(2024, 3, 31),
        D(2024, 4, 30),
    ]


def test_monthly_from_the_30th_goes_to_feb_end_and_back_to_30():
    assert starts(D(2025, 1, 30), "month", 1, 3) == [D(2025, 1, 30), D(2025, 2, 28), D(2025, 3, 30)]


def test_yearly_from_feb_29_clamps_to_feb_28_and_returns_in_leap_years():
    assert starts(D(2024, 2, 29), "year", 1, 6) == [
        D(2024, 2, 29),
        D(2025, 2, 28),
        D(2026, 2, 28),
        D(2027, 2, 28),
        D(2028, 2, 29),
        D(2029, 2, 28),
    ]


def test_every_two_years_from_feb_29_crosses_1900_style_century_rules():
    # 2100 is not a leap year, 2096 and 2104 are.
    assert period_start(D(2096, 2, 29), "year", 2, 2) == D(2100, 2, 28)
    assert period_start(D(2096, 2, 29), "year", 2, 4) == D(2104, 2, 29)


def test_every_3_months_from_nov_30():
    assert starts(D(2025, 11, 30), "month", 3, 4) == [
        D(2025, 11, 30),
        D(2026, 2, 28),
        D(2026, 5, 30),
        D(2026, 8, 30),
    ]


def test_every_two_weeks_and_daily():
    assert starts(D(2025, 12, 25), "week", 2, 3) == [D(2025, 12, 25), D(2026, 1, 8), D(2026, 1, 22)]
    assert starts(D(2024, 2, 28), "day", 1, 3) == [D(2024, 2, 28), D(2024, 2, 29), D(2024, 3, 1)]
    assert starts(D(2025, 2, 28), "day", 3, 2) == [D(2025, 2, 28), D(2025, 3, 3)]


def test_period_bounds_are_half_open_and_end_at_the_next_start():
    assert period_bounds(D(2025, 1, 31), "month", 1, 1) == (D(2025, 2, 28), D(2025, 3, 31))
    assert period_bounds(D(2025, 1, 1), "year", 1, 0) == (D(2025, 1, 1), D(2026, 1, 1))


def test_period_index_for_examples():
    anchor = D(2025, 1, 31)
    assert period_index_for(anchor, "month", 1, D(2025, 1, 31)) == 0
    assert period_index_for(anchor, "month", 1, D(2025, 2, 27)) == 0
    assert period_index_for(anchor, "month", 1, D(2025, 2, 28)) == 1
    assert period_index_for(anchor, "month", 1, D(2025, 3, 30)) == 1
    assert period_index_for(anchor, "month", 1, D(2025, 3, 31)) == 2
    assert period_index_for(anchor, "month", 1, D(2025, 1, 30)) == -1
    assert period_index_for(D(2025, 1, 1), "week", 2, D(2025, 1, 14)) == 0
    assert period_index_for(D(2025, 1, 1), "week", 2, D(2025, 1, 15)) == 1


def test_next_boundary_helpers():
    anchor = D(2025, 1, 31)
    assert next_period_start_on_or_after(anchor, "month", 1, D(2025, 2, 28)) == D(2025, 2, 28)
    assert next_period_start_on_or_after(anchor, "month", 1, D(2025, 3, 1)) == D(2025, 3, 31)
    assert period_end_for(anchor, "month", 1, D(2025, 2, 28)) == D(2025, 3, 31)


def test_add_months_backwards_and_invalid_intervals():
    assert add_months(D(2025, 3, 31), -1) == D(2025, 2, 28)
    assert add_months(D(2025, 1, 15), -13) == D(2023, 12, 15)
    with pytest.raises(ValueError):
        period_start(D(2025, 1, 1), "fortnight", 1, 1)
    with pytest.raises(ValueError):
        period_start(D(2025, 1, 1), "month", 0, 1)


# --- business dates and DST ----------------------------------------------------------------


def test_business_today_converts_an_instant_to_the_business_date(settings):
    settings.OMS_TIME_ZONE = "America/New_York"
    instant = dt.datetime(2025, 3, 1, 3, 30, tzinfo=dt.UTC)  # 22:30 on Feb 28 in New York
    assert business_today(instant) == D(2025, 2, 28)
    settings.OMS_TIME_ZONE = "Europe/Berlin"
    assert business_today(instant) == D(2025, 3, 1)
    with pytest.raises(ValueError):
        business_today(dt.datetime(2025, 3, 1, 3, 30))  # noqa: DTZ001 - naive on purpose


DST_NIGHTS = [
    ("America/New_York", D(2025, 3, 9)),  # spring forward, 02:00 -> 03:00
    ("America/New_York", D(2025, 11, 2)),  # fall back, 02:00 -> 01:00 (01:xx happens twice)
    ("Europe/Berlin", D(2025, 3, 30)),
    ("Europe/Berlin", D(2025, 10, 26)),
]


@pytest.mark.parametrize(("zone", "night"), DST_NIGHTS)
@pytest.mark.parametrize("unit", ["day", "week", "month"])
def test_dst_night_never_renews_twice_or_skips(settings, zone, night, unit):
    """A renewal job polling every 10 minutes across the DST night, claiming whatever is due
    (next_renewal_date <= business today) and advancing one period, renews each period once."""
    settings.OMS_TIME_ZONE = zone
    tz = ZoneInfo(zone)
    anchor = night - dt.timedelta(days=3)
    next_renewal, n = anchor, 0
    renewed = []
    # Walk in UTC: adding a timedelta to a zoned datetime adds wall-clock time, not real time.
    instant = dt.datetime.combine(night - dt.timedelta(days=2), dt.time(12), tzinfo=tz).astimezone(
        dt.UTC
    )
    end = dt.datetime.combine(night + dt.timedelta(days=2), dt.time(12), tzinfo=tz).astimezone(
        dt.UTC
    )
    last_today = None
    while instant <= end:
        today = business_today(instant)
        assert last_today is None or today >= last_today  # business dates never go backwards
        last_today = today
        while next_renewal <= today:
            renewed.append(next_renewal)
            n += 1
            next_renewal = period_start(anchor, unit, 1, n)
        instant += dt.timedelta(minutes=10)  # an exact duration: 10 real minutes
    expected = [s for s in starts(anchor, unit, 1, 10) if s <= business_today(end)]
    assert renewed == expected
    assert len(renewed) == len(set(renewed))


@pytest.mark.parametrize(("zone", "night"), DST_NIGHTS)
def test_business_today_sees_every_date_exactly_across_a_dst_night(settings, zone, night):
    settings.OMS_TIME_ZONE = zone
    start = dt.datetime.combine(night - dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(zone))
    instant = start.astimezone(dt.UTC)
    stop = business_day_start(night + dt.timedelta(days=2)).astimezone(dt.UTC)
    seen = []
    while instant < stop:
        day = business_today(instant)
        if not seen or seen[-1] != day:
            seen.append(day)
        instant += dt.timedelta(minutes=5)
    assert seen == [night - dt.timedelta(days=1), night, night + dt.timedelta(days=1)]


@pytest.mark.parametrize(("zone", "night"), DST_NIGHTS)
def test_business_day_start_lengths_around_dst(settings, zone, night):
    settings.OMS_TIME_ZONE = zone
    # Subtract in UTC: Python subtracts same-zone aware datetimes by wall clock.
    utc = dt.UTC
    length = business_day_start(night + dt.timedelta(days=1)).astimezone(utc) - business_day_start(
        night
    ).astimezone(utc)
    assert length in (dt.timedelta(hours=23), dt.timedelta(hours=25))
    assert business_today(business_day_start(night)) == night


def test_business_day_start_when_midnight_does_not_exist(settings):
    settings.OMS_TIME_ZONE = "America/Santiago"  # DST starts at 24:00 -> 01:00
    start = business_day_start(D(2025, 9, 7))
    assert business_today(start) == D(2025, 9, 7)
    assert start.astimezone(ZoneInfo("America/Santiago")).hour == 1


# --- properties ----------------------------------------------------------------------------

anchors = st.dates(min_value=D(1990, 1, 1), max_value=D(2200, 12, 31))
units = st.sampled_from(IntervalUnit.values)
counts = st.integers(min_value=1, max_value=12)
PROPS = settings(max_examples=150, deadline=None)


@PROPS
@given(anchor=anchors, unit=units, count=counts, k=st.integers(min_value=1, max_value=40))
def test_periods_are_contiguous_non_overlapping_and_increasing(anchor, unit, count, k):
    bounds = [period_bounds(anchor, unit, count, n) for n in range(k)]
    assert bounds[0][0] == anchor
    for (start, end), (next_start, _) in zip(bounds, bounds[1:], strict=False):
        assert start < end
        assert end == next_start


@PROPS
@given(anchor=anchors, unit=units, count=counts, k=st.integers(min_value=1, max_value=60))
def test_iterating_from_the_anchor_never_drifts(anchor, unit, count, k):
    """Walking period by period (end of one = start of the next) lands on the direct computation
    from the anchor, and month/year periods keep the anchor day whenever the month has it."""
    current = anchor
    for n in range(k):
        assert current == period_start(anchor, unit, count, n)
        current = period_bounds(anchor, unit, count, n)[1]


@PROPS
@given(anchor=anchors, unit=units, count=counts, offset=st.integers(min_value=-400, max_value=4000))
def test_period_index_for_finds_the_period_containing_any_day(anchor, unit, count, offset):
    day = anchor + dt.timedelta(days=offset)
    n = period_index_for(anchor, unit, count, day)
    start, end = period_bounds(anchor, unit, count, n)
    assert start <= day < end


@PROPS
@given(anchor=anchors, count=counts, n=st.integers(min_value=0, max_value=200))
def test_month_periods_keep_the_anchor_day_or_the_month_end(anchor, count, n):
    start = period_start(anchor, "month", count, n)
    month_end = calendar.monthrange(start.year, start.month)[1]
    assert start.day == min(anchor.day, month_end)
    assert (start.year * 12 + start.month) - (anchor.year * 12 + anchor.month) == n * count


@PROPS
@given(anchor=anchors, count=counts, n=st.integers(min_value=0, max_value=150))
def test_year_periods_keep_the_anchor_date_except_feb_29_in_common_years(anchor, count, n):
    start = period_start(anchor, "year", count, n)
    assert start.year == anchor.year + n * count and start.month == anchor.month
    if (anchor.month, anchor.day) == (2, 29) and not calendar.isleap(start.year):
        assert start.day == 28
    else:
        assert start.day == anchor.day


@PROPS
@given(anchor=anchors, unit=units, count=counts, n=st.integers(min_value=-50, max_value=300))
def test_every_period_start_maps_back_to_its_own_index(anchor, unit, count, n):
    assert period_index_for(anchor, unit, count, period_start(anchor, unit, count, n)) == n
