"""Text and JSON views of the ops results (audit, dlq list / replay, backfill, pause / resume),
for ``cronplane.cli.ops_cmds``. Pure: values in, strings / JSON-ready dicts out; colour only
when asked (the CLI asks on a terminal)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click

from cronplane.cli.views.text import plural
from cronplane.ops.audit import AuditReport, FireCheck, FireOutcome, JobAudit
from cronplane.ops.backfill import BackfillPlan, BackfillRun
from cronplane.ops.dlq import DlqMessage, ReplayResult
from cronplane.ops.pause import PauseCase, PauseOutcome
from cronplane.runtime.schema import iso

_COLOURS = {
    FireOutcome.OK: "green",
    FireOutcome.LATE: "yellow",
    FireOutcome.MISSED: "red",
    FireOutcome.FAILED: "red",
    FireOutcome.TIMED_OUT: "red",
    FireOutcome.LOST: "red",
    FireOutcome.SKIPPED: "yellow",
    FireOutcome.PAUSED: "cyan",
}


def _styler(colour: bool) -> Callable[[str, str | None], str]:
    return lambda text, fg: click.style(text, fg=fg) if colour and fg else text


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _t(moment: datetime | None) -> str:
    return iso(moment) if moment else "-"


# -- audit ----------------------------------------------------------------------------------
def audit_text(report: AuditReport, *, colour: bool = False) -> str:
    style = _styler(colour)
    lines = [f"Audit {_t(report.since)} .. {_t(report.until)} (grace {report.grace_seconds}s)"]
    for job in report.jobs:
        lines.append("")
        lines.extend(_job_lines(job, style))
    lines.append("")
    ok = report.exit_code == 0
    lines.append(style(report.verdict, "green" if ok else "red"))
    return "\n".join(lines)


def _job_lines(job: JobAudit, style: Callable[[str, str | None], str]) -> list[str]:
    if job.trigger is None:
        return [f"{job.job}: {style(job.note, 'red')}"]
    state = "enabled" if job.trigger.enabled else "disabled"
    # A schedule's CreationDate is exact; the rule fallbacks are only an upper bound.
    bound = "" if job.trigger.created is not None else " or earlier"
    lines = [
        f"{job.job}  {job.trigger.label} ({state}), live since {_t(job.deployed_at)}{bound} ({job.deployed_basis})"
    ]
    counts = ", ".join(f"{n} {name}" for name, n in job.counts.items())
    lines.append(f"  {plural(len(job.checks), 'fire time')}: {counts or 'none in the window'}")
    if job.note:
        lines.append(f"  note: {job.note}")
    for check in job.checks:
        if check.outcome in (FireOutcome.OK, FireOutcome.PAUSED, FireOutcome.DISABLED):
            continue  # ok is the rule; paused / disabled stretches are shown as periods
        lines.append("  " + _check_line(check, style))
    for period in job.paused:
        until = _t(period.end) if period.end else "now (still paused)"
        reason = f": {period.reason}" if period.reason else ""
        count = sum(1 for c in job.checks if c.outcome is FireOutcome.PAUSED and period.covers(c.fire_time))
        lines.append(
            f"  {style('paused', 'cyan')} {_t(period.start)} .. {until} by {period.actor}{reason} ({plural(count, 'fire time')})"
        )
    if job.count(FireOutcome.DISABLED):
        lines.append(f"  disabled in the manifest: {job.count(FireOutcome.DISABLED)} fire times not expected")
    if job.unmatched:
        lines.append("  runs that match no fire time (listed, not checked):")
    for run in job.unmatched:
        lines.append(f"  {run.trigger:<9} {run.run_id:<28}  {run.status:<9}  {run.note}".rstrip())
    return lines


def _check_line(check: FireCheck, style: Callable[[str, str | None], str]) -> str:
    outcome = style(f"{check.outcome.value:<9}", _COLOURS.get(check.outcome))
    run = check.run_id or "-"
    return f"{_t(check.fire_time)}  {outcome}  {run:<28}  {check.note}".rstrip()


def audit_json(report: AuditReport) -> dict[str, Any]:
    return {
        "since": _t(report.since),
        "until": _t(report.until),
        "grace_seconds": report.grace_seconds,
        "verdict": report.verdict,
        "exit_code": report.exit_code,
        "requests": report.requests,
        "jobs": [_job_json(job) for job in report.jobs],
    }


def _job_json(job: JobAudit) -> dict[str, Any]:
    return {
        "job": job.job,
        "trigger": None
        if job.trigger is None
        else {
            "kind": str(job.trigger.kind),  # a TriggerKind (StrEnum): its value
            "name": job.trigger.name,
            "group": job.trigger.group,
            "enabled": job.trigger.enabled,
        },
        "deployed_at": _t(job.deployed_at) if job.deployed_at else None,
        "deployed_basis": job.deployed_basis,
        "expected": len(job.checks),
        "counts": job.counts,
        "problems": job.problems,
        "note": job.note,
        "checks": [{**asdict(c), "fire_time": _t(c.fire_time), "outcome": c.outcome.value} for c in job.checks],
        "paused": [
            {"start": _t(p.start), "end": _t(p.end) if p.end else None, "actor": p.actor, "reason": p.reason}
            for p in job.paused
        ],
        "unmatched": [asdict(u) for u in job.unmatched],
    }


# -- dlq ------------------------------------------------------------------------------------
def dlq_text(job: str, messages: list[DlqMessage]) -> str:
    if not messages:
        return f"{job}: the dead-letter queue is empty"
    lines = [f"{job}: {len(messages)} message(s) in the dead-letter queue (none consumed)"]
    lines.append(f"  {'WHEN':<20}  {'SOURCE':<8}  {'RUN':<30}  {'TRIGGER':<8}  {'ATT':>3}  ERROR")
    for m in messages:
        attempts = str(m.attempts) if m.attempts is not None else "-"
        lines.append(
            f"  {m.when or '-':<20}  {m.source.value:<8}  {m.run_id or '-':<30}  {m.trigger or '-':<8}  "
            f"{attempts:>3}  {_cut(m.error, 120)}".rstrip()
        )
    lines.append(f"replay: jobctl dlq replay {job} --run RUN_ID  (or --all)")
    return "\n".join(lines)


def dlq_json(job: str, messages: list[DlqMessage]) -> dict[str, Any]:
    return {"job": job, "messages": [m.to_dict() for m in messages]}


def nothing_to_replay(job: str) -> str:
    return f"{job}: nothing to replay (the dead-letter queue is empty)"


def replay_preview(messages: list[DlqMessage]) -> list[str]:
    """Before the confirmation: what will be replayed."""
    return [f"will replay {m.run_id} ({m.source.value}, {m.error or 'no error text'})" for m in messages]


def one_at_a_time(job: str) -> str:
    return f"{job} has concurrency: forbid: replaying one run at a time"


def waiting_line(text: str) -> str:
    """While a replay or backfill waits for a forbid job's lock or run."""
    return f"  {text}"


