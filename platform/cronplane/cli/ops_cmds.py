"""``jobctl audit``, ``dlq`` (list / replay), ``pause``, ``resume``, ``backfill``: build the
clients, call ``cronplane.ops``, print through ``cronplane.cli.views.ops``, return an exit
status. Exit codes: audit 0 / 3 (made for monitoring); replay and backfill 1 when any run was
not accepted."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

import click

from cronplane.cli.exit_status import ExitStatus
from cronplane.cli.options import aws_config, aws_options, manifest_option, output_option
from cronplane.errors import CronplaneError
from cronplane.schedule.moments import parse_age_or_time


def parse_moment(text: str, now: datetime, option: str) -> datetime:
    """``24h`` / ``7d`` / ``30m`` / ``2w`` before now, or an ISO time (UTC unless it says)."""
    try:
        return parse_age_or_time(text, now)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected a duration like 24h, 7d, 30m or an ISO time like 2026-11-27T09:00:00Z",
            param_hint=option,
        ) from None
    except OverflowError:
        raise click.BadParameter(
            f"{text!r} reaches further back than dates go; use a window within the history "
            "you keep (e.g. 30d) or an ISO time",
            param_hint=option,
        ) from None


def _setup(manifest_path: str, region: str | None, profile: str | None, endpoint_url: str | None) -> tuple[Any, Any]:
    from cronplane.aws.client import AwsClient
    from cronplane.manifest.loader import AS_OF_EPOCH, load_manifest

    # Operating a job must keep working after a one-time at() of the manifest has fired:
    # on-call needs audit / dlq / pause most right after something ran.
    manifest = load_manifest(manifest_path, now=AS_OF_EPOCH)
    return manifest, AwsClient(aws_config(region, profile, endpoint_url, manifest.region, manifest.root))


def _now(text: str | None) -> datetime:
    return parse_moment(text, datetime.now(UTC), "--now") if text else datetime.now(UTC)


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise CronplaneError(f"{question} needs confirmation, and there is no terminal to ask: pass --yes.")
    if not click.confirm(f"{question}?", default=False):
        raise click.Abort()


def _colour() -> bool:
    return sys.stdout.isatty()


# ------------------------------------------------------------------------------------ audit
@click.command("audit")
@click.argument("job_name", metavar="[JOB]", required=False)
@manifest_option
@click.option("--since", default="24h", show_default=True, metavar="24h|ISO", help="Start of the window.")
@click.option("--until", default=None, metavar="ISO", help="End of the window (default: now).")
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    default=None,
    metavar="SECONDS",
    help="A run that started later than this after its time is late (default 120).",
)
@output_option("table", "json")
@click.option("--now", "now_text", default=None, hidden=True, help="Pretend it is this time (tests).")
@aws_options
def audit(
    job_name: str | None,
    manifest_path: str,
    since: str,
    until: str | None,
    grace: int | None,
    output: str,
    now_text: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Did every promised run happen? Exit 0 if so, 3 if any was missed, failed or lost."""
    from cronplane.cli.views.ops import audit_json, audit_text
    from cronplane.ops import audit as ops_audit

    manifest, clients = _setup(manifest_path, region, profile, endpoint_url)
    now = _now(now_text)
    start = parse_moment(since, now, "--since")
    end = min(parse_moment(until, now, "--until"), now) if until else now  # the future has no runs yet
    if end <= start:
        raise click.BadParameter(
            f"the window is empty: --since {start:%Y-%m-%dT%H:%M:%SZ} is not before "
            f"{'--until' if until else 'now'} {end:%Y-%m-%dT%H:%M:%SZ}",
            param_hint="--since / --until",
        )
    jobs = [manifest.job(job_name).name] if job_name else [j.name for j in manifest.jobs]
    report = ops_audit.audit(
        clients,
        manifest,
        jobs,
        since=start,
        until=end,
        now=now,
        grace_seconds=ops_audit.DEFAULT_GRACE_SECONDS if grace is None else grace,
    )
    if output == "json":
        click.echo(json.dumps(audit_json(report), indent=2, default=str))
    else:
        click.echo(audit_text(report, colour=_colour()))
    return ExitStatus.OK if report.exit_code == ops_audit.EXIT_CLEAN else ExitStatus.ATTENTION


