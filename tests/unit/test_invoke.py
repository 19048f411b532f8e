"""Envelopes of manual / backfill / retry runs as the runtime reads them, the invoke target,
and following a run's record (with a fake clock: no real waiting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cronplane.manifest.models import Job, RetryPolicy
from cronplane.runs.invoke import (
    RunNotFinishedError,
    backfill_envelope,
    function_target,
    is_lost,
    manual_envelope,
    retry_envelope,
    wait_budget_s,
    wait_for_run,
)
from cronplane.runtime.firing import Firing
from cronplane.runtime.schema import RunRecord, Trigger

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
JOB_PAYLOAD = {"batch_size": 25}


def job(**overrides: Any) -> Job:
    values: dict[str, Any] = {
        "name": "invoice-sync",
        "handler": "billing/invoice_sync.py:handler",
        "schedule": None,
        "team": "billing",
        "timeout": 60,
        "retries": RetryPolicy(max_attempts=3, backoff_cap=10),
    }
    values.update(overrides)
    return Job(**values)


def test_manual_envelope_as_the_runtime_reads_it() -> None:
    own = Firing.from_event(manual_envelope("20261127T093000Z-m1234567", "arn:aws:iam::1:user/ana"), JOB_PAYLOAD, NOW)
    assert (own.trigger, own.run_id, own.triggered_by) == (
        Trigger.MANUAL,
        "20261127T093000Z-m1234567",
        "arn:aws:iam::1:user/ana",
    )
    assert own.payload == JOB_PAYLOAD  # no --payload: the job's own
    override = Firing.from_event(
        manual_envelope("20261127T093000Z-m7654321", None, {"batch_size": 1}), JOB_PAYLOAD, NOW
    )
    assert override.payload == {"batch_size": 1} and override.triggered_by is None
    explicit_null = Firing.from_event(manual_envelope("20261127T093000Z-m7654321", None, None), JOB_PAYLOAD, NOW)
    assert explicit_null.payload is None  # --payload null is a payload too


def test_backfill_and_retry_envelopes_as_the_runtime_reads_them() -> None:
    at = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    backfill = Firing.from_event(backfill_envelope(at, "arn:aws:iam::1:user/ana"), JOB_PAYLOAD, NOW)
    assert backfill.trigger is Trigger.BACKFILL and backfill.scheduled_for == at
    assert backfill.run_id == "20261126T020000Z-backfill" and backfill.payload == JOB_PAYLOAD
    retry = Firing.from_event(retry_envelope("20261126T020000Z-abcd", {"x": 1}, "me", now=NOW), JOB_PAYLOAD, NOW)
    assert retry.trigger is Trigger.RETRY and retry.retry_of == "20261126T020000Z-abcd" and retry.payload == {"x": 1}
    assert retry.run_id.startswith("20261127T093000Z-r")


def test_function_target_uses_the_alias_with_provisioned_concurrency() -> None:
    assert function_target("acme-jobs", job()) == ("acme-jobs--invoice-sync", None)
    assert function_target("acme-jobs", job(provisioned_concurrency=2)) == ("acme-jobs--invoice-sync", "live")


def test_wait_budget_covers_every_attempt_in_its_own_invocation() -> None:
    assert wait_budget_s(job()) == 60 * 3 + 10 * 2 + 30
    assert wait_budget_s(job(timeout=5, retries=RetryPolicy(max_attempts=1))) == 35


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_wait_for_run_polls_until_final_and_reports_changes() -> None:
    clock = FakeClock()
    answers = iter([None, *(RunRecord("j", "r", status=s) for s in ("running", "running", "retrying", "succeeded"))])
    seen: list[str] = []
    record = wait_for_run(
        lambda: next(answers),
        60,
        poll_s=1.0,
        sleep=clock.sleep,
        clock=clock,
        on_change=lambda r: seen.append(r.status),
    )
    assert record == RunRecord("j", "r", status="succeeded")
    assert seen == ["running", "retrying", "succeeded"]
    assert clock.sleeps == [0.25, 0.5, 1.0, 1.0]  # quick first polls, then the poll interval


def test_wait_for_run_gives_up_after_its_budget() -> None:
    clock = FakeClock()
    with pytest.raises(RunNotFinishedError, match="after 5 s: it is still running") as info:
        wait_for_run(lambda: RunRecord("j", "r", status="running"), 5, sleep=clock.sleep, clock=clock)
    assert info.value.record == RunRecord("j", "r", status="running")  # the last record seen, for -o json
    assert clock.now == pytest.approx(5.0)
    with pytest.raises(RunNotFinishedError, match="its record never appeared"):
        wait_for_run(lambda: None, 2, sleep=clock.sleep, clock=clock)


def test_wait_for_run_stops_once_a_crashed_run_is_lost_and_not_before() -> None:
    """A function that died after writing `running` (crash, hard kill) never writes its end:
    --wait stops as soon as the record is lost (deadline + 60 s grace), instead of waiting out
    its budget, and never while the invocation may still be alive."""
    clock = FakeClock()
    started = NOW
    crashed = RunRecord("j", "r", status="running", started_at="2026-11-27T09:30:00Z", deadline="2026-11-27T09:30:10Z")
    polls: list[float] = []

    def get() -> RunRecord:
        polls.append(clock.now)
        return crashed

    record = wait_for_run(
        get, 600, poll_s=1.0, sleep=clock.sleep, clock=clock, now=lambda: started + timedelta(seconds=clock.now)
    )
    assert record is crashed  # the caller shows it through present(): status lost
    # Not before the deadline (10 s) plus the grace (60 s); within one poll after it.
    assert 70 < polls[-1] <= 71 and all(t <= 70 for t in polls[:-1])

    # A `retrying` record past the same moment is not lost: the next attempt's invocation may
    # wait in Lambda's queue. --wait follows it until its budget runs out.
    clock = FakeClock()
    retrying = crashed._replace(status="retrying")
    with pytest.raises(RunNotFinishedError, match="after 120 s: it is still retrying"):
        wait_for_run(
            lambda: retrying, 120, sleep=clock.sleep, clock=clock, now=lambda: started + timedelta(seconds=clock.now)
        )


def test_is_lost_only_for_running_records_past_deadline_and_grace() -> None:
    record = RunRecord("j", "r", status="running", deadline="2026-11-27T09:30:00Z")
    assert not is_lost(record, NOW + timedelta(seconds=60))  # within the grace
    assert is_lost(record, NOW + timedelta(seconds=61))
    assert not is_lost(record._replace(status="succeeded"), NOW + timedelta(hours=1))
    assert not is_lost(record._replace(status="retrying"), NOW + timedelta(hours=1))
    # No deadline recorded: the longest a Lambda invocation can run (900 s) from its start.
    old = RunRecord("j", "r", status="running", started_at="2026-11-27T09:30:00Z")
    assert not is_lost(old, NOW + timedelta(seconds=900)) and is_lost(old, NOW + timedelta(seconds=961))


def test_retry_envelope_without_payload_keeps_the_jobs_own_payload() -> None:
    """A replay of a scheduled run must not override the job's payload with null."""
    from cronplane.runs.invoke import NO_PAYLOAD

    envelope = retry_envelope("20261126T020000Z-abcd", NO_PAYLOAD, "me", now=NOW)
    assert "payload" not in envelope["cronplane"]
    firing = Firing.from_event(envelope, JOB_PAYLOAD, NOW)
    assert firing.payload == JOB_PAYLOAD
