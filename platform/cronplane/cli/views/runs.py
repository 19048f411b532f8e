"""How ``jobctl history`` and ``jobctl run-now`` print runs: the table a person scans, the
whole record of one run, one-line outcomes and per-job summary lines. Pure formatting: runs
come as ``cronplane.runs.history.present`` shows them (what ``--output json`` prints), pause
events as their records."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click

from cronplane.runs.history import JobSummary
from cronplane.runtime.schema import PauseEvent

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
    return (
        click.style(status, fg=STATUS_COLOURS.get(status), bold=True if status == "lost" else None)
        if colour
        else status
    )


def duration(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return "-"
    if ms < 1000:
        return f"{int(ms)} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    return f"{minutes}m {seconds:02d}s"


def who(record: dict[str, Any]) -> str:
    """The short form of ``triggered_by``: ``user/ana`` for an IAM ARN, ``rule/x`` for a rule."""
    value = record.get("triggered_by")
    if not value:
        return "schedule" if record.get("trigger") in ("schedule", None) else "-"
    text = str(value)
    if text.startswith("arn:"):
        return text.split(":", 5)[-1]
    return text


def attempts_count(record: dict[str, Any]) -> str:
    attempts = record.get("attempts") or []
    return str(len(attempts)) if attempts else "-"


def _pad(text: str, plain: str, width: int) -> str:
    # ANSI colour codes take no room on screen: pad on the visible text.
    return text + " " * max(width - len(plain), 0)


def runs_table(items: Iterable[dict[str, Any] | PauseEvent], *, show_job: bool, colour: bool) -> list[str]:
    """One line per run, plus pause / resume events as lines of their own."""
    headers = (["JOB"] if show_job else []) + ["RUN ID", "STATUS", "STARTED", "DURATION", "ATTEMPTS", "TRIGGER", "BY"]
    rows: list[list[str] | str] = []
    for item in items:
        if isinstance(item, PauseEvent):
            at = item.at or item.run_id[:16]
            actor = who({"triggered_by": item.actor, "trigger": "manual"})
            note = f"  ({item.reason})" if item.reason else ""
            rows.append(f"-- {at}  {item.action or 'event'} by {actor}{note}")
            continue
        row = ([str(item.get("job", ""))] if show_job else []) + [
            str(item.get("run_id", "")),
            str(item.get("status", "")),
            str(item.get("started_at") or "-"),
            duration(item.get("duration_ms")),
            attempts_count(item),
            str(item.get("trigger") or "-"),
            who(item),
        ]
        rows.append(row)
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
            _pad(status_text(cell, colour), cell, w) if i == status_col else cell.ljust(w)
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


def record_detail(record: dict[str, Any], colour: bool) -> list[str]:
    """Everything about one run: its fields, then every attempt with its error."""
    lines = []
    status = str(record.get("status", ""))
    stored = (
        f" (stored as {record['stored_status']}: past its deadline, the function died unnoticed)"
        if record.get("stored_status")
        else ""
    )
    fields = [
        ("job", record.get("job")),
        ("run id", record.get("run_id")),
        ("status", status_text(status, colour) + stored),
        ("trigger", record.get("trigger")),
        ("triggered by", record.get("triggered_by")),
        ("scheduled for", record.get("scheduled_for")),
        ("started", record.get("started_at")),
        ("finished", record.get("finished_at")),
        ("deadline", record.get("deadline")),
        ("duration", duration(record.get("duration_ms")) if record.get("duration_ms") is not None else None),
        ("request id", record.get("request_id")),
        ("error", record.get("error")),
    ]
    for extra in ("retry_of", "yielded_to", "duplicate_of"):
        if record.get(extra):
            fields.append((extra.replace("_", " "), record[extra]))
    for name, value in fields:
        if value not in (None, ""):
            lines.append(f"{name + ':':<15}{value}")
    attempts = record.get("attempts") or []
    if attempts:
        lines.append(f"attempts ({len(attempts)}):")
    for attempt in attempts:
        head = f"  #{attempt.get('attempt', '?')}  {attempt.get('started_at', '-')}  {duration(attempt.get('duration_ms'))}"
        if attempt.get("error_type") or attempt.get("error_message"):
            head += f"  {attempt.get('error_type', 'Error')}: {attempt.get('error_message', '')}"
        else:
            head += "  ok"
        lines.append(head)
        trace = attempt.get("traceback")
        if trace:
            lines.extend("      " + line for line in str(trace).rstrip().splitlines())
    if record.get("result") is not None:
        result = record["result"]
        text = result if isinstance(result, str) else json.dumps(result, indent=2, sort_keys=True)
        lines.append("result:")
        lines.extend("  " + line for line in text.splitlines())
    return lines


def outcome_line(record: dict[str, Any], colour: bool) -> str:
    """``succeeded in 1.2 s after 1 attempt`` / ``failed in 3.4 s after 3 attempts: X: y``."""
    status = str(record.get("status", "unknown"))
    count = len(record.get("attempts") or [])
    text = f"{status_text(status, colour)} in {duration(record.get('duration_ms'))}"
    if count:
        text += f" after {count} attempt{'s' if count != 1 else ''}"
    if record.get("error") and status != "succeeded":
        text += f": {record['error']}"
    return text
