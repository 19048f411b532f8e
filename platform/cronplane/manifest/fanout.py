"""Fan-out: the minutes in which more jobs fire than Lambda can start at once.

Pure (no I/O, no AWS), after the manifest is loaded: ``jobctl validate`` prints
``describe(crowded_minutes(manifest, limit, now), limit)`` as warnings against Lambda's default
of 1,000 concurrent executions (or ``--concurrency``); ``jobctl plan`` can call the same with the
account's applied quota. Jobs that start in the same minute each need an execution environment
at once, whatever their ``reserved_concurrency`` (which caps a function, it adds no room).

The count is exact, minute by minute in UTC, over the ``days`` (a year by default) after
``now``: a year holds every monthly, quarterly and yearly firing and both DST changes. All times
come from the schedule engine (``cronplane.schedule.expression``); the work is kept small by
splitting a cron into what its fields make independent:

- the minutes of the day it fires (its minutes and hours fields), asked once per distinct pair;
- the days it fires (its day-of-month, month, day-of-week and year fields), asked once per
  distinct rule as the days ``cron(0 0 DOM MONTH DOW YEAR)`` fires on;
- jobs sharing a time zone and a day rule add their minutes into one profile of the day, which
  lands on the timeline once per day they fire, at that day's UTC offset. A day on which the
  zone changes its offset asks the engine for its exact instants (a skipped local time does not
  fire; a repeated one fires once).

``rate()`` has no phase a manifest knows: AWS counts it from when the trigger is created. It is
counted as ``jobctl next`` shows it, from 00:00 UTC: jobs deployed together are created within
the same minute or so and fire together, and 00:00 puts them on the full hours and days where
cron jobs crowd too, so this is the case to plan for. A job with a ``start_window`` of N minutes
is started by Scheduler at a random moment within N minutes after its time: it counts as 1/N of
a job in each of those N minutes. Disabled jobs do not fire and are not counted.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from cronplane.manifest.models import Manifest
from cronplane.schedule.expression import Schedule, ScheduleKind, parse_schedule, zone_for

__all__ = ["DEFAULT_CONCURRENCY", "HORIZON_DAYS", "CrowdedMinute", "crowded_minutes", "describe"]

# Lambda's default quota of concurrent executions per account and Region (AWS Lambda quotas;
# docs/manifest.md#fan-out-and-start_window). Shared by every function of the account.
DEFAULT_CONCURRENCY = 1000
HORIZON_DAYS = 366
SPARSE = 64  # a day with jobs in at most this many minutes is added minute by minute
SHOWN = 5  # crowded minutes described one by one; the rest are counted in one line
DAY = 1440  # minutes
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SAMPLE_DAY = datetime(2001, 1, 1, tzinfo=UTC)  # a UTC day to read minutes of the day on (no DST)
EPSILON = 1e-6  # spread jobs count in fractions: crowded is over the limit by more than rounding
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class CrowdedMinute:
    """Times of day (UTC) at which more jobs fire than the limit, on the same days and with the
    same counts (so one line says them all)."""

    times: tuple[str, ...]  # "09:00", UTC, ascending
    days: str  # "every day", "on Mon-Fri", "on the 1st of every month", ... (see _days_words)
    most: int  # the most jobs firing in one of these minutes
    fewest: int  # the fewest, on another day (equal to ``most`` when every day is alike)
    first: datetime  # the first such minute, UTC
    quieter: str | None  # a minute of the same hour with room left, to move jobs to


def crowded_minutes(
    manifest: Manifest, limit: int = DEFAULT_CONCURRENCY, now: datetime | None = None, days: int = HORIZON_DAYS
) -> list[CrowdedMinute]:
    """Every UTC minute of the ``days`` after ``now`` in which more than ``limit`` jobs fire,
    grouped by time of day, the most crowded first."""
    load = Counter(
        (job.schedule.kind, job.schedule.expression, job.schedule.timezone, job.start_window)
        for job in manifest.jobs
        if job.enabled
    )
    if load.total() <= limit:
        return []  # a job fires at most once a minute: all of them together fit
    timeline = _Timeline(now if now is not None else datetime.now(UTC), days)
    # cron jobs: (zone, day fields, window) -> (minute, hour fields) -> jobs
    cron: dict[tuple[str | None, str, int], Counter[str]] = defaultdict(Counter)
    for (kind, expression, zone, window), count in load.items():
        if kind == ScheduleKind.CRON:
            fields = expression[len("cron(") : -1].split()
            cron[(zone, " ".join(fields[2:]), window)][" ".join(fields[:2])] += count
        else:
            timeline.add_schedule(Schedule(expression, kind, expression, zone), count, window)
    for (zone, day_fields, window), by_time in cron.items():
        profile: Counter[int] = Counter()
        for time_fields, count in by_time.items():
            for minute in _minutes_of_day(time_fields):
                profile[minute] += count
        timeline.add_days(zone, day_fields, profile, window)
    return _grouped(timeline, limit)


def describe(
    crowded: Sequence[CrowdedMinute], limit: int, source: str = "Lambda allows by default", shown: int = SHOWN
) -> list[str]:
    """One line per crowded time of day (the ``shown`` most crowded), then one counting the
    rest. ``source`` says where the limit comes from: "Lambda allows by default", "the account
    allows" (plan, from Service Quotas), "the account allows (--concurrency)"."""
    lines = []
    for entry in crowded[:shown]:
        jobs = f"{entry.most:,}" if entry.most == entry.fewest else f"{entry.fewest:,}-{entry.most:,}"
        window = max(5, 5 * math.ceil(math.ceil(entry.most / limit) / 5))
        move = f"other minutes (e.g. {entry.quieter})" if entry.quieter else "other minutes"
        lines.append(
            f"fan-out: {jobs} jobs fire {_clock_words(entry.times)} {entry.days}, more than the {limit:,} "
            f"concurrent executions {source}; spread them: give some `start_window: {window}` (Scheduler "
            f"starts each within {window} minutes) or move some to {move}"
        )
    rest = sum(len(entry.times) for entry in crowded[shown:])
    if rest:
        lines.append(f"fan-out: and {rest:,} more {'minute' if rest == 1 else 'minutes'} with more than {limit:,} jobs")
    return lines


