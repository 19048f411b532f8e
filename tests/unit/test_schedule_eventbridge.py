"""The examples of the EventBridge / EventBridge Scheduler documentation, with their fire
times; rate() and at(); describe(); the Schedule API contract others code against."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cronplane.errors import ScheduleError
from cronplane.schedule.expression import Schedule, ScheduleKind, parse_schedule

UTC = UTC
# Friday 2026-11-27 16:20 UTC
NOW = datetime(2026, 11, 27, 16, 20, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def next_times(expr: str, after: datetime = NOW, count: int = 3, tz: str | None = None) -> list[datetime]:
    return parse_schedule(expr, tz, now=NOW).next_fire_times(after, count)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # "Run at 10:00 am (UTC) every day"
        ("cron(0 10 * * ? *)", NOW, [utc(2026, 11, 28, 10), utc(2026, 11, 29, 10), utc(2026, 11, 30, 10)]),
        # "Run at 12:15 pm (UTC) every day"
        ("cron(15 12 * * ? *)", NOW, [utc(2026, 11, 28, 12, 15), utc(2026, 11, 29, 12, 15), utc(2026, 11, 30, 12, 15)]),
        # "Run at 6:00 pm (UTC) every Monday through Friday"
        ("cron(0 18 ? * MON-FRI *)", NOW, [utc(2026, 11, 27, 18), utc(2026, 11, 30, 18), utc(2026, 12, 1, 18)]),
        # "Run at 8:00 am (UTC) every first day of the month"
        ("cron(0 8 1 * ? *)", NOW, [utc(2026, 12, 1, 8), utc(2027, 1, 1, 8), utc(2027, 2, 1, 8)]),
        # "Run every 15 minutes"
        ("cron(0/15 * * * ? *)", NOW, [utc(2026, 11, 27, 16, 30), utc(2026, 11, 27, 16, 45), utc(2026, 11, 27, 17)]),
        # "Run every 10 minutes Monday through Friday" (across the weekend)
        (
            "cron(0/10 * ? * MON-FRI *)",
            utc(2026, 11, 27, 23, 45),
            [utc(2026, 11, 27, 23, 50), utc(2026, 11, 30, 0, 0), utc(2026, 11, 30, 0, 10)],
        ),
        # "Run every 5 minutes Monday through Friday between 8:00 am and 5:55 pm"
        (
            "cron(0/5 8-17 ? * MON-FRI *)",
            utc(2026, 11, 27, 17, 50),
            [utc(2026, 11, 27, 17, 55), utc(2026, 11, 30, 8, 0), utc(2026, 11, 30, 8, 5)],
        ),
        # "Run at 9 a.m. (UTC) the first Monday of each month"
        ("cron(0 9 ? * 2#1 *)", NOW, [utc(2026, 12, 7, 9), utc(2027, 1, 4, 9), utc(2027, 2, 1, 9)]),
        ("cron(0 9 ? * MON#1 *)", NOW, [utc(2026, 12, 7, 9), utc(2027, 1, 4, 9), utc(2027, 2, 1, 9)]),
        # last day of the month (30, 31 and February's 28)
        ("cron(0 0 L * ? *)", NOW, [utc(2026, 11, 30), utc(2026, 12, 31), utc(2027, 1, 31), utc(2027, 2, 28)]),
        # last Friday of the month (Nov 27 00:00 is already past)
        ("cron(0 0 ? * 6L *)", NOW, [utc(2026, 12, 25), utc(2027, 1, 29), utc(2027, 2, 26)]),
        ("cron(0 0 ? * FRIL *)", NOW, [utc(2026, 12, 25), utc(2027, 1, 29), utc(2027, 2, 26)]),
        # weekday nearest the 15th: Sat 2027-05-15 -> Fri 14th, Sun 2027-08-15 -> Mon 16th
        (
            "cron(0 0 15W * ? *)",
            utc(2027, 4, 20),
            [utc(2027, 5, 14), utc(2027, 6, 15), utc(2027, 7, 15), utc(2027, 8, 16)],
        ),
        # W never crosses a month edge: Sat 2027-05-01 -> Mon 3rd; Sun 2027-01-31 -> Fri 29th
        ("cron(0 0 1W * ? *)", utc(2027, 4, 2), [utc(2027, 5, 3), utc(2027, 6, 1)]),
        ("cron(0 0 31W * ? *)", utc(2027, 1, 2), [utc(2027, 1, 29), utc(2027, 3, 31)]),
        # last weekday: Sun 2027-01-31 -> Fri 29th; Sun 2027-02-28 -> Fri 26th
        ("cron(0 0 LW * ? *)", utc(2027, 1, 2), [utc(2027, 1, 29), utc(2027, 2, 26), utc(2027, 3, 31)]),
        # L alone in day-of-week is Saturday
        ("cron(0 0 ? * L *)", NOW, [utc(2026, 11, 28), utc(2026, 12, 5), utc(2026, 12, 12)]),
        # names, lists, ranges and steps in month and day-of-week
        ("cron(30 6 1 JAN,JUL ? *)", NOW, [utc(2027, 1, 1, 6, 30), utc(2027, 7, 1, 6, 30), utc(2028, 1, 1, 6, 30)]),
        ("cron(0 12 ? * SUN,SAT *)", NOW, [utc(2026, 11, 28, 12), utc(2026, 11, 29, 12), utc(2026, 12, 5, 12)]),
        ("cron(0 0 ? * 1,4,7 *)", NOW, [utc(2026, 11, 28), utc(2026, 11, 29), utc(2026, 12, 2)]),  # SUN WED SAT
        ("cron(5-7 0 1 1 ? *)", NOW, [utc(2027, 1, 1, 0, 5), utc(2027, 1, 1, 0, 6), utc(2027, 1, 1, 0, 7)]),
    ],
)
def test_documented_cron_examples_fire_when_the_docs_say(expr: str, after: datetime, expected: list[datetime]) -> None:
    assert next_times(expr, after, len(expected)) == expected


def test_29_february_finds_the_next_leap_years() -> None:
    assert next_times("cron(0 0 29 2 ? *)") == [utc(2028, 2, 29), utc(2032, 2, 29), utc(2036, 2, 29)]
    assert next_times("cron(0 0 L 2 ? *)", utc(2027, 3, 1), 2) == [utc(2028, 2, 29), utc(2029, 2, 28)]


def test_year_field_from_the_scheduler_docs_last_friday_2022_to_2023() -> None:
    schedule = parse_schedule("cron(15 10 ? * 6L 2022-2023)", now=utc(2022, 1, 1))
    times = schedule.fire_times_between(utc(2021, 1, 1), utc(2030, 1, 1))
    assert len(times) == 24
    assert times[0] == utc(2022, 1, 28, 10, 15)
    assert times[-1] == utc(2023, 12, 29, 10, 15)
    assert schedule.next_fire_times(times[-1], 5) == []


def test_year_lists_and_steps() -> None:
    schedule = parse_schedule("cron(0 0 1 1 ? 2030/5)", now=NOW)
    assert schedule.next_fire_times(NOW, 3) == [utc(2030, 1, 1), utc(2035, 1, 1), utc(2040, 1, 1)]
    # The last year EventBridge accepts is 2199: nothing after it.
    assert parse_schedule("cron(0 0 1 1 ? *)", now=NOW).next_fire_times(utc(2199, 1, 1), 3) == []


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("rate(5 minutes)", [utc(2026, 11, 27, 16, 25), utc(2026, 11, 27, 16, 30), utc(2026, 11, 27, 16, 35)]),
        ("rate(1 minute)", [utc(2026, 11, 27, 16, 21), utc(2026, 11, 27, 16, 22), utc(2026, 11, 27, 16, 23)]),
        ("rate(1 hour)", [utc(2026, 11, 27, 17), utc(2026, 11, 27, 18), utc(2026, 11, 27, 19)]),
        ("rate(15 minutes)", [utc(2026, 11, 27, 16, 30), utc(2026, 11, 27, 16, 45), utc(2026, 11, 27, 17)]),
        # counted from the Unix epoch, a Thursday
        ("rate(7 days)", [utc(2026, 12, 3), utc(2026, 12, 10), utc(2026, 12, 17)]),
        ("rate(1 day)", [utc(2026, 11, 28), utc(2026, 11, 29), utc(2026, 11, 30)]),
    ],
)
def test_rate_counts_from_the_epoch_by_default(expr: str, expected: list[datetime]) -> None:
    assert next_times(expr) == expected


def test_rate_counts_from_the_anchor_when_given() -> None:
    schedule = parse_schedule("rate(1 hour)", now=NOW)
    created = utc(2026, 11, 27, 9, 7, 30)
    assert schedule.next_fire_times(NOW, 2, anchor=created) == [
        utc(2026, 11, 27, 17, 7, 30),
        utc(2026, 11, 27, 18, 7, 30),
    ]
    # before the rule exists the first firing is one period after its creation
    assert schedule.next_fire_times(utc(2026, 1, 1), 1, anchor=created) == [utc(2026, 11, 27, 10, 7, 30)]


def test_rate_in_a_timezone_keeps_its_period_and_reports_local_times() -> None:
    schedule = parse_schedule("rate(1 hour)", "Europe/Berlin", now=NOW)
    times = schedule.next_fire_times(utc(2026, 10, 25, 0, 0), 3)
    assert [t.astimezone(UTC) for t in times] == [utc(2026, 10, 25, 1), utc(2026, 10, 25, 2), utc(2026, 10, 25, 3)]
    assert [t.strftime("%H:%M%z") for t in times] == ["02:00+0100", "03:00+0100", "04:00+0100"]


def test_at_fires_once_in_its_zone_and_needs_scheduler() -> None:
    schedule = parse_schedule("at(2027-01-01T09:00:00)", "Europe/Berlin", now=NOW)
    assert schedule.kind == "at" and schedule.kind is ScheduleKind.AT
    assert schedule.needs_scheduler
    assert schedule.next_fire_times(NOW, 5) == [utc(2027, 1, 1, 8)]
    assert schedule.next_fire_times(utc(2027, 1, 1, 8), 5) == []
    assert parse_schedule("at(2027-01-01T09:00:00)", now=NOW).next_fire_times(NOW, 1) == [utc(2027, 1, 1, 9)]


def test_fields_of_a_parsed_schedule() -> None:
    schedule = parse_schedule("  cron(0 18 ? * mon-fri *) ", now=NOW)
    assert schedule == Schedule(
        source="  cron(0 18 ? * mon-fri *) ", kind="cron", expression="cron(0 18 ? * MON-FRI *)", timezone=None
    )
    assert not schedule.needs_scheduler
    assert parse_schedule("rate(5 minutes)", "UTC", now=NOW).needs_scheduler is False
    assert parse_schedule("rate(5 minutes)", "Europe/Berlin", now=NOW).needs_scheduler is True
    assert parse_schedule("rate(15 minutes)", now=NOW).expression == "rate(15 minutes)"


def test_naive_after_means_utc_and_results_are_in_the_schedule_zone() -> None:
    schedule = parse_schedule("cron(0 9 * * ? *)", "America/New_York", now=NOW)
    (first,) = schedule.next_fire_times(datetime(2026, 11, 27, 15, 0), 1)
    assert first.tzinfo is not None and str(first.tzinfo) == "America/New_York"
    assert first == utc(2026, 11, 28, 14)
    assert parse_schedule("cron(0 9 * * ? *)", now=NOW).next_fire_times(datetime(2026, 11, 27), 1)[0].tzinfo == UTC


def test_fire_times_between_is_exclusive_of_start_and_inclusive_of_end() -> None:
    schedule = parse_schedule("cron(0 * * * ? *)", now=NOW)
    times = schedule.fire_times_between(utc(2026, 11, 27, 10), utc(2026, 11, 27, 13))
    assert times == [utc(2026, 11, 27, 11), utc(2026, 11, 27, 12), utc(2026, 11, 27, 13)]
    assert schedule.fire_times_between(utc(2026, 11, 27, 10), utc(2026, 11, 27, 10, 59)) == []


def test_fire_times_between_refuses_to_cut_a_window_silently() -> None:
    schedule = parse_schedule("cron(* * * * ? *)", now=NOW)
    with pytest.raises(ScheduleError, match="more than 100 fire times"):
        schedule.fire_times_between(NOW, NOW + timedelta(hours=2), limit=100)
    assert len(schedule.fire_times_between(NOW, NOW + timedelta(minutes=100), limit=100)) == 100


@pytest.mark.parametrize(
    ("expr", "tz", "expected"),
    [
        ("cron(0 9 ? * MON-FRI *)", "Europe/Berlin", "At 09:00, Monday through Friday (Europe/Berlin)"),
        ("0 9 * * 1-5", None, "At 09:00, Monday through Friday (UTC)"),
        ("rate(15 minutes)", None, "Every 15 minutes (UTC)"),
        ("rate(1 hour)", None, "Every hour (UTC)"),
        ("rate(7 days)", "America/New_York", "Every 7 days (America/New_York)"),
        ("cron(0 9 ? * 2#1 *)", None, "At 09:00, on the first Monday of the month (UTC)"),
        ("cron(0 0 L * ? *)", None, "At 00:00, on the last day of the month (UTC)"),
        ("cron(0 0 ? * 6L *)", None, "At 00:00, on the last Friday of the month (UTC)"),
        ("cron(0 0 15W * ? *)", None, "At 00:00, on the weekday nearest day 15 of the month (UTC)"),
        ("at(2027-01-01T09:00:00)", "Europe/Berlin", "Once, at 09:00:00 on 2027-01-01 (Europe/Berlin)"),
    ],
)
def test_describe_in_words_ends_with_the_zone(expr: str, tz: str | None, expected: str) -> None:
    assert parse_schedule(expr, tz, now=NOW).describe() == expected


def test_describe_mentions_the_year_range() -> None:
    text = parse_schedule("cron(0 0 1 1 ? 2027-2029)", now=NOW).describe()
    assert "2027 through 2029" in text and text.endswith("(UTC)")
    # a year step ends at EventBridge's last year, not at cron-descriptor's 9999
    assert "every 5 years, 2030 through 2199" in parse_schedule("cron(0 0 1 1 ? 2030/5)", now=NOW).describe()
    assert parse_schedule("cron(0 0 ? * L *)", now=NOW).describe() == "At 00:00, only on Saturday (UTC)"


def test_min_interval_seconds() -> None:
    assert parse_schedule("rate(15 minutes)", now=NOW).min_interval_seconds == 900
    assert parse_schedule("cron(0/5 8-17 ? * MON-FRI *)", now=NOW).min_interval_seconds == 300
    assert parse_schedule("0 9 * * *", now=NOW).min_interval_seconds == 86400
    assert parse_schedule("at(2027-01-01T09:00:00)", now=NOW).min_interval_seconds is None


def test_sparse_schedules_reach_far_years() -> None:
    yearly = parse_schedule("cron(0 0 1 1 ? *)", "Europe/Berlin", now=NOW).next_fire_times(NOW, 10)
    assert [t.year for t in yearly] == list(range(2027, 2037))
    assert all((t.month, t.day, t.hour) == (1, 1, 0) for t in yearly)
    # A fifth Monday in February needs a leap year whose February starts on a Monday.
    leap = parse_schedule("cron(0 0 ? 2 2#5 *)", now=NOW).next_fire_times(NOW, 2)
    assert leap == [utc(2044, 2, 29), utc(2072, 2, 29)]


def test_a_schedule_built_directly_from_its_fields_works_too() -> None:
    # Other stages (tests, the local scheduler) may rebuild a Schedule from stored fields.
    schedule = Schedule(source="x", kind="cron", expression="cron(0 9 ? * 2#1 *)", timezone="Europe/Berlin")
    assert schedule.next_fire_times(NOW, 1) == [utc(2026, 12, 7, 8)]
    assert Schedule("y", "rate", "rate(5 minutes)", None).next_fire_times(NOW, 1) == [utc(2026, 11, 27, 16, 25)]


# --- The AWS references, sentence by sentence -------------------------------------------------
# "Cron expressions reference" (EventBridge user guide, eb-cron-expressions) and
# "Rate expressions reference" (eb-rate-expressions); EventBridge Scheduler "Schedule types".


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # ", ... In the Month field, JAN,FEB,MAR includes January, February, and March."
        ("cron(0 0 1 JAN,FEB,MAR ? *)", NOW, [utc(2027, 1, 1), utc(2027, 2, 1), utc(2027, 3, 1), utc(2028, 1, 1)]),
        # "- ... In the Day field, 1-15 includes days 1 through 15 of the specified month."
        ("cron(0 0 1-15 * ? *)", NOW, [utc(2026, 12, 1), utc(2026, 12, 2)]),
        ("cron(0 0 1-15 * ? *)", utc(2026, 12, 14, 12), [utc(2026, 12, 15), utc(2027, 1, 1)]),
        # "* ... In the Hours field, * includes every hour."
        ("cron(0 * * * ? *)", NOW, [utc(2026, 11, 27, 17), utc(2026, 11, 27, 18)]),
        # "/ ... 1/10 ... every tenth minute, starting from the first minute of the hour
        #  (for example, the 11th, 21st, and 31st minute, and so on)"
        (
            "cron(1/10 * * * ? *)",
            utc(2026, 11, 27, 16, 0),
            [utc(2026, 11, 27, 16, m) for m in (1, 11, 21, 31, 41, 51)] + [utc(2026, 11, 27, 17, 1)],
        ),
        # "? ... In the Day-of-month field you could enter 7 and ... ? in the Day-of-week field."
        ("cron(0 0 7 * ? *)", NOW, [utc(2026, 12, 7), utc(2027, 1, 7)]),
        # "L ... the last day of the month or week" (week: Saturday)
        ("cron(0 0 L * ? *)", utc(2027, 1, 31, 1), [utc(2027, 2, 28), utc(2027, 3, 31), utc(2027, 4, 30)]),
        ("cron(0 0 ? * L *)", utc(2026, 11, 28, 1), [utc(2026, 12, 5)]),
        # "W ... 3W specifies the weekday closest to the third day of the month."
        # Thu 2026-12-03; Sun 2027-01-03 -> Mon 4th; Wed 2027-02-03; Wed 2027-03-03; Sat 2027-04-03 -> Fri 2nd
        (
            "cron(0 0 3W * ? *)",
            NOW,
            [utc(2026, 12, 3), utc(2027, 1, 4), utc(2027, 2, 3), utc(2027, 3, 3), utc(2027, 4, 2)],
        ),
        # "# ... 3#2 is the second Tuesday of the month"
        ("cron(0 0 ? * 3#2 *)", NOW, [utc(2026, 12, 8), utc(2027, 1, 12), utc(2027, 2, 9)]),
    ],
)
def test_the_wildcard_sentences_of_the_cron_reference(expr: str, after: datetime, expected: list[datetime]) -> None:
    assert next_times(expr, after, len(expected)) == expected


def test_hash_allows_one_expression_only_as_the_reference_notes() -> None:
    # "If you use a '#' character, you can define only one expression in the day-of-week
    #  field. For example, "3#1,6#3" is not valid because it is interpreted as two expressions."
    with pytest.raises(ScheduleError, match="# stands alone"):
        parse_schedule("cron(0 0 ? * 3#1,6#3 *)", now=NOW)


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        # Limitations: "You can't specify the Day-of-month and Day-of-week fields in the same
        # cron expression. If you specify a value or a * (asterisk) in one of the fields, you
        # must use a ? (question mark) in the other."
        ("cron(0 0 * * * *)", "one of day-of-month or day-of-week must be ?"),
        ("cron(0 0 7 * 2 *)", "one of day-of-month or day-of-week must be ?"),
        ("cron(0 0 7 * * *)", "write cron(0 0 7 * ? *)"),
        # The wildcard column of the field table: each field takes only its own wildcards.
        ("cron(? 0 * * ? *)", "? is only allowed in day-of-month or day-of-week"),
        ("cron(0 ? * * ? *)", "? is only allowed in day-of-month or day-of-week"),
        ("cron(0 0 * ? ? *)", "? is only allowed in day-of-month or day-of-week"),
        ("cron(0 0 * * ? ?)", "? is only allowed in day-of-month or day-of-week"),
        ("cron(L 0 * * ? *)", "minute 'L' is not valid"),
        ("cron(0 L * * ? *)", "hour 'L' is not valid"),
        ("cron(0 0 1 L ? *)", "month 'L' is not valid"),
        ("cron(0 0 1 * ? L)", "year 'L' is not valid"),
        ("cron(0 0 1 1W ? *)", "month '1W' is not valid"),
        ("cron(0 0 1 * ? 2#1)", "year '2#1' is not valid"),
        ("cron(0 0 ? * 2W *)", "W is only allowed in day-of-month"),
        ("cron(0 0 1#2 * ? *)", "# is only allowed in day-of-week"),
        # day-of-week takes ", - * ? L #": no "/" (day-of-month, month and year do)
        ("cron(0 0 ? * */3 *)", "not /; list the days instead: 1,4,7"),
        ("cron(0 0 ? * 2/2 *)", "not /; list the days instead: 2,4,6"),
        ("cron(0 0 ? * MON-FRI/2 *)", "not /; list the days instead: 2,4,6"),
        # "Cron expressions that lead to rates faster than 1 minute are not supported."
        ("*/30 * * * * *", "no seconds field"),
    ],
)
def test_the_restrictions_of_the_cron_reference_are_enforced(expr: str, needle: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(expr, now=NOW)
    assert needle in str(info.value)


def test_slash_stays_allowed_where_the_reference_lists_it() -> None:
    # day-of-month, month and year list "/" among their wildcards
    assert next_times("cron(0 0 1/10 * ? *)", NOW, 3) == [utc(2026, 12, 1), utc(2026, 12, 11), utc(2026, 12, 21)]
    assert next_times("cron(0 0 1 1/6 ? *)", NOW, 2) == [utc(2027, 1, 1), utc(2027, 7, 1)]
    assert next_times("cron(0 0 1 1 ? 2028/2)", NOW, 2) == [utc(2028, 1, 1), utc(2030, 1, 1)]


def test_the_rate_reference_singular_and_plural() -> None:
    # "If the value is equal to 1, then the unit must be singular. If the value is greater
    #  than 1, the unit must be plural. For example, rate(1 hours) and rate(5 hour) are not
    #  valid, but rate(1 hour) and rate(5 hours) are valid."
    for invalid in ("rate(1 hours)", "rate(5 hour)"):
        with pytest.raises(ScheduleError):
            parse_schedule(invalid, now=NOW)
    assert parse_schedule("rate(1 hour)", now=NOW).expression == "rate(1 hour)"
    assert parse_schedule("rate(5 hours)", now=NOW).expression == "rate(5 hours)"
    # "Valid values: minute | minutes | hour | hours | day | days"
    for unit in ("minute", "hour", "day"):
        parse_schedule(f"rate(1 {unit})", now=NOW)
        parse_schedule(f"rate(2 {unit}s)", now=NOW)


def test_scheduler_rate_in_days_is_24_hours_across_dst() -> None:
    # EventBridge Scheduler: a day in a rate expression is a 24-hour duration, so across the
    # fall-back night a rate(1 day) job moves one hour earlier on the local clock.
    schedule = parse_schedule("rate(1 day)", "Europe/Berlin", now=NOW)
    times = schedule.next_fire_times(utc(2026, 10, 23, 12), 3)
    assert [t.astimezone(UTC) for t in times] == [utc(2026, 10, 24), utc(2026, 10, 25), utc(2026, 10, 26)]
    assert [t.strftime("%d %H:%M%z") for t in times] == ["24 02:00+0200", "25 02:00+0200", "26 01:00+0100"]


@pytest.mark.parametrize(
    ("expr", "tz", "expected"),
    [
        # plain cron: times, lists, ranges, steps, names
        ("cron(15 12 * * ? *)", None, "At 12:15 (UTC)"),
        ("cron(0/15 * * * ? *)", None, "Every 15 minutes (UTC)"),
        ("cron(1/10 * * * ? *)", None, "Every 10 minutes, starting at 1 minute past the hour (UTC)"),
        ("cron(0 8 1 * ? *)", None, "At 08:00, on day 1 of the month (UTC)"),
        (
            "cron(0 0 1 JAN,FEB,MAR ? *)",
            None,
            "At 00:00, on day 1 of the month, only in January, February, and March (UTC)",
        ),
        # L W # in both day fields
        ("cron(0 0 LW * ? *)", None, "At 00:00, on the last weekday of the month (UTC)"),
        ("cron(0 0 3W * ? *)", None, "At 00:00, on the weekday nearest day 3 of the month (UTC)"),
        ("cron(0 0 ? * L *)", None, "At 00:00, only on Saturday (UTC)"),
        ("cron(0 9 ? * 3#2 *)", None, "At 09:00, on the second Tuesday of the month (UTC)"),
        ("cron(0 0 L 2 ? *)", None, "At 00:00, on the last day of the month, only in February (UTC)"),
        # years: one, a list, a range with L
        ("cron(0 0 1 1 ? 2030)", None, "At 00:00, on day 1 of the month, only in January, only in 2030 (UTC)"),
        (
            "cron(0 0 1 1 ? 2030,2035)",
            None,
            "At 00:00, on day 1 of the month, only in January, only in 2030 and 2035 (UTC)",
        ),
        ("cron(15 10 ? * 6L 2027-2028)", None, "At 10:15, on the last Friday of the month, 2027 through 2028 (UTC)"),
        # rate(): every unit, singular and plural
        ("rate(1 minute)", None, "Every minute (UTC)"),
        ("rate(5 minutes)", None, "Every 5 minutes (UTC)"),
        ("rate(2 hours)", None, "Every 2 hours (UTC)"),
        ("rate(1 day)", "Asia/Tokyo", "Every day (Asia/Tokyo)"),
        # at() in its zone
        ("at(2027-06-30T23:59:00)", None, "Once, at 23:59:00 on 2027-06-30 (UTC)"),
        # Unix cron and the macros
        ("*/15 * * * *", None, "Every 15 minutes (UTC)"),
        ("@hourly", None, "Every hour (UTC)"),
        ("@daily", "America/New_York", "At 00:00 (America/New_York)"),
        ("@weekly", None, "At 00:00, only on Sunday (UTC)"),
        ("@monthly", None, "At 00:00, on day 1 of the month (UTC)"),
        ("@yearly", None, "At 00:00, on day 1 of the month, only in January (UTC)"),
    ],
)
def test_every_kind_of_schedule_in_words(expr: str, tz: str | None, expected: str) -> None:
    assert parse_schedule(expr, tz, now=NOW).describe() == expected
