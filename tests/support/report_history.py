"""Run histories for ``jobctl report`` tests, the benchmark and the README screenshot: records
built through the schema (as the runtime writes them) and written with BatchWriteItem, and a
realistic generated week (mostly successes, a few failures, timeouts, misses, late starts, a
pause, manual runs and a retry) that is the same for the same seed."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from cronplane.manifest.models import Job
from cronplane.runtime.schema import (
    Attempt,
    PauseEvent,
    RunRecord,
    iso,
    new_run_id,
    scheduled_run_id,
    to_item,
)
from cronplane.runtime.schema import Trigger as RunTrigger
from cronplane.runtime.schema.control import PauseAction


def traceback_text(error_type: str, message: str, where: str = "jobs/team/job.py") -> str:
    return (
        "Traceback (most recent call last):\n"
        f'  File "{where}", line 12, in handler\n'
        "    rows = fetch(batch)\n"
        f'  File "{where}", line 31, in fetch\n'
        f"    raise {error_type}(message)\n"
        f"{error_type}: {message}\n"
    )


def run(
    job: str,
    fire: datetime | None,
    status: str = "succeeded",
    *,
    trigger: str = "schedule",
    started: datetime | None = None,
    duration_ms: int | None = 1200,
    error: tuple[str, str] | None = None,
    attempts: int = 1,
    run_id: str | None = None,
    firing: str = "",
    **extra: Any,
) -> RunRecord:
    """A run record as the wrapper leaves it. ``error`` = (type, message): every attempt failed
    with it (the last one's is the run's error). Scheduled runs get their firing's run id."""
    started = started or (fire + timedelta(seconds=2) if fire else None)
    assert started is not None
    if run_id is None:
        if trigger == "schedule" and fire is not None:
            run_id = scheduled_run_id(fire, firing or f"ev-{job}-{iso(fire)}")
        else:
            run_id = new_run_id(started, RunTrigger(trigger))
    done = status not in ("running", "retrying")
    each = (duration_ms or 0) // max(attempts, 1)
    made = []
    for n in range(1, attempts + 1):
        failed = error is not None and (n < attempts or status != "succeeded")
        made.append(
            Attempt(
                attempt=n,
                started_at=iso(started + timedelta(milliseconds=each * (n - 1))),
                request_id=f"req-{run_id[-8:]}-{n}",
                duration_ms=each if done or n < attempts else None,
                error_type=error[0] if failed and error else None,
                error_message=error[1] if failed and error else None,
                traceback=traceback_text(*error) if failed and error else None,
            )
        )
    return RunRecord(
        job=job,
        run_id=run_id,
        status=status,
        trigger=trigger,
        namespace=None,
        scheduled_for=iso(fire) if fire is not None else None,
        started_at=iso(started),
        finished_at=iso(started + timedelta(milliseconds=duration_ms or 0)) if done else None,
        attempts=tuple(made),
        duration_ms=duration_ms if done else None,
        request_id=f"req-{run_id[-8:]}",
        error=f"{error[0]}: {error[1]}" if error and status != "succeeded" else None,
        **extra,
    )


def pause_event(job: str, at: datetime, action: str, actor: str = "user/ana") -> PauseEvent:
    return PauseEvent.new(
        job, PauseAction(action), actor, at, retention_days=30, trigger=f"rule {job}", reason="maintenance"
    )


def write(dynamodb: Any, table: str, records: Iterable[RunRecord | PauseEvent]) -> int:
    """Write ``records`` 25 per BatchWriteItem; returns how many."""
    batch: list[dict[str, Any]] = []
    count = 0
    for record in records:
        batch.append({"PutRequest": {"Item": to_item(record)}})
        count += 1
        if len(batch) == 25:
            _flush(dynamodb, table, batch)
            batch = []
    if batch:
        _flush(dynamodb, table, batch)
    return count


def _flush(dynamodb: Any, table: str, batch: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: batch}
    while pending:
        pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


_ERRORS = [
    ("ConnectionError", "payment API unreachable: connect timeout after 10 s"),
    ("ValueError", "invoice 88121 has no currency"),
    ("KeyError", "'customer_id'"),
    ("RuntimeError", "lock on report_daily held by another session"),
]


def generated_history(
    jobs: Iterable[Job], since: datetime, until: datetime, *, seed: int = 13
) -> list[RunRecord | PauseEvent]:
    """A plausible window of history for ``jobs``: per fire time mostly a success (durations
    around a per-job median with a tail), sometimes a failure with tracebacks, a timeout, a
    late start or nothing at all (missed); one job paused for a few hours; a couple of manual
    runs and a retry that recovered a failure."""
    rng = random.Random(seed)
    records: list[RunRecord | PauseEvent] = []
    for index, job in enumerate(jobs):
        median = rng.choice([300, 800, 1500, 4000, 12000])
        fires = job.schedule.fire_times_between(since, until)
        paused: tuple[datetime, datetime] | None = None
        if index % 7 == 1 and len(fires) > 8:  # a pause of a few fire times in the middle
            first = fires[len(fires) // 2]
            paused = (first - timedelta(seconds=30), fires[len(fires) // 2 + 3] + timedelta(seconds=30))
            records.append(pause_event(job.name, paused[0], "pause"))
            records.append(pause_event(job.name, paused[1], "resume"))
        for fire in fires:
            if paused and paused[0] <= fire < paused[1]:
                continue
            roll = rng.random()
            duration = int(median * rng.lognormvariate(0, 0.35))
            if roll < 0.012:
                continue  # missed: no record at all
            if roll < 0.032:
                failed = run(job.name, fire, "failed", error=rng.choice(_ERRORS), attempts=3, duration_ms=duration)
                records.append(failed)
                if rng.random() < 0.3:  # replayed from the DLQ, and it worked
                    later = fire + timedelta(minutes=rng.randint(20, 90))
                    records.append(run(job.name, None, trigger="retry", started=later, retry_of=failed.run_id))
                continue
            if roll < 0.04:
                records.append(
                    run(job.name, fire, "timed_out", duration_ms=job.timeout * 1000, error=("TimeoutError", "budget"))
                )
                continue
            late = timedelta(seconds=rng.randint(200, 900)) if roll < 0.05 else timedelta(seconds=2)
            records.append(run(job.name, fire, started=fire + late, duration_ms=duration))
        for _ in range(rng.randint(0, 2)):
            moment = since + (until - since) * rng.random()
            records.append(
                run(job.name, None, trigger="manual", started=moment, triggered_by="arn:aws:iam::123456789012:user/ana")
            )
    return records
