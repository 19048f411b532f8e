"""Time zones across daylight-saving changes, as EventBridge Scheduler runs them: a local time
that does not exist (spring forward) is skipped, one that happens twice (fall back) runs once,
at its first occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cronplane.schedule.expression import parse_schedule

UTC = UTC
NOW = datetime(2026, 1, 1, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MINUTE = timedelta(minutes=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def in_utc(expr: str, tz: str, after: datetime, count: int) -> list[datetime]:
    times = parse_schedule(expr, tz, now=NOW).next_fire_times(after, count)
    return [t.astimezone(UTC) for t in times]


def test_berlin_spring_forward_skips_0230_that_does_not_exist() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not happen that day.
    assert in_utc("cron(30 2 * * ? *)", "Europe/Berlin", utc(2026, 3, 27, 12), 3) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST; the 29th is skipped
        utc(2026, 3, 31, 0, 30),
    ]


def test_berlin_fall_back_runs_0230_once() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice; it runs at the first.
    assert in_utc("cron(30 2 * * ? *)", "Europe/Berlin", utc(2026, 10, 24, 12), 3) == [
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, first occurrence
        utc(2026, 10, 26, 1, 30),  # 02:30 CET the next day
        utc(2026, 10, 27, 1, 30),
    ]


def test_berlin_every_30_minutes_through_both_transitions() -> None:
    spring = in_utc("cron(0/30 * * * ? *)", "Europe/Berlin", utc(2026, 3, 29, 0, 0), 3)
    assert spring == [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30)]
    #                 01:30 CET               03:00 CEST              03:30 CEST
    fall = in_utc("cron(0/30 * * * ? *)", "Europe/Berlin", utc(2026, 10, 24, 23, 0), 4)
    assert fall == [
        utc(2026, 10, 24, 23, 30),
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 2, 0),
    ]
    #               01:30 CEST                02:00 CEST               02:30 CEST        (02:00/02:30 CET skipped) 03:00 CET


def test_berlin_hourly_day_counts_across_transitions() -> None:
    schedule = parse_schedule("cron(0 * * * ? *)", "Europe/Berlin", now=NOW)

    def local_day(day: int, month: int) -> list[datetime]:
        start = datetime(2026, month, day, tzinfo=BERLIN)
        end = datetime(2026, month, day + 1, tzinfo=BERLIN)
        # (start - 1 min, end - 1 min]: local 00:00 included, the next day's 00:00 not
        return schedule.fire_times_between(start - MINUTE, end - MINUTE)

    assert len(local_day(29, 3)) == 23  # 23 real hours: 02:00 does not exist
    assert len(local_day(25, 10)) == 24  # 25 real hours, the repeated 02:00 runs once
    assert len(local_day(28, 3)) == 24


def test_the_local_hour_stays_put_and_utc_moves() -> None:
    # A job at 09:00 Berlin runs at 08:00 UTC in winter and 07:00 UTC in summer.
    times = parse_schedule("cron(0 9 * * ? *)", "Europe/Berlin", now=NOW).next_fire_times(utc(2026, 3, 28), 2)
    assert [t.hour for t in times] == [9, 9]
    assert [t.astimezone(UTC).hour for t in times] == [8, 7]
    assert [t.utcoffset().total_seconds() / 3600 for t in times] == [1, 2]  # type: ignore[union-attr]


def test_new_york_spring_forward_skips_0230() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    assert in_utc("cron(30 2 * * ? *)", "America/New_York", utc(2026, 3, 7, 0), 3) == [
        utc(2026, 3, 7, 7, 30),  # 02:30 EST
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT; the 8th is skipped
        utc(2026, 3, 10, 6, 30),
    ]


def test_new_york_fall_back_runs_0130_once() -> None:
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens twice.
    assert in_utc("cron(30 1 * * ? *)", "America/New_York", utc(2026, 10, 31, 12), 3) == [
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT, first occurrence
        utc(2026, 11, 2, 6, 30),  # 01:30 EST
        utc(2026, 11, 3, 6, 30),
    ]


@pytest.mark.parametrize(
    "after",
    [
        utc(2026, 11, 1, 6, 0),  # 01:00 EST, during the second pass of the repeated hour
        datetime(2026, 11, 1, 1, 0, fold=1, tzinfo=NEW_YORK),  # the same instant, in the zone
    ],
)
def test_after_inside_the_repeated_hour_does_not_fire_it_again(after: datetime) -> None:
    assert in_utc("cron(30 1 * * ? *)", "America/New_York", after, 1) == [utc(2026, 11, 2, 6, 30)]


def test_results_carry_the_right_offset_in_the_schedule_zone() -> None:
    (first,) = parse_schedule("cron(30 1 * * ? *)", "America/New_York", now=NOW).next_fire_times(utc(2026, 11, 1), 1)
    assert first.isoformat() == "2026-11-01T01:30:00-04:00"


def test_utc_and_no_zone_are_the_same_and_have_no_dst() -> None:
    a = parse_schedule("cron(30 2 * * ? *)", "UTC", now=NOW).next_fire_times(utc(2026, 3, 28), 3)
    b = parse_schedule("cron(30 2 * * ? *)", None, now=NOW).next_fire_times(utc(2026, 3, 28), 3)
    assert a == b == [utc(2026, 3, 28, 2, 30), utc(2026, 3, 29, 2, 30), utc(2026, 3, 30, 2, 30)]


def test_at_on_a_repeated_local_time_runs_once_at_the_first_occurrence() -> None:
    # 2026-10-25 02:30 happens twice in Berlin (CEST, then CET): the one-off runs at the first.
    schedule = parse_schedule("at(2026-10-25T02:30:00)", "Europe/Berlin", now=NOW)
    assert in_utc("at(2026-10-25T02:30:00)", "Europe/Berlin", NOW, 3) == [utc(2026, 10, 25, 0, 30)]
    # asked during the second 02:30 (01:30 UTC), it has already run
    assert schedule.next_fire_times(utc(2026, 10, 25, 0, 45), 3) == []
