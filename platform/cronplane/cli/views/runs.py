"""How runs read: the ``jobctl history`` table a person scans, the whole record of one run,
one-line outcomes, per-job summary lines, and the JSON form of a run. Pure: typed records in
(``cronplane.runtime.schema``), text or JSON-ready values out. A run is shown with its
effective status (``runs.history.effective_status``: a ``running`` record past its deadline is
``lost``), which the caller passes or the view derives from ``now``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# `duration` is re-exported (`as duration`): views written before text.py import it from here.
from cronplane.cli.views.text import duration as duration
from cronplane.cli.views.text import pad, style
from cronplane.runs.history import HistoryPage, JobSummary, decode_result, effective_status, present, summarize
from cronplane.runtime.schema import Attempt, PauseEvent, RunRecord

STATUS_COLOURS = {
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "lost": "red",
    "running": "yellow",
    "retrying": "yellow",
    "skipped": "bright_black",
    "duplicate": "bright_black",
}


def status_text(status: str, colour: bool) -> str:
    return style(status, STATUS_COLOURS.get(status), bold=status == "lost", colour=colour)


def who(triggered_by: str | None, trigger: str | None) -> str:
    """The short form of ``triggered_by``: ``user/ana`` for an IAM ARN, ``rule/x`` for a rule."""
    if not triggered_by:
        return "schedule" if trigger in ("schedule", None) else "-"
    if triggered_by.startswith("arn:"):
        return triggered_by.split(":", 5)[-1]
    return triggered_by


def run_json(record: RunRecord, now: datetime, status: str | None = None) -> dict[str, Any]:
    """A run as ``--output json`` prints it (``runs.history.present``); ``status`` overrides the
    effective one when the caller knows better (a local run whose function died), keeping the
    record's own as ``stored_status``."""
    shown = present(record, now)
    if status is not None and status != shown["status"]:
        shown.update(stored_status=shown["status"], status=status)
    return shown


# -- the table ------------------------------------------------------------------------------
def runs_table(items: Iterable[RunRecord | PauseEvent], *, now: datetime, show_job: bool, colour: bool) -> list[str]:
    """One line per run, plus pause / resume events as lines of their own."""
    headers = (["JOB"] if show_job else []) + ["RUN ID", "STATUS", "STARTED", "DURATION", "ATTEMPTS", "TRIGGER", "BY"]
    rows: list[list[str] | str] = []
    for item in items:
        if isinstance(item, PauseEvent):
            at = item.at or item.run_id[:16]
            note = f"  ({item.reason})" if item.reason else ""
            rows.append(f"-- {at}  {item.action or 'event'} by {who(item.actor, 'manual')}{note}")
            continue
        rows.append(
            ([item.job] if show_job else [])
            + [
                item.run_id,
                effective_status(item, now),
                item.started_at or "-",
                duration(item.duration_ms),
                str(len(item.attempts)) if item.attempts else "-",
                item.trigger or "-",
                who(item.triggered_by, item.trigger),
            ]
        )
    widths = [len(h) for h in headers]
    for cells in rows:
        if isinstance(cells, list):
            widths = [max(w, len(cell)) for w, cell in zip(widths, cells, strict=False)]
    status_col = headers.index("STATUS")
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    for line in rows:
        if isinstance(line, str):
            lines.append(line)
            continue
        shown = [
            pad(status_text(cell, colour), cell, w) if i == status_col else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=False))
        ]
        lines.append("  ".join(shown).rstrip())
    return lines


def summary_line(summary: JobSummary) -> str:
    rate = "-" if summary.success_rate is None else f"{summary.success_rate * 100:.0f}%"
    return (
        f"{summary.job}: {summary.runs} run{'s' if summary.runs != 1 else ''}, {rate} succeeded, "
        f"p50 {duration(summary.p50_ms)}, p95 {duration(summary.p95_ms)}, "
        f"last success {summary.last_success or 'never'}"
    )


@dataclass(frozen=True)
class HistoryQuery:
    """What ``jobctl history`` was asked, for the messages around a page."""

    job: str | None = None
    status: str | None = None
    since: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class HistoryText:
    lines: list[str]  # stdout
    more: str | None  # stderr: how to get the next page


