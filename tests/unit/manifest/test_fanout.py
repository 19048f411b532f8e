"""Fan-out (manifest.fanout): exact counts of the jobs that fire in each UTC minute, with time
zones, DST, days of the week and month, rate(), at(), start windows and disabled jobs, and the
lines ``jobctl validate`` prints from them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cronplane.manifest.fanout import CrowdedMinute, crowded_minutes, describe
from cronplane.manifest.models import Job, Manifest
from cronplane.schedule.expression import parse_schedule

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # a Tuesday, in Berlin's winter time (UTC+1)


def jobs(count: int, schedule: str, *, timezone: str | None = None, **kw: Any) -> list[Job]:
    """``count`` jobs with one schedule (their names do not matter to the count)."""
    return [
        Job(
            name=f"job-{i}",
            handler="infra/tmp_cleanup.py:handler",
            schedule=parse_schedule(schedule, timezone, now=NOW),
            team="infra",
            timezone=timezone,
            **kw,
        )
        for i in range(count)
    ]


def manifest(*groups: list[Job]) -> Manifest:
    return Manifest(namespace="acme-jobs", region="eu-west-1", jobs=tuple(j for group in groups for j in group))


def summary(crowded: list[CrowdedMinute]) -> list[tuple[tuple[str, ...], str, int, int]]:
    return [(c.times, c.days, c.fewest, c.most) for c in crowded]


def test_more_jobs_than_the_limit_in_one_minute_every_day() -> None:
    crowded = crowded_minutes(manifest(jobs(3, "cron(0 9 * * ? *)")), limit=2, now=NOW, days=7)
    assert summary(crowded) == [(("09:00",), "every day", 3, 3)]
    assert crowded[0].first == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert crowded[0].quieter == "09:01"  # the whole rest of the hour is free


def test_exactly_the_limit_is_not_crowded() -> None:
    assert crowded_minutes(manifest(jobs(2, "cron(0 9 * * ? *)")), limit=2, now=NOW, days=7) == []


def test_jobs_in_different_minutes_do_not_add_up() -> None:
    m = manifest(jobs(2, "cron(0 9 * * ? *)"), jobs(2, "cron(1 9 * * ? *)"), jobs(2, "0 10 * * *"))
    assert crowded_minutes(m, limit=2, now=NOW, days=7) == []


def test_unix_and_eventbridge_forms_of_one_time_count_together() -> None:
    m = manifest(jobs(1, "cron(30 6 * * ? *)"), jobs(1, "30 6 * * *"), jobs(1, "cron(30 6 ? * * *)"))
    assert summary(crowded_minutes(m, limit=2, now=NOW, days=7)) == [(("06:30",), "every day", 3, 3)]


def test_days_of_the_week() -> None:
    weekdays = jobs(3, "cron(0 9 ? * MON-FRI *)")
    mondays = jobs(3, "0 7 * * 1")  # Unix: 1 = Monday
    weekend = jobs(3, "cron(0 8 ? * SAT,SUN *)")
    crowded = crowded_minutes(manifest(weekdays, mondays, weekend), limit=2, now=NOW, days=14)
    assert summary(crowded) == [
        (("09:00",), "on Mon-Fri", 3, 3),
        (("08:00",), "on Sat and Sun", 3, 3),
        (("07:00",), "on Mondays", 3, 3),
    ]
    assert [c.first for c in crowded] == [
        datetime(2026, 12, 1, 9, 0, tzinfo=UTC),  # Tuesday
        datetime(2026, 12, 5, 8, 0, tzinfo=UTC),  # Saturday
        datetime(2026, 12, 7, 7, 0, tzinfo=UTC),  # Monday
    ]


def test_a_crowd_only_on_the_days_two_schedules_share() -> None:
    """Two jobs daily and one more on Fridays: three fire together on Fridays only."""
    m = manifest(jobs(2, "cron(0 12 * * ? *)"), jobs(1, "cron(0 12 ? * FRI *)"))
    assert summary(crowded_minutes(m, limit=2, now=NOW, days=28)) == [(("12:00",), "on Fridays", 3, 3)]


def test_days_of_the_month_over_the_default_year() -> None:
    m = manifest(jobs(3, "cron(0 0 1 * ? *)"), jobs(3, "cron(0 1 L * ? *)"), jobs(3, "cron(0 2 1 1 ? *)"))
    crowded = crowded_minutes(m, limit=2, now=NOW)
    assert summary(crowded) == [
        (("01:00",), "on the last day of every month", 3, 3),  # first on 2026-12-31
        (("00:00",), "on the 1st of every month", 3, 3),
        (("02:00",), "on Fri 2027-01-01", 3, 3),  # yearly: once in the year ahead
    ]


def test_jobs_in_a_timezone_count_at_their_utc_minute() -> None:
    """09:00 in Berlin is 08:00 UTC in winter: with two UTC jobs at 08:00 that is three."""
    m = manifest(jobs(1, "cron(0 9 * * ? *)", timezone="Europe/Berlin"), jobs(2, "cron(0 8 * * ? *)"))
    assert summary(crowded_minutes(m, limit=2, now=NOW, days=7)) == [(("08:00",), "every day", 3, 3)]
    tokyo = manifest(jobs(3, "cron(0 9 * * ? *)", timezone="Asia/Tokyo"))  # UTC+9, no DST
    assert summary(crowded_minutes(tokyo, limit=2, now=NOW, days=7)) == [(("00:00",), "every day", 3, 3)]


def test_a_dst_change_moves_the_crowd_to_another_utc_minute() -> None:
    """Berlin springs forward on 2027-03-28: 09:00 local is 08:00 UTC before, 07:00 UTC after."""
    now = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
    m = manifest(jobs(3, "cron(0 9 * * ? *)", timezone="Europe/Berlin"))
    assert summary(crowded_minutes(m, limit=2, now=now, days=14)) == [
        (("08:00",), "every day from 2027-03-21 to 2027-03-27", 3, 3),
        (("07:00",), "every day from 2027-03-28 to 2027-04-03", 3, 3),
    ]


def test_a_skipped_local_time_does_not_fire_and_a_repeated_one_fires_once() -> None:
    spring = manifest(jobs(3, "cron(30 2 * * ? *)", timezone="Europe/Berlin"))
    crowded = crowded_minutes(spring, limit=2, now=datetime(2027, 3, 25, tzinfo=UTC), days=7)
    # 02:30 does not exist on 2027-03-28: nothing fires that day
    assert summary(crowded) == [
        (("01:30",), "every day from 2027-03-25 to 2027-03-27", 3, 3),
        (("00:30",), "every day from 2027-03-29 to 2027-03-31", 3, 3),
    ]
    autumn = manifest(jobs(3, "cron(30 2 * * ? *)", timezone="Europe/Berlin"))
    crowded = crowded_minutes(autumn, limit=2, now=datetime(2027, 10, 29, tzinfo=UTC), days=5)
    # 02:30 happens twice on 2027-10-31: it fires once, at the first (00:30 UTC); 3 jobs, not 6
    assert summary(crowded) == [
        (("00:30",), "every day from 2027-10-29 to 2027-10-31", 3, 3),
        (("01:30",), "every day from 2027-11-01 to 2027-11-02", 3, 3),
    ]


def test_rate_jobs_count_from_midnight_utc() -> None:
    """rate()'s phase is when AWS creates the trigger; counted as `jobctl next` shows it."""
    m = manifest(jobs(2, "rate(1 hour)"), jobs(1, "cron(0 * * * ? *)"), jobs(3, "rate(1 day)"))
    crowded = crowded_minutes(m, limit=2, now=NOW, days=2)
    assert [c.times for c in crowded] == [("00:00",), tuple(f"{h:02d}:00" for h in range(1, 24))]
    assert [(c.days, c.fewest, c.most) for c in crowded] == [("every day", 6, 6), ("every day", 3, 3)]
    assert describe(crowded, 2)[1].startswith("fan-out: 3 jobs fire at 23 times of day from 01:00 to 23:00 UTC")
    every_hour = manifest(jobs(3, "rate(1 hour)"))
    assert describe(crowded_minutes(every_hour, limit=2, now=NOW, days=2), 2)[0].startswith(
        "fan-out: 3 jobs fire at :00 past every hour (UTC) every day, more than the 2 concurrent executions"
    )


