"""jobctl audit: promised fire times matched with run records, against moto in-process with a
controllable clock. moto stamps the function / schedule with the real time, so every scenario
lives in a day that starts after the real "now" (the job is deployed before the window)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from ops_fixtures import make_job, make_manifest, next_day, put_run

from cronplane.ops.audit import EXIT_CLEAN, EXIT_PROBLEMS, FireOutcome, audit
from cronplane.ops.pause import pause_job, resume_job
from cronplane.runtime.schema import Trigger, backfill_run_id, new_run_id, scheduled_run_id


def hourly_day(dynamodb: Any, job: str, day: datetime, *, skip: dict[int, str] | None = None) -> list[datetime]:
    """Scheduled runs for every hour of ``day`` (fire times day+1h .. day+24h), except the
    hours in ``skip`` (hour -> "missing" | "late" | "failed" | ...)."""
    skip = skip or {}
    fires = [day + timedelta(hours=h) for h in range(1, 25)]
    for h, fire in enumerate(fires, start=1):
        kind = skip.get(h)
        if kind == "missing":
            continue
        started = fire + timedelta(seconds=600 if kind == "late" else 3)
        status = kind if kind in ("failed", "timed_out", "skipped", "running") else "succeeded"
        extra = {"error": "ValueError: bad invoice"} if status == "failed" else {}
        if status == "running":
            extra["deadline"] = (started + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        put_run(
            dynamodb,
            job,
            scheduled_run_id(fire, f"ev-{h}"),
            status=status,
            scheduled_for=fire,
            started_at=started,
            **extra,
        )
    return fires


@pytest.fixture
def hourly(deploy: Any) -> Any:
    job = make_job("tmp-cleanup", "cron(0 * * * ? *)")
    manifest = make_manifest(job)
    deploy(manifest, job)
    return manifest


def run_audit(clients: Any, manifest: Any, day: datetime, **kw: Any) -> Any:
    now = kw.pop("now", day + timedelta(days=1, minutes=30))
    return audit(
        clients, manifest, [j.name for j in manifest.jobs], since=day, until=day + timedelta(days=1), now=now, **kw
    )


def test_day_with_two_missed_one_late_one_failed(clients: Any, hourly: Any) -> None:
    day = next_day()
    fires = hourly_day(
        clients.dynamodb, "tmp-cleanup", day, skip={3: "missing", 4: "missing", 10: "late", 17: "failed"}
    )
    report = run_audit(clients, hourly, day)
    (job,) = report.jobs
    flagged = {(c.fire_time, c.outcome) for c in job.checks if c.outcome is not FireOutcome.OK}
    assert flagged == {
        (fires[2], FireOutcome.MISSED),
        (fires[3], FireOutcome.MISSED),
        (fires[9], FireOutcome.LATE),
        (fires[16], FireOutcome.FAILED),
    }
    assert job.count(FireOutcome.OK) == 20 and len(job.checks) == 24
    failed = next(c for c in job.checks if c.outcome is FireOutcome.FAILED)
    assert failed.note == "ValueError: bad invoice"
    late = next(c for c in job.checks if c.outcome is FireOutcome.LATE)
    assert late.delay_seconds == 600
    assert report.exit_code == EXIT_PROBLEMS
    assert report.verdict == "PROBLEMS: 2 missed, 1 failed; 21 of 24 expected runs succeeded (1 late)"


def test_clean_day_exits_zero_and_late_is_only_a_warning(clients: Any, hourly: Any) -> None:
    day = next_day()
    hourly_day(clients.dynamodb, "tmp-cleanup", day, skip={5: "late"})
    report = run_audit(clients, hourly, day)
    assert report.exit_code == EXIT_CLEAN
    assert report.verdict == "OK: 24 of 24 expected runs succeeded in 1 job(s) (1 late)"
    # A larger grace accepts the same run as on time.
    assert run_audit(clients, hourly, day, grace_seconds=900).jobs[0].count(FireOutcome.LATE) == 0


def test_timed_out_and_lost_are_problems_running_and_pending_are_not(clients: Any, hourly: Any) -> None:
    day = next_day()
    hourly_day(clients.dynamodb, "tmp-cleanup", day, skip={6: "timed_out", 7: "running", 24: "missing"})
    # Right after the last fire time: hour 7's run is long past its deadline (lost), hour 24 not yet due.
    report = run_audit(clients, hourly, day, now=day + timedelta(days=1, seconds=30))
    outcomes = [c.outcome for c in report.jobs[0].checks]
    assert (outcomes[5], outcomes[6], outcomes[23]) == (FireOutcome.TIMED_OUT, FireOutcome.LOST, FireOutcome.PENDING)
    assert report.jobs[0].checks[6].note.startswith("still running past its deadline: the function died")
    assert report.exit_code == EXIT_PROBLEMS
    assert report.verdict.startswith("PROBLEMS: 1 timed_out, 1 lost;")


def test_backfilled_and_retried_fire_times_are_ok_and_manual_runs_are_listed(clients: Any, hourly: Any) -> None:
    day = next_day()
    fires = hourly_day(clients.dynamodb, "tmp-cleanup", day, skip={2: "missing", 8: "failed"})
    db = clients.dynamodb
    put_run(
        db,
        "tmp-cleanup",
        backfill_run_id(fires[1]),
        trigger="backfill",
        scheduled_for=fires[1],
        started_at=day + timedelta(days=1, minutes=5),
    )
    failed_id = scheduled_run_id(fires[7], "ev-8")
    retry_at = day + timedelta(hours=12)
    put_run(
        db, "tmp-cleanup", new_run_id(retry_at, Trigger.RETRY), trigger="retry", retry_of=failed_id, started_at=retry_at
    )
    manual_at = day + timedelta(hours=14, minutes=7)
    put_run(
        db,
        "tmp-cleanup",
        new_run_id(manual_at, Trigger.MANUAL),
        trigger="manual",
        started_at=manual_at,
        triggered_by="arn:aws:sts::123456789012:user/alice",
    )
    put_run(
        db,
        "tmp-cleanup",
        scheduled_run_id(fires[4], "ev-5") + "~dup-abc",
        status="duplicate",
        scheduled_for=fires[4],
        started_at=fires[4],
    )
    report = run_audit(clients, hourly, day)
    (job,) = report.jobs
    assert report.exit_code == EXIT_CLEAN and job.count(FireOutcome.OK) == 24
    notes = {c.fire_time: c.note for c in job.checks}
    assert notes[fires[1]] == "backfilled"
    assert notes[fires[7]] == f"recovered by retry of {failed_id}"
    assert [(u.trigger, u.note) for u in job.unmatched] == [
        ("manual", "manual run by arn:aws:sts::123456789012:user/alice")
    ]


def test_paused_period_is_paused_not_missed(clients: Any, hourly: Any) -> None:
    day = next_day()
    fires = hourly_day(clients.dynamodb, "tmp-cleanup", day, skip={h: "missing" for h in (9, 10, 11)})
    pause_job(clients, hourly, "tmp-cleanup", now=day + timedelta(hours=8, minutes=30), reason="provider outage")
    resume_job(clients, hourly, "tmp-cleanup", now=day + timedelta(hours=11, minutes=30))
    report = run_audit(clients, hourly, day)
    (job,) = report.jobs
    assert [c.fire_time for c in job.checks if c.outcome is FireOutcome.PAUSED] == fires[8:11]
    assert report.exit_code == EXIT_CLEAN
    (period,) = job.paused
    assert (period.start, period.end) == (day + timedelta(hours=8, minutes=30), day + timedelta(hours=11, minutes=30))
    assert period.reason == "provider outage"
    assert period.actor.endswith(":user/moto")
    assert "3 paused" in report.verdict


def test_still_paused_job_is_paused_until_the_end(clients: Any, hourly: Any) -> None:
    day = next_day()
    hourly_day(clients.dynamodb, "tmp-cleanup", day, skip={h: "missing" for h in range(20, 25)})
    pause_job(clients, hourly, "tmp-cleanup", now=day + timedelta(hours=19, minutes=1))
    report = run_audit(clients, hourly, day)
    assert report.jobs[0].count(FireOutcome.PAUSED) == 5 and report.exit_code == EXIT_CLEAN
    # A window after the pause event, with no event in it, is paused from the marker.
    later = run_audit(clients, hourly, day + timedelta(days=1), now=day + timedelta(days=2, hours=1))
    assert later.jobs[0].count(FireOutcome.PAUSED) == 24 and later.exit_code == EXIT_CLEAN


def test_trigger_disabled_behind_jobctl_back_is_missed_with_a_note(clients: Any, hourly: Any) -> None:
    day = next_day()
    boto3.client("events", region_name="eu-west-1").disable_rule(Name="acme-jobs--tmp-cleanup")
    report = run_audit(clients, hourly, day)
    (job,) = report.jobs
    assert job.count(FireOutcome.MISSED) == 24 and report.exit_code == EXIT_PROBLEMS
    assert job.checks[0].note == "EventBridge rule acme-jobs--tmp-cleanup is disabled, but not by `jobctl pause`"


def test_manifest_disabled_job_expects_nothing(clients: Any, deploy: Any) -> None:
    job = make_job("tmp-cleanup", "cron(0 * * * ? *)", enabled=False)
    manifest = make_manifest(job)
    deploy(manifest, job)
    report = run_audit(clients, manifest, next_day())
    assert report.jobs[0].count(FireOutcome.DISABLED) == 24 and report.exit_code == EXIT_CLEAN


def test_fire_times_before_the_deploy_are_not_counted(clients: Any, hourly: Any) -> None:
    """The function was (re)deployed after the window opened and the job's oldest history item
    is at 10:00: the hours before are not the job's fault."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    first = now - timedelta(hours=5)
    for h in range(0, 5):
        fire = first + timedelta(hours=h)
        put_run(clients.dynamodb, "tmp-cleanup", scheduled_run_id(fire, f"e{h}"), scheduled_for=fire, started_at=fire)
    report = audit(
        clients, hourly, ["tmp-cleanup"], since=now - timedelta(hours=24), until=now, now=now + timedelta(minutes=5)
    )
    (job,) = report.jobs
    assert job.deployed_basis == "oldest history item" and job.deployed_at == first
    assert [c.fire_time for c in job.checks] == [first + timedelta(hours=h) for h in range(0, 6)]
    assert job.count(FireOutcome.MISSED) == 1  # only `now` itself, after the first run: really missed


