"""What ``jobctl run-now`` prints: the line when Lambda accepted the run, the outcome of a
remote run (``runs.run_now.RunNowOutcome``) and of a local one (``local.run_now.LocalRun``), as
text or as one JSON document. Pure: values in, lines / JSON-ready dicts out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cronplane.cli.views.runs import attempt_errors, outcome_line, record_detail, run_json, status_text
from cronplane.cli.views.text import style

if TYPE_CHECKING:  # `jobctl run-now` imports the services it runs; a view only reads their values
    from cronplane.local.run_now import LocalRun
    from cronplane.runs.run_now import RunNowOutcome, StartedRun


# -- remote ---------------------------------------------------------------------------------
def started_line(started: StartedRun) -> str:
    how = "ran synchronously" if started.sync else "queued"
    return f"run {started.run_id} of {started.job} {how} (manual, by {started.triggered_by or 'unknown caller'})"


def status_change_line(status: str) -> str:
    """While following a run (stderr)."""
    return f"  ... {status}"


def remote_text(outcome: RunNowOutcome, *, log_group: str, colour: bool) -> list[str]:
    """After ``started_line``: how the run ended (or what the function answered), and how to
    follow it when it has not ended yet."""
    started, record, status = outcome.started, outcome.record, outcome.status
    lines: list[str] = []
    if record is not None and status is not None and outcome.lost:
        # The function died after writing `running` (crash, hard kill, out of memory): say so
        # now instead of waiting out the budget for an end that will never be written.
        lines.append(
            f"run {started.run_id} {status_text('lost', colour)}: its record still says "
            f"{record.status} past its deadline {record.deadline} (the function's timeout); "
            "it ended without recording how (crashed, killed or out of memory)"
        )
        lines.append(
            f"  why: the function's logs: `aws logs tail {log_group} --since 1h` (a run that crashed has no "
            f"DLQ message; `jobctl run-now {started.job}` runs it again)"
        )
    elif record is not None and status is not None:
        lines.append(f"run {started.run_id} " + outcome_line(record, status=status, colour=colour))
        lines.extend(attempt_errors(record))
    elif started.sync:
        response = started.response
        lines.append(
            f"the function answered{' with an error' if response.function_error else ''}: "
            f"{json.dumps(response.payload, default=str)}"
        )
    if not outcome.final:
        lines.append(f"follow it: jobctl history {started.job} --run {started.run_id}")
    return lines


def remote_json(outcome: RunNowOutcome) -> dict[str, Any]:
    started = outcome.started
    shown = run_json(outcome.record, outcome.seen_at) if outcome.record else None
    return {
        "job": started.job,
        "run_id": started.run_id,
        "function": started.function,
        "qualifier": started.qualifier,
        "invocation_type": started.invocation_type,
        "status_code": started.response.status_code,
        "function_error": started.response.function_error,
        "triggered_by": started.triggered_by,
        "status": shown["status"] if shown else None,
        "record": shown,
        **({"response": started.response.payload} if started.sync and not shown else {}),
    }


# -- local ----------------------------------------------------------------------------------
def table_unreachable_line(job: str, reason: str) -> str:
    """Before a local run whose record cannot be stored (stderr)."""
    return f"{job} | history table not reachable ({reason}): the record is only printed"


def caller_credentials_warning(job: str, credentials: str) -> str:
    """Before a ``--caller-credentials`` run (stderr)."""
    return (
        f"warning: {job} runs with {credentials}, not limited to its execution role: "
        "its code can do whatever you can in AWS"
    )


def log_prefix(job: str, colour: bool) -> str:
    """Put before each of the job's own log lines while it runs locally (stderr)."""
    return style(f"{job} |", "cyan", colour=colour)


def local_text(run: LocalRun, *, colour: bool) -> list[str]:
    if run.record is not None:
        lines = record_detail(run.record, status=run.status, colour=colour)
    else:
        lines = [
            f"run {run.run_id}: no run record came back; the function answered "
            f"{json.dumps(run.invocation.payload, default=str)}"
        ]
    table = run.backend.history_table
    where = f"in {table}" if table else "not stored (no reachable history table)"
    lines.append(f"run {run.run_id} {run.status} (local; record {where})")
    return lines


def local_json(run: LocalRun, job: str, *, now: datetime) -> dict[str, Any]:
    return {
        "job": job,
        "run_id": run.run_id,
        "local": True,
        "status": run.status,
        "history_table": run.backend.history_table or None,
        "record": run_json(run.record, now, status=run.status) if run.record else None,
        "function_error": run.invocation.function_error,
        "response": run.invocation.payload,
    }
