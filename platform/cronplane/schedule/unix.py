"""Unix cron as teams usually write it (``0 9 * * 1-5``, ``@daily``) translated into the six
EventBridge fields. The translation is the only place that knows Unix numbering: day-of-week
0-7 with 0 and 7 = Sunday becomes 1-7 with 1 = Sunday, the unrestricted day field becomes
``?`` and the year ``*``. Everything else is then validated by ``cron.parse_cron_fields``, so a
translated schedule obeys exactly the same rules as one written in EventBridge form.
"""

from __future__ import annotations

import re

from cronplane.errors import ScheduleError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# Names mean the same in both numberings; a step ("MON-FRI/2") is expanded like numbers,
# because EventBridge has no "/" in day-of-week.
_NAME_TERM = re.compile(r"[A-Z]{3}(-[A-Z]{3})?")


def expand_macro(text: str) -> str:
    """``@daily`` -> ``0 0 * * *``; raises ScheduleError for an unknown macro."""
    macro = text.strip().lower()
    if macro in MACROS:
        return MACROS[macro]
    if macro == "@reboot":
        raise ScheduleError(f"{text}: a Lambda job has no boot to run at; use a schedule")
    raise ScheduleError(f"{text}: unknown macro; use one of {', '.join(MACROS)}")


def unix_to_aws_fields(fields: list[str], source: str) -> list[str]:
    """Five Unix cron fields -> six EventBridge fields (not yet validated, except the Unix
    day-of-week numbering, which the EventBridge rules would misread)."""
    minute, hour, dom, month, dow = (f.upper() for f in fields)
    dom_any = dom in ("*", "?")
    dow_any = dow in ("*", "?")
    if dow_any:
        return [minute, hour, "*" if dom == "?" else dom, month, "?", "*"]
    if not dom_any:
        raise ScheduleError(
            f"{source}: day-of-month is {dom} and day-of-week is {dow}: Unix cron runs when "
            "either one matches, which EventBridge cannot express (one of day-of-month or "
            "day-of-week must be ?). Set one of them to *, or split the job in two"
        )
    return [minute, hour, "?", month, _translate_day_of_week(dow, source), "*"]


def _translate_day_of_week(text: str, source: str) -> str:
    match = re.fullmatch(r"([0-9]+)([#L].*)", text)
    if match:  # 1#1 (first Monday), 5L (last Friday): renumber the day, keep the rest
        return f"{_unix_day(match.group(1), text, source) % 7 + 1}{match.group(2)}"
    names: list[str] = []
    days: set[int] = set()
    for term in text.split(","):
        if _NAME_TERM.fullmatch(term) or not term or "#" in term or "L" in term:
            names.append(term)  # names mean the same in both; the validator judges the rest
            continue
        days |= {day % 7 + 1 for day in _expand_unix_term(term, text, source)}
    return ",".join(names + ([_compact(days)] if days else []))


def _expand_unix_term(term: str, text: str, source: str) -> set[int]:
    base, _, step_text = term.partition("/")
    step = 1
    if "/" in term:
        if not re.fullmatch(r"[0-9]+", step_text) or not 1 <= int(step_text) <= 7:
            raise ScheduleError(f"{source}: day-of-week {term!r}: the step after / must be 1-7")
        step = int(step_text)
    if base == "*":
        lo, hi = 0, 6
    elif "-" in base:
        first, _, last = base.partition("-")
        lo, hi = _unix_day(first, text, source), _unix_day(last, text, source)
        if lo > hi:
            raise ScheduleError(
                f"{source}: day-of-week {term!r}: a range must go from low to high; "
                f"split it into a list, e.g. {first}-6,0-{last}"
            )
    else:
        lo = _unix_day(base, text, source)
        hi = 6 if "/" in term else lo
    return set(range(lo, hi + 1, step))


def _unix_day(token: str, text: str, source: str) -> int:
    if token in _NAMES:
        return _NAMES.index(token)
    if re.fullmatch(r"[0-9]+", token) and int(token) <= 7:
        return int(token)
    raise ScheduleError(
        f"{source}: day-of-week {token!r} is out of range: Unix cron allows 0-7 (0 and 7 = Sunday) or SUN-SAT"
    )


def _compact(days: set[int]) -> str:
    """{2, 3, 4, 5, 6} -> "2-6"; {1, 3, 5, 7} -> "1,3,5,7"; all seven -> "*"."""
    if days == set(range(1, 8)):
        return "*"
    ordered = sorted(days)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{run[0]}-{run[-1]}")
        else:
            parts.extend(str(day) for day in run)
    return ",".join(parts)
