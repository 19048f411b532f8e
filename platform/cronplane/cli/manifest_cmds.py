"""``jobctl validate / list / next / schema``: the commands that read jobs.yaml and never touch
AWS. Each builds with ``cronplane.manifest.loader`` / ``cronplane.schedule.expression`` and prints; errors are
CronplaneError subclasses that ``cli/main.py`` turns into one message and an exit code."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import zoneinfo
from typing import Any

import click

from cronplane.cli.options import manifest_option, output_option
from cronplane.errors import CronplaneError, JobNotFoundError, ManifestError
from cronplane.manifest.loader import AS_OF_EPOCH, NAME_RE, load_manifest, on_scheduler
from cronplane.manifest.loader import schema as manifest_schema
from cronplane.manifest.models import Job, Manifest

UTC = dt.UTC


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@click.command("validate")
@manifest_option
def validate(manifest_path: str) -> None:
    """Check jobs.yaml and report every problem in one pass.

    Exit 0 when valid (one summary line), 1 when not (one FILE:LINE: path: message line per
    problem on stderr), 2 on a usage error."""
    try:
        manifest = load_manifest(manifest_path)
    except ManifestError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        if len(exc.problems) > 1:
            click.echo(f"{manifest_path}: {_plural(len(exc.problems), 'problem')}", err=True)
        # sys.exit, not click's Exit: with standalone_mode=False click would turn Exit into a
        # return value, and main() (and tests calling it) must see the exit code.
        sys.exit(1)
    teams = len({job.team for job in manifest.jobs})
    scheduled = sum(on_scheduler(manifest, job) for job in manifest.jobs)
    click.echo(
        f"{manifest_path}: {_plural(len(manifest.jobs), 'job')} valid "
        f"({_plural(teams, 'team')}, {scheduled} on Scheduler)"
    )


def _parse_now(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time such as 2026-12-01T09:00 or 2026-12-01T09:00:00+01:00"
        ) from None
    if not 1970 <= moment.year <= 2199:  # EventBridge's years; beyond them date arithmetic overflows
        raise click.BadParameter(f"{value!r} is outside the years schedules can fire in (1970-2199)")
    return moment


def _parse_zone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        from cronplane.manifest.schemacheck import did_you_mean

        guess = did_you_mean(value, sorted(zoneinfo.available_timezones()))
        raise click.BadParameter(f"unknown timezone {value!r}{guess}; use an IANA name such as Europe/Berlin") from None
    return value


def _zone(name: str | None) -> dt.tzinfo:
    return UTC if name in (None, "UTC") else zoneinfo.ZoneInfo(name)


@click.command("list")
@manifest_option
@output_option("table", "json")
@click.option("--now", "now", callback=_parse_now, hidden=True, help="Reference time (tests).")
def list_jobs(manifest_path: str, output: str, now: dt.datetime | None) -> None:
    """List every job: team, schedule, in words, timezone, next run, enabled."""
    # A one-time job that already fired is listed (next run: never), not an error.
    manifest = load_manifest(manifest_path, now=AS_OF_EPOCH)
    now = _aware(now or dt.datetime.now(UTC), UTC)
    upcoming = {job.name: next(iter(job.schedule.next_fire_times(now, 1)), None) for job in manifest.jobs}
    rows = [_job_row(manifest, job, upcoming[job.name]) for job in manifest.jobs]
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    headers = ["JOB", "TEAM", "SCHEDULE", "WHEN", "TIMEZONE", "NEXT RUN", "ENABLED"]
    table = [
        [
            job.name,
            job.team,
            job.schedule.source,
            job.schedule.describe(),
            job.timezone or "UTC",
            _short(upcoming[job.name]) if job.enabled else "- (disabled)",
            "yes" if job.enabled else "no",
        ]
        for job in manifest.jobs
    ]
    click.echo(_table(headers, table))


def _job_row(manifest: Manifest, job: Job, upcoming: dt.datetime | None) -> dict[str, Any]:
    return {
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
        "next_run": upcoming.isoformat() if upcoming else None,
        "enabled": job.enabled,
    }


def _short(moment: dt.datetime | None) -> str:
    if moment is None:
        return "never"
    return f"{moment:%Y-%m-%d %H:%M} {_zone_label(moment)}"


def _zone_label(moment: dt.datetime) -> str:
    name = moment.tzname() or ""
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else ""
    return "UTC" if offset in ("+00:00", "") and name in ("UTC", "") else f"{name} ({offset})".strip()


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in [headers, *rows]]
    return "\n".join(lines)


@click.command("next")
@click.argument("expr_or_job")
@click.option("-n", "--count", type=click.IntRange(1, 1000), default=5, show_default=True, help="How many fire times.")
@click.option(
    "--after",
    callback=_parse_now,
    help="Start after this ISO 8601 time (no offset = in the schedule's zone). Default: now.",
)
@click.option(
    "--tz",
    "zone",
    callback=_parse_zone,
    help="IANA timezone: the zone a bare expression runs in; for a job, the zone the times are shown in.",
)
@output_option("table", "json")
@manifest_option
def next_times(
    expr_or_job: str, count: int, after: dt.datetime | None, zone: str | None, output: str, manifest_path: str
) -> None:
    """Show the next fire times of a job of the manifest or of a bare expression.

    EXPR_OR_JOB is a job name (nightly-report) or any accepted schedule: 'cron(0 9 ? * MON-FRI *)',
    'rate(15 minutes)', 'at(2027-01-01T09:00:00)', '0 9 * * 1-5', @daily."""
    from cronplane.schedule.expression import parse_schedule

    label = ""
    if NAME_RE.match(expr_or_job):
        job = _find_job(expr_or_job, manifest_path)
        schedule, display = job.schedule, _zone(zone or job.timezone)
        label = f"{job.name}: "
    else:
        schedule = parse_schedule(expr_or_job, timezone=zone)
        display = _zone(zone)
    start = _aware(after, _zone(schedule.timezone)) if after else dt.datetime.now(UTC)
    times = [t.astimezone(display) for t in schedule.next_fire_times(start, count)]
    if output == "json":
        click.echo(json.dumps([t.isoformat() for t in times]))
        return
    source = schedule.source if schedule.source == schedule.expression else f"{schedule.source} = {schedule.expression}"
    click.echo(f"{label}{source}: {schedule.describe()}")
    if schedule.kind == "rate":
        click.echo("  (AWS counts rate() from when the trigger is created; shown counting from 00:00 UTC)")
    for index, moment in enumerate(times, 1):
        utc = "" if moment.utcoffset() == dt.timedelta(0) else f"  = {moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        click.echo(f"{index:>4}  {moment:%a %Y-%m-%d %H:%M} {_zone_label(moment)}{utc}")
    if not times:
        click.echo("  no fire times after " + start.isoformat())


MACROS = ("hourly", "daily", "weekly", "monthly", "yearly", "annually", "midnight")


def _find_job(name: str, manifest_path: str) -> Job:
    macro = f" (for the schedule, write @{name})" if name in MACROS else ""
    if not os.path.exists(manifest_path):
        raise CronplaneError(
            f"{name!r} looks like a job name, but there is no manifest {manifest_path} to look it up in{macro}; "
            "pass -f FILE, or give a schedule expression such as 'cron(0 9 * * ? *)' or '0 9 * * 1-5'"
        )
    # Handlers do not change when a job fires: skip reading them.
    manifest = load_manifest(manifest_path, check_handlers=False, now=AS_OF_EPOCH)
    known = [job.name for job in manifest.jobs]
    if name not in known:
        from cronplane.manifest.schemacheck import did_you_mean

        raise JobNotFoundError(
            f"{manifest_path}: no job named {name!r}{macro or did_you_mean(name, known)}; "
            f"jobs: {', '.join(known) or 'none'}. A schedule expression works too, e.g. 'cron(0 9 * * ? *)'"
        )
    return manifest.job(name)


def _aware(moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


@click.command("schema")
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of jobs.yaml, for editors and CI.

    Editors that use yaml-language-server pick it up from a first line such as:
    # yaml-language-server: $schema=./platform/cronplane/manifest/jobs.schema.json"""
    click.echo(json.dumps(manifest_schema(), indent=2))
