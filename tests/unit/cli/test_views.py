"""The views: pure functions from typed values to text / JSON, so every table and detail view is
tested here without AWS. (The dev console's lines: test_views_dev.py.)"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cronplane.cli.views import manifest as manifest_view
from cronplane.cli.views import ops as ops_view
from cronplane.cli.views import plan as plan_view
from cronplane.cli.views import run_now as run_now_view
from cronplane.cli.views import runs as runs_view
from cronplane.cli.views.text import duration, plural, seconds, table
from cronplane.errors import Problem
from cronplane.local.run_now import Backend, LocalRun
from cronplane.local.runner import InvocationResult
from cronplane.manifest.loader import AS_OF_EPOCH, load_manifest
from cronplane.ops.pause import PauseCase, PauseOutcome
from cronplane.runs.history import HistoryPage
from cronplane.runs.invoke import InvokeResponse
from cronplane.runs.run_now import RunNowOutcome, StartedRun
from cronplane.runtime.schema import Attempt, PauseAction, PauseEvent, PauseMarker, RunRecord

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def record(status: str = "succeeded", **fields: Any) -> RunRecord:
    values: dict[str, Any] = {
        "job": "invoice-sync",
        "run_id": "20261127T090000Z-abcd1234",
        "status": status,
        "trigger": "schedule",
        "started_at": "2026-11-27T09:00:00Z",
        "finished_at": "2026-11-27T09:01:15Z",
        "deadline": "2026-11-27T09:05:00Z",
        "duration_ms": 75_000,
        "attempts": (Attempt(1, "2026-11-27T09:00:00Z", duration_ms=75_000),),
    }
    values.update(fields)
    return RunRecord(**values)


# -- the one duration format -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (None, "-"),
        (0, "0 ms"),
        (804, "804 ms"),
        (1200, "1.2 s"),
        (59_949, "59.9 s"),
        (75_000, "1m 15s"),
        (3_600_000, "60m 00s"),
    ],
)
def test_one_duration_format(ms: int | None, shown: str) -> None:
    assert duration(ms) == shown


def test_seconds_plural_and_table() -> None:
    assert seconds(0.7) == "700 ms" and seconds(75) == "1m 15s"
    assert (plural(1, "job"), plural(2, "job"), plural(0, "job")) == ("1 job", "2 jobs", "0 jobs")
    assert table(["A", "LONG"], [["xyz", "1"]]) == ["A    LONG", "xyz  1"]


# -- history --------------------------------------------------------------------------------
def test_history_table_event_lines_and_lost_status() -> None:
    running = record("running", run_id="20261127T080000Z-dead", finished_at=None, duration_ms=None)
    event = PauseEvent(
        "invoice-sync",
        "20261127T083000Z-event-pause",
        "pause",
        "arn:aws:iam::1:user/ana",
        "2026-11-27T08:30:00Z",
        "outage",
    )
    lines = runs_view.runs_table([record(), event, running], now=NOW, show_job=True, colour=False)
    assert lines[0].split() == ["JOB", "RUN", "ID", "STATUS", "STARTED", "DURATION", "ATTEMPTS", "TRIGGER", "BY"]
    assert lines[1].split()[2:5] == ["succeeded", "2026-11-27T09:00:00Z", "1m"]
    assert lines[2] == "-- 2026-11-27T08:30:00Z  pause by user/ana  (outage)"
    assert " lost " in lines[3] and lines[3].split()[-1] == "schedule"  # no triggered_by: the schedule


def test_history_page_messages_and_next_page_command() -> None:
    empty = HistoryPage((), None)
    shown = runs_view.history_text(empty, runs_view.HistoryQuery("a", since="7d"), now=NOW, colour=False)
    assert shown.lines == ["no runs found for a since 7d"] and shown.more is None
    filtered = HistoryPage((), "TOKEN")
    shown = runs_view.history_text(filtered, runs_view.HistoryQuery("a", "lost", limit=1), now=NOW, colour=False)
    assert shown.lines == [
        "no lost runs among the newest 1 records of a; older ones may match: see the next page below"
    ]
    assert shown.more == "more: jobctl history a --limit 1 --status lost --next-token TOKEN"
    page = HistoryPage((record(), record("failed", run_id="r2", duration_ms=1200)), None)
    lines = runs_view.history_text(page, runs_view.HistoryQuery(), now=NOW, colour=False).lines
    assert lines[-2] == "" and lines[-1].startswith("invoice-sync: 2 runs, 50% succeeded, p50 1.2 s, p95 1m 15s")


def test_record_detail_shows_every_attempt_the_result_and_why_lost() -> None:
    failed = record(
        "running",
        error="ValueError: bad",
        result='{"rows": 3}',
        attempts=(
            Attempt(1, None, duration_ms=10, error_type="ValueError", error_message="bad", traceback="Traceback\n  x"),
        ),
    )
    lines = runs_view.record_detail(failed, status="lost", colour=False)
    assert "status:        lost (stored as running: past its deadline, the function died unnoticed)" in lines
    assert "duration:      1m 15s" in lines
    assert "  #1  -  10 ms  ValueError: bad" in lines and "      Traceback" in lines
    assert lines[-4:] == ["result:", "  {", '    "rows": 3', "  }"]  # decoded from its JSON text


def test_outcome_line_and_json_override() -> None:
    failed = record("failed", error="X: y", attempts=(Attempt(1), Attempt(2)))
    assert runs_view.outcome_line(failed, status="failed", colour=False) == "failed in 1m 15s after 2 attempts: X: y"
    shown = runs_view.run_json(record("running"), NOW - timedelta(hours=3), status="lost")
    assert (shown["status"], shown["stored_status"]) == ("lost", "running")
    assert runs_view.run_json(record(), NOW)["duration_ms"] == 75_000  # JSON keeps the milliseconds


# -- run-now --------------------------------------------------------------------------------
def started(sync: bool = False, payload: Any = None) -> StartedRun:
    response = InvokeResponse("acme-jobs-invoice-sync", None, 200 if sync else 202, None, payload, "req")
    return StartedRun(
        "invoice-sync", "20261127T090000Z-m1", "acme-jobs-invoice-sync", None, sync, "arn:x:user/ana", response
    )


def test_run_now_lines_for_queued_lost_finished_and_a_bare_answer() -> None:
    assert (
        run_now_view.started_line(started())
        == "run 20261127T090000Z-m1 of invoice-sync queued (manual, by arn:x:user/ana)"
    )
    queued = RunNowOutcome(started(), None, NOW, expects_end=False)
    assert run_now_view.remote_text(queued, log_group="/g", colour=False) == [
        "follow it: jobctl history invoice-sync --run 20261127T090000Z-m1"
    ]
    lost = RunNowOutcome(started(), record("running"), NOW, expects_end=True)
    text = run_now_view.remote_text(lost, log_group="/aws/lambda/g", colour=False)
    assert text[0].startswith("run 20261127T090000Z-m1 lost: its record still says running past its deadline")
    assert "`aws logs tail /aws/lambda/g --since 1h`" in text[1] and len(text) == 2
    done = RunNowOutcome(
        started(), record("failed", error="E: x", attempts=(Attempt(1, error_type="E", error_message="x"),)), NOW, True
    )
    assert run_now_view.remote_text(done, log_group="/g", colour=False) == [
        "run 20261127T090000Z-m1 failed in 1m 15s after 1 attempt: E: x",
        "  attempt 1: E: x",
    ]
    bare = RunNowOutcome(started(sync=True, payload={"hello": 1}), None, NOW, True)
    assert run_now_view.remote_text(bare, log_group="/g", colour=False)[0] == 'the function answered: {"hello": 1}'
    assert (
        run_now_view.remote_json(bare)["response"] == {"hello": 1} and run_now_view.remote_json(bare)["status"] is None
    )


def test_run_now_outcome_decides_the_exit() -> None:
    assert RunNowOutcome(started(), None, NOW, expects_end=False).ok  # queued and accepted
    assert RunNowOutcome(started(), record(), NOW, expects_end=True).ok
    assert not RunNowOutcome(started(), record("failed"), NOW, expects_end=True).ok
    lost = RunNowOutcome(started(), record("running"), NOW, expects_end=True)
    assert lost.lost and lost.final and not lost.ok
    running = RunNowOutcome(started(), record("running"), datetime(2026, 11, 27, 9, 1, tzinfo=UTC), True)
    assert not running.final and running.status == "running"


def test_local_run_text_and_json() -> None:
    backend = Backend("", "", None, "local:me@host", {}, "no AWS credentials")
    crashed = LocalRun("r1", None, InvocationResult("q", {"errorType": "Boom"}, "Unhandled", False, 5, ""), backend)
    assert run_now_view.local_text(crashed, colour=False) == [
        'run r1: no run record came back; the function answered {"errorType": "Boom"}',
        "run r1 failed (local; record not stored (no reachable history table))",
    ]
    shown = run_now_view.local_json(crashed, "invoice-sync", now=NOW)
    assert (shown["status"], shown["history_table"], shown["record"]) == ("failed", None, None)
    assert (
        run_now_view.table_unreachable_line("j", "why")
        == "j | history table not reachable (why): the record is only printed"
    )


# -- plan / deploy --------------------------------------------------------------------------
def test_deploy_report_uses_the_one_duration_format() -> None:
    plan = SimpleNamespace(actions=(), has_changes=False, drift=())
    result: Any = SimpleNamespace(plan=plan, applied=None)
    assert plan_view.deploy_report(result, verb="Deploy", reads=9, writes=0, elapsed_s=0.85) == [
        "(9 reads, 0 writes in 850 ms)"
    ]
    actions = tuple(SimpleNamespace(op=SimpleNamespace(value=v)) for v in ("create", "create", "delete"))
    changed = SimpleNamespace(actions=actions, has_changes=True, drift=("x",), drift_summary=lambda: "1 job differs")
    result = SimpleNamespace(plan=changed, applied=object())
    assert plan_view.deploy_report(result, verb="Destroy", reads=3, writes=3, elapsed_s=75) == [
        "Destroy complete: 2 created, 0 updated, 1 deleted in 1m 15s (3 reads, 3 writes).",
        "Left as it was: 1 job differs",
    ]
    declined = SimpleNamespace(plan=changed, applied=None)
    assert plan_view.deploy_report(declined, verb="Deploy", reads=1, writes=0, elapsed_s=1) == ["Nothing applied."]


# -- manifest -------------------------------------------------------------------------------
def test_manifest_views() -> None:
    problems = [Problem("jobs.yaml", 3, "jobs.a.timeout", "too long"), Problem("jobs.yaml", None, "", "bad")]
    assert manifest_view.validate_problems("jobs.yaml", problems) == [
        "jobs.yaml:3: jobs.a.timeout: too long",
        "jobs.yaml: bad",
        "jobs.yaml: 2 problems",
    ]
    manifest = load_manifest(ROOT / "jobs.yaml", check_handlers=False, now=AS_OF_EPOCH)
    upcoming = {job.name: None for job in manifest.jobs}
    rows = manifest_view.jobs_table(manifest, upcoming)
    assert rows[0].split()[:3] == ["JOB", "TEAM", "SCHEDULE"] and len(rows) == len(manifest.jobs) + 1
    assert manifest_view.jobs_json(manifest, upcoming)[0]["next_run"] is None
    berlin = datetime(2026, 7, 1, 9, tzinfo=dt.timezone(timedelta(hours=2), "CEST"))
    assert manifest_view.short_time(berlin) == "2026-07-01 09:00 CEST (+02:00)"
    assert manifest_view.short_time(None) == "never"


# -- ops ------------------------------------------------------------------------------------
def trigger() -> Any:
    return SimpleNamespace(label="EventBridge rule acme-jobs-tidy")


def test_pause_and_resume_lines() -> None:
    marker = PauseMarker("tidy", "arn:ana", "2026-11-27T10:00:05Z")
    at = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    paused = PauseOutcome(
        "tidy", PauseAction.PAUSE, PauseCase.PAUSED, trigger(), actor="arn:bob", at=at, disabled_in_manifest=True
    )
    assert ops_view.pause_text(paused) == (
        "paused tidy: EventBridge rule acme-jobs-tidy disabled by arn:bob at 2026-11-27T12:30:00Z "
        "(it is also disabled in the manifest: enabled: false)"
    )
    again = PauseOutcome("tidy", PauseAction.PAUSE, PauseCase.ALREADY_PAUSED, trigger(), marker=marker)
    assert ops_view.pause_text(again) == "tidy is already paused (by arn:ana since 2026-11-27T10:00:05Z); nothing to do"
    assert not again.changed and paused.changed
    restored = PauseOutcome("tidy", PauseAction.PAUSE, PauseCase.PAUSE_RESTORED, trigger(), marker=marker)
    assert ops_view.pause_text(restored).endswith(
        "but its EventBridge rule acme-jobs-tidy was enabled; disabled it again"
    )
    resumed = PauseOutcome("tidy", PauseAction.RESUME, PauseCase.RESUMED, trigger(), actor="arn:bob", at=at)
    assert ops_view.pause_text(resumed).endswith("at 2026-11-27T12:30:00Z (it was disabled without `jobctl pause`)")
    idle = PauseOutcome("tidy", PauseAction.RESUME, PauseCase.NOT_PAUSED, trigger())
    assert ops_view.pause_text(idle) == "tidy is not paused (EventBridge rule acme-jobs-tidy is enabled); nothing to do"


def test_dlq_replay_lines() -> None:
    from cronplane.ops.dlq import DlqMessage, DlqSource

    message = DlqMessage("m1", "h", DlqSource.WRAPPER, "r1", "2026-11-27T09:00:00Z", 3, "", {})
    assert ops_view.replay_preview([message]) == ["will replay r1 (wrapper, no error text)"]
    assert ops_view.nothing_to_replay("tidy") == "tidy: nothing to replay (the dead-letter queue is empty)"
    assert ops_view.dlq_json("tidy", [message])["messages"][0]["run_id"] == "r1"
    assert ops_view.vanished_messages(2) == "2 message(s) were no longer in the queue (consumed elsewhere?)"
