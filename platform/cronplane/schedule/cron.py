"""Stage one of a cron schedule: the six EventBridge fields, validated exactly as EventBridge
validates them, become a ``CronSpec`` (sorted allowed values per field plus the day rules that
need a calendar: ``L``, ``LW``, ``15W``, ``6L``, ``2#1``). ``search`` walks a spec; nothing here
knows about time zones or the current time.

Every rejection names the field, the value and what is allowed, because the message is all the
user sees (``jobs.yaml:14: jobs.x.schedule: ...``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cronplane.errors import ScheduleError

MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
# EventBridge (like Quartz) counts the week from Sunday = 1; Unix cron from Sunday = 0.
DAY_NAMES = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
CRON_EXAMPLE = "cron(0 9 ? * MON-FRI *)"
# Builds the error for one schedule: parse_cron_fields binds the schedule text into it.
Fail = Callable[[str], ScheduleError]
FIELD_ORDER = "minutes hours day-of-month month day-of-week year"


@dataclass(frozen=True)
class Field:
    name: str
    lo: int
    hi: int
    names: tuple[tuple[str, int], ...] = ()

    @property
    def allowed(self) -> str:
        text = f"{self.lo}-{self.hi}"
        if self.names:
            text += f" or {self.names[0][0]}-{self.names[-1][0]}"
        return text


MINUTE = Field("minute", 0, 59)
HOUR = Field("hour", 0, 23)
DAY_OF_MONTH = Field("day-of-month", 1, 31)
MONTH = Field("month", 1, 12, tuple(MONTH_NAMES.items()))
DAY_OF_WEEK = Field("day-of-week", 1, 7, tuple(DAY_NAMES.items()))
YEAR = Field("year", 1970, 2199)


@dataclass(frozen=True)
class DayOfMonthRule:
    """Which days of a month the day-of-month field allows (when it is not ``?``)."""

    days: frozenset[int] = frozenset()  # plain values, ranges, steps, lists
    last: bool = False  # L: the last day of the month
    last_weekday: bool = False  # LW: the last Monday-Friday of the month
    nearest_weekday: int | None = None  # 15W: the Monday-Friday nearest the 15th, same month


@dataclass(frozen=True)
class DayOfWeekRule:
    """Which days of a month the day-of-week field allows (when it is not ``?``).
    Weekdays use EventBridge numbering: 1 = Sunday .. 7 = Saturday."""

    weekdays: frozenset[int] = frozenset()
    last_of_month: int | None = None  # 6L: the last Friday of the month
    nth: tuple[int, int] | None = None  # (2, 1) for 2#1: the first Monday of the month


@dataclass(frozen=True)
class CronSpec:
    fields: tuple[str, str, str, str, str, str]  # canonical text (names upper-cased)
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    day_of_month: DayOfMonthRule | None  # None: "?"
    day_of_week: DayOfWeekRule | None  # None: "?"

    @property
    def expression(self) -> str:
        return f"cron({' '.join(self.fields)})"


def parse_cron_fields(fields: list[str], source: str) -> CronSpec:
    """Validate six EventBridge cron fields; ``source`` is quoted in every error."""

    def fail(message: str) -> ScheduleError:
        return ScheduleError(f"{source}: {message}")

    if len(fields) != 6:
        hint = ""
        if len(fields) == 5:
            hint = f"; the year is missing, e.g. cron({' '.join(fields)} *)"
        raise fail(f"cron() takes 6 fields ({FIELD_ORDER}), got {len(fields)}{hint}. Example: {CRON_EXAMPLE}")
    canonical = tuple(f.upper() for f in fields)
    minute, hour, dom, month, dow, year = canonical
    for field, text in ((MINUTE, minute), (HOUR, hour), (MONTH, month), (YEAR, year)):
        if "?" in text:
            raise fail(f"{field.name} {text!r}: ? is only allowed in day-of-month or day-of-week")

    dom_rule = _parse_day_of_month(dom, fail)
    dow_rule = _parse_day_of_week(dow, fail)
    if dom_rule is None and dow_rule is None:
        raise fail(
            "day-of-month and day-of-week are both ?: only one of them may be ?, "
            "set the other to * (e.g. cron(0 9 * * ? *))"
        )
    if dom_rule is not None and dow_rule is not None:
        raise fail(_both_days_message(list(canonical)))
    return CronSpec(
        fields=(minute, hour, dom, month, dow, year),
        minutes=tuple(sorted(_parse_list(MINUTE, minute, fail))),
        hours=tuple(sorted(_parse_list(HOUR, hour, fail))),
        months=tuple(sorted(_parse_list(MONTH, month, fail))),
        years=tuple(sorted(_parse_list(YEAR, year, fail))),
        day_of_month=dom_rule,
        day_of_week=dow_rule,
    )


def _both_days_message(fields: list[str]) -> str:
    dom, dow = fields[2], fields[4]
    head = f"day-of-month is {dom} and day-of-week is {dow}: one of day-of-month or day-of-week must be ?"
    if dom == "*":
        fields[2] = "?"
        return f"{head}; write cron({' '.join(fields)})"
    if dow == "*":
        fields[4] = "?"
        return f"{head}; write cron({' '.join(fields)})"
    return (
        f"{head}. EventBridge cannot match both (Unix cron would run when either matches): "
        "set one of them to ?, or make two jobs"
    )


def _parse_day_of_month(text: str, fail: Fail) -> DayOfMonthRule | None:
    if text == "?":
        return None
    if text == "L":
        return DayOfMonthRule(last=True)
    if text == "LW":
        return DayOfMonthRule(last_weekday=True)
    match = re.fullmatch(r"([0-9]+)W", text)
    if match:
        day = _value(DAY_OF_MONTH, match.group(1), fail)
        return DayOfMonthRule(nearest_weekday=day)
    if "L" in text or "W" in text:
        raise fail(
            f"day-of-month {text!r}: L and W stand alone in day-of-month: write L (last day), "
            "LW (last weekday) or 15W (weekday nearest the 15th), not in a list or range"
        )
    if "#" in text:
        raise fail(f"day-of-month {text!r}: # is only allowed in day-of-week (e.g. 2#1)")
    return DayOfMonthRule(days=frozenset(_parse_list(DAY_OF_MONTH, text, fail)))


def _parse_day_of_week(text: str, fail: Fail) -> DayOfWeekRule | None:
    if text == "?":
        return None
    if text == "L":  # alone, L in day-of-week is the last day of the week: Saturday
        return DayOfWeekRule(weekdays=frozenset({7}))
    if "#" in text:
        match = re.fullmatch(r"([0-9]+|[A-Z]{3})#([0-9]+)", text)
        if not match:
            raise fail(
                f"day-of-week {text!r}: # stands alone as DAY#N, e.g. 2#1 or MON#1 "
                "(the first Monday of the month), not in a list or range"
            )
        weekday = _value(DAY_OF_WEEK, match.group(1), fail)
        nth = int(match.group(2))
        if not 1 <= nth <= 5:
            raise fail(
                f"day-of-week {text!r}: the number after # must be 1-5 "
                f"(a month has at most five of each weekday), got {nth}"
            )
        return DayOfWeekRule(nth=(weekday, nth))
    match = re.fullmatch(r"([0-9]+|[A-Z]{3})L", text)
    if match:
        return DayOfWeekRule(last_of_month=_value(DAY_OF_WEEK, match.group(1), fail))
    if "W" in text.replace("WED", ""):
        raise fail(f"day-of-week {text!r}: W is only allowed in day-of-month (e.g. 15W)")
    if re.search(r"(^|[^A-Z])L|[0-9]L|[A-Z]{3}L", text):
        raise fail(
            f"day-of-week {text!r}: L stands alone in day-of-week, e.g. 6L or FRIL "
            "(the last Friday of the month), not in a list or range"
        )
    weekdays = frozenset(_parse_list(DAY_OF_WEEK, text, fail))
    if "/" in text:
        # The EventBridge reference lists ", - * ? L #" for day-of-week: no "/" (unlike Quartz,
        # which the other fields' wildcards come from). Say which days were meant.
        listed = ",".join(str(day) for day in sorted(weekdays))
        raise fail(
            f"day-of-week {text!r}: EventBridge allows , - * ? L # in day-of-week but not /; "
            f"list the days instead: {listed}"
        )
    return DayOfWeekRule(weekdays=weekdays)


def _parse_list(field: Field, text: str, fail: Fail) -> set[int]:
    values: set[int] = set()
    for term in text.split(","):
        if not term:
            raise fail(f"{field.name} {text!r} has an empty item in its list")
        values |= _parse_term(field, term, fail)
    return values


def _parse_term(field: Field, term: str, fail: Fail) -> set[int]:
    base, _, step_text = term.partition("/")
    step = 1
    if "/" in term:
        if not re.fullmatch(r"[0-9]+", step_text):
            raise fail(f"{field.name} {term!r}: the step after / must be a whole number")
        step = int(step_text)
        span = field.hi - field.lo + 1
        if not 1 <= step <= span:
            raise fail(f"{field.name} {term!r}: the step after / must be 1-{span}, got {step}")
    if base == "*":
        lo, hi = field.lo, field.hi
    elif "-" in base:
        first, _, last = base.partition("-")
        lo, hi = _value(field, first, fail), _value(field, last, fail)
        if lo > hi:
            raise fail(
                f"{field.name} {term!r}: a range must go from low to high; split a range "
                f"that wraps around into a list, e.g. {first}-{field.hi},{field.lo}-{last}"
            )
    else:
        lo = _value(field, base, fail)
        # "5/15" means "from 5, every 15"; a bare value is just itself.
        hi = field.hi if "/" in term else lo
    return set(range(lo, hi + 1, step))


def _value(field: Field, token: str, fail: Fail) -> int:
    names = dict(field.names)
    if re.fullmatch(r"[0-9]+", token):
        value = int(token)
    elif token in names:
        return names[token]
    else:
        hint = f"{field.name} takes {field.allowed} and , - * /"
        if token in ("L", "W", "LW", "?") or "#" in token or re.fullmatch(r"[0-9]+[LW]", token):
            hint += "; ? L W belong to day-of-month, ? L # to day-of-week"
        raise fail(f"{field.name} {token!r} is not valid: {hint}")
    if field is DAY_OF_WEEK and value == 0:
        raise fail(
            "day-of-week 0 is not valid: EventBridge counts 1=SUN .. 7=SAT; did you mean SUN? "
            "(Unix cron counts 0=SUN; write plain 5-field Unix cron to use its numbering)"
        )
    if not field.lo <= value <= field.hi:
        raise fail(f"{field.name} {value} is out of range: allowed {field.allowed}")
    return value
