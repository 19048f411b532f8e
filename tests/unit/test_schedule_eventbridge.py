"""The examples of the EventBridge / EventBridge Scheduler documentation, with their fire
times; rate() and at(); describe(); the Schedule API contract others code against."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cronplane.errors import ScheduleError
from cronplane.schedule import Schedule, ScheduleKind, parse_schedule

UTC = timezone.utc
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
        ("cron(0 0 15W * ? *)", utc(2027, 4, 20), [utc(2027, 5, 14), utc(2027, 6, 15), utc(2027, 7, 15), utc(2027, 8, 16)]),
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
        ("cron(0 0 ? * */3 *)", NOW, [utc(2026, 11, 28), utc(2026, 11, 29), utc(2026, 12, 2)]),  # 1,4,7: SUN WED SAT
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
    assert schedule.next_fire_times(NOW, 2, anchor=created) == [utc(2026, 11, 27, 17, 7, 30), utc(2026, 11, 27, 18, 7, 30)]
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
