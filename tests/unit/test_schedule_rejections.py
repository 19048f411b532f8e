"""Every schedule EventBridge would reject (or that could never fire) is refused with a message
that says what is wrong and how to write it instead."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cronplane.errors import CronplaneError, ScheduleError
from cronplane.schedule.expression import parse_schedule

NOW = datetime(2026, 11, 27, 16, 20, tzinfo=UTC)


def rejection(expr: str, tz: str | None = None, now: datetime = NOW) -> str:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(expr, tz, now=now)
    return str(info.value)


def test_schedule_error_is_a_cronplane_error_with_exit_code_1() -> None:
    with pytest.raises(CronplaneError) as info:
        parse_schedule("cron(0 9 * * MON *)", now=NOW)
    assert info.value.exit_code == 1


def test_both_day_fields_set_suggests_the_fix() -> None:
    message = rejection("cron(0 9 * * MON *)")
    assert "one of day-of-month or day-of-week must be ?" in message
    assert "write cron(0 9 ? * MON *)" in message
    assert "write cron(0 9 1 * ? *)" in rejection("cron(0 9 1 * * *)")


def test_both_day_fields_restricted_explains_eventbridge_cannot_or_them() -> None:
    message = rejection("cron(0 9 1 * MON *)")
    assert "one of day-of-month or day-of-week must be ?" in message
    assert "cannot match both" in message


def test_both_day_fields_question_mark() -> None:
    assert "only one of them may be ?" in rejection("cron(0 9 ? * ? *)")


@pytest.mark.parametrize("dow", ["0", "0-4", "0#1", "0L", "0,3"])
def test_day_of_week_zero_teaches_eventbridge_numbering(dow: str) -> None:
    message = rejection(f"cron(0 9 ? * {dow} *)")
    assert "EventBridge counts 1=SUN .. 7=SAT; did you mean SUN?" in message


def test_rate_singular_and_plural() -> None:
    assert "use the singular for 1: rate(1 minute)" in rejection("rate(1 minutes)")
    assert "rate(1 hour)" in rejection("rate(1 hours)")
    assert "use the plural for 5: rate(5 minutes)" in rejection("rate(5 minute)")
    assert "rate(2 days)" in rejection("rate(2 day)")


@pytest.mark.parametrize("expr", ["rate(0 minutes)", "rate(-5 minutes)", "rate(1.5 hours)", "rate(five minutes)"])
def test_rate_needs_a_positive_whole_number(expr: str) -> None:
    assert "whole number of at least 1" in rejection(expr)


def test_rate_unknown_unit_and_shape() -> None:
    assert "minute(s), hour(s) or day(s)" in rejection("rate(2 weeks)")
    assert "a number and a unit" in rejection("rate(5)")


@pytest.mark.parametrize("expr", ["rate(36501 days)", "rate(99999999999999999999 minutes)", "rate(900000 hours)"])
def test_rate_longer_than_a_century_is_refused_not_an_overflow(expr: str) -> None:
    # Its fire times used to overflow datetime arithmetic (OverflowError in jobctl next/list).
    assert "more than 100 years between runs" in rejection(expr)
    assert parse_schedule("rate(36500 days)", now=NOW).next_fire_times(NOW, 1)[0].year == 2069


@pytest.mark.parametrize(
    ("expr", "field", "value", "allowed"),
    [
        ("cron(60 * * * ? *)", "minute", "60", "0-59"),
        ("cron(0 24 * * ? *)", "hour", "24", "0-23"),
        ("cron(0 0 32 * ? *)", "day-of-month", "32", "1-31"),
        ("cron(0 0 0 * ? *)", "day-of-month", "0", "1-31"),
        ("cron(0 0 1 13 ? *)", "month", "13", "1-12 or JAN-DEC"),
        ("cron(0 0 ? * 8 *)", "day-of-week", "8", "1-7 or SUN-SAT"),
        ("cron(0 0 1 1 ? 1969)", "year", "1969", "1970-2199"),
        ("cron(0 0 1 1 ? 2200)", "year", "2200", "1970-2199"),
        ("cron(0 0-24 * * ? *)", "hour", "24", "0-23"),
        ("cron(0 0 1 1 ? 2030-2300)", "year", "2300", "1970-2199"),
        ("0 0 32 * *", "day-of-month", "32", "1-31"),
    ],
)
def test_out_of_range_names_field_value_and_range(expr: str, field: str, value: str, allowed: str) -> None:
    assert f"{field} {value} is out of range: allowed {allowed}" in rejection(expr)


@pytest.mark.parametrize("expr", ["cron(0 0 ? * 2#6 *)", "cron(0 0 ? * 2#0 *)", "cron(0 0 ? * MON#9 *)"])
def test_hash_outside_1_to_5(expr: str) -> None:
    assert "the number after # must be 1-5" in rejection(expr)


def test_never_fires_february_30() -> None:
    message = rejection("cron(0 0 30 2 ? *)")
    assert "day-of-month 30 never occurs in FEB" in message and "never fire" in message
    assert "never occurs in FEB, APR" in rejection("cron(0 0 31 2,4 ? *)")


def test_never_fires_year_range_wholly_in_the_past() -> None:
    assert "year 2001 is wholly in the past" in rejection("cron(0 0 * * ? 2001)")
    assert "year 2000-2010 is wholly in the past" in rejection("cron(0 0 * * ? 2000-2010)")
    # the same expression was fine when the year was still ahead
    parse_schedule("cron(0 0 * * ? 2001)", now=datetime(2000, 6, 1, tzinfo=UTC))


def test_never_fires_again_this_year() -> None:
    assert "never fire again" in rejection("cron(0 0 1 1 ? 2026)")


def test_never_fires_other_reasons() -> None:
    # 31W has no weekday in a 30-day month; April only
    assert "day-of-month 31W never occurs in APR" in rejection("cron(0 0 31W 4 ? *)")
    # a fifth Thursday in February needs a leap year starting on a Thursday: none in 2026-2031
    assert "to the end of 2199 matches it" in rejection("cron(0 0 ? 2 THU#5 2026-2031)")
    parse_schedule("cron(0 0 ? 2 THU#5 2026-2052)", now=NOW)  # 2052 has one


def test_at_in_the_past() -> None:
    message = rejection("at(2020-01-01T00:00:00)")
    assert "is in the past" in message and "must be in the future" in message
    # The zone decides: 17:00 in Berlin is 16:00 UTC, before NOW (16:20 UTC).
    assert "is in the past" in rejection("at(2026-11-27T17:00:00)", "Europe/Berlin")
    parse_schedule("at(2026-11-27T17:30:00)", "Europe/Berlin", now=NOW)


def test_at_that_does_not_exist_in_its_zone() -> None:
    message = rejection("at(2027-03-28T02:30:00)", "Europe/Berlin")
    assert "does not exist in Europe/Berlin" in message


@pytest.mark.parametrize("expr", ["at(2027-01-01 09:00:00)", "at(2027-01-01T09:00)", "at(tomorrow)"])
def test_at_format(expr: str) -> None:
    assert "yyyy-mm-ddThh:mm:ss" in rejection(expr)


def test_at_impossible_date() -> None:
    assert "not a real date" in rejection("at(2027-02-30T09:00:00)")


@pytest.mark.parametrize("expr", ["rate(30 seconds)", "rate(1 second)"])
def test_sub_minute_rates(expr: str) -> None:
    assert "at most once a minute" in rejection(expr)


def test_six_bare_fields_with_seconds_are_sub_minute_or_need_cron() -> None:
    message = rejection("*/30 * * * * *")
    assert "no seconds field" in message and "cron(*/30 * * * * *)" in message


def test_wrong_field_count_says_six_and_shows_an_example() -> None:
    message = rejection("cron(0 9 * * ?)")
    assert "cron() takes 6 fields" in message and "got 5" in message
    assert "cron(0 9 * * ? *)" in message  # the year added
    message = rejection("cron(0 0 9 * * ? *)")
    assert "got 7" in message and "cron(0 9 ? * MON-FRI *)" in message


@pytest.mark.parametrize("expr", ["every day", "0 9 * *", "", "   "])
def test_not_a_schedule_lists_the_accepted_forms(expr: str) -> None:
    assert "rate(15 minutes)" in rejection(expr)


def test_unknown_timezone_suggests_the_nearest() -> None:
    message = rejection("rate(1 hour)", "Europe/Berln")
    assert "unknown timezone 'Europe/Berln'" in message and "did you mean Europe/Berlin?" in message
    assert "did you mean America/New_York?" in rejection("rate(1 hour)", "america/new_york")
    assert "IANA name" in rejection("rate(1 hour)", "Mars/Olympus")


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        ("cron(0 L * * ? *)", "hour 'L' is not valid"),
        ("cron(? 9 * * ? *)", "? is only allowed in day-of-month or day-of-week"),
        ("cron(0 9 1,L * ? *)", "L and W stand alone"),
        ("cron(0 9 ? * 2#1,3 *)", "# stands alone"),
        ("cron(0 9 ? * MON,6L *)", "L stands alone"),
        ("cron(0 9 ? * 3W *)", "W is only allowed in day-of-month"),
        ("cron(0 9 1# * ? *)", "# is only allowed in day-of-week"),
        ("cron(0/0 9 * * ? *)", "the step after / must be 1-60"),
        ("cron(0/x 9 * * ? *)", "must be a whole number"),
        ("cron(0 22-2 * * ? *)", "split a range that wraps around"),
        ("cron(0 9 1,,2 * ? *)", "empty item"),
        ("cron(0 9 ? * FRIDAY *)", "day-of-week 'FRIDAY' is not valid"),
        ("cron(0 9 * * ? *", "missing ')'"),
        ("@reboot", "no boot"),
        ("@fortnightly", "unknown macro"),
    ],
)
def test_other_malformed_cron(expr: str, needle: str) -> None:
    assert needle in rejection(expr)


def test_messages_quote_the_schedule_as_written() -> None:
    assert rejection("cron(0 24 * * ? *)").startswith("cron(0 24 * * ? *): ")
    assert rejection("0 24 * * *").startswith("0 24 * * *: ")


def test_a_schedule_written_over_several_lines_is_quoted_on_one_line() -> None:
    # A YAML block scalar (schedule: |) keeps newlines; validate prints one problem per line.
    message = rejection("cron(0 24\n * * ? *)\n")
    assert message.startswith("cron(0 24 * * ? *): hour 24 is out of range") and "\n" not in message
    assert "\n" not in rejection("0\n")
    assert "\n" not in rejection("*/30 * * *\n * *")
    assert parse_schedule("cron(0 9 * * ? *)\n", now=NOW).source == "cron(0 9 * * ? *)\n"  # kept as written