def test_one_time_jobs() -> None:
    m = manifest(jobs(3, "at(2026-12-05T10:00:00)"), jobs(3, "at(2026-12-06T10:00:00)", timezone="Europe/Berlin"))
    assert summary(crowded_minutes(m, limit=2, now=NOW, days=7)) == [
        (("10:00",), "on Sat 2026-12-05", 3, 3),  # as many: the earlier first
        (("09:00",), "on Sun 2026-12-06", 3, 3),  # 10:00 in Berlin
    ]


def test_a_start_window_spreads_jobs_over_its_minutes() -> None:
    """Scheduler starts each within N minutes: N jobs' worth of room for every minute of it."""
    spread = manifest(jobs(4, "cron(0 9 * * ? *)", start_window=2))
    assert crowded_minutes(spread, limit=2, now=NOW, days=7) == []  # 2 in 09:00, 2 in 09:01
    too_many = manifest(jobs(5, "cron(0 9 * * ? *)", start_window=2))
    crowded = crowded_minutes(too_many, limit=2, now=NOW, days=7)
    assert summary(crowded) == [(("09:00", "09:01"), "every day", 3, 3)]  # 2.5 each: a part of a job is a job
    assert crowded[0].quieter == "09:02"
    mixed = manifest(jobs(2, "cron(0 9 * * ? *)"), jobs(10, "cron(0 9 * * ? *)", start_window=10))
    assert summary(crowded_minutes(mixed, limit=2, now=NOW, days=7)) == [(("09:00",), "every day", 3, 3)]


