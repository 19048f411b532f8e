"""Property tests: for random valid EventBridge cron expressions, the fast search returns
exactly the minutes that a brute-force, minute-by-minute evaluation accepts — every computed
time matches and none is skipped. The reference below is written from the EventBridge rules,
independently of ``cronplane.schedules`` (its sets are built alongside the text, and L, W, #
are evaluated by looking at the calendar, not by formula)."""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cronplane.errors import ScheduleError
from cronplane.schedule.expression import Schedule, parse_schedule

UTC = UTC
MINUTE = timedelta(minutes=1)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
PAST = datetime(2020, 1, 1, tzinfo=UTC)  # "now" for parsing: every generated year is ahead


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int]


def field(lo: int, hi: int, names: tuple[str, ...] = (), steps: bool = True) -> st.SearchStrategy[Field]:
    """Field texts with their value sets; ``steps=False`` for day-of-week, where the
    EventBridge reference allows , - * ? L # but not /."""
    value = st.integers(lo, hi)

    def name(v: int) -> str:
        return names[v - lo] if names else str(v)

    def ranged(ab: tuple[int, int], step: int) -> Field:
        a, b = sorted(ab)
        suffix = f"/{step}" if step > 1 else ""
        return Field(f"{name(a)}-{name(b)}{suffix}", frozenset(range(a, b + 1, step)))

    plain = [
        st.just(Field("*", frozenset(range(lo, hi + 1)))),
        value.map(lambda v: Field(name(v), frozenset({v}))),
        value.map(lambda v: Field(str(v), frozenset({v}))),
        st.builds(ranged, st.tuples(value, value), st.integers(1, 3 if steps else 1)),
        st.lists(value, min_size=2, max_size=5, unique=True).map(
            lambda vs: Field(",".join(name(v) for v in vs), frozenset(vs))
        ),
    ]
    stepped = [
        st.builds(lambda a, n: Field(f"{a}/{n}", frozenset(range(a, hi + 1, n))), value, st.integers(1, hi - lo + 1)),
        st.integers(1, hi - lo + 1).map(lambda n: Field(f"*/{n}", frozenset(range(lo, hi + 1, n)))),
    ]
    return st.one_of(*plain, *(stepped if steps else []))


DayRule = Callable[[date], bool]


def last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def is_weekday(day: date) -> bool:
    return day.weekday() < 5


def aws_dow(day: date) -> int:
    return day.isoweekday() % 7 + 1  # 1 = SUN .. 7 = SAT


def nearest_weekday(n: int) -> DayRule:
    def rule(day: date) -> bool:
        if n > last_day(day):
            return False
        weekdays = [d for d in range(1, last_day(day) + 1) if is_weekday(day.replace(day=d))]
        return day.day == min(weekdays, key=lambda d: abs(d - n))

    return rule


def last_weekday(day: date) -> bool:
    later = [day.replace(day=d) for d in range(day.day + 1, last_day(day) + 1)]
    return is_weekday(day) and not any(is_weekday(d) for d in later)


def nth_weekday(dow: int, n: int) -> DayRule:
    def rule(day: date) -> bool:
        same = [d for d in range(1, day.day + 1) if aws_dow(day.replace(day=d)) == dow]
        return aws_dow(day) == dow and len(same) == n

    return rule


def last_of_month(dow: int) -> DayRule:
    def rule(day: date) -> bool:
        later = [day.replace(day=d) for d in range(day.day + 1, last_day(day) + 1)]
        return aws_dow(day) == dow and not any(aws_dow(d) == dow for d in later)

    return rule


@st.composite
def day_fields(draw: st.DrawFn) -> tuple[str, str, DayRule]:
    """(day-of-month text, day-of-week text, reference rule); one of the two is "?"."""
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["set", "set", "L", "LW", "W"]))
        if kind == "L":
            return "L", "?", lambda d: d.day == last_day(d)
        if kind == "LW":
            return "LW", "?", last_weekday
        if kind == "W":
            n = draw(st.integers(1, 31))
            return f"{n}W", "?", nearest_weekday(n)
        dom = draw(field(1, 31))
        return dom.text, "?", lambda d: d.day in dom.values
    kind = draw(st.sampled_from(["set", "set", "L", "#"]))
    dow = draw(st.integers(1, 7))
    text = draw(st.sampled_from([str(dow), DAYS[dow - 1]]))
    if kind == "L":
        return "?", f"{text}L", last_of_month(dow)
    if kind == "#":
        n = draw(st.integers(1, 5))
        return "?", f"{text}#{n}", nth_weekday(dow, n)
    days = draw(field(1, 7, DAYS, steps=False))
    return "?", days.text, lambda d: aws_dow(d) in days.values


@dataclass(frozen=True)
class Case:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_rule: DayRule

    def matches(self, wall: datetime) -> bool:
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and wall.year in self.years
            and self.day_rule(wall.date())
        )


@st.composite
def cron_cases(draw: st.DrawFn) -> Case:
    minute = draw(field(0, 59))
    hour = draw(field(0, 23))
    month = draw(st.one_of(st.just(Field("*", frozenset(range(1, 13)))), field(1, 12, MONTHS)))
    year = draw(
        st.sampled_from([Field("*", frozenset(range(1970, 2200))), Field("2026-2031", frozenset(range(2026, 2032)))])
    )
    dom, dow, rule = draw(day_fields())
    expression = f"cron({minute.text} {hour.text} {dom} {month.text} {dow} {year.text})"
    return Case(expression, minute.values, hour.values, month.values, year.values, rule)