class _DayLoad:
    """A day's jobs per minute from the day's start, as the timeline adds them: spread over the
    start window when there is one (so a window reaches past midnight), and also kept as pairs
    when few minutes have jobs (a loop over those is cheaper than adding a whole day's list)."""

    def __init__(self, dense: list[float]) -> None:
        self.dense = dense
        pairs = [(minute, count) for minute, count in enumerate(dense) if count]
        self.sparse = pairs if len(pairs) <= SPARSE else None

    @classmethod
    def of(cls, profile: Mapping[int, int], window: int) -> _DayLoad:
        dense: list[float] = [0] * DAY
        for minute, count in profile.items():
            dense[minute] = count
        if not window:
            return cls(dense)
        spread, running = [0.0] * (DAY + window - 1), 0.0
        for minute in range(DAY + window - 1):
            running += dense[minute] if minute < DAY else 0
            running -= dense[minute - window] if 0 <= minute - window < DAY else 0
            spread[minute] = running / window
        return cls(spread)

    @classmethod
    def total(cls, loads: Sequence[_DayLoad]) -> _DayLoad:
        dense: list[float] = [0] * max(len(load.dense) for load in loads)
        for load in loads:
            dense[: len(load.dense)] = map(operator.add, dense[: len(load.dense)], load.dense)
        return cls(dense)


