"""``jobctl run-now`` and ``jobctl history``: build, call, print. The work lives in
``cronplane.runs.invoke`` (remote runs), ``cronplane.local.run_now`` (local runs) and
``cronplane.runs.history`` (reads); the printing in ``run_view``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from cronplane.cli.options import aws_config, aws_options, manifest_option, output_option
from cronplane.cli.views import runs as run_view
from cronplane.errors import CronplaneError
from cronplane.runtime.schema import RunRecord, RunStatus

STATUSES = [s.value for s in RunStatus]


def _load(manifest_path: str) -> Any:
    from cronplane.manifest.loader import AS_OF_EPOCH, load_manifest

    # A one-time job that already fired must not lock everyone out of history and run-now.
    return load_manifest(manifest_path, now=AS_OF_EPOCH)


def _colour() -> bool:
    return sys.stdout.isatty()


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
    timeout_wait: int | None,
    output: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> None:
    """Trigger JOB by hand: remotely (queued, or --sync), or --local on this machine."""
    manifest = _load(manifest_path)
    job = manifest.job(job_name)
    event_payload = _read_payload(payload)
    aws = aws_config(region, profile, endpoint_url, manifest.region, manifest.root)
    if local:
        _run_local(manifest, job, aws, event_payload, output)
    else:
        _run_remote(manifest, job, aws, event_payload, wait, sync, timeout_wait, output)


def _run_local(manifest: Any, job: Any, aws: Any, payload: Any, output: str) -> None:
    from cronplane.local.run_now import probe_backend, run_local
    from cronplane.runs.history import present

    backend = probe_backend(manifest, job, aws)
    if backend.reason:
        click.echo(f"{job.name} | history table not reachable ({backend.reason}): the record is only printed", err=True)
    prefix = click.style(f"{job.name} |", fg="cyan") if sys.stderr.isatty() else f"{job.name} |"
    result = run_local(
        manifest, job, aws, payload, on_log=lambda line: click.echo(f"{prefix} {line}", err=True), backend=backend
    )
    now = datetime.now(UTC)
    record = present(result.record, now) if result.record else None
    status = result.status
    if record and record["status"] != status:
        record.update(stored_status=record["status"], status=status)
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "job": job.name,
                    "run_id": result.run_id,
                    "local": True,
                    "status": status,
                    "history_table": backend.history_table or None,
                    "record": record,
                    "function_error": result.invocation.function_error,
                    "response": result.invocation.payload,
                },
                indent=2,
                default=str,
            )
        )
    else:
        if record:
            click.echo("\n".join(run_view.record_detail(record, _colour())))
        else:
            click.echo(
                f"run {result.run_id}: no run record came back; the function answered "
                f"{json.dumps(result.invocation.payload, default=str)}"
            )
        where = f"in {backend.history_table}" if backend.history_table else "not stored (no reachable history table)"
        click.echo(f"run {result.run_id} {status} (local; record {where})")
    if status != RunStatus.SUCCEEDED.value:
        raise SystemExit(1)


def _run_remote(
    manifest: Any, job: Any, aws: Any, payload: Any, wait: bool, sync: bool, timeout_wait: int | None, output: str
) -> None:
    from cronplane.aws.client import AwsClient
    from cronplane.manifest import names
    from cronplane.runs.history import HistoryReader, present
    from cronplane.runs.invoke import (
        RunNotFinishedError,
        caller_arn,
        function_target,
        invoke_function,
        is_final,
        is_final_status,
        manual_envelope,
        new_manual_run_id,
        wait_budget_s,
        wait_for_run,
    )

    client = AwsClient(aws)
    run_id = new_manual_run_id()
    triggered_by = caller_arn(client)
    function, qualifier = function_target(manifest.namespace, job)
    response = invoke_function(
        client.lambda_,
        function,
        manual_envelope(run_id, triggered_by, payload),
        sync=sync,
        qualifier=qualifier,
    )
    text = output == "text"
    if text:
        how = "ran synchronously" if sync else "queued"
        click.echo(f"run {run_id} of {job.name} {how} (manual, by {triggered_by or 'unknown caller'})")
    record: RunRecord | None = None
    if sync and isinstance(response.payload, dict) and response.payload.get("run_id") == run_id:
        record = RunRecord.from_dict(response.payload)  # the wrapper returns the run's record
    reader = HistoryReader(client.dynamodb, names.history_table(manifest.namespace))
    # --sync whose run was handed to a continuation invocation (retrying) follows it like --wait.
    unfinished: RunNotFinishedError | None = None
    if (wait and not (record and is_final(record))) or (sync and record and not is_final(record)):
        on_change = (lambda r: click.echo(f"  ... {r.status}", err=True)) if text else None
        try:
            record = wait_for_run(
                lambda: reader.get_run(run_id, job=job.name), timeout_wait or wait_budget_s(job), on_change=on_change
            )
        except RunNotFinishedError as exc:
            unfinished = RunNotFinishedError(
                f"run {run_id} of {job.name}: {exc}; see `jobctl history {job.name} --run {run_id}`"
            )
            if text:
                raise unfinished from None
            record = exc.record  # JSON still gets the run id and the last status seen
    shown = present(record, datetime.now(UTC)) if record else None
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "job": job.name,
                    "run_id": run_id,
                    "function": function,
                    "qualifier": qualifier,
                    "invocation_type": "RequestResponse" if sync else "Event",
                    "status_code": response.status_code,
                    "function_error": response.function_error,
                    "triggered_by": triggered_by,
                    "status": shown["status"] if shown else None,
                    "record": shown,
                    **({"response": response.payload} if sync and not shown else {}),
                },
                indent=2,
                default=str,
            )
        )
        if unfinished is not None:
            raise unfinished
    elif shown and shown.get("status") == RunStatus.LOST.value:
        # The function died after writing `running` (crash, hard kill, out of memory): say so
        # now instead of waiting out the budget for an end that will never be written.
        click.echo(
            f"run {run_id} {run_view.status_text('lost', _colour())}: its record still says "
            f"{shown.get('stored_status')} past its deadline {shown.get('deadline')} (the function's timeout); "
            "it ended without recording how (crashed, killed or out of memory)"
        )
        click.echo(
            f"  why: `jobctl dlq {job.name}` (Lambda sends the failed invocation there) and the function's "
            f"logs: `aws logs tail {names.log_group_name(manifest.namespace, job.name)} --since 1h`"
        )
    elif shown:
        click.echo(f"run {run_id} " + run_view.outcome_line(shown, _colour()))
        for attempt in shown.get("attempts") or []:
            if attempt.get("error_type") or attempt.get("error_message"):
                click.echo(
                    f"  attempt {attempt.get('attempt')}: {attempt.get('error_type')}: {attempt.get('error_message')}"
                )
    elif sync:
        click.echo(
            f"the function answered{' with an error' if response.function_error else ''}: "
            f"{json.dumps(response.payload, default=str)}"
        )
    if text and not (shown and is_final_status(shown["status"])):
        click.echo(f"follow it: jobctl history {job.name} --run {run_id}")
    if (wait or sync) and not (shown and shown.get("status") == RunStatus.SUCCEEDED.value):
        raise SystemExit(1)


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
) -> None:
    """Show the run history of JOB, or of every job, newest first."""
    from cronplane.aws.client import AwsClient
    from cronplane.manifest import names
    from cronplane.runs.history import HistoryReader, parse_since, present, summarize

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
        record = present(found, now)
        if output == "json":
            click.echo(json.dumps(record, indent=2, default=str))
        else:
            click.echo("\n".join(run_view.record_detail(record, _colour())))
        return

    start = parse_since(since, now) if since else None
    if job_name:
        page = reader.job_page(job_name, since=start, limit=limit, status=status, next_token=next_token)
    else:
        page = reader.all_page(since=start, limit=limit, status=status, next_token=next_token)
    runs = [present(r, now) for r in page.runs]
    if output == "json":
        click.echo(json.dumps(runs, indent=2, default=str))
    else:
        items = [present(i, now) if isinstance(i, RunRecord) else i for i in page.items]
        if not items and page.next_token:
            # --limit bounds the records one Query reads, before --status filters them.
            click.echo(
                f"no {status or 'matching'} runs among the newest {limit} records"
                + (f" of {job_name}" if job_name else "")
                + "; older ones may match: see the next page below"
            )
        elif not items:
            click.echo(
                "no runs found" + (f" for {job_name}" if job_name else "") + (f" since {since}" if since else "")
            )
        else:
            click.echo("\n".join(run_view.runs_table(items, show_job=not job_name, colour=_colour())))
            click.echo("")
            for summary in summarize(page.runs, now):
                click.echo(run_view.summary_line(summary))
    if page.next_token:
        again = " ".join(
            a
            for a in [
                "jobctl history",
                job_name or "",
                f"--limit {limit}",
                f"--status {status}" if status else "",
                f"--since {since}" if since else "",
            ]
            if a
        )
        click.echo(f"more: {again} --next-token {page.next_token}", err=True)
