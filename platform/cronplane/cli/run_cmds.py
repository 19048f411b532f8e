"""``jobctl run-now`` and ``jobctl history``: parse, call, print, return an exit status. The
work lives in ``cronplane.runs.run_now`` (remote runs), ``cronplane.local.run_now`` (local
runs) and ``cronplane.runs.history`` (reads); the printing in ``cli/views/run_now.py`` and
``cli/views/runs.py``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cronplane.cli.exit_status import ExitStatus
from cronplane.cli.options import aws_config, aws_options, manifest_option, output_option
from cronplane.errors import CronplaneError
from cronplane.runtime.schema import RunStatus

if TYPE_CHECKING:
    from cronplane.aws.session import AwsConfig
    from cronplane.manifest.models import Job, Manifest

STATUSES = [s.value for s in RunStatus]


def _load(manifest_path: str) -> Manifest:
    from cronplane.manifest.loader import AS_OF_EPOCH, load_manifest

    # A one-time job that already fired must not lock everyone out of history and run-now.
    return load_manifest(manifest_path, now=AS_OF_EPOCH)


def _colour(err: bool = False) -> bool:
    return (sys.stderr if err else sys.stdout).isatty()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _read_payload(text: str | None) -> Any:
    from cronplane.runs.invoke import NO_PAYLOAD

    if text is None:
        return NO_PAYLOAD
    source = "--payload"
    if text.startswith("@"):
        source = text[1:]
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {source}: {exc.strerror}", param_hint="--payload") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"{source} is not valid JSON: {exc}", param_hint="--payload") from exc


# ---------------------------------------------------------------------------------- run-now
@click.command("run-now")
@click.argument("job_name", metavar="JOB")
@manifest_option
@click.option("--payload", default=None, metavar="JSON|@FILE", help="Event for this run instead of the job's payload.")
@click.option("--wait", is_flag=True, help="Follow the run until it ends; exit 0 only if it succeeded.")
@click.option("--sync", is_flag=True, help="Invoke synchronously (RequestResponse) instead of queueing the run.")
@click.option("--local", "local", is_flag=True, help="Run on this machine through the same wrapper, as Lambda would.")
@click.option(
    "--caller-credentials",
    is_flag=True,
    help="With --local: give the job YOUR AWS credentials instead of ones limited to its execution role.",
)
@click.option(
    "--timeout-wait",
    type=click.IntRange(min=1),
    default=None,
    metavar="S",
    help="Give up --wait after S seconds (default: the job's timeout per attempt plus a margin).",
)
@output_option("text", "json")
@aws_options
def run_now(
    job_name: str,
    manifest_path: str,
    payload: str | None,
    wait: bool,
    sync: bool,
    local: bool,
    caller_credentials: bool,
    timeout_wait: int | None,
    output: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Trigger JOB by hand: remotely (queued, or --sync), or --local on this machine."""
    manifest = _load(manifest_path)
    job = manifest.job(job_name)
    event_payload = _read_payload(payload)
    aws = aws_config(region, profile, endpoint_url, manifest.region, manifest.root)
    if caller_credentials and not local:
        raise click.UsageError("--caller-credentials applies to --local runs only")
    if local:
        return _run_local(manifest, job, aws, event_payload, output, caller_credentials)
    return _run_remote(manifest, job, aws, event_payload, wait, sync, timeout_wait, output)


def _run_local(
    manifest: Manifest, job: Job, aws: AwsConfig, payload: Any, output: str, caller_credentials: bool
) -> ExitStatus:
    from cronplane.cli.views import run_now as view
    from cronplane.local.run_now import probe_backend, run_local

    backend = probe_backend(manifest, job, aws, caller_credentials=caller_credentials)
    if backend.caller_rights:
        click.echo(view.caller_credentials_warning(job.name, backend.credentials), err=True)
    if backend.reason:
        click.echo(view.table_unreachable_line(job.name, backend.reason), err=True)
    prefix = view.log_prefix(job.name, _colour(err=True))
    result = run_local(
        manifest, job, aws, payload, on_log=lambda line: click.echo(f"{prefix} {line}", err=True), backend=backend
    )
    if output == "json":
        _echo_json(view.local_json(result, job.name, now=datetime.now(UTC)))
    else:
        click.echo("\n".join(view.local_text(result, colour=_colour())))
    return ExitStatus.OK if result.status == RunStatus.SUCCEEDED.value else ExitStatus.FAILURE


