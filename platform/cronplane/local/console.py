"""What ``jobctl dev`` reports while it runs, and who gathers it. Fed by the emulator's
listeners (``Emulator.log_listeners`` / ``done_listeners``), ``RunReporter`` reads back the run
record the wrapper wrote for each finished invocation (so what is reported is what ``jobctl
history`` will say) and hands a ``FinishedRun`` and the jobs' own log lines to the console. The
namespace's watchdog is one more function to the emulator (its rule fires every minute): its
runs are not reported as runs, but each alert it sent (one JSON log line per notification,
``ops.watchdog.NOTICE_LOG_KEY``) is handed to the console as a ``Notice``.

How any of it reads (run lines, log lines, colours) is the CLI's: ``jobctl dev`` injects
``cronplane.cli.dev_console.TerminalConsole`` (words from ``cli/views/dev.py``). This layer
only says what happened. ``Console`` here is the plain stand-in for tests and benchmarks that
start a ``DevServer`` without a terminal: messages only.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from cronplane.errors import AwsError
from cronplane.local.emulator import Emulator, FunctionSpec, InvocationDone
from cronplane.manifest.watch_config import WATCHDOG_HANDLER
from cronplane.ops.watchdog import NOTICE_LOG_KEY, Notice
from cronplane.runtime import settings as runtime_settings
from cronplane.runtime.schema import TIMED_ITEMS_END, RunRecord, from_item

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinishedRun:
    """One finished invocation as ``jobctl dev`` reports it: from its run record when the
    wrapper wrote one, else from what Lambda said (a function cronplane did not wrap, or one
    killed before it could write)."""

    time: str  # HH:MM:SS (UTC) it finished, or started
    job: str
    trigger: str
    status: str
    duration_ms: int | None
    attempts: int | None  # None: not known (no record)
    run_id: str | None
    error: str | None
    request_id: str


class DevConsole(Protocol):
    """Where ``DevServer`` and ``RunReporter`` report (``fg`` / ``bold``: how much it matters)."""

    def line(self, text: str, fg: str | None = None, bold: bool = False) -> None: ...

    def run_finished(self, run: FinishedRun) -> None: ...

    def job_log(self, job: str, line: str) -> None: ...

    def alert(self, notice: Notice) -> None:
        """The namespace's watchdog sent a notification (emails are shown, not sent)."""
        ...


class Console:
    """The plain console: messages as lines, serialised across threads; run lines and the jobs'
    log lines are the terminal console's to word, so this one leaves them out."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._lock = threading.Lock()

    def line(self, text: str, fg: str | None = None, bold: bool = False) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def run_finished(self, run: FinishedRun) -> None:
        pass

    def job_log(self, job: str, line: str) -> None:
        pass

    def alert(self, notice: Notice) -> None:
        pass


class RunReporter:
    """Listens to the emulator: one ``FinishedRun`` per finished invocation, read back from the
    run record it wrote; the job's log lines as they come (unless ``show_logs`` is off)."""

    def __init__(self, emulator: Emulator, console: DevConsole, show_logs: bool = True) -> None:
        self.emulator = emulator
        self.console = console
        self.show_logs = show_logs

    def on_log(self, spec: FunctionSpec, request_id: str, line: str) -> None:
        if spec.handler == WATCHDOG_HANDLER:
            notice = watchdog_notice(line)
            if notice is not None:
                self.console.alert(notice)
                return
        if self.show_logs:
            self.console.job_log(spec.job, line)

    def on_done(self, done: InvocationDone) -> None:
        if done.function.handler == WATCHDOG_HANDLER:
            if done.result.function_error:  # a pass every minute: only one in trouble is news
                self.console.run_finished(finished_run(done, None))
            return
        self.console.run_finished(finished_run(done, self.find_record(done)))

    def find_record(self, done: InvocationDone) -> RunRecord | None:
        """The run record written during this invocation (matched by its request id)."""
        table = done.function.env.get(runtime_settings.HISTORY_TABLE)
        if not table:
            return None
        try:
            page = self.emulator.aws(done.function.region).dynamodb.query(
                TableName=table,
                # Runs only: the job's lock and alert records sort after them ("~").
                KeyConditionExpression="job = :job AND run_id < :end",
                ScanIndexForward=False,
                Limit=25,
                ExpressionAttributeValues={":job": {"S": done.function.job}, ":end": {"S": TIMED_ITEMS_END}},
            )
        except AwsError as exc:  # the table may be gone after a destroy; report what we know
            log.debug("history lookup failed: %s", exc)
            return None
        for item in page.get("Items", []):
            record = from_item(item)
            if isinstance(record, RunRecord) and record.request_id == done.request_id:
                return record
        return None


def watchdog_notice(line: str) -> Notice | None:
    """The notification a watchdog log line reports, if it is one."""
    import json

    try:
        found = json.loads(line).get(NOTICE_LOG_KEY) if line.lstrip().startswith("{") else None
        if not isinstance(found, dict):
            return None
        return Notice(
            str(found["job"]),
            str(found["kind"]),
            tuple(str(e) for e in found.get("events") or ()),
            tuple(str(r) for r in found.get("accepted") or ()),
            tuple(str(f) for f in found.get("failed") or ()),
        )
    except (ValueError, KeyError, AttributeError):
        return None


def finished_run(done: InvocationDone, record: RunRecord | None) -> FinishedRun:
    if record is not None:
        return FinishedRun(
            time=_short_time(record.finished_at or record.started_at),
            job=done.function.job,
            trigger=record.trigger or "?",
            status=record.status or "?",
            duration_ms=record.duration_ms,
            attempts=len(record.attempts) or None,
            run_id=record.run_id,
            error=record.error,
            request_id=done.request_id,
        )
    # No record: a function cronplane did not wrap, or one killed before it could write.
    result = done.result
    status = "timed_out" if result.timed_out else ("failed" if result.function_error else "succeeded")
    payload = result.payload if isinstance(result.payload, dict) else {}
    return FinishedRun(
        time=datetime.now(UTC).strftime("%H:%M:%S"),
        job=done.function.job,
        trigger=_trigger_of(done.event),
        status=status,
        duration_ms=result.duration_ms,
        attempts=None,
        run_id=None,
        error=f"{payload.get('errorType')}: {payload.get('errorMessage')}" if result.function_error else None,
        request_id=done.request_id,
    )


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
