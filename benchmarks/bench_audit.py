"""What `jobctl audit` costs: requests and wall time to audit a per-minute job, against a moto
server process on 127.0.0.1 (the HTTP path boto3 takes to AWS).

    .venv/bin/python benchmarks/bench_audit.py [--days 1 7] [--result-bytes 200] [--jobs 2000 10000]

For each window it writes one run record per minute, shaped as the runtime writes them (one
attempt, a short JSON result), then audits the window and prints the DynamoDB Query pages, all
requests by operation, and the audit's wall time (median of 3), split into waiting for the history Query and the work on
this side. The window ends now, as `jobctl audit --since Nd` runs it in monitoring (a window in
the past costs one more Query, for DLQ retries started after it). No Scan is ever made.

With ``--jobs``: `jobctl audit --since 3h` over every job of a namespace of N jobs on
EventBridge Scheduler (the watchdog benchmark's fleet and history, ``tests/support/watch_fleet``),
as it is (the schedules from one listing of the group, ``AUDIT_WORKERS`` jobs at a time) and as
it was (a GetSchedule and the group's tags per job, one job after the other), against the
watchdog benchmark's moto server (a Query looks its partition up).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))
sys.path.insert(0, str(ROOT / "tests"))  # test support: the moto server starter, import-time readings
from cronplane.aws.client import AwsClient  # noqa: E402
from cronplane.aws.session import AwsConfig  # noqa: E402
from cronplane.manifest import names  # noqa: E402
from cronplane.manifest.models import Job, Manifest  # noqa: E402
from cronplane.ops import audit as audit_module  # noqa: E402
from cronplane.ops.audit import audit  # noqa: E402
from cronplane.runtime.schema import RunRecord, create_table, iso, scheduled_run_id, to_item  # noqa: E402
from cronplane.schedule.expression import parse_schedule  # noqa: E402
from support.motoserver import start_moto_server, stop_moto_server  # noqa: E402

REGION = "eu-west-1"


def record(job: str, fire: datetime, result_bytes: int) -> dict[str, Any]:
    started = fire + timedelta(seconds=1)
    return {
        "job": job,
        "run_id": scheduled_run_id(fire, f"{job}-{fire:%Y%m%d%H%M}"),
        "kind": "run",
        "gsi_pk": "run",
        "trigger": "schedule",
        "status": "succeeded",
        "scheduled_for": iso(fire),
        "started_at": iso(started),
        "finished_at": iso(started + timedelta(seconds=2)),
        "duration_ms": 2043,
        "request_id": "8f1c2d3e-4b5a-6978-8796-a5b4c3d2e1f0",
        "attempts": [{"attempt": 1, "started_at": iso(started), "duration_ms": 2043}],
        "result": json.dumps({"note": "x" * max(0, result_bytes - 12)}),
        "triggered_by": "arn:aws:events:eu-west-1:123456789012:rule/x",
        "deadline": iso(started + timedelta(seconds=60)),
        "function_name": f"acme-jobs-{job}",
        "ttl": int(started.timestamp()) + 30 * 86400,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[1, 7])
    parser.add_argument("--result-bytes", type=int, default=200)
    parser.add_argument("--jobs", type=int, nargs="*", default=[], help="audit namespaces of these many jobs")
    args = parser.parse_args()
    if args.jobs:
        audit_namespaces(args.jobs)
        return
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    import boto3

    # Split the audit's time: waiting for the history Query vs everything on this side.
    query_seconds: list[float] = []
    real_query = audit_module.read_window

    def timed_query(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_query(*a, **kw)
        finally:
            query_seconds.append(time.perf_counter() - t0)

    audit_module.read_window = timed_query  # type: ignore[assignment]
    proc, url = start_moto_server()
    try:

        def factory(service: str) -> Any:
            return boto3.client(service, region_name=REGION, endpoint_url=url)

        db, lam, iam, events = factory("dynamodb"), factory("lambda"), factory("iam"), factory("events")
        table = names.history_table("bench")
        create_table(db, table)
        role = iam.create_role(RoleName="bench-exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        print(f"moto server {url}; records with a {args.result_bytes}-byte result")
        print(
            f"{'window':>8} {'records':>8} {'expected':>8} {'queries':>8} {'requests':>9} "
            f"{'audit s':>8} {'query s':>8} {'local s':>8}  requests by operation"
        )
        # Each window gets its own job, created now: its history starts after the creation.
        start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
        for days in args.days:
            job_name = f"ticker-{days}d"
            import io
            import zipfile

            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("h.py", "")
            # Named and tagged as deploy does: audit acts only on its namespace's resources.
            tags = {names.NAMESPACE_TAG: "bench", names.MANAGED_BY_TAG: names.MANAGED_BY_VALUE}
            lam.create_function(
                FunctionName=names.function_name("bench", job_name),
                Runtime="python3.12",
                Role=role,
                Handler="h.h",
                Code={"ZipFile": buffer.getvalue()},
                Tags=tags,
            )
            events.put_rule(
                Name=names.rule_name("bench", job_name),
                ScheduleExpression="cron(* * * * ? *)",
                State="ENABLED",
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
            minutes = days * 1440
            fires = [start + timedelta(minutes=m) for m in range(1, minutes + 1)]
            items = [record(job_name, fire, args.result_bytes) for fire in fires]
            for i in range(0, len(items), 25):
                db.batch_write_item(
                    RequestItems={
                        table: [{"PutRequest": {"Item": to_item(RunRecord.from_dict(r))}} for r in items[i : i + 25]]
                    }
                )
            job = Job(
                name=job_name, handler="infra/t.py:handler", schedule=parse_schedule("cron(* * * * ? *)"), team="infra"
            )
            manifest = Manifest(namespace="bench", region=REGION, jobs=(job,))
            timings, report, calls = [], None, {}
            query_seconds.clear()
            for _ in range(3):
                clients = AwsClient(AwsConfig(region=REGION, endpoint_url=url))
                t0 = time.perf_counter()
                # `jobctl audit --since Nd` as monitoring runs it: the window ends now.
                now = fires[-1] + timedelta(seconds=30)
                report = audit(clients, manifest, [job_name], since=start, until=now, now=now)
                timings.append(time.perf_counter() - t0)
                calls = clients.operation_counts()
            assert report is not None and report.exit_code == 0, report.verdict if report else "no report"
            ops = ", ".join(f"{k}={v}" for k, v in sorted(calls.items()))
            print(
                f"{days:>7}d {len(items):>8} {len(report.jobs[0].checks):>8} {calls.get('dynamodb.Query', 0):>8} "
                f"{sum(calls.values()):>9} {statistics.median(timings):>8.2f} {statistics.median(query_seconds):>8.2f} "
                f"{statistics.median(t - q for t, q in zip(timings, query_seconds, strict=True)):>8.2f}  {ops}"
            )
            assert "dynamodb.Scan" not in calls
    finally:
        stop_moto_server(proc)


def audit_namespaces(counts: list[int]) -> None:
    """``jobctl audit --since 3h`` over every job of a namespace of each size (see the docstring)."""
    import subprocess

    import boto3

    from bench_watchdog import PATCHED_SERVER
    from support import watch_fleet
    from support.motoserver import free_port, wait_http

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", PATCHED_SERVER, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/")
        print(f"moto server {url}: jobctl audit --since 3h over a namespace on Scheduler")
        print(f"  {'jobs':>6} {'audit':<10} {'calls':>7} {'wall s':>7} {'CPU s':>6}  calls by operation")
        for count in counts:
            audit_namespace(count, url, boto3, watch_fleet)
    finally:
        stop_moto_server(proc)


def audit_namespace(count: int, url: str, boto3: Any, watch_fleet: Any) -> None:
    from cronplane.manifest.models import TriggerMode

    namespace = f"bench{count}"
    scheduler, dynamodb = (boto3.client(s, region_name=REGION, endpoint_url=url) for s in ("scheduler", "dynamodb"))
    table = names.history_table(namespace)
    create_table(dynamodb, table)
    group = names.schedule_group(namespace)
    scheduler.create_schedule_group(
        Name=group,
        Tags=[
            {"Key": names.NAMESPACE_TAG, "Value": namespace},
            {"Key": names.MANAGED_BY_TAG, "Value": names.MANAGED_BY_VALUE},
        ],
    )
    watched = watch_fleet.fleet(count)
    for job in watched:
        scheduler.create_schedule(
            Name=names.schedule_name(namespace, job.name),
            GroupName=group,
            ScheduleExpression=job.schedule.expression,
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": f"arn:aws:lambda:{REGION}:123456789012:function:x",
                "RoleArn": "arn:aws:iam::123456789012:role/x",
            },
        )
    jobs = tuple(Job(name=j.name, handler="infra/t.py:handler", schedule=j.schedule, team="infra") for j in watched)
    manifest = Manifest(namespace=namespace, region=REGION, jobs=jobs, trigger_mode=TriggerMode.SCHEDULER)
    # Scheduler stamps each schedule's CreationDate now: 3 hours of history from then on, audited.
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    watch_fleet.write(dynamodb, table, watch_fleet.history(watched, now))
    for label, workers, listing in (("as is", audit_module.AUDIT_WORKERS, True), ("as before", 1, False)):
        saved = audit_module.AUDIT_WORKERS, audit_module.listed_schedules
        audit_module.AUDIT_WORKERS = workers
        if not listing:
            audit_module.listed_schedules = lambda *a, **kw: {}
        try:
            clients = AwsClient(AwsConfig(region=REGION, endpoint_url=url))
            wall0, cpu0 = time.perf_counter(), time.process_time()
            report = audit(
                clients, manifest, [j.name for j in jobs], since=now - timedelta(hours=3), until=now, now=now
            )
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        finally:
            audit_module.AUDIT_WORKERS, audit_module.listed_schedules = saved
        calls = report.requests
        ops = ", ".join(f"{k}={v:,}" for k, v in sorted(calls.items()))
        print(f"  {count:>6,} {label:<10} {sum(calls.values()):>7,} {wall:>7.1f} {cpu:>6.1f}  {ops}", flush=True)


if __name__ == "__main__":
    main()