def _run_remote(
    manifest: Manifest,
    job: Job,
    aws: AwsConfig,
    payload: Any,
    wait: bool,
    sync: bool,
    timeout_wait: int | None,
    output: str,
) -> ExitStatus:
    from cronplane.aws.client import AwsClient
    from cronplane.cli.views import run_now as view
    from cronplane.manifest import names
    from cronplane.runs.run_now import run_remote

    text = output == "text"
    outcome = run_remote(
        AwsClient(aws),
        manifest,
        job,
        payload,
        wait=wait,
        sync=sync,
        budget_s=timeout_wait,
        on_started=(lambda started: click.echo(view.started_line(started))) if text else None,
        on_status=(lambda record: click.echo(view.status_change_line(record.status), err=True)) if text else None,
    )
    if outcome.gave_up is not None and text:
        raise outcome.gave_up
    if text:
        log_group = names.log_group_name(manifest.namespace, job.name)
        click.echo("\n".join(view.remote_text(outcome, log_group=log_group, colour=_colour())))
    else:
        _echo_json(view.remote_json(outcome))  # JSON still gets the run id and the last status seen
        if outcome.gave_up is not None:
            raise outcome.gave_up
    return ExitStatus.OK if outcome.ok else ExitStatus.FAILURE


# ---------------------------------------------------------------------------------- history
@click.command("history")
@click.argument("job_name", metavar="[JOB]", required=False)
@manifest_option
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only runs with this status.")
@click.option("--since", default=None, metavar="7d|24h|ISO", help="Only runs that started after this.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Items per page.")
@click.option("--next-token", default=None, help="Continue after the last page (printed by the previous call).")
@click.option(
    "--run", "run_id", default=None, metavar="RUN_ID", help="Show one run in full, every attempt with its error."
)
@output_option("table", "json")
@aws_options
def history(
    job_name: str | None,
    manifest_path: str,
    status: str | None,
    since: str | None,
    limit: int,
    next_token: str | None,
    run_id: str | None,
    output: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Show the run history of JOB, or of every job, newest first."""
    from cronplane.aws.client import AwsClient
    from cronplane.cli.views import runs as view
    from cronplane.manifest import names
    from cronplane.runs.history import HistoryReader, effective_status, parse_since

    manifest = _load(manifest_path)
    if job_name and job_name not in {j.name for j in manifest.jobs}:
        click.echo(f"note: {job_name} is not in {manifest.path}; showing whatever history it left", err=True)
    aws = aws_config(region, profile, endpoint_url, manifest.region, manifest.root)
    reader = HistoryReader(AwsClient(aws).dynamodb, names.history_table(manifest.namespace))
    now = datetime.now(UTC)

    if run_id:
        found = reader.get_run(run_id, job=job_name)
        if found is None:
            where = f"job {job_name}" if job_name else "any job"
            raise CronplaneError(f"no run {run_id} for {where} in {reader.table} (ids are listed by `jobctl history`)")
        if output == "json":
            _echo_json(view.run_json(found, now))
        else:
            click.echo("\n".join(view.record_detail(found, status=effective_status(found, now), colour=_colour())))
        return ExitStatus.OK

    start = parse_since(since, now) if since else None
    if job_name:
        page = reader.job_page(job_name, since=start, limit=limit, status=status, next_token=next_token)
    else:
        page = reader.all_page(since=start, limit=limit, status=status, next_token=next_token)
    shown = view.history_text(page, view.HistoryQuery(job_name, status, since, limit), now=now, colour=_colour())
    if output == "json":
        _echo_json(view.history_json(page, now))
    else:
        click.echo("\n".join(shown.lines))
    if shown.more:
        click.echo(shown.more, err=True)
    return ExitStatus.OK
