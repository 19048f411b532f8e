"""A schedule in words, for ``jobctl list`` and ``jobctl next``: cron-descriptor reads the
EventBridge fields (it understands ``?``, ``L``, ``W``, ``#`` and a year once a seconds field is
put in front, with 1 = Sunday); rate() and at() get their own text. The zone always ends the
sentence, because "At 09:00" means nothing without it.
"""

from __future__ import annotations

import re
from datetime import datetime


def describe_cron(fields: tuple[str, ...]) -> str:
    minute, hour, dom, month, dow, year = fields
    if dow == "L":  # alone it means Saturday; cron-descriptor only knows the 6L form
        dow = "SAT"
    if "/" in year and "-" not in year:  # "2030/5" stops at 2199, not at 9999 as it would say
        start, _, step = year.partition("/")
        year = f"{'1970' if start == '*' else start}-2199/{step}"
    try:
        from cron_descriptor import ExpressionDescriptor, Options

        options = Options()
        options.use_24hour_time_format = True
        options.day_of_week_start_index_zero = False  # EventBridge: 1 = Sunday
        options.verbose = False
        text = " ".join(("0", minute, hour, dom, month, dow, year))
        description = str(ExpressionDescriptor(text, options).get_description())
    except Exception:
        return f"cron({' '.join(fields)})"
    # cron-descriptor says "starting at 1 minutes past the hour" for cron(1/10 ...)
    return re.sub(r"\b1 (minute|hour|day|month|year)s\b", r"1 \1", description)


def describe_rate(value: int, unit: str) -> str:
    if value == 1:
        return f"Every {unit}"
    return f"Every {value} {unit}s"


def describe_at(when: datetime) -> str:
    return f"Once, at {when:%H:%M:%S} on {when:%Y-%m-%d}"


def with_zone(text: str, timezone: str | None) -> str:
    return f"{text} ({timezone or 'UTC'})"