# -------------------------------------------------------------------------------------- dlq
class _DlqGroup(click.Group):
    """``jobctl dlq JOB`` lists; ``jobctl dlq replay JOB`` replays: a first word that is not a
    subcommand is the JOB of the (hidden) ``list`` subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group("dlq", cls=_DlqGroup, subcommand_metavar="JOB [-o json] | replay JOB (--run RUN_ID | --all)")
def dlq() -> None:
    """List a job's dead-letter messages without consuming them (jobctl dlq JOB [-o json]), or
    replay them as new retry runs (jobctl dlq replay JOB --run RUN_ID | --all)."""


@dlq.command("list", hidden=True)
@click.argument("job_name", metavar="JOB")
@manifest_option
@output_option("table", "json")
@aws_options
def dlq_list(
    job_name: str, manifest_path: str, output: str, region: str | None, profile: str | None, endpoint_url: str | None
) -> ExitStatus:
    """List JOB's dead-letter messages without consuming them."""
    from cronplane.cli.views.ops import dlq_json, dlq_text
    from cronplane.ops.dlq import list_messages, queue_url

    manifest, clients = _setup(manifest_path, region, profile, endpoint_url)
    job = manifest.job(job_name)
    messages = list_messages(clients.sqs, queue_url(clients.sqs, manifest.namespace, job.name))
    if output == "json":
        click.echo(json.dumps(dlq_json(job.name, messages), indent=2, default=str))
    else:
        click.echo(dlq_text(job.name, messages))
    return ExitStatus.OK


