"""What ``jobctl dev`` prints for runs and the jobs' log lines (``cli/views/dev.py`` through
``cli/dev_console.TerminalConsole``, fed by ``local.console.RunReporter``), and the demo's
story. The dev server itself: tests/unit/local/test_devserver.py."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cronplane.cli.dev_console import DemoPrinter, TerminalConsole
from cronplane.cli.views.dev import demo_explained, readable_log_line, run_line
from cronplane.local.console import FinishedRun, RunReporter, finished_run
from cronplane.local.demo import DemoRun, DemoStory
from cronplane.local.emulator import FunctionSpec, InvocationDone, InvocationType
from cronplane.runs.history import HistoryPage
from cronplane.runtime.schema import Attempt, RunRecord


def spec(job: str = "invoice-sync") -> FunctionSpec:
    return FunctionSpec(
        name=f"acme-jobs-{job}",
        arn=f"arn:aws:lambda:eu-west-1:123456789012:function:acme-jobs-{job}",
        version="$LATEST",
        handler="cronplane.runtime.entry.handler",
        env={"CRONPLANE_JOB": job},
        timeout_s=60,
        memory_mb=256,
        code_sha256="x",
        code_bytes=b"",
        region="eu-west-1",
        account_id="123456789012",
    )


def done(event: Any = None, **result: Any) -> InvocationDone:
    values = dict(request_id="r-1", payload=None, function_error=None, timed_out=False, duration_ms=1234, log_tail="")
    values.update(result)
    return InvocationDone(spec(), InvocationType.EVENT, "r-1", event or {}, SimpleNamespace(**values))  # type: ignore[arg-type]


def test_run_line_comes_from_the_record() -> None:
    record = RunRecord(
        "invoice-sync",
        "20261127T090000Z-abcd1234",
        finished_at="2026-11-27T09:00:03Z",
        trigger="schedule",
        status="succeeded",
        duration_ms=804,
        attempts=(Attempt(1), Attempt(2)),
    )
    line = run_line(finished_run(done(), record))
    assert line.split() == [
        "09:00:03",
        "invoice-sync",
        "schedule",
        "succeeded",
        "804",
        "ms",
        "2",
        "attempts",
        "run",
        "20261127T090000Z-abcd1234",
    ]


def test_run_line_says_a_long_run_as_history_does() -> None:
    """The one duration format: 75 s is `1m 15s` on the dev console as in `jobctl history`
    (the console used to print `75.0 s`)."""
    run = FinishedRun("09:01:15", "nightly-report", "schedule", "succeeded", 75_000, 1, "r", None, "q")
    assert " 1m 15s  run r" in run_line(run)


def test_run_line_without_a_record_says_what_lambda_said() -> None:
    run = finished_run(
        done(
            {"cronplane": {"trigger": "manual"}},
            function_error="Unhandled",
            timed_out=True,
            payload={"errorType": "TimeoutError", "errorMessage": "Task timed out after 5.00 seconds"},
        ),
        None,
    )
    assert (run.status, run.trigger) == ("timed_out", "manual")
    assert run_line(run).endswith("TimeoutError: Task timed out after 5.00 seconds")


def test_failures_are_red_on_a_terminal_only() -> None:
    record = RunRecord(
        "invoice-sync",
        "r",
        finished_at="2026-11-27T09:00:03Z",
        trigger="manual",
        status="failed",
        duration_ms=5,
        error="boom",
    )
    for colour, expect_ansi in ((True, True), (False, False)):
        out = io.StringIO()
        reporter = RunReporter(emulator=None, console=TerminalConsole(out, colour=colour))  # type: ignore[arg-type]
        reporter.find_record = lambda d: record  # type: ignore[method-assign]
        reporter.on_done(done())
        assert ("\x1b[31m" in out.getvalue()) is expect_ansi
        assert "failed" in out.getvalue()


def test_log_lines_are_prefixed_and_made_readable() -> None:
    out = io.StringIO()
    reporter = RunReporter(emulator=None, console=TerminalConsole(out, colour=False))  # type: ignore[arg-type]
    lines = [
        "START RequestId: r-1 Version: $LATEST",
        "[WARNING]\t2026-11-27T09:00:00.000Z\tr-1\tattempt 1: provider connection dropped",
        "[INFO]\t2026-11-27T09:00:00.000Z\tr-1\tsynced 25 invoices",
        json.dumps({"level": "info", "message": "retrying", "job": "invoice-sync", "run_id": "x", "next_attempt": 2}),
        json.dumps({"level": "info", "message": "run finished", "job": "invoice-sync"}),
        json.dumps({"_aws": {"CloudWatchMetrics": []}, "Succeeded": 1}),
        "plain print output",
        "END RequestId: r-1",
    ]
    for line in lines:
        reporter.on_log(spec(), "r-1", line)
    assert out.getvalue().splitlines() == [
        "[invoice-sync] WARNING attempt 1: provider connection dropped",
        "[invoice-sync] synced 25 invoices",
        "[invoice-sync] retrying (next_attempt=2)",
        "[invoice-sync] plain print output",
    ]
    assert readable_log_line("{not json") == "{not json"


def test_quiet_logs_and_the_plain_console_print_no_job_lines() -> None:
    out = io.StringIO()
    RunReporter(emulator=None, console=TerminalConsole(out), show_logs=False).on_log(spec(), "r", "hi")  # type: ignore[arg-type]
    assert out.getvalue() == ""


def test_demo_story_and_history_read_as_the_commands_do() -> None:
    succeeded = RunRecord(
        "invoice-sync", "r1", status="succeeded", attempts=(Attempt(1), Attempt(2)), duration_ms=75_000
    )
    runs = (DemoRun("invoice-sync", "r1", succeeded, 0, ()), DemoRun("other", "r2", None, 0, ("other: missing",)))
    story = DemoStory("http://127.0.0.1:5000", runs, 75.2, "jobctl dev", ".venv")
    lines = [text for text, _ in demo_explained(story)]
    assert "  1. moto started on http://127.0.0.1:5000; `jobctl deploy`'s code created for each job a Lambda" in lines
    assert any(line.startswith("     - invoice-sync: succeeded, 2 attempts: lost its connection") for line in lines)
    assert "     - other: missing: ran." in lines
    assert any("All of it took 1m 15s and no AWS account" in line for line in lines)
    assert "  source .venv/bin/activate && jobctl dev" in lines

    out = io.StringIO()
    printer = DemoPrinter(TerminalConsole(out, colour=False))
    printer.history(HistoryPage((succeeded,), None), datetime.now(UTC))
    printer.dlq_unreadable("search-reindex", "AWS sqs failed", 1)
    printer.problems(["other: missing"])
    text = out.getvalue().splitlines()
    assert text[:2] == ["", "$ jobctl history"] and text[2].split()[:3] == ["JOB", "RUN", "ID"]
    assert "invoice-sync: 1 run, 100% succeeded, p50 1m 15s, p95 1m 15s, last success never" in text
    assert text[-5:] == [
        "$ jobctl dlq search-reindex",
        "jobctl dlq failed: AWS sqs failed",
        "DLQ of search-reindex: 1 message",
        "The demo did not go as expected:",
        "  - other: missing",
    ]


def test_demo_intro_names_the_manifest(tmp_path: Path) -> None:
    out = io.StringIO()
    DemoPrinter(TerminalConsole(out, colour=False)).intro(tmp_path / "jobs.yaml")
    assert out.getvalue().startswith(
        f"cronplane demo: an AWS emulator on this machine, the jobs of {tmp_path}/jobs.yaml"
    )
