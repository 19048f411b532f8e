"""A fleet of watched jobs with a realistic history, for the watchdog's tests at scale
(``tests/unit/ops/test_watchdog_scale.py``) and its benchmark (``benchmarks/bench_watchdog.py``).

Job ``i`` of the fleet, by ``i % 100``: 0 runs every minute (1 %), 1-9 every 10 minutes (9 %),
10-39 hourly (30 %), 40-99 daily (60 %). Graces: late 5m, missed 30m; every 50th job (a daily
one) missed 2h, so lookbacks differ. History: every fire time of the last 3 hours has a run
that succeeded 2 s after it (items shaped as the runtime writes them, ~0.6 KB), and jobs with
``i % 1000`` in ``DAY_SAMPLE`` have a whole day of runs. Every thousand jobs hold one job in each
kind of trouble (``TROUBLE``, by ``i % 1000``): missed runs, a late one, a failed run, a lost
run, an open missed alert its runs have since recovered from, and a paused job (no runs while
paused: nothing to report).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cronplane.manifest.watch_config import WatchConfig, WatchedJob
from cronplane.ops.watch_reads import watch_item
from cronplane.runtime.alerts import parse_routes
from cronplane.runtime.schema import (
    AlertRecord,
    PauseAction,
    PauseEvent,
    PauseMarker,
    RunRecord,
    WatchStart,
    iso,
    scheduled_run_id,
    to_item,
)
from cronplane.schedule.expression import parse_schedule

NAMESPACE = "acme-jobs"
NOW = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)  # the pass under test
WATCHED_SINCE = NOW - timedelta(hours=3, minutes=1)  # the first pass (the deploy)
HISTORY = timedelta(hours=3)
DAY_SAMPLE = (0, 10, 40)  # a per-minute, an hourly and a daily job per thousand: a day of runs
MISSED, LATE, FAILED, LOST, RECOVERED, PAUSED = 1, 3, 11, 12, 4, 2
TROUBLE = {MISSED: "missed", LATE: "late", FAILED: "failed", LOST: "lost", RECOVERED: "recovered", PAUSED: "paused"}
# The jobs a pass at NOW must read from their partitions: something new to record or send.
NEW_AT_NOW = (MISSED, LATE, FAILED, LOST, RECOVERED)


def job_name(i: int) -> str:
    return f"job-{i:05d}"


def schedule_of(i: int) -> str:
    kind = i % 100
    if kind == 0:
        return "cron(* * * * ? *)"
    if kind < 10:
        return f"cron({kind}/10 * * * ? *)"
    if kind < 40:
        return f"cron({i % 60} * * * ? *)"
    return f"cron({i % 60} {i % 24} * * ? *)"


def fleet(count: int) -> list[WatchedJob]:
    return [
        WatchedJob(
            name=job_name(i),
            team="billing" if i % 2 else "infra",
            owner="oncall@example.com",
            schedule=parse_schedule(schedule_of(i), now=datetime(2026, 1, 1, tzinfo=UTC)),
            enabled=True,
            routes=parse_routes(["email:oncall@example.com"]),
            on=frozenset({"failed", "timed_out", "lost", "missed", "late"}),
            late_after_s=300,
            missed_after_s=7200 if i % 50 == 49 else 1800,
            function=f"{NAMESPACE}--{job_name(i)}",
        )
        for i in range(count)
    ]


def config(jobs: list[WatchedJob], table: str) -> WatchConfig:
    # Through the JSON the zip carries, as the watchdog's Lambda reads it.
    return WatchConfig.from_dict(json.loads(json.dumps(WatchConfig(NAMESPACE, table, 30, tuple(jobs)).to_dict())))


def run_item(job: str, fire: datetime, *, status: str = "succeeded", error: str | None = None) -> dict[str, Any]:
    started = fire + timedelta(seconds=2)
    record = RunRecord(
        job=job,
        run_id=scheduled_run_id(fire, f"{job}-{fire:%Y%m%d%H%M}"),
        status=status,
        trigger="schedule",
        namespace=NAMESPACE,
        scheduled_for=iso(fire),
        started_at=iso(started),
        finished_at=None if status == "running" else iso(started + timedelta(seconds=1)),
        duration_ms=None if status == "running" else 1042,
        request_id="8f1c2d3e-4b5a-6978-8796-a5b4c3d2e1f0",
        triggered_by="arn:aws:scheduler:eu-west-1:123456789012:schedule/acme-jobs/x",
        result=None if status != "succeeded" else json.dumps({"rows": 1234, "note": "x" * 150}),
        error=error,
        ttl=int(started.timestamp()) + 30 * 86400,
        deadline=iso(started + timedelta(minutes=5)),
        function_name=f"{NAMESPACE}--{job}",
        invocation_id="0b4c1d5e-aaaa-bbbb-cccc-000000000000",
    )
    return to_item(record)


def history(jobs: list[WatchedJob], now: datetime = NOW) -> list[dict[str, Any]]:
    """Every item the fleet's jobs have written by ``now`` (see the module docstring)."""
    items: list[dict[str, Any]] = []
    for i, job in enumerate(jobs):
        trouble = TROUBLE.get(i % 1000)
        span = timedelta(days=1) if i % 1000 in DAY_SAMPLE else HISTORY
        fires = job.schedule.fire_times_between(now - span, now - timedelta(seconds=20))
        if trouble == "missed":
            fires = [f for f in fires if f < now - timedelta(minutes=45)]
        elif trouble == "late":
            fires = fires[:-1]  # its last fire time (7.5 minutes ago) has no run yet
        elif trouble == "paused":
            paused_at = now - timedelta(minutes=50)
            fires = [f for f in fires if f < paused_at]
            items.append(
                to_item(
                    PauseEvent.new(
                        job.name, PauseAction.PAUSE, "alice", paused_at, retention_days=30, trigger="schedule"
                    )
                )
            )
            items.append(to_item(PauseMarker(job.name, "alice", iso(paused_at))))
        elif trouble == "recovered":
            gone = now - timedelta(hours=2, minutes=6, seconds=30)
            fires = [f for f in fires if f != gone]
            record = AlertRecord.new(
                job.name,
                "missed",
                iso(gone),
                moment=gone,
                now=gone + timedelta(minutes=31),
                retention_days=30,
                routes=("email:oncall@example.com",),
                told=True,
            )
            items.append(watch_item(record))
        for n, fire in enumerate(fires):
            last = n == len(fires) - 1
            if trouble == "failed" and last:
                items.append(run_item(job.name, fire, status="failed", error="ValueError: no rows"))
            elif trouble == "lost" and last:
                items.append(run_item(job.name, fire, status="running"))
            else:
                items.append(run_item(job.name, fire))
    return items


def watch_starts(jobs: list[WatchedJob], since: datetime = WATCHED_SINCE) -> list[dict[str, Any]]:
    """The watch starts the first pass (the deploy) left, as the watchdog stores them."""
    return [watch_item(WatchStart(job.name, iso(since), job.fingerprint)) for job in jobs]


def write(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    """``items`` in batches of 25 (what BatchWriteItem takes), unprocessed ones again."""
    for start in range(0, len(items), 25):
        requests = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while requests:
            requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