@dlq.command("replay")
@click.argument("job_name", metavar="JOB")
@manifest_option
@click.option(
    "--run", "run_ids", multiple=True, metavar="RUN_ID", help="Replay the message of this failed run (repeatable)."
)
@click.option("--all", "replay_all", is_flag=True, help="Replay every message in the queue.")
@click.option("--yes", is_flag=True, help="Do not ask.")
@aws_options
def dlq_replay(
    job_name: str,
    manifest_path: str,
    run_ids: tuple[str, ...],
    replay_all: bool,
    yes: bool,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Re-run dead-lettered runs of JOB as new retry runs; a message is deleted only once its
    replay was accepted."""
    from cronplane.cli.views import ops as view
    from cronplane.ops.dlq import list_messages, queue_url
    from cronplane.ops.dlq_replay import choose_messages, one_at_a_time, replay_messages

    if bool(run_ids) == replay_all:
        raise click.UsageError("say which messages to replay: --run RUN_ID (repeatable) or --all")
    manifest, clients = _setup(manifest_path, region, profile, endpoint_url)
    job = manifest.job(job_name)
    url = queue_url(clients.sqs, manifest.namespace, job.name)
    chosen = choose_messages(job.name, list_messages(clients.sqs, url), run_ids, replay_all)
    if not chosen:
        click.echo(view.nothing_to_replay(job.name))
        return ExitStatus.OK
    click.echo("\n".join(view.replay_preview(chosen)))
    _confirm(f"Replay {len(chosen)} run(s) of {job.name}", yes)
    if one_at_a_time(job):
        # Overlapping replays of a forbid job would skip each other (and a skipped replay ran nothing).
        click.echo(view.one_at_a_time(job.name))
    report = replay_messages(
        clients,
        manifest,
        job,
        url,
        chosen,
        now=datetime.now(UTC),
        on_wait=lambda text: click.echo(view.waiting_line(text)),
    )
    click.echo(view.replay_text(list(report.results)))
    if report.vanished:
        click.echo(view.vanished_messages(report.vanished), err=True)
    return ExitStatus.OK if report.ok else ExitStatus.FAILURE


# ---------------------------------------------------------------------------- pause / resume
@click.command("pause")
@click.argument("job_name", metavar="JOB")
@manifest_option
@click.option("--reason", default=None, help="Why (recorded with the pause, shown by history and audit).")
@aws_options
def pause(
    job_name: str,
    manifest_path: str,
    reason: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Disable JOB's trigger without a deploy (recorded: who, when, why)."""
    from cronplane.cli.views.ops import pause_text
    from cronplane.ops.pause import pause_job

    manifest, clients = _setup(manifest_path, region, profile, endpoint_url)
    click.echo(pause_text(pause_job(clients, manifest, job_name, now=datetime.now(UTC), reason=reason)))
    return ExitStatus.OK


@click.command("resume")
@click.argument("job_name", metavar="JOB")
@manifest_option
@click.option("--reason", default=None, help="Why (recorded with the resume).")
@aws_options
def resume(
    job_name: str,
    manifest_path: str,
    reason: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Enable a paused JOB's trigger again."""
    from cronplane.cli.views.ops import pause_text
    from cronplane.ops.pause import resume_job

    manifest, clients = _setup(manifest_path, region, profile, endpoint_url)
    click.echo(pause_text(resume_job(clients, manifest, job_name, now=datetime.now(UTC), reason=reason)))
    return ExitStatus.OK


# --------------------------------------------------------------------------------- backfill
def _rate(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*min)?\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise click.BadParameter(f"{text!r}: expected runs per minute, like 10/min", param_hint="--rate")
    return float(match.group(1))


@click.command("backfill")
@click.argument("job_name", metavar="JOB")
@manifest_option
@click.option("--from", "from_text", required=True, metavar="ISO", help="First fire time to consider (inclusive).")
@click.option("--to", "to_text", required=True, metavar="ISO", help="Last fire time to consider (inclusive).")
@click.option(
    "--rate",
    "rate_text",
    default="10/min",
    show_default=True,
    metavar="N/min",
    help="At most N runs started per minute.",
)
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.option("--now", "now_text", default=None, hidden=True, help="Pretend it is this time (tests).")
@aws_options
def backfill(
    job_name: str,
    manifest_path: str,
    from_text: str,
    to_text: str,
    rate_text: str,
    yes: bool,
    now_text: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
) -> ExitStatus:
    """Run JOB's fire times between --from and --to that have no successful run."""
    from cronplane.cli.views import ops as view
    from cronplane.manifest.models import Concurrency
    from cronplane.ops.backfill import backfill_succeeded, plan_backfill, run_backfill
    from cronplane.ops.launch import LambdaInvoker

    rate = _rate(rate_text)
    manifest, clients = _setup(manifest_path, region, profile, endpoint_url)
    job = manifest.job(job_name)
    now = _now(now_text)
    start, end = parse_moment(from_text, now, "--from"), parse_moment(to_text, now, "--to")
    # A mistyped window is a usage error (2), like audit's, not a failure of the backfill (1).
    if end <= start:
        raise click.BadParameter(
            f"the window is empty: --to {end:%Y-%m-%dT%H:%M:%SZ} is not after --from {start:%Y-%m-%dT%H:%M:%SZ}",
            param_hint="--from / --to",
        )
    if start >= now:
        raise click.BadParameter(
            f"--from {start:%Y-%m-%dT%H:%M:%SZ} is in the future: backfill re-runs past fire times", param_hint="--from"
        )
    plan = plan_backfill(clients, manifest, job.name, start=start, end=end, now=now)
    click.echo(view.backfill_plan_text(plan, rate, job.concurrency == Concurrency.FORBID))
    if not plan.items:
        click.echo(view.nothing_to_backfill())
        return ExitStatus.OK
    _confirm(f"Backfill {len(plan.items)} run(s) of {job.name}", yes)
    total = len(plan.items)
    runs = run_backfill(
        plan,
        manifest,
        LambdaInvoker(clients.lambda_, manifest),
        clients.dynamodb,
        triggered_by=clients.caller_arn(),
        rate_per_minute=rate,
        now=(lambda: now) if now_text else None,
        on_progress=lambda i, run: click.echo(view.backfill_progress(i, total, run)),
        on_wait=lambda text: click.echo(view.waiting_line(text)),
    )
    click.echo(view.backfill_summary(job.name, total, runs))
    # Not accepted, or (forbid jobs, which are waited for) finished without success: exit 1.
    return ExitStatus.OK if backfill_succeeded(runs, total) else ExitStatus.FAILURE
