"""``jobctl watch --once``, ``jobctl alerts [JOB]``, ``jobctl alerts test JOB``: build the
clients, call ``cronplane.ops.alerting`` (the deployed watchdog's own check), print through
``cronplane.cli.views.alerts``, return an exit status: watch and alerts 0 when nothing is open,
3 when something is (1 when a job could not be checked); alerts test 1 when a route did not
accept the notification."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from cronplane.cli.exit_status import ExitStatus
from cronplane.cli.options import aws_config, aws_options, manifest_option, output_option

if TYPE_CHECKING:
    from cronplane.ops.watchdog import PassReport


def _setup(manifest_path: str, region: str | None, profile: str | None, endpoint_url: str | None) -> tuple[Any, Any]:
    from cronplane.aws.client import AwsClient
    from cronplane.manifest.loader import AS_OF_EPOCH, load_manifest

    manifest = load_manifest(manifest_path, now=AS_OF_EPOCH)  # a one-time at() that has fired is still watched
    return manifest, AwsClient(aws_config(region, profile, endpoint_url, manifest.region, manifest.root))


def _now(text: str | None) -> datetime:
    from cronplane.cli.ops_cmds import parse_moment

    return parse_moment(text, datetime.now(UTC), "--now") if text else datetime.now(UTC)


def _status(report: PassReport) -> ExitStatus:
    if report.errors:
        return ExitStatus.FAILURE
    return ExitStatus.ATTENTION if report.open else ExitStatus.OK


def _colour() -> bool:
    import sys

    return sys.stdout.isatty()


# ------------------------------------------------------------------------------------ watch
@click.command("watch")
@click.option("--once", is_flag=True, required=True, help="One pass, then exit (the only mode for now).")
@manifest_option
@output_option("table", "json")
@click.option("--now", "now_text", default=None, hidden=True, help="Pretend it is this time (tests).")
@aws_options
def watch(
    once: bool,
    manifest_path: str,
    output: str,
    now_text: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """One watchdog pass from here, with the deployed watchdog's code: alerts late, missed and
    lost runs of the jobs with alerts, once each. Exit 0 when nothing is open, 3 otherwise."""
    from cronplane.cli.views.alerts import report_json, watch_text
    from cronplane.ops import alerting

    manifest, aws = _setup(manifest_path, region, profile, endpoint_url)
    report = alerting.watch(aws, manifest, _now(now_text))
    if output == "json":
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        click.echo(watch_text(report, colour=_colour()))
    return _status(report)


# ----------------------------------------------------------------------------------- alerts
class _AlertsGroup(click.Group):
    """``jobctl alerts [JOB]`` shows; ``jobctl alerts test JOB`` tests: anything else goes to
    the (hidden) ``show`` subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not (args and args[0] in ("test", "-h", "--help")):
            args = ["show", *args]  # even a job named "show"
        return super().parse_args(ctx, args)


@click.group("alerts", cls=_AlertsGroup, subcommand_metavar="[JOB] [-o json] | test JOB")
def alerts() -> None:
    """What is open now for the jobs with alerts (late, missed, failing, lost), since when and
    who was told (jobctl alerts [JOB]); or send a test notification (jobctl alerts test JOB)."""


@alerts.command("show", hidden=True)
@click.argument("job_name", metavar="[JOB]", required=False)
@manifest_option
@output_option("table", "json")
@click.option("--now", "now_text", default=None, hidden=True, help="Pretend it is this time (tests).")
@aws_options
def show(
    job_name: str | None,
    manifest_path: str,
    output: str,
    now_text: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """What is open now. Exit 0 when nothing is, 3 otherwise."""
    from cronplane.cli.views.alerts import alerts_text, report_json
    from cronplane.ops import alerting

    manifest, aws = _setup(manifest_path, region, profile, endpoint_url)
    report = alerting.watch(aws, manifest, _now(now_text), job_name=job_name, act=False)
    if output == "json":
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        click.echo(alerts_text(report, colour=_colour()))
    return _status(report)


@alerts.command("test")
@click.argument("job_name", metavar="JOB")
@manifest_option
@output_option("table", "json")
@aws_options
def test(
    job_name: str,
    manifest_path: str,
    output: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Have the namespace's watchdog function send a clearly marked test notification through
    JOB's routes (only the platform's functions may publish to the alert topic) and say which
    accepted it."""
    from cronplane.cli.views.alerts import trial_json, trial_text
    from cronplane.ops import alerting

    manifest, aws = _setup(manifest_path, region, profile, endpoint_url)
    outcome = alerting.send_test(aws, manifest, job_name)
    if output == "json":
        click.echo(json.dumps(trial_json(outcome), indent=2))
    else:
        click.echo(trial_text(outcome, colour=_colour()))
    return ExitStatus.OK if outcome.all_accepted else ExitStatus.FAILURE
