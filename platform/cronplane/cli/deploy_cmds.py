"""``jobctl plan``, ``jobctl deploy`` and ``jobctl destroy``: thin commands over
``cronplane.aws.deployer`` (build, call, print)."""

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

from cronplane.cli.options import aws_config, aws_options, manifest_option, output_option
from cronplane.errors import CronplaneError

SYMBOL_COLOURS = {"+": "green", "~": "yellow", "-": "red"}


def render_plan(plan: Any, *, colour: bool = False) -> str:
    """The plan as a person reads it: one line per change with its reason, the changed fields
    old → new underneath, notes, and the summary line (which names drift kept on purpose, such
    as a paused job, instead of claiming AWS matches the manifest)."""
    lines: list[str] = []
    current_job: object = object()
    for action in plan.changes:
        if action.job != current_job:
            current_job = action.job
            lines.append(f"job {action.job}:" if action.job else "shared:")
        symbol = action.op.symbol
        head = f"  {symbol} {action.kind} {action.name}"
        if colour:
            head = click.style(head, fg=SYMBOL_COLOURS.get(symbol))
        lines.append(f"{head}  ({action.reason})")
        if action.op.value == "update":
            for change in action.fields:
                lines.append(f"      {change.describe()}")
    if plan.notes:
        lines.append("Notes:")
        lines.extend(f"  {note}" for note in plan.notes)
    lines.append(plan.verdict())
    return "\n".join(lines)


def _setup(
    manifest_path: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    progress: Any = None,
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
        click.echo(
            f"Note: using AWS region {config.region} (from --region, AWS_REGION / AWS_DEFAULT_REGION or "
            f"the AWS profile); {manifest.path} says {manifest.region}.",
            err=True,
        )
    client = AwsClient(config)
    return manifest, client, Deployer(client, progress=progress, **kwargs)


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
    if result.applied is None:
        if result.plan.has_changes:
            click.echo("Nothing applied.")
        else:
            click.echo(f"({client.reads} reads, {client.writes} writes in {time.monotonic() - started:.1f}s)")
        return
    plan = result.plan
    click.echo(
        f"{verb} complete: {plan.count(_op('create'))} created, "
        f"{plan.count(_op('update'))} updated, {plan.count(_op('delete'))} deleted "
        f"in {time.monotonic() - started:.1f}s ({client.reads} reads, {client.writes} writes)."
    )
    if plan.drift:
        # The deploy did not make AWS match the manifest everywhere; say where, and that it was meant.
        click.echo(f"Left as it was: {plan.drift_summary()}")


def _op(name: str) -> Any:
    from cronplane.aws.planner import Op

    return Op(name)


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
@aws_options
def plan(
    manifest_path: str,
    output: str,
    detailed_exitcode: bool,
    unpause: tuple[str, ...],
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> None:
    """Show what deploy would change in AWS (reads only)."""
    manifest, _client, deployer = _setup(manifest_path, region, profile, endpoint_url)
    result = deployer.plan(manifest, unpause=unpause)
    if output == "json":
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
    else:
        click.echo(render_plan(result, colour=sys.stdout.isatty()))
    # A paused job is drift, not a pending change: deploy would leave it as it is, so a CI gate
    # on exit 2 must not fire for it forever. It is in the notes, the summary line and "drift".
    if detailed_exitcode and result.changes:
        sys.exit(2)


@click.command()
@manifest_option
@click.option("-y", "--yes", is_flag=True, help="Apply without asking.")
@click.option("--unpause", multiple=True, metavar="JOB", help="Enable this paused job's trigger again.")
@click.option("--workers", type=click.IntRange(1, 32), default=8, show_default=True, help="Jobs applied in parallel.")
@aws_options
def deploy(
    manifest_path: str,
    yes: bool,
    unpause: tuple[str, ...],
    workers: int,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> None:
    """Create or update everything the jobs need in AWS, and remove what they no longer need."""
    started = time.monotonic()
    manifest, client, deployer = _setup(
        manifest_path, region, profile, endpoint_url, progress=click.echo, workers=workers
    )

    def confirm(p: Any) -> bool:
        click.echo(render_plan(p, colour=sys.stdout.isatty()))
        return bool(_confirm("Deploy", yes)(p))

    with _terminate_as_interrupt():
        result = deployer.deploy(manifest, confirm=confirm, unpause=unpause)
    if not result.plan.has_changes:
        click.echo(render_plan(result.plan))
    _report(result, client, started, "Deploy")


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
) -> None:
    """Delete every resource of the namespace (the history table only with --include-history)."""
    started = time.monotonic()
    manifest, client, deployer = _setup(manifest_path, region, profile, endpoint_url, progress=click.echo)

    def confirm(p: Any) -> bool:
        click.echo(render_plan(p, colour=sys.stdout.isatty()))
        return bool(_confirm(f"Destroy namespace {manifest.namespace}", yes)(p))

    with _terminate_as_interrupt():
        result = deployer.deploy(manifest, confirm=confirm, destroy=True, include_history=include_history)
    if not result.plan.has_changes:
        click.echo(render_plan(result.plan))
    _report(result, client, started, "Destroy")
