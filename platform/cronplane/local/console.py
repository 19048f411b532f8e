"""What ``jobctl dev`` prints: one line per run (time, job, trigger, status, duration), read
back from the run record the wrapper wrote, so it says what ``jobctl history`` will say; the
jobs' own log lines prefixed with the job's name; failures in red on a terminal. Fed by the
emulator's listeners (``Emulator.log_listeners`` / ``done_listeners``)."""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

from cronplane.local.emulator import Emulator, FunctionSpec, InvocationDone
from cronplane.runtime import settings as runtime_settings
from cronplane.runtime.schema import RunRecord, from_item

log = logging.getLogger(__name__)

RUNNER_FRAME = ("START RequestId:", "END RequestId:", "REPORT RequestId:")  # the runner's, not the job's


class Console:
    """Serialised output: runs, log lines and messages from several threads, one line each."""

    def __init__(self, out: TextIO | None = None, color: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color
        self._lock = threading.Lock()

    def line(self, text: str, fg: str | None = None, bold: bool = False) -> None:
        if self.color and (fg or bold):
            import click

            text = click.style(text, fg=fg, bold=bold)
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()


STATUS_COLORS = {
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "lost": "red",
    "skipped": "yellow",
    "duplicate": "yellow",
    "retrying": "yellow",
}


class RunReporter:
    """One line per finished invocation, from the run record the wrapper wrote (so what is
    printed is what ``jobctl history`` will show); the job's log lines prefixed with its name."""

    def __init__(self, emulator: Emulator, console: Console, show_logs: bool = True) -> None:
        self.emulator = emulator
        self.console = console
        self.show_logs = show_logs
        self.finished: list[dict[str, Any]] = []  # what was reported, newest last
        self._lock = threading.Lock()
        self._width = 14

    def on_log(self, spec: FunctionSpec, request_id: str, line: str) -> None:
        if not self.show_logs or line.startswith(RUNNER_FRAME):
            return
        text = readable_log_line(line)
        if text is None:
            return
        self._width = max(self._width, len(spec.job))
        self.console.line(f"[{spec.job}] {text}")

    def on_done(self, done: InvocationDone) -> None:
        record = self.find_record(done)
        row = run_row(done, record)
        with self._lock:
            self.finished.append(row)
        fg = STATUS_COLORS.get(row["status"])
        self.console.line(format_row(row, self._width), fg=fg, bold=row["status"] in ("failed", "timed_out"))

    def find_record(self, done: InvocationDone) -> RunRecord | None:
        """The run record written during this invocation (matched by its request id)."""
        table = done.function.env.get(runtime_settings.HISTORY_TABLE)
        if not table:
            return None

        try:
            page = self.emulator.client("dynamodb", done.function.region).query(
                TableName=table,
                KeyConditionExpression="job = :job",
                ScanIndexForward=False,
                Limit=25,
                ExpressionAttributeValues={":job": {"S": done.function.job}},
            )
        except Exception as exc:  # the table may be gone after a destroy; print what we know
            log.debug("history lookup failed: %s", exc)
            return None
        for item in page.get("Items", []):
            record = from_item(item)
            if isinstance(record, RunRecord) and record.request_id == done.request_id:
                return record
        return None


def run_row(done: InvocationDone, record: RunRecord | None) -> dict[str, Any]:
    result = done.result
    if record is not None:
        return {
            "time": _short_time(record.finished_at or record.started_at),
            "job": done.function.job,
            "trigger": record.trigger or "?",
            "status": record.status or "?",
            "duration_ms": record.duration_ms,
            "attempts": len(record.attempts) or None,
            "run_id": record.run_id,
            "error": record.error,
            "request_id": done.request_id,
        }
    # No record: a function cronplane did not wrap, or one killed before it could write.
    status = "timed_out" if result.timed_out else ("failed" if result.function_error else "succeeded")
    payload = result.payload if isinstance(result.payload, dict) else {}
    return {
        "time": datetime.now(UTC).strftime("%H:%M:%S"),
        "job": done.function.job,
        "trigger": _trigger_of(done.event),
        "status": status,
        "duration_ms": result.duration_ms,
        "attempts": None,
        "run_id": None,
        "error": f"{payload.get('errorType')}: {payload.get('errorMessage')}" if result.function_error else None,
        "request_id": done.request_id,
    }


def format_row(row: dict[str, Any], width: int = 14) -> str:
    duration = _duration(row.get("duration_ms"))
    text = f"{row['time']}  {row['job']:<{width}}  {row['trigger']:<9} {row['status']:<10} {duration:>7}"
    if row.get("attempts") and row["attempts"] > 1:
        text += f"  {row['attempts']} attempts"
    if row.get("run_id"):
        text += f"  run {row['run_id']}"
    if row.get("error") and row["status"] != "succeeded":
        error = str(row["error"]).splitlines()[0] if row["error"] else ""
        text += f"  {error if len(error) <= 100 else error[:100].rsplit(' ', 1)[0] + ' ...'}"
    return text


def _duration(ms: Any) -> str:
    if ms is None:
        return "-"
    ms = int(ms)
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _short_time(value: Any) -> str:
    text = str(value or "")
    return text[11:19] if len(text) >= 19 else datetime.now(UTC).strftime("%H:%M:%S")


def _trigger_of(event: Any) -> str:
    if isinstance(event, dict):
        inner = event.get("cronplane")
        if isinstance(inner, dict) and inner.get("trigger"):
            return str(inner["trigger"])
        if event.get("source") == "aws.events":
            return "schedule"
    return "manual"


HIDDEN_FIELDS = {"level", "message", "job", "run_id", "request_id", "traceback", "timestamp", "time"}


def readable_log_line(line: str) -> str | None:
    """A function's log line as a person wants it in a terminal, or None to hide it.

    Lambda's ``[LEVEL]\t<time>\t<request id>\t<text>`` keeps level and text (the run line
    carries time and ids); the wrapper's JSON lines become ``message (key=value ...)``;
    CloudWatch embedded-metric lines are machine food and hidden. Anything else passes as is."""
    if line.startswith("[") and line.count("\t") >= 3:
        level, _, _, text = line.split("\t", 3)
        level = level.strip("[]")
        return text if level == "INFO" else f"{level} {text}"
    if not line.startswith("{"):
        return line
    try:
        data = json.loads(line)
    except ValueError:
        return line
    if not isinstance(data, dict) or "_aws" in data:
        return None if isinstance(data, dict) else line
    if "message" not in data:
        return line
    if data["message"] == "run finished":
        return None  # the run line printed right after says it, from the record
    level = str(data.get("level", "info")).upper()
    extra = " ".join(f"{k}={v}" for k, v in data.items() if k not in HIDDEN_FIELDS and v not in (None, ""))
    text = f"{data['message']}" + (f" ({extra})" if extra else "")
    return text if level == "INFO" else f"{level} {text}"
