"""What ``jobctl validate``, ``list`` and ``next`` print. Pure: the manifest, its jobs and
computed fire times in; lines or JSON-ready values out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cronplane.cli.views.text import plural, table
from cronplane.errors import Problem
from cronplane.manifest.loader import on_scheduler

if TYPE_CHECKING:
    from cronplane.manifest.models import Manifest
    from cronplane.schedule.expression import Schedule

UTC = dt.UTC


# -- validate -------------------------------------------------------------------------------
def validate_problems(manifest_path: str, problems: Sequence[Problem]) -> list[str]:
    """One FILE:LINE: path: message line per problem, and the count when there are several (stderr)."""
    lines = [str(problem) for problem in problems]
    if len(problems) > 1:
        lines.append(f"{manifest_path}: {plural(len(problems), 'problem')}")
    return lines


def validate_summary(manifest_path: str, manifest: Manifest) -> str:
    teams = len({job.team for job in manifest.jobs})
    scheduled = sum(on_scheduler(manifest, job) for job in manifest.jobs)
    return (
        f"{manifest_path}: {plural(len(manifest.jobs), 'job')} valid "
        f"({plural(teams, 'team')}, {scheduled} on Scheduler)"
    )


def validate_warnings(manifest_path: str, warnings: Sequence[str]) -> list[str]:
    """What is valid but will hurt on AWS (``manifest.fanout``), one line each (stderr)."""
    return [f"{manifest_path}: warning: {warning}" for warning in warnings]


# -- list -----------------------------------------------------------------------------------
def jobs_table(manifest: Manifest, upcoming: Mapping[str, dt.datetime | None]) -> list[str]:
    """``upcoming``: each job's next fire time (None: never again)."""
    headers = ["JOB", "TEAM", "SCHEDULE", "WHEN", "TIMEZONE", "NEXT RUN", "ENABLED"]
    rows = [
        [
            job.name,
            job.team,
            job.schedule.source,
            job.schedule.describe(),
            job.timezone or "UTC",
            short_time(upcoming[job.name]) if job.enabled else "- (disabled)",
            "yes" if job.enabled else "no",
        ]
        for job in manifest.jobs
    ]
    return table(headers, rows)


def jobs_json(manifest: Manifest, upcoming: Mapping[str, dt.datetime | None]) -> list[dict[str, Any]]:
    rows = []
    for job in manifest.jobs:
        next_run = upcoming[job.name]
        rows.append(
            {
                "name": job.name,
                "team": job.team,
                "owner": job.owner,
                "description": job.description,
                "handler": job.handler,
                "schedule": job.schedule.source,
                "expression": job.schedule.expression,
                "when": job.schedule.describe(),
                "timezone": job.timezone,
                "trigger": "scheduler" if on_scheduler(manifest, job) else "rule",
                "next_run": next_run.isoformat() if next_run else None,
                "enabled": job.enabled,
            }
        )
    return rows


def short_time(moment: dt.datetime | None) -> str:
    if moment is None:
        return "never"
    return f"{moment:%Y-%m-%d %H:%M} {zone_label(moment)}"


def zone_label(moment: dt.datetime) -> str:
    name = moment.tzname() or ""
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else ""
    return "UTC" if offset in ("+00:00", "") and name in ("UTC", "") else f"{name} ({offset})".strip()


# -- next -----------------------------------------------------------------------------------
def next_times_text(label: str, schedule: Schedule, times: Sequence[dt.datetime], start: dt.datetime) -> list[str]:
    """``label``: ``"job: "`` for a job of the manifest, empty for a bare expression; ``times``
    in the zone they are shown in; ``start``: what they follow (said when there are none)."""
    source = schedule.source if schedule.source == schedule.expression else f"{schedule.source} = {schedule.expression}"
    lines = [f"{label}{source}: {schedule.describe()}"]
    if schedule.kind == "rate":
        lines.append("  (AWS counts rate() from when the trigger is created; shown counting from 00:00 UTC)")
    for index, moment in enumerate(times, 1):
        utc = "" if moment.utcoffset() == dt.timedelta(0) else f"  = {moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        lines.append(f"{index:>4}  {moment:%a %Y-%m-%d %H:%M} {zone_label(moment)}{utc}")
    if not times:
        lines.append("  no fire times after " + start.isoformat())
    return lines


def next_times_json(times: Sequence[dt.datetime]) -> list[str]:
    return [t.isoformat() for t in times]