def history_text(page: HistoryPage, query: HistoryQuery, *, now: datetime, colour: bool) -> HistoryText:
    """One page of ``jobctl history``: the table and a summary per job, or why it is empty;
    and the command for the next page when there is one."""
    job = query.job
    if not page.items and page.next_token:
        # --limit bounds the records one Query reads, before --status filters them.
        lines = [
            f"no {query.status or 'matching'} runs among the newest {query.limit} records"
            + (f" of {job}" if job else "")
            + "; older ones may match: see the next page below"
        ]
    elif not page.items:
        lines = ["no runs found" + (f" for {job}" if job else "") + (f" since {query.since}" if query.since else "")]
    else:
        lines = runs_table(page.items, now=now, show_job=not job, colour=colour)
        lines.append("")
        lines.extend(summary_line(summary) for summary in summarize(page.runs, now))
    more = None
    if page.next_token:
        again = " ".join(
            part
            for part in [
                "jobctl history",
                job or "",
                f"--limit {query.limit}",
                f"--status {query.status}" if query.status else "",
                f"--since {query.since}" if query.since else "",
            ]
            if part
        )
        more = f"more: {again} --next-token {page.next_token}"
    return HistoryText(lines, more)


def history_json(page: HistoryPage, now: datetime) -> list[dict[str, Any]]:
    return [run_json(record, now) for record in page.runs]


# -- one run --------------------------------------------------------------------------------
def record_detail(record: RunRecord, *, status: str, colour: bool) -> list[str]:
    """Everything about one run: its fields, then every attempt with its error."""
    stored = (
        f" (stored as {record.status}: past its deadline, the function died unnoticed)"
        if status != record.status
        else ""
    )
    fields: list[tuple[str, Any]] = [
        ("job", record.job),
        ("run id", record.run_id),
        ("status", status_text(status, colour) + stored),
        ("trigger", record.trigger),
        ("triggered by", record.triggered_by),
        ("scheduled for", record.scheduled_for),
        ("started", record.started_at),
        ("finished", record.finished_at),
        ("deadline", record.deadline),
        ("duration", duration(record.duration_ms) if record.duration_ms is not None else None),
        ("request id", record.request_id),
        ("error", record.error),
    ]
    fields += [
        (name.replace("_", " "), getattr(record, name))
        for name in ("retry_of", "yielded_to", "duplicate_of")
        if getattr(record, name)
    ]
    lines = [f"{name + ':':<15}{value}" for name, value in fields if value not in (None, "")]
    if record.attempts:
        lines.append(f"attempts ({len(record.attempts)}):")
    for attempt in record.attempts:
        lines.append(_attempt_line(attempt))
        if attempt.traceback:
            lines.extend("      " + line for line in attempt.traceback.rstrip().splitlines())
    result = decode_result(record.result)
    if result is not None:
        text = result if isinstance(result, str) else json.dumps(result, indent=2, sort_keys=True)
        lines.append("result:")
        lines.extend("  " + line for line in text.splitlines())
    return lines


def _attempt_line(attempt: Attempt) -> str:
    head = f"  #{attempt.attempt}  {attempt.started_at or '-'}  {duration(attempt.duration_ms)}"
    if attempt.error_type or attempt.error_message:
        return f"{head}  {attempt.error_type or 'Error'}: {attempt.error_message or ''}"
    return f"{head}  ok"


def outcome_line(record: RunRecord, *, status: str, colour: bool) -> str:
    """``succeeded in 1.2 s after 1 attempt`` / ``failed in 3.4 s after 3 attempts: X: y``."""
    count = len(record.attempts)
    text = f"{status_text(status or 'unknown', colour)} in {duration(record.duration_ms)}"
    if count:
        text += f" after {count} attempt{'s' if count != 1 else ''}"
    if record.error and status != "succeeded":
        text += f": {record.error}"
    return text


def attempt_errors(record: RunRecord) -> list[str]:
    """One line per failed attempt, under a run-now outcome."""
    return [
        f"  attempt {a.attempt}: {a.error_type}: {a.error_message}"
        for a in record.attempts
        if a.error_type or a.error_message
    ]
