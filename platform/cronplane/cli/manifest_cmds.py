"""``jobctl validate / list / next / schema``: the commands that read jobs.yaml and never touch
AWS. Each builds with ``cronplane.manifest.loader`` / ``cronplane.schedule.expression``, prints
through ``cli/views/manifest.py`` and returns an exit status; errors are CronplaneError
subclasses that ``cli/main.py`` turns into one message and an exit code."""

from __future__ import annotations

import datetime as dt
import json
import os
import zoneinfo

import click

from cronplane.cli.exit_status import ExitStatus
from cronplane.cli.options import manifest_option, output_option
from cronplane.cli.views import manifest as view
from cronplane.errors import CronplaneError, JobNotFoundError, ManifestError
from cronplane.manifest.fanout import DEFAULT_CONCURRENCY, crowded_minutes, describe
from cronplane.manifest.loader import AS_OF_EPOCH, NAME_RE, load_manifest
from cronplane.manifest.loader import schema as manifest_schema
from cronplane.manifest.models import Job

UTC = dt.UTC


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


@click.command("validate")
@manifest_option
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Concurrent Lambda executions the account allows, for the fan-out warnings "
    f"(default: Lambda's {DEFAULT_CONCURRENCY:,}; more when the quota was raised).",
)
@click.option("--now", "now", callback=_parse_now, hidden=True, help="Reference time (tests).")
def validate(manifest_path: str, concurrency: int | None, now: dt.datetime | None) -> ExitStatus:
    """Check jobs.yaml and report every problem in one pass.

    Exit 0 when valid (one summary line; warnings on stderr, such as minutes in which more jobs
    fire than Lambda can start at once), 1 when not (one FILE:LINE: path: message line per
    problem on stderr), 2 on a usage error."""
    now = _aware(now, UTC) if now else None
    try:
        manifest = load_manifest(manifest_path, now=now)
    except ManifestError as exc:
        click.echo("\n".join(view.validate_problems(manifest_path, exc.problems)), err=True)
        return ExitStatus.FAILURE
    click.echo(view.validate_summary(manifest_path, manifest))
    limit = concurrency or DEFAULT_CONCURRENCY
    source = "the account allows (--concurrency)" if concurrency else "Lambda allows by default"
    warnings = describe(crowded_minutes(manifest, limit, now), limit, source)
    if warnings:
        click.echo("\n".join(view.validate_warnings(manifest_path, warnings)), err=True)
    return ExitStatus.OK


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
def list_jobs(manifest_path: str, output: str, now: dt.datetime | None) -> ExitStatus:
    """List every job: team, schedule, in words, timezone, next run, enabled."""
    # A one-time job that already fired is listed (next run: never), not an error.
    manifest = load_manifest(manifest_path, now=AS_OF_EPOCH)
    now = _aware(now or dt.datetime.now(UTC), UTC)
    upcoming = {job.name: next(iter(job.schedule.next_fire_times(now, 1)), None) for job in manifest.jobs}
    if output == "json":
        click.echo(json.dumps(view.jobs_json(manifest, upcoming), indent=2))
    else:
        click.echo("\n".join(view.jobs_table(manifest, upcoming)))
    return ExitStatus.OK


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
) -> ExitStatus:
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
        click.echo(json.dumps(view.next_times_json(times)))
    else:
        click.echo("\n".join(view.next_times_text(label, schedule, times, start)))
    return ExitStatus.OK


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
def schema() -> ExitStatus:
    """Print the JSON Schema (draft 2020-12) of jobs.yaml, for editors and CI.

    Editors that use yaml-language-server pick it up from a first line such as:
    # yaml-language-server: $schema=./platform/cronplane/manifest/jobs.schema.json"""
    click.echo(json.dumps(manifest_schema(), indent=2))
    return ExitStatus.OK