def test_scheduler_job_counts_from_creation_in_its_timezone(clients: Any, deploy: Any) -> None:
    job = make_job("nightly-report", "cron(0 2 * * ? *)", timezone_name="Europe/Berlin")
    manifest = make_manifest(job)
    deploy(manifest, job)
    day = next_day()
    report = audit(
        clients, manifest, ["nightly-report"], since=day, until=day + timedelta(days=1), now=day + timedelta(days=2)
    )
    (audit_job,) = report.jobs
    assert audit_job.deployed_basis == "schedule CreationDate"
    (check,) = audit_job.checks
    # 02:00 in Berlin is 01:00 UTC in winter (the fixtures' day is in late November or later).
    local = check.fire_time.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert (local.hour, check.outcome) == (2, FireOutcome.MISSED)


def test_rate_job_phase_comes_from_its_own_runs(clients: Any, deploy: Any) -> None:
    job = make_job("invoice-sync", "rate(15 minutes)")
    manifest = make_manifest(job)
    deploy(manifest, job)
    day = next_day()
    # The rule was created at some :07:23; its firings land at :07, :22, :37, :52.
    fires = [day + timedelta(minutes=7 + 15 * i) for i in range(96)]
    for i, fire in enumerate(fires):
        if i != 40:
            put_run(
                clients.dynamodb, "invoice-sync", scheduled_run_id(fire, f"e{i}"), scheduled_for=fire, started_at=fire
            )
    report = audit(
        clients,
        manifest,
        ["invoice-sync"],
        since=day,
        until=day + timedelta(days=1),
        now=day + timedelta(days=1, hours=1),
    )
    (job_audit,) = report.jobs
    assert [c.fire_time for c in job_audit.checks if c.outcome is FireOutcome.MISSED] == [fires[40]]
    assert len(job_audit.checks) == 96


