"""The schedule engine's public API: ``parse_schedule`` turns what a team wrote in jobs.yaml
(``cron(...)``, ``rate(...)``, ``at(...)``, Unix five-field cron, ``@daily``) into a
``Schedule`` — the expression EventBridge receives, validated exactly as EventBridge validates
it — and a ``Schedule`` answers when it fires and what that means in words.

It sits between the manifest (which calls ``parse_schedule`` for every job) and everything
that needs time: resources (``expression``, ``needs_scheduler``), ``jobctl next/list``, audit
and backfill (``fire_times_between``). The stages live in ``cronplane.schedules``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from functools import cached_property, lru_cache
from itertools import islice, pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronplane.errors import ScheduleError
from cronplane.schedule import describe as wording
from cronplane.schedule.cron import CRON_EXAMPLE, FIELD_ORDER, MONTH_NAMES, CronSpec, parse_cron_fields
from cronplane.schedule.search import iter_fire_times, wall_to_instant
from cronplane.schedule.unix import expand_macro, unix_to_aws_fields

__all__ = ["Schedule", "ScheduleError", "ScheduleKind", "parse_schedule", "zone_for"]

UTC = UTC
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_RATE_SECONDS = 36_500 * 86400  # 100 years
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
ACCEPTED = (
    "cron(0 9 ? * MON-FRI *), rate(15 minutes), at(2027-01-01T09:00:00), "
    "Unix cron '0 9 * * 1-5' or @hourly/@daily/@weekly/@monthly/@yearly"
)


class ScheduleKind(StrEnum):
    CRON = "cron"
    RATE = "rate"
    AT = "at"


@dataclass(frozen=True)
class Schedule:
    source: str  # exactly what the user wrote
    kind: str  # a ScheduleKind: "cron" | "rate" | "at"
    expression: str  # the AWS form deployed: cron(0 9 ? * MON-FRI *), rate(15 minutes), at(...)
    timezone: str | None  # IANA name, or None for UTC

    @property
    def needs_scheduler(self) -> bool:
        """Classic EventBridge rules run in UTC and know no at(): those need Scheduler."""
        return self.kind == ScheduleKind.AT or self.timezone not in (None, "UTC")

    @property
    def zone(self) -> tzinfo:
        return zone_for(self.timezone)

    def iter_fire_times(self, after: datetime, anchor: datetime | None = None) -> Iterator[datetime]:
        """Fire times strictly after ``after`` (naive = UTC), ascending, as aware datetimes in
        the schedule's zone. rate() counts from ``anchor`` (AWS: the rule's creation; None =
        the Unix epoch): the first firing is one period after it."""
        after = _aware(after)
        zone = self.zone
        if self.kind == ScheduleKind.RATE:
            value, unit = _rate(self.expression)
            period = timedelta(seconds=value * UNIT_SECONDS[unit])
            start = _aware(anchor) if anchor is not None else EPOCH
            step = max(1, (after - start) // period + 1)
            while True:
                yield (start + step * period).astimezone(zone)
                step += 1
        elif self.kind == ScheduleKind.AT:
            instant = wall_to_instant(_at_wall(self.expression), zone)
            if instant is not None and instant > after:
                yield instant
        else:
            naive_zone = None if zone is UTC else zone
            yield from iter_fire_times(_cron_spec(self.expression), naive_zone, after)

    def next_fire_times(self, after: datetime, count: int, anchor: datetime | None = None) -> list[datetime]:
        return list(islice(self.iter_fire_times(after, anchor), max(count, 0)))

    def fire_times_between(
        self,
        start: datetime,
        end: datetime,
        anchor: datetime | None = None,
        limit: int = 100_000,
    ) -> list[datetime]:
        """Fire times with ``start < t <= end``. More than ``limit`` of them is an error, not
        a silent cut: a backfill must never quietly drop firings."""
        end = _aware(end)
        times: list[datetime] = []
        for when in self.iter_fire_times(start, anchor):
            if when > end:
                break
            if len(times) == limit:
                raise ScheduleError(
                    f"{' '.join(self.source.split())}: more than {limit} fire times between {_aware(start)} and "
                    f"{end}; use a shorter window"
                )
            times.append(when)
        return times

    def describe(self) -> str:
        if self.kind == ScheduleKind.RATE:
            words = wording.describe_rate(*_rate(self.expression))
        elif self.kind == ScheduleKind.AT:
            words = wording.describe_at(_at_wall(self.expression))
        else:
            words = wording.describe_cron(_cron_spec(self.expression).fields)
        return wording.with_zone(words, self.timezone)

    @cached_property
    def min_interval_seconds(self) -> int | None:
        """Shortest gap between two firings (over the next 1,000 for cron); None for at()."""
        if self.kind == ScheduleKind.RATE:
            value, unit = _rate(self.expression)
            return value * UNIT_SECONDS[unit]
        if self.kind == ScheduleKind.AT:
            return None
        times = self.next_fire_times(datetime.now(UTC), 1000)
        gaps = [int((b - a).total_seconds()) for a, b in pairwise(times)]
        return min(gaps) if gaps else None


def parse_schedule(text: str, timezone: str | None = None, now: datetime | None = None) -> Schedule:
    """Validate a schedule as EventBridge would, plus what EventBridge only finds out later
    (a schedule that can never fire, an at() in the past). ``now`` defaults to the clock."""
    if not isinstance(text, str) or not text.strip():
        raise ScheduleError(f"the schedule is empty; write one of: {ACCEPTED}")
    zone_for(timezone)  # an unknown zone is reported before anything else
    now = _aware(now) if now is not None else datetime.now(UTC)
    stripped = text.strip()
    # Messages quote the schedule on one line: validate prints one problem per line, and a YAML
    # block scalar (schedule: |) brings newlines. ``source`` keeps the text exactly as written.
    label = " ".join(text.split())
    head = stripped.split("(", 1)[0].strip().lower()
    if head in ("cron", "rate", "at") and not stripped.endswith(")"):
        raise ScheduleError(f"{label}: missing ')' at the end, e.g. {CRON_EXAMPLE}")
    if head == "cron":
        inner = stripped[stripped.index("(") + 1 : -1]
        spec = parse_cron_fields(inner.split(), label)
        schedule = Schedule(text, ScheduleKind.CRON, spec.expression, timezone)
    elif head == "rate":
        schedule = Schedule(text, ScheduleKind.RATE, _parse_rate(stripped, label), timezone)
    elif head == "at":
        schedule = Schedule(text, ScheduleKind.AT, _parse_at(stripped, label), timezone)
    elif stripped.startswith("@"):
        unix = expand_macro(label).split()
        spec = parse_cron_fields(unix_to_aws_fields(unix, label), label)
        schedule = Schedule(text, ScheduleKind.CRON, spec.expression, timezone)
    else:
        spec = parse_cron_fields(_unix_or_explain(stripped, label), label)
        schedule = Schedule(text, ScheduleKind.CRON, spec.expression, timezone)
    _check_fires(schedule, now, label)
    return schedule


def zone_for(timezone: str | None) -> tzinfo:
    """The tzinfo of an IANA name (None or "UTC" = UTC); unknown names raise ScheduleError
    with the nearest real name."""
    if timezone is None or timezone == "UTC":
        return UTC
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        pass
    import difflib  # only on this error path

    names = available_timezones()
    by_lower = {name.lower(): name for name in names}
    guess = by_lower.get(str(timezone).lower()) or next(
        iter(difflib.get_close_matches(str(timezone), names, n=1, cutoff=0.6)), None
    )
    hint = f"; did you mean {guess}?" if guess else ""
    raise ScheduleError(
        f"unknown timezone {timezone!r}{hint} Use an IANA name such as Europe/Berlin, America/New_York or UTC"
    )


def _unix_or_explain(stripped: str, source: str) -> list[str]:
    fields = stripped.split()
    if len(fields) == 5:
        return unix_to_aws_fields(fields, source)
    if len(fields) == 6:
        raise ScheduleError(
            f"{source}: six bare fields: EventBridge cron ({FIELD_ORDER}) is written "
            f"cron({' '.join(fields)}); there is no seconds field, schedules run at most once a minute"
        )
    raise ScheduleError(f"{source}: not a schedule ({len(fields)} fields); write one of: {ACCEPTED}")


def _parse_rate(stripped: str, source: str) -> str:
    inner = stripped[stripped.index("(") + 1 : -1].split()
    if len(inner) != 2:
        raise ScheduleError(f"{source}: rate() takes a number and a unit, e.g. rate(15 minutes)")
    number, unit = inner[0], inner[1].lower()
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular in ("second", "sec"):
        raise ScheduleError(
            f"{source}: EventBridge runs schedules at most once a minute; the fastest is rate(1 minute)"
        )
    if singular not in UNIT_SECONDS:
        raise ScheduleError(
            f"{source}: unknown unit {inner[1]!r}: rate() takes minute(s), hour(s) or day(s) "
            "(for weeks write rate(7 days) or a cron())"
        )
    if not re.fullmatch(r"[0-9]+", number) or int(number) == 0:
        raise ScheduleError(f"{source}: the number in rate() must be a whole number of at least 1, got {number!r}")
    value = int(number)
    if value * UNIT_SECONDS[singular] > MAX_RATE_SECONDS:
        # Such a job never runs in practice, and the date arithmetic of its fire times overflows.
        raise ScheduleError(
            f"{source}: more than 100 years between runs; for a job that runs once write "
            "at(yyyy-mm-ddThh:mm:ss), e.g. at(2027-01-01T09:00:00)"
        )
    if value == 1 and unit != singular:
        raise ScheduleError(f"{source}: use the singular for 1: rate(1 {singular})")
    if value != 1 and unit == singular:
        raise ScheduleError(f"{source}: use the plural for {value}: rate({value} {singular}s)")
    return f"rate({value} {unit})"


def _parse_at(stripped: str, source: str) -> str:
    inner = stripped[stripped.index("(") + 1 : -1].strip()
    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})", inner)
    if not match:
        raise ScheduleError(
            f"{source}: at() takes a local date and time as yyyy-mm-ddThh:mm:ss, "
            "e.g. at(2027-01-01T09:00:00) (the zone comes from the job's timezone)"
        )
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise ScheduleError(f"{source}: not a real date and time: {exc}") from None
    return f"at({inner})"


def _check_fires(schedule: Schedule, now: datetime, label: str) -> None:
    """EventBridge accepts schedules that can never fire; a job that never runs is a bug."""
    if schedule.kind == ScheduleKind.RATE:
        return
    if schedule.kind == ScheduleKind.AT:
        wall = _at_wall(schedule.expression)
        zone = schedule.zone
        instant = wall_to_instant(wall, zone)
        if instant is None:
            raise ScheduleError(
                f"{label}: {wall:%Y-%m-%d %H:%M:%S} does not exist in "
                f"{schedule.timezone} (the clocks spring forward over it); pick another time"
            )
        if instant <= now:
            raise ScheduleError(
                f"{label}: {wall:%Y-%m-%dT%H:%M:%S} ({schedule.timezone or 'UTC'}) is in "
                f"the past (now {now.astimezone(zone):%Y-%m-%dT%H:%M:%S}); a one-time schedule "
                "must be in the future"
            )
        return
    if not schedule.next_fire_times(now, 1):
        raise ScheduleError(f"{label}: {_never_fires_reason(schedule, now)}")


def _never_fires_reason(schedule: Schedule, now: datetime) -> str:
    spec = _cron_spec(schedule.expression)
    year_now = now.astimezone(schedule.zone).year
    if max(spec.years) < year_now:
        return f"year {spec.fields[5]} is wholly in the past (it is {year_now} now): the schedule would never fire"
    dom = spec.day_of_month
    first_day = min(dom.days) if dom and dom.days else (dom.nearest_weekday if dom else None)
    if first_day is not None and all(first_day > _MAX_DAYS[m - 1] for m in spec.months):
        names = {number: name for name, number in MONTH_NAMES.items()}
        months = ", ".join(names[m] for m in spec.months)
        return f"day-of-month {spec.fields[2]} never occurs in {months}: the schedule would never fire"
    if max(spec.years) == year_now:
        return (
            f"every time it matches in {year_now} has passed (now {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC): "
            "the schedule would never fire again"
        )
    return f"no time from now ({now:%Y-%m-%d}) to the end of 2199 matches it: the schedule would never fire"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=1024)
def _cron_spec(expression: str) -> CronSpec:
    return parse_cron_fields(expression[len("cron(") : -1].split(), expression)


@lru_cache(maxsize=1024)
def _rate(expression: str) -> tuple[int, str]:
    number, unit = expression[len("rate(") : -1].split()
    return int(number), unit.rstrip("s")


@lru_cache(maxsize=1024)
def _at_wall(expression: str) -> datetime:
    return datetime.strptime(expression[len("at(") : -1], "%Y-%m-%dT%H:%M:%S")