def test_a_window_reaches_past_midnight_and_into_the_first_minutes() -> None:
    m = manifest(jobs(3, "rate(1 day)", start_window=2), jobs(2, "cron(1 0 * * ? *)"))
    # 1.5 of the windowed jobs in 00:00 and 00:01; 2 more at 00:01
    assert summary(crowded_minutes(m, limit=3, now=NOW, days=3)) == [(("00:01",), "every day", 4, 4)]


def test_reserved_concurrency_does_not_change_the_count_and_disabled_jobs_do_not_fire() -> None:
    m = manifest(jobs(3, "cron(0 9 * * ? *)", reserved_concurrency=1), jobs(5, "cron(0 9 * * ? *)", enabled=False))
    assert summary(crowded_minutes(m, limit=2, now=NOW, days=7)) == [(("09:00",), "every day", 3, 3)]


def test_times_with_the_same_days_and_counts_are_one_entry_and_the_most_crowded_come_first() -> None:
    m = manifest(jobs(3, "cron(0 6,18 * * ? *)"), jobs(4, "cron(0 12 * * ? *)"))
    assert summary(crowded_minutes(m, limit=2, now=NOW, days=7)) == [
        (("12:00",), "every day", 4, 4),
        (("06:00", "18:00"), "every day", 3, 3),
    ]


def test_the_quieter_minute_has_room_and_is_the_nearest_such() -> None:
    busy = [jobs(3, f"cron({minute} 9 * * ? *)") for minute in (0, 1)]
    m = manifest(*busy, jobs(1, "cron(59 9 * * ? *)"))
    crowded = crowded_minutes(m, limit=2, now=NOW, days=7)
    assert {c.quieter for c in crowded} == {"09:02"}


def test_describe_says_how_many_when_and_what_to_do() -> None:
    crowded = crowded_minutes(manifest(jobs(1240, "cron(0 9 * * ? *)")), now=NOW, days=7)
    assert describe(crowded, 1000) == [
        "fan-out: 1,240 jobs fire at 09:00 UTC every day, more than the 1,000 concurrent executions Lambda "
        "allows by default; spread them: give some `start_window: 5` (Scheduler starts each within 5 minutes) "
        "or move some to other minutes (e.g. 09:01)"
    ]
    crowded = crowded_minutes(manifest(jobs(1240, "cron(0 9 * * ? *)")), 100, NOW, 7)
    [line] = describe(crowded, 100, "the account allows")
    assert "more than the 100 concurrent executions the account allows; spread them: give some `start_window: 15`" in (
        line
    )


def test_describe_shows_the_most_crowded_and_counts_the_rest() -> None:
    groups = [jobs(3 + i, f"cron({i} 9 * * ? *)") for i in range(8)]
    crowded = crowded_minutes(manifest(*groups), limit=2, now=NOW, days=7)
    lines = describe(crowded, 2)
    assert len(lines) == 6
    assert [line.split(" fire at ")[1][:5] for line in lines[:5]] == ["09:07", "09:06", "09:05", "09:04", "09:03"]
    assert lines[5] == "fan-out: and 3 more minutes with more than 2 jobs"
    assert describe(crowded[:6], 2)[5] == "fan-out: and 1 more minute with more than 2 jobs"
    assert describe([], 2) == []


@pytest.mark.parametrize("window", [0, 10])
def test_ten_thousand_jobs_at_one_minute(window: int) -> None:
    """Jobs sharing a schedule are counted as one schedule: 10,000 of them are no slower."""
    crowded = crowded_minutes(manifest(jobs(10_000, "cron(0 0 * * ? *)", start_window=window)), now=NOW)
    if window:
        assert crowded == []  # 1,000 in each of ten minutes: exactly the limit
    else:
        assert summary(crowded) == [(("00:00",), "every day", 10_000, 10_000)]