def test_undeployed_job_is_a_problem(clients: Any, table: str) -> None:
    manifest = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)"))
    report = run_audit(clients, manifest, next_day())
    assert report.exit_code == EXIT_PROBLEMS
    assert "not deployed" in report.jobs[0].note and "1 not deployed (tmp-cleanup)" in report.verdict


def test_replayed_delivery_failure_recovers_its_fire_time(clients: Any, hourly: Any) -> None:
    """EventBridge could not deliver hour 6 (no record at all); `jobctl dlq replay` re-ran it as
    a retry pointing at the run id the firing would have had."""
    day = next_day()
    fires = hourly_day(clients.dynamodb, "tmp-cleanup", day, skip={6: "missing", 9: "missing"})
    retry_at = day + timedelta(hours=7)
    put_run(
        clients.dynamodb,
        "tmp-cleanup",
        new_run_id(retry_at, Trigger.RETRY),
        trigger="retry",
        retry_of=scheduled_run_id(fires[5], "never-delivered"),
        started_at=retry_at,
    )
    # A manual run started exactly at hour 9's time is not hour 9's run, nor is a retry of it.
    manual_id = new_run_id(fires[8], Trigger.MANUAL)
    put_run(clients.dynamodb, "tmp-cleanup", manual_id, trigger="manual", started_at=fires[8])
    put_run(
        clients.dynamodb,
        "tmp-cleanup",
        new_run_id(retry_at, Trigger.RETRY) + "x",
        trigger="retry",
        retry_of=manual_id,
        started_at=retry_at,
    )
    report = run_audit(clients, hourly, day)
    checks = {c.fire_time: c for c in report.jobs[0].checks}
    assert checks[fires[5]].outcome is FireOutcome.OK and checks[fires[5]].note.startswith("recovered by retry of ")
    assert checks[fires[8]].outcome is FireOutcome.MISSED
    assert sorted(u.trigger for u in report.jobs[0].unmatched) == ["manual", "retry"]


