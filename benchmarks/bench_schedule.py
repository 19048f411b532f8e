"""Benchmark of the schedule engine: parse (validation included) and next-fire-time search for
sparse and dense schedules, in UTC and in a DST zone. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_schedule.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cronplane.schedule.expression import _cron_spec, parse_schedule
from cronplane.schedule.search import days_in_month

NOW = datetime(2026, 11, 27, 16, 20, tzinfo=UTC)


def measure(label: str, action: Callable[[], object], repeat: int = 50) -> None:
    samples = []
    for _ in range(repeat):
        # Cold caches each round: the figure is the cost of a first call, not of a cache hit.
        _cron_spec.cache_clear()
        days_in_month.cache_clear()
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{label:<58} median {statistics.median(samples):8.3f} ms   max {max(samples):8.3f} ms")


def main() -> None:
    cases = [
        (
            "parse cron(0 9 ? * MON-FRI *) Europe/Berlin",
            lambda: parse_schedule("cron(0 9 ? * MON-FRI *)", "Europe/Berlin", now=NOW),
        ),
        ("parse '0 9 * * 1-5' (Unix, translated)", lambda: parse_schedule("0 9 * * 1-5", now=NOW)),
        ("parse cron(0 0 29 2 ? *) (next leap day check)", lambda: parse_schedule("cron(0 0 29 2 ? *)", now=NOW)),
        ("parse cron(0 0 30 2 ? *) (rejected: never fires)", lambda: _rejected("cron(0 0 30 2 ? *)")),
    ]
    for label, action in cases:
        measure(label, action)
    searches = [
        ("cron(0 0 1 1 ? *)", None, 10),
        ("cron(0 0 1 1 ? *)", "Europe/Berlin", 10),
        ("cron(0 0 29 2 ? *)", None, 10),
        ("cron(0 0 ? 2 2#5 *)", None, 2),
        ("cron(0 9 ? * 2#1 *)", "America/New_York", 10),
        ("cron(0/5 8-17 ? * MON-FRI *)", "Europe/Berlin", 1000),
        ("cron(* * * * ? *)", None, 10_000),
        ("cron(* * * * ? *)", "Europe/Berlin", 10_000),
        ("rate(1 minute)", None, 10_000),
    ]
    for expr, zone, count in searches:
        schedule = parse_schedule(expr, zone, now=NOW)
        measure(
            f"next {count} of {expr} ({zone or 'UTC'})",
            lambda s=schedule, c=count: s.next_fire_times(NOW, c),
            repeat=20,
        )


def _rejected(expr: str) -> None:
    try:
        parse_schedule(expr, now=NOW)
    except Exception:
        return


if __name__ == "__main__":
    main()