# Window starts near month edges (where L, W and # live) as well as anywhere.
window_starts = st.one_of(
    st.builds(
        lambda y, m, d, minute: datetime(y, m, 1, tzinfo=UTC) + timedelta(days=d, minutes=minute),
        st.integers(2026, 2030),
        st.integers(1, 12),
        st.sampled_from([-3, -2, -1, 0, 12, 26]),
        st.integers(0, 24 * 60),
    ),
    st.integers(0, 5 * 365 * 24 * 60).map(lambda m: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m)),
)


def parse_or_none(case: Case) -> Schedule | None:
    try:
        return parse_schedule(case.expression, now=PAST)
    except ScheduleError as exc:
        # The only legal refusal of a generated expression is one that truly never fires:
        # no day of an allowed month and year from PAST to 2199 passes the reference rule.
        assert "never" in str(exc), (case.expression, str(exc))
        for year in sorted(y for y in case.years if y >= PAST.year):
            for month in sorted(case.months):
                for day in range(1, calendar.monthrange(year, month)[1] + 1):
                    assert not case.day_rule(date(year, month, day)), (case.expression, year, month, day)
        return None


@settings(max_examples=80, deadline=None)
@given(case=cron_cases(), start=window_starts)
def test_fire_times_equal_brute_force_minute_by_minute_utc(case: Case, start: datetime) -> None:
    schedule = parse_or_none(case)
    if schedule is None:
        return
    end = start + timedelta(days=3)
    expected = []
    moment = start.replace(second=0, microsecond=0) + MINUTE
    while moment <= end:
        if case.matches(moment.replace(tzinfo=None)):
            expected.append(moment)
        moment += MINUTE
    got = schedule.fire_times_between(start, end)
    assert got == expected, case.expression
    # next_fire_times agrees, and chaining from each result finds the following one.
    assert schedule.next_fire_times(start, len(expected)) == expected
    for before, after in itertools.pairwise(expected):
        assert schedule.next_fire_times(before, 1) == [after]


# Zones with different DST rules (30-minute shift on Lord Howe; southern hemisphere) and the
# transition dates of 2026-2027 that the window is placed around.
TRANSITIONS = [
    ("Europe/Berlin", datetime(2026, 3, 29)),
    ("Europe/Berlin", datetime(2026, 10, 25)),
    ("America/New_York", datetime(2026, 3, 8)),
    ("America/New_York", datetime(2026, 11, 1)),
    ("Australia/Lord_Howe", datetime(2026, 4, 5)),
    ("Australia/Lord_Howe", datetime(2026, 10, 4)),
    ("America/Santiago", datetime(2026, 4, 5)),
    ("America/Santiago", datetime(2026, 9, 6)),
    ("Asia/Kolkata", datetime(2026, 3, 29)),  # no DST: a control
]


@settings(max_examples=60, deadline=None)
@given(
    case=cron_cases(),
    transition=st.sampled_from(TRANSITIONS),
    offset_minutes=st.integers(-30 * 60, 6 * 60),
)
def test_fire_times_in_a_zone_equal_brute_force_over_utc_minutes(
    case: Case, transition: tuple[str, datetime], offset_minutes: int
) -> None:
    zone_name, day = transition
    zone = ZoneInfo(zone_name)
    if parse_or_none(case) is None:
        return
    schedule = parse_schedule(case.expression, zone_name, now=PAST)
    start = day.replace(tzinfo=UTC) + timedelta(minutes=offset_minutes)
    end = start + timedelta(days=2)
    # Reference: walk real instants; each existing local time is seen once per occurrence,
    # and the second occurrence of a repeated time (fold=1) must not fire.
    expected = []
    moment = start + MINUTE
    while moment <= end:
        local = moment.astimezone(zone)
        if local.fold == 0 and case.matches(local.replace(tzinfo=None)):
            expected.append(moment)
        moment += MINUTE
    got = [t.astimezone(UTC) for t in schedule.fire_times_between(start, end)]
    assert got == expected, (case.expression, zone_name)


# Any text a team might type: the engine answers with a ScheduleError (a message for the user)
# or a schedule whose fire times and words can be computed, never with another exception.
_TOKENS = st.sampled_from(
    [
        "0",
        "1",
        "5",
        "7",
        "12",
        "15",
        "29",
        "31",
        "59",
        "60",
        "2199",
        "2026",
        "1969",
        "*",
        "?",
        "L",
        "W",
        "LW",
        "15W",
        "6L",
        "2#1",
        "#",
        "/",
        "-",
        ",",
        "*/5",
        "0/15",
        "1-5",
        "MON",
        "FRI",
        "JAN",
        "SUN-SAT",
        "x",
    ]
)
_FIELDS = st.lists(_TOKENS, min_size=1, max_size=3).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    text=st.one_of(
        st.lists(_FIELDS, min_size=4, max_size=7).map(lambda fs: f"cron({' '.join(fs)})"),
        st.lists(_FIELDS, min_size=4, max_size=6).map(" ".join),
        st.tuples(
            st.sampled_from(["0", "1", "2", "-1", "99999", "x"]),
            st.sampled_from(["minute", "minutes", "hour", "hours", "day", "days", "week", "second"]),
        ).map(lambda t: f"rate({t[0]} {t[1]})"),
        st.text(max_size=30),
    ),
    zone=st.sampled_from([None, "UTC", "Europe/Berlin", "Australia/Lord_Howe"]),
)
def test_any_text_is_a_schedule_or_a_schedule_error(text: str, zone: str | None) -> None:
    try:
        schedule = parse_schedule(text, zone, now=PAST)
    except ScheduleError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    times = schedule.next_fire_times(PAST, 3)
    assert times == sorted(times) and all(t > PAST for t in times)
    assert schedule.describe().endswith(f"({zone or 'UTC'})")