def vanished_messages(count: int) -> str:
    """After a replay (stderr): chosen messages another consumer took meanwhile."""
    return f"{count} message(s) were no longer in the queue (consumed elsewhere?)"


def replay_text(results: list[ReplayResult]) -> str:
    lines = []
    for r in results:
        ended = f" ({r.status})" if r.status else ""
        if r.deleted:
            note = f" ({r.error})" if r.error else ""
            lines.append(f"replayed {r.message.run_id} as retry run {r.new_run_id}{ended}; message deleted{note}")
        elif r.accepted:
            lines.append(f"replayed {r.message.run_id} as retry run {r.new_run_id}{ended}; {r.error}")
        else:
            lines.append(f"NOT replayed {r.message.run_id or r.message.message_id}: {r.error}; message kept")
    done = sum(1 for r in results if r.deleted)
    lines.append(
        f"{done} of {len(results)} replayed" + ("" if done == len(results) else "; the rest stay in the queue")
    )
    return "\n".join(lines)


# -- backfill -------------------------------------------------------------------------------
def backfill_plan_text(plan: BackfillPlan, rate: float, forbid: bool) -> str:
    lines = [
        f"Backfill {plan.job} {_t(plan.start)} .. {_t(plan.end)}: {plural(plan.fire_times, 'fire time')}, "
        f"{len(plan.items)} without a successful run"
    ]
    if plan.note:
        lines.append(f"  note: {plan.note}")
    for item in plan.items:
        lines.append(f"  {_t(item.fire_time)}  {item.reason:<9}  run {item.run_id}")
    for run_id in plan.already_backfilled:
        lines.append(
            f"  skipped {run_id}: backfilled before and it failed; replay it with `jobctl dlq replay {plan.job} --run {run_id}`"
        )
    if plan.items:
        pace = f"at most {rate:g} per minute" if rate > 0 else "as fast as accepted"
        lines.append(
            f"runs oldest first, {pace}"
            + (", each after the previous one finished (concurrency: forbid)" if forbid else "")
        )
    return "\n".join(lines)


def backfill_progress(index: int, total: int, run: BackfillRun) -> str:
    head = f"[{index}/{total}] {_t(run.item.fire_time)} run {run.item.run_id}"
    if not run.accepted:
        return f"{head}: NOT accepted: {run.error}"
    if run.error:
        return f"{head}: {run.error}"
    return f"{head}: {run.status or 'queued'}"


def backfill_summary(job: str, total: int, runs: list[BackfillRun]) -> str:
    accepted = sum(1 for r in runs if r.accepted)
    finished: dict[str, int] = {}
    for run in runs:
        if run.status:
            finished[run.status] = finished.get(run.status, 0) + 1
    outcome = f" ({', '.join(f'{n} {status}' for status, n in sorted(finished.items()))})" if finished else ""
    return f"{accepted} of {total} backfill run(s) started{outcome}; follow them with `jobctl history {job}`"


def nothing_to_backfill() -> str:
    return "nothing to backfill"


# -- pause / resume -------------------------------------------------------------------------
def pause_text(outcome: PauseOutcome) -> str:
    """One line: what ``jobctl pause`` / ``resume`` did, or why it had nothing to do."""
    job, trigger, marker = outcome.job, outcome.trigger.label, outcome.marker
    by = f"{marker.actor} since {marker.at}" if marker else ""
    when = _t(outcome.at)
    if outcome.case is PauseCase.ALREADY_PAUSED:
        return f"{job} is already paused (by {by}); nothing to do"
    if outcome.case is PauseCase.PAUSE_RESTORED:
        return f"{job} was marked paused by {by} but its {trigger} was enabled; disabled it again"
    if outcome.case is PauseCase.NOT_PAUSED:
        return f"{job} is not paused ({trigger} is enabled); nothing to do"
    if outcome.case is PauseCase.RESUMED:
        since = f" (paused by {by})" if marker else " (it was disabled without `jobctl pause`)"
        return f"resumed {job}: {trigger} enabled by {outcome.actor} at {when}{since}"
    note = " (it is also disabled in the manifest: enabled: false)" if outcome.disabled_in_manifest else ""
    return f"paused {job}: {trigger} disabled by {outcome.actor} at {when}{note}"
