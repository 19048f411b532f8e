"""Unix five-field cron and @macros become EventBridge cron: the translation table, and a
property test that the translated schedule fires exactly when Unix cron (croniter) would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from cronplane.errors import ScheduleError
from cronplane.schedule.expression import parse_schedule

UTC = UTC
NOW = datetime(2026, 11, 27, 16, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("unix", "aws"),
    [
        ("0 9 * * 1-5", "cron(0 9 ? * 2-6 *)"),  # Unix 1 = Monday becomes EventBridge 2
        ("0 9 * * 0", "cron(0 9 ? * 1 *)"),  # Sunday
        ("0 9 * * 7", "cron(0 9 ? * 1 *)"),  # Sunday again
        ("0 9 * * 6", "cron(0 9 ? * 7 *)"),  # Saturday
        ("0 9 * * 0-6", "cron(0 9 ? * * *)"),
        ("0 9 * * 5-7", "cron(0 9 ? * 1,6,7 *)"),  # Fri-Sun wraps in EventBridge numbering
        ("0 9 * * 1,3,5", "cron(0 9 ? * 2,4,6 *)"),
        ("0 9 * * */2", "cron(0 9 ? * 1,3,5,7 *)"),  # Sun Tue Thu Sat
        ("0 9 * * mon-fri", "cron(0 9 ? * MON-FRI *)"),  # names pass through
        ("0 9 * * SAT,SUN", "cron(0 9 ? * SAT,SUN *)"),
        # EventBridge has no "/" in day-of-week: a Unix step becomes the list of its days
        ("0 9 * * mon-fri/2", "cron(0 9 ? * 2,4,6 *)"),
        ("0 9 * * 1-5/2", "cron(0 9 ? * 2,4,6 *)"),
        ("0 9 * * 1#1", "cron(0 9 ? * 2#1 *)"),  # first Monday
        ("0 9 * * 5L", "cron(0 9 ? * 6L *)"),  # last Friday
        ("*/15 * * * *", "cron(*/15 * * * ? *)"),
        ("0 * * * *", "cron(0 * * * ? *)"),
        ("30 2 1 * *", "cron(30 2 1 * ? *)"),  # day-of-week * becomes ?
        ("30 2 * jan,jul 1", "cron(30 2 ? JAN,JUL 2 *)"),  # day-of-month * becomes ?
        ("0 0 L * *", "cron(0 0 L * ? *)"),
        ("0 0 15W * *", "cron(0 0 15W * ? *)"),
        ("@hourly", "cron(0 * * * ? *)"),
        ("@daily", "cron(0 0 * * ? *)"),
        ("@midnight", "cron(0 0 * * ? *)"),
        ("@weekly", "cron(0 0 ? * 1 *)"),
        ("@monthly", "cron(0 0 1 * ? *)"),
        ("@yearly", "cron(0 0 1 1 ? *)"),
        ("@annually", "cron(0 0 1 1 ? *)"),
    ],
)
def test_unix_to_eventbridge_translation_table(unix: str, aws: str) -> None:
    schedule = parse_schedule(unix, now=NOW)
    assert schedule.expression == aws
    assert schedule.source == unix
    assert schedule.kind == "cron"


def test_unix_day_of_week_names_and_numbers_agree() -> None:
    by_number = parse_schedule("0 9 * * 1-5", now=NOW).next_fire_times(NOW, 20)
    by_name = parse_schedule("0 9 * * MON-FRI", now=NOW).next_fire_times(NOW, 20)
    assert by_number == by_name
    assert {t.strftime("%a") for t in by_number} == {"Mon", "Tue", "Wed", "Thu", "Fri"}


def test_unix_both_day_fields_restricted_is_rejected() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_schedule("0 9 1 * 1", now=NOW)
    message = str(info.value)
    assert "either one matches" in message and "one of day-of-month or day-of-week must be ?" in message


@pytest.mark.parametrize("dow", ["8", "9-10", "1-8"])
def test_unix_day_of_week_range_is_0_to_7(dow: str) -> None:
    with pytest.raises(ScheduleError, match=r"Unix cron allows 0-7 \(0 and 7 = Sunday\)"):
        parse_schedule(f"0 9 * * {dow}", now=NOW)


def test_unix_wrapping_day_range_is_rejected_with_a_fix() -> None:
    with pytest.raises(ScheduleError, match="split it into a list"):
        parse_schedule("0 9 * * 5-1", now=NOW)


# --- property: translated schedules fire exactly when Unix cron does -----------------------


def _unix_field(lo: int, hi: int) -> st.SearchStrategy[str]:
    value = st.integers(lo, hi)
    return st.one_of(
        st.just("*"),
        value.map(str),
        # a-b with a < b: croniter misreads the degenerate a-a (it fires every day for 0-0)
        st.lists(value, min_size=2, max_size=2, unique=True).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.integers(1, max(1, (hi - lo) // 2)).map(lambda n: f"*/{n}"),
        st.lists(value, min_size=2, max_size=4, unique=True).map(lambda vs: ",".join(map(str, sorted(vs)))),
    )


@st.composite
def unix_expressions(draw: st.DrawFn) -> str:
    minute = draw(_unix_field(0, 59))
    hour = draw(_unix_field(0, 23))
    month = draw(_unix_field(1, 12))
    if draw(st.booleans()):
        dom, dow = draw(_unix_field(1, 28)), "*"
    else:
        dom, dow = "*", draw(_unix_field(0, 7))
    return f"{minute} {hour} {dom} {month} {dow}"


@settings(max_examples=60, deadline=None)
@given(expr=unix_expressions(), offset=st.integers(0, 3000 * 24 * 60))
def test_translated_unix_cron_fires_like_croniter(expr: str, offset: int) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=offset)
    ours = parse_schedule(expr, now=datetime(2024, 1, 1, tzinfo=UTC)).next_fire_times(start, 8)
    reference = croniter(expr, start)
    theirs = [reference.get_next(datetime) for _ in range(8)]
    assert ours == theirs, expr