def test_backfill_of_times_before_the_deploy_does_not_move_the_deploy_time(clients: Any, deploy: Any) -> None:
    """Regression: a backfill of a fire time from before the job existed sorts first in the
    job's history; its scheduled_for must not become the deploy time (audit blamed the job for
    every fire time in between). Only what proves the job existed counts: here the oldest
    scheduled run, yesterday at midnight."""
    job = make_job("daily", "cron(0 0 * * ? *)")
    manifest = make_manifest(job)
    deploy(manifest, job)  # the function's LastModified is now: inside the window
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    old = midnight - timedelta(days=3)
    put_run(
        clients.dynamodb,
        "daily",
        backfill_run_id(old),
        trigger="backfill",
        scheduled_for=old,
        started_at=datetime.now(UTC),
    )
    for fire in (midnight - timedelta(days=1), midnight):
        put_run(
            clients.dynamodb,
            "daily",
            scheduled_run_id(fire, "ev"),
            scheduled_for=fire,
            started_at=fire + timedelta(seconds=2),
        )
    now = datetime.now(UTC)
    report = audit(clients, manifest, ["daily"], since=now - timedelta(days=5), until=now, now=now)
    (daily,) = report.jobs
    assert (daily.deployed_at, daily.deployed_basis) == (midnight - timedelta(days=1), "oldest history item")
    assert [(c.fire_time, c.outcome) for c in daily.checks] == [
        (midnight - timedelta(days=1), FireOutcome.OK),
        (midnight, FireOutcome.OK),
    ]
    (backfilled,) = daily.unmatched
    assert backfilled.note == f"backfill of {old:%Y-%m-%dT%H:%M:%SZ}, before the job was live (not audited)"
    assert report.exit_code == EXIT_CLEAN


