"""``jobctl report``: the run grid of a window, as one self-contained HTML file (``--html``) or
a text summary per job. Builds the clients, calls ``cronplane.ops.report``, prints through
``cronplane.cli.views.report_html`` / ``report_text``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from cronplane.cli.options import aws_config, aws_options, manifest_option
from cronplane.errors import CronplaneError
from cronplane.schedule.moments import parse_age_or_time


def _moment(text: str, now: datetime, option: str) -> datetime:
    try:
        return parse_age_or_time(text, now)
    except (ValueError, OverflowError):
        raise click.BadParameter(
            f"{text!r}: expected a duration like 7d, 24h, 30m or an ISO time like 2026-11-27T09:00:00Z",
            param_hint=option,
        ) from None


@click.command("report")
@click.argument("job_names", metavar="[JOB]...", nargs=-1)
@manifest_option
@click.option("--since", default="7d", show_default=True, metavar="7d|ISO", help="Start of the window.")
@click.option("--until", default=None, metavar="ISO", help="End of the window (default: now).")
@click.option("--team", default=None, help="Only this team's jobs.")
@click.option(
    "--html",
    "html_path",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the run grid to FILE (one self-contained HTML file) and print its path.",
)
@click.option("--now", "now_text", default=None, hidden=True, help="Pretend it is this time (tests).")
@aws_options
def report(
    job_names: tuple[str, ...],
    manifest_path: str,
    since: str,
    until: str | None,
    team: str | None,
    html_path: str | None,
    now_text: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> None:
    """Show how the jobs did: every expected fire time, run or not (a grid in --html)."""
    from cronplane.aws.client import AwsClient
    from cronplane.manifest.loader import AS_OF_EPOCH, load_manifest
    from cronplane.ops import report as ops_report

    manifest = load_manifest(manifest_path, now=AS_OF_EPOCH)  # a fired at() job still has history
    clients = AwsClient(aws_config(region, profile, endpoint_url, manifest.region, manifest.root))
    now = _moment(now_text, datetime.now(UTC), "--now") if now_text else datetime.now(UTC)
    start = _moment(since, now, "--since")
    end = min(_moment(until, now, "--until"), now) if until else now
    if end <= start:
        raise click.BadParameter(
            f"the window is empty: --since {start:%Y-%m-%dT%H:%M:%SZ} is not before {end:%Y-%m-%dT%H:%M:%SZ}",
            param_hint="--since / --until",
        )
    jobs = ops_report.select_jobs(manifest, job_names, team)
    if not jobs:
        teams = ", ".join(sorted({j.team for j in manifest.jobs}))
        raise CronplaneError(f"--team {team}: no job of {manifest.path} has that team (teams: {teams})")
    grid = ops_report.build_grid(clients, manifest, jobs, since=start, until=end, now=now)
    if html_path is None:
        from cronplane.cli.views.report_text import report_text

        click.echo(report_text(grid))
        return
    from cronplane.cli.views.report_html import render

    target = Path(html_path).expanduser().resolve()
    try:
        target.write_text(render(grid), encoding="utf-8")
    except OSError as exc:
        raise CronplaneError(f"--html {html_path}: cannot write it ({exc.strerror}); pick a writable path") from None
    click.echo(str(target))
