"""``jobctl plan``, ``jobctl deploy`` and ``jobctl destroy``: thin commands over
``cronplane.aws.deployer`` (build, call, print through ``cli/views/plan.py``, return an exit
status)."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import click

from cronplane.cli.exit_status import ExitStatus
from cronplane.cli.options import aws_config, aws_options, manifest_option, output_option
from cronplane.cli.views.plan import deploy_report, plan_text, region_note
from cronplane.errors import CronplaneError


def _setup(
    manifest_path: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    progress: Any = None,
    refresh: bool = False,
    **kwargs: Any,
) -> tuple[Any, Any, Any]:
    import os

    from cronplane.aws.client import AwsClient
    from cronplane.aws.deployer import Deployer
    from cronplane.manifest.loader import load_manifest

    manifest = load_manifest(manifest_path)
    root = os.path.dirname(os.path.abspath(manifest_path))
    config = aws_config(region, profile, endpoint_url, manifest.region, root)
    if config.region and config.region != manifest.region:
        # The AWS settings outrank jobs.yaml (as with the AWS CLI); say so, since the
        # namespace then lives in another region than the manifest names.
        click.echo(region_note(config.region, manifest.path, manifest.region), err=True)
    client = AwsClient(config)
    deployer = Deployer(client, progress=progress, **kwargs)
    deployer.inventory.refresh = refresh  # list every kind, not only what the records cannot vouch for
    return manifest, client, deployer


def refresh_option(func: Any) -> Any:
    return click.option(
        "--refresh",
        is_flag=True,
        help="Also list the log groups and Scheduler schedules, which each job's state record otherwise "
        "vouches for: finds what was changed or deleted behind cronplane's back (at 10,000 jobs, ~300 "
        "calls more).",
    )(func)


def _confirm(prompt: str, yes: bool) -> Any:
    def ask(plan: Any) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise CronplaneError(f"{prompt} needs confirmation, and there is no terminal to ask: pass --yes.")
        return click.confirm(f"{prompt}?", default=False)

    return ask


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a cancelled CI job, ``kill PID``) ends the deploy like Ctrl-C does: running
    steps finish, no new ones start, the deploy lock is released. Without this, Python would
    die on the spot and leave the lock to expire."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _report(result: Any, client: Any, started: float, verb: str) -> None:
    elapsed_s = time.monotonic() - started
    lines = deploy_report(result, verb=verb, reads=client.reads, writes=client.writes, elapsed_s=elapsed_s)
    click.echo("\n".join(lines))


@click.command()
@manifest_option
@output_option("text", "json")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing would change, 2 when something would, 1 on error. Drift a deploy keeps "
    "on purpose (a paused job) is not a change: 0, listed under 'drift' in -o json.",
)
@click.option("--unpause", multiple=True, metavar="JOB", help="Plan to enable this paused job's trigger again.")
@refresh_option
@aws_options
def plan(
    manifest_path: str,
    output: str,
    detailed_exitcode: bool,
    unpause: tuple[str, ...],
    refresh: bool,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Show what deploy would change in AWS (reads only)."""
    manifest, _client, deployer = _setup(manifest_path, region, profile, endpoint_url, refresh=refresh)
    result = deployer.plan(manifest, unpause=unpause)
    if output == "json":
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
    else:
        click.echo(plan_text(result, colour=sys.stdout.isatty()))
    # A paused job is drift, not a pending change: deploy would leave it as it is, so a CI gate
    # on exit 2 must not fire for it forever. It is in the notes, the summary line and "drift".
    if detailed_exitcode and result.changes:
        return ExitStatus.CHANGES_PENDING
    return ExitStatus.OK


@click.command()
@manifest_option
@click.option("-y", "--yes", is_flag=True, help="Apply without asking.")
@click.option("--unpause", multiple=True, metavar="JOB", help="Enable this paused job's trigger again.")
@click.option("--workers", type=click.IntRange(1, 32), default=8, show_default=True, help="Jobs applied in parallel.")
@refresh_option
@aws_options
def deploy(
    manifest_path: str,
    yes: bool,
    unpause: tuple[str, ...],
    workers: int,
    refresh: bool,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Create or update everything the jobs need in AWS, and remove what they no longer need."""
    started = time.monotonic()
    manifest, client, deployer = _setup(
        manifest_path, region, profile, endpoint_url, progress=click.echo, refresh=refresh, workers=workers
    )

    def confirm(p: Any) -> bool:
        click.echo(plan_text(p, colour=sys.stdout.isatty()))
        return bool(_confirm("Deploy", yes)(p))

    with _terminate_as_interrupt():
        result = deployer.deploy(manifest, confirm=confirm, unpause=unpause)
    if not result.plan.has_changes:
        click.echo(plan_text(result.plan))
    _report(result, client, started, "Deploy")
    return ExitStatus.OK


@click.command()
@manifest_option
@click.option("-y", "--yes", is_flag=True, help="Delete without asking.")
@click.option("--include-history", is_flag=True, help="Also delete the run-history table.")
@aws_options
def destroy(
    manifest_path: str,
    yes: bool,
    include_history: bool,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Delete every resource of the namespace (the history table only with --include-history)."""
    started = time.monotonic()
    # Every kind listed: what no job's record vouches for (left by a deploy cut short) goes too.
    manifest, client, deployer = _setup(manifest_path, region, profile, endpoint_url, progress=click.echo, refresh=True)

    def confirm(p: Any) -> bool:
        click.echo(plan_text(p, colour=sys.stdout.isatty()))
        return bool(_confirm(f"Destroy namespace {manifest.namespace}", yes)(p))

    with _terminate_as_interrupt():
        result = deployer.deploy(manifest, confirm=confirm, destroy=True, include_history=include_history)
    if not result.plan.has_changes:
        click.echo(plan_text(result.plan))
    _report(result, client, started, "Destroy")
    return ExitStatus.OK