def test_skipped_backfill_or_retry_does_not_hide_a_miss(clients: Any, hourly: Any) -> None:
    """Regression: a backfill that yielded to an overlapping run never ran its fire time; audit
    showed "skipped" (not a problem) and exited 0."""
    day = next_day()
    fires = hourly_day(clients.dynamodb, "tmp-cleanup", day, skip={5: "missing"})
    put_run(
        clients.dynamodb,
        "tmp-cleanup",
        backfill_run_id(fires[4]),
        trigger="backfill",
        status="skipped",
        scheduled_for=fires[4],
        started_at=fires[6],
        yielded_to=scheduled_run_id(fires[6], "ev-7"),
    )
    report = run_audit(clients, hourly, day)
    check = next(c for c in report.jobs[0].checks if c.fire_time == fires[4])
    assert (check.outcome, check.run_id) == (FireOutcome.MISSED, backfill_run_id(fires[4]))
    assert check.note == f"backfill run was skipped (yielded to {scheduled_run_id(fires[6], 'ev-7')})"
    assert report.exit_code == EXIT_PROBLEMS
    # A scheduled run that yielded is the schedule's own overlap rule: skipped, not a problem.
    put_run(
        clients.dynamodb,
        "tmp-cleanup",
        scheduled_run_id(fires[4], "ev-5"),
        status="skipped",
        scheduled_for=fires[4],
        started_at=fires[4],
    )
    again = run_audit(clients, hourly, day)
    assert next(c for c in again.jobs[0].checks if c.fire_time == fires[4]).outcome is FireOutcome.SKIPPED
    assert again.exit_code == EXIT_CLEAN


@pytest.mark.parametrize(
    "first_day, days, expected_local_days",
    [
        # Spring forward (2027-03-28): 02:00 does not exist in Berlin, and Scheduler skips that day.
        ("2027-03-26", 4, ["2027-03-27", "2027-03-29", "2027-03-30"]),
        # Fall back (2027-10-31): 02:00 happens twice, and Scheduler runs once.
        ("2027-10-29", 4, ["2027-10-30", "2027-10-31", "2027-11-01", "2027-11-02"]),
    ],
)
def test_timezone_job_across_dst_expects_what_scheduler_runs(
    clients: Any, deploy: Any, first_day: str, days: int, expected_local_days: list[str]
) -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    job = make_job("nightly-report", "cron(0 2 * * ? *)", timezone_name="Europe/Berlin")
    manifest = make_manifest(job)
    deploy(manifest, job)
    since = datetime.fromisoformat(first_day).replace(tzinfo=berlin).replace(hour=3).astimezone(UTC)
    until = since + timedelta(days=days)
    expected = [datetime.fromisoformat(d).replace(hour=2, tzinfo=berlin).astimezone(UTC) for d in expected_local_days]
    # The runs Scheduler made: one per expected fire time, scheduled_for in UTC as the runtime records it.
    for fire in expected:
        put_run(
            clients.dynamodb,
            "nightly-report",
            scheduled_run_id(fire, "exec"),
            scheduled_for=fire,
            started_at=fire + timedelta(seconds=20),
        )
    report = audit(clients, manifest, ["nightly-report"], since=since, until=until, now=until + timedelta(hours=1))
    (checks,) = [j.checks for j in report.jobs]
    assert [c.fire_time for c in checks] == expected
    assert {c.outcome for c in checks} == {FireOutcome.OK} and report.exit_code == EXIT_CLEAN
    assert [c.fire_time.astimezone(berlin).hour for c in checks] == [2] * len(expected)