class _Timeline:
    """Jobs starting in each UTC minute from the first whole minute after ``now``, for ``days``
    days. Cron jobs arrive as day loads (``add_days``), summed per UTC start of day first: most
    days see the same loads, so their sum is made once. Spread rate() and at() jobs go to
    ``spread`` as a difference array (+share where the window opens, -share where it closes)."""

    def __init__(self, now: datetime, days: int) -> None:
        now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self.first = _epoch_minute(now) + 1  # fire times are strictly after now
        self.size = days * DAY
        self.counts: list[float] = [0] * self.size
        self.spread: list[float] | None = None
        self.loads: list[_DayLoad] = []
        self.days: dict[int, list[int]] = defaultdict(list)  # UTC start minute -> indexes into loads

    def add(self, minute: int, count: float, window: int) -> None:
        """``count`` jobs due at ``minute`` (epoch minutes, UTC)."""
        index = minute - self.first
        if window:
            spread = self._spread()
            share = count / window
            spread[min(max(index, 0), self.size)] += share
            spread[min(max(index + window, 0), self.size)] -= share
        elif 0 <= index < self.size:
            self.counts[index] += count

    def _spread(self) -> list[float]:
        self.spread = self.spread or [0.0] * (self.size + 1)
        return self.spread

    def add_schedule(self, schedule: Schedule, count: int, window: int) -> None:
        """A rate() or at(): its fire times from the engine (rate() counted from 00:00 UTC)."""
        start = _moment(self.first - 1 - window)  # a window opened before the start reaches into it
        first = next(iter(schedule.next_fire_times(start, 1)), None)
        if first is None:
            return
        if schedule.kind != ScheduleKind.RATE:
            self.add(_epoch_minute(first), count, window)
            return
        period = (schedule.min_interval_seconds or 60) // 60
        index = _epoch_minute(first) - self.first
        while index < 0:  # only a window that opened before the start: it is cut there
            self.add(self.first + index, count, window)
            index += period
        if not window:
            self.counts[index::period] = [value + count for value in self.counts[index::period]]
            return
        spread, share = self._spread(), count / window
        spread[index::period] = [value + share for value in spread[index::period]]
        spread[index + window :: period] = [value - share for value in spread[index + window :: period]]

    def add_days(self, zone_name: str | None, day_fields: str, profile: Mapping[int, int], window: int) -> None:
        """Jobs of one time zone and day rule: ``profile`` (local minute of the day -> jobs) on
        each local day the rule fires, at that day's UTC offset."""
        zone = zone_for(zone_name)
        start, end = _moment(self.first), _moment(self.first + self.size)
        self.loads.append(_DayLoad.of(profile, window))
        load = len(self.loads) - 1
        for day in _days(day_fields, start.date() - timedelta(days=2), end.date() + timedelta(days=1)):
            midnight = datetime(day.year, day.month, day.day)
            offset = midnight.replace(tzinfo=zone).utcoffset()
            if offset != (midnight + timedelta(days=1)).replace(tzinfo=zone).utcoffset():
                self._add_changing_day(zone_name, day, profile, window)
                continue
            self.days[_epoch_minute(midnight.replace(tzinfo=UTC) - (offset or timedelta(0)))].append(load)

    def _add_day(self, start_minute: int, load: _DayLoad) -> None:
        index = start_minute - self.first
        counts = self.counts
        if load.sparse is not None:
            for minute, count in load.sparse:
                if 0 <= index + minute < self.size:
                    counts[index + minute] += count
            return
        low, high = max(0, -index), min(len(load.dense), self.size - index)
        if low < high:
            part = load.dense if (low, high) == (0, len(load.dense)) else load.dense[low:high]
            counts[index + low : index + high] = map(operator.add, counts[index + low : index + high], part)

    def _add_changing_day(self, zone_name: str | None, day: date, profile: Mapping[int, int], window: int) -> None:
        """A day on which the zone's offset changes: each local minute where the engine puts it
        (a skipped local time does not fire, a repeated one fires once)."""
        instants = _local_day(zone_name, day)
        for minute, count in profile.items():
            if minute in instants:
                self.add(instants[minute], count, window)

    def totals(self) -> list[float]:
        """Jobs per minute: the day loads added (each distinct set of loads summed once), plus
        the spread jobs."""
        sums: dict[tuple[int, ...], _DayLoad] = {}
        for start_minute, loads in self.days.items():
            key = tuple(loads)
            if key not in sums:
                sums[key] = self.loads[key[0]] if len(key) == 1 else _DayLoad.total([self.loads[i] for i in key])
            self._add_day(start_minute, sums[key])
        self.days.clear()
        if self.spread is None:
            return self.counts
        return list(map(operator.add, self.counts, itertools.accumulate(self.spread)))


def _grouped(timeline: _Timeline, limit: int) -> list[CrowdedMinute]:
    totals = timeline.totals()
    by_time: dict[int, list[int]] = defaultdict(list)  # UTC minute of the day -> crowded indexes
    for index, count in enumerate(totals):
        if count > limit + EPSILON:
            by_time[(timeline.first + index) % DAY].append(index)
    merged: dict[tuple[str, int, int], list[tuple[int, list[int]]]] = defaultdict(list)
    for minute_of_day, indexes in by_time.items():
        counts = [_whole(totals[i]) for i in indexes]
        dates = [_moment(timeline.first + i).date() for i in indexes]
        words = _days_words(dates, _dates_at(timeline, minute_of_day))
        merged[(words, max(counts), min(counts))].append((minute_of_day, indexes))
    out = []
    for (words, most, fewest), members in merged.items():
        members.sort()
        first = min(index for _, indexes in members for index in indexes)
        quieter = _quieter(totals, timeline, members[0][1][0], limit)
        times = tuple(f"{m // 60:02d}:{m % 60:02d}" for m, _ in members)
        out.append(CrowdedMinute(times, words, most, fewest, _moment(timeline.first + first), quieter))
    return sorted(out, key=lambda entry: (-entry.most, entry.first))


def _quieter(totals: Sequence[float], timeline: _Timeline, index: int, limit: int) -> str | None:
    """The least busy minute of the same hour (the nearest, of equals), if it has room."""
    minute = timeline.first + index
    hour_start = minute - minute % 60
    candidates = [m for m in range(hour_start, hour_start + 60) if 0 <= m - timeline.first < timeline.size]
    best = min(candidates, key=lambda m: (totals[m - timeline.first], abs(m - minute)))
    if totals[best - timeline.first] >= limit:
        return None
    return f"{best % DAY // 60:02d}:{best % 60:02d}"


