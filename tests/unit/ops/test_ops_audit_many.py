"""``jobctl audit`` over many jobs and with start windows, against moto in-process: the Scheduler
jobs' schedules come from one listing of the namespace's group, and a job's grace includes its
``start_window``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ops_fixtures import make_job, make_manifest, next_day, put_run

from cronplane.manifest.models import TriggerMode
from cronplane.ops.audit import FireOutcome, audit
from cronplane.runtime.schema import scheduled_run_id


def test_a_start_window_widens_the_grace(clients: Any, deploy: Any) -> None:
    """Scheduler may start a job with ``start_window: 10`` up to 10 minutes late on purpose: a
    run 9 minutes after its time is on time for it, and late for a job without the window."""
    windowed = make_job("tmp-cleanup", "cron(0 * * * ? *)", start_window=10)
    manifest = make_manifest(windowed)
    deploy(manifest, windowed)
    day = next_day()
    fire = day + timedelta(hours=1)
    put_run(
        clients.dynamodb,
        "tmp-cleanup",
        scheduled_run_id(fire, "e1"),
        scheduled_for=fire,
        started_at=fire + timedelta(minutes=9),
    )
    since, until = day, day + timedelta(hours=1, minutes=30)
    (check,) = audit(clients, manifest, ["tmp-cleanup"], since=since, until=until, now=until).jobs[0].checks
    assert check.outcome is FireOutcome.OK
    plain = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)"))
    (check,) = audit(clients, plain, ["tmp-cleanup"], since=since, until=until, now=until).jobs[0].checks
    assert check.outcome is FireOutcome.LATE


def test_many_scheduler_jobs_are_read_from_one_listing(clients: Any, deploy: Any) -> None:
    """Auditing every job of a namespace on Scheduler lists its schedule group (100 a call) and
    reads the group's tags once, instead of a GetSchedule and the tags per job."""
    jobs = [make_job(f"job-{i:03d}", "cron(0 * * * ? *)") for i in range(30)]
    manifest = make_manifest(*jobs, trigger_mode=TriggerMode.SCHEDULER)
    for job in jobs:
        deploy(manifest, job, function=False)
    day = next_day()
    for job in jobs[:-1]:  # the last one never ran
        fire = day + timedelta(hours=1)
        put_run(clients.dynamodb, job.name, scheduled_run_id(fire, "e1"), scheduled_for=fire, started_at=fire)
    clients.reset_counts()
    since, until = day, day + timedelta(hours=1, minutes=30)
    report = audit(clients, manifest, [j.name for j in jobs], since=since, until=until, now=until)
    assert report.requests == {"scheduler.ListSchedules": 1, "scheduler.ListTagsForResource": 1, "dynamodb.Query": 30}
    assert [j.job for j in report.jobs] == [j.name for j in jobs]  # in the manifest's order
    assert [j.deployed_basis for j in report.jobs] == ["schedule CreationDate"] * 30
    assert report.verdict == "PROBLEMS: 1 missed; 29 of 30 expected runs succeeded"
    # One job alone: its own schedule, as before.
    clients.reset_counts()
    single = audit(clients, manifest, ["job-000"], since=since, until=until, now=until)
    assert single.requests == {"scheduler.GetSchedule": 1, "scheduler.ListTagsForResource": 1, "dynamodb.Query": 1}
