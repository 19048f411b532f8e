"""Stage two of a cron schedule: from a ``CronSpec`` to fire times.

The walk happens in wall-clock time of the schedule's zone, field by field from the year
down, so a month that cannot match is skipped whole and a day that cannot match never looks at
its minutes: the next ten firings of a yearly cron, or the next 29 February, cost a few
hundred loop steps. Days are computed per (year, month) because ``L``, ``W`` and ``#`` depend
on the calendar of that month.

Wall-clock minutes then become instants with EventBridge Scheduler's DST rules: a local time
that does not exist (clocks spring forward) is skipped, and one that happens twice (clocks fall
back) fires once, at its first occurrence.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from cronplane.schedule.cron import CronSpec, DayOfMonthRule, DayOfWeekRule

UTC = UTC
# Widest UTC-offset jump of any zone at a DST change (2 h historically, e.g. Antarctica/Troll);
# the walk starts this much earlier in wall time so no firing near a transition is missed.
_DST_SLACK = timedelta(hours=3)


def aws_weekday(year: int, month: int, day: int) -> int:
    """EventBridge weekday number: 1 = Sunday .. 7 = Saturday."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


@lru_cache(maxsize=4096)
def days_in_month(spec: CronSpec, year: int, month: int) -> tuple[int, ...]:
    """The days of ``year-month`` that the spec's day fields allow, ascending."""
    length = calendar.monthrange(year, month)[1]
    if spec.day_of_month is not None:
        return _month_days(spec.day_of_month, year, month, length)
    assert spec.day_of_week is not None  # parse_cron_fields guarantees exactly one is "?"
    return _week_days(spec.day_of_week, year, month, length)


def _month_days(rule: DayOfMonthRule, year: int, month: int, length: int) -> tuple[int, ...]:
    if rule.last:
        return (length,)
    if rule.last_weekday:
        return (_nearest_weekday(year, month, length, length),)
    if rule.nearest_weekday is not None:
        if rule.nearest_weekday > length:  # 31W in April: no such day, so no firing
            return ()
        return (_nearest_weekday(year, month, rule.nearest_weekday, length),)
    return tuple(day for day in sorted(rule.days) if day <= length)


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    """The Monday-Friday nearest ``day`` without leaving the month: 1W on a Saturday is
    Monday the 3rd, 31W on a Sunday is Friday the 29th."""
    weekday = calendar.weekday(year, month, day)  # Monday = 0
    if weekday == 5:  # Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday
        return day + 1 if day < length else day - 2
    return day


def _week_days(rule: DayOfWeekRule, year: int, month: int, length: int) -> tuple[int, ...]:
    first = aws_weekday(year, month, 1)
    if rule.nth is not None:
        weekday, nth = rule.nth
        day = 1 + (weekday - first) % 7 + 7 * (nth - 1)
        return (day,) if day <= length else ()
    if rule.last_of_month is not None:
        last = aws_weekday(year, month, length)
        return (length - (last - rule.last_of_month) % 7,)
    return tuple(day for day in range(1, length + 1) if (first - 1 + day - 1) % 7 + 1 in rule.weekdays)


def iter_wall_times(spec: CronSpec, after: datetime) -> Iterator[datetime]:
    """Naive wall-clock minutes strictly after the naive ``after`` that match ``spec``,
    ascending, up to the end of 2199 (EventBridge's last year)."""
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    y0, mo0, d0, h0, mi0 = start.year, start.month, start.day, start.hour, start.minute
    for year in spec.years:
        if year < y0:
            continue
        first_year = year == y0
        for month in spec.months:
            if first_year and month < mo0:
                continue
            first_month = first_year and month == mo0
            for day in days_in_month(spec, year, month):
                if first_month and day < d0:
                    continue
                first_day = first_month and day == d0
                for hour in spec.hours:
                    if first_day and hour < h0:
                        continue
                    first_hour = first_day and hour == h0
                    for minute in spec.minutes:
                        if first_hour and minute < mi0:
                            continue
                        yield datetime(year, month, day, hour, minute)


def wall_to_instant(wall: datetime, zone: tzinfo) -> datetime | None:
    """The instant a naive wall-clock time fires in ``zone``: None when it does not exist
    (spring forward), the first occurrence when it happens twice (fall back)."""
    aware = wall.replace(tzinfo=zone, fold=0)
    # Outside a transition both readings of fold give the same offset: the common, cheap case.
    if aware.utcoffset() == wall.replace(tzinfo=zone, fold=1).utcoffset():
        return aware
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        return None  # in the gap: fold=0 reads it with the old offset, which lands elsewhere
    return aware  # repeated: fold=0 is the first occurrence


def iter_fire_times(spec: CronSpec, zone: tzinfo | None, after: datetime) -> Iterator[datetime]:
    """Aware fire times strictly after the aware ``after``, in ``zone`` (UTC when None)."""
    if zone is None or zone is UTC:
        naive_after = after.astimezone(UTC).replace(tzinfo=None)
        for wall in iter_wall_times(spec, naive_after):
            yield wall.replace(tzinfo=UTC)
        return
    # Compared in UTC: two datetimes of the same zone compare by wall time, ignoring fold.
    after_utc = after.astimezone(UTC)
    wall_after = after.astimezone(zone).replace(tzinfo=None) - _DST_SLACK
    for wall in iter_wall_times(spec, wall_after):
        instant = wall_to_instant(wall, zone)
        if instant is not None and instant > after_utc:
            yield instant