def _dates_at(timeline: _Timeline, minute_of_day: int) -> list[date]:
    """The UTC dates on which this time of day lies within the timeline."""
    first_day = -(-(timeline.first - minute_of_day) // DAY)  # ceil
    last_day = (timeline.first + timeline.size - 1 - minute_of_day) // DAY
    return [(EPOCH + timedelta(days=d)).date() for d in range(first_day, last_day + 1)]


def _days_words(crowded: Sequence[date], every: Sequence[date]) -> str:
    """The days of ``crowded`` in words, among ``every`` date the time of day could fall on."""
    first, last = crowded[0], crowded[-1]
    if len(crowded) == 1:
        return f"on {first:%a %Y-%m-%d}"
    have = set(crowded)
    weekdays = {d.weekday() for d in crowded}
    month_days = {d.day for d in crowded}
    patterns: list[tuple[str, Callable[[date], bool]]] = [
        ("every day", lambda d: True),
        ("on " + _weekday_words(weekdays), lambda d: d.weekday() in weekdays),
        (f"on the {_and([_ordinal(n) for n in sorted(month_days)])} of every month", lambda d: d.day in month_days),
        ("on the last day of every month", lambda d: (d + timedelta(days=1)).day == 1),
    ]
    for words, matches in patterns:
        if have == {d for d in every if first <= d <= last and matches(d)}:
            # Said without dates when it holds over the whole horizon, else from when to when.
            whole = have == {d for d in every if matches(d)}
            return words if whole else f"{words} from {first} to {last}"
    return f"on {len(crowded)} days from {first} to {last}"


def _weekday_words(weekdays: set[int]) -> str:
    ordered = sorted(weekdays)
    if len(ordered) == 1:
        return f"{WEEKDAY_NAMES[ordered[0]]}s"
    if len(ordered) >= 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{WEEKDAYS[ordered[0]]}-{WEEKDAYS[ordered[-1]]}"
    return _and([WEEKDAYS[d] for d in ordered])


def _clock_words(times: Sequence[str]) -> str:
    if len(times) == DAY:
        return "every minute"
    hours = {t[:2] for t in times}
    minutes = sorted({t[3:] for t in times})
    if len(hours) == 24 and len(times) == 24 * len(minutes):
        return f"at {_and([':' + m for m in minutes])} past every hour (UTC)"
    if len(times) <= 3:
        return f"at {_and(list(times))} UTC"
    return f"at {len(times)} times of day from {times[0]} to {times[-1]} UTC"


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _whole(count: float) -> int:
    """A count of jobs for people: spread jobs make fractions; a part of a job is a job."""
    return math.ceil(count - EPSILON)


@lru_cache(maxsize=4096)
def _minutes_of_day(time_fields: str) -> tuple[int, ...]:
    """The minutes of the day (0-1439) a cron's minutes and hours fields fire at."""
    minute, hour = time_fields.split()
    if minute.isdigit() and hour.isdigit():  # the common "17 9": no need to walk a day
        return (int(hour) * 60 + int(minute),)
    schedule = parse_schedule(f"cron({time_fields} * * ? *)", now=EPOCH)
    times = schedule.fire_times_between(SAMPLE_DAY - timedelta(minutes=1), SAMPLE_DAY + timedelta(minutes=DAY - 1))
    return tuple(t.hour * 60 + t.minute for t in times)


@lru_cache(maxsize=1024)
def _days(day_fields: str, start: date, end: date) -> tuple[date, ...]:
    """The days from ``start`` to ``end`` a cron's day-of-month, month, day-of-week and year
    fields fire on (wall-clock dates: the same in every zone)."""
    schedule = parse_schedule(f"cron(0 0 {day_fields})", now=EPOCH)
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(minutes=1)
    finish = datetime(end.year, end.month, end.day, tzinfo=UTC)
    return tuple(t.date() for t in schedule.fire_times_between(begin, finish))


@lru_cache(maxsize=64)
def _local_day(zone_name: str | None, day: date) -> dict[int, int]:
    """Local minute of the day -> the epoch minute it fires at, for a day on which the zone's
    offset changes: the engine's every-minute cron over that one day, so its DST rules hold."""
    schedule = parse_schedule(f"cron(* * {day.day} {day.month} ? {day.year})", zone_name, now=EPOCH)
    around = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {
        moment.hour * 60 + moment.minute: _epoch_minute(moment)
        for moment in schedule.fire_times_between(around - timedelta(days=1), around + timedelta(days=2))
    }


def _epoch_minute(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds() // 60)


def _moment(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=minute)
