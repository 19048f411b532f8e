"""One watchdog pass over 2,000 and 10,000 watched jobs, against a moto server process on
127.0.0.1 (the HTTP path boto3 takes to AWS): Queries, other calls, items read, wall time and
this process's CPU time, for the ways a pass can read, and how each grows with the job count.

    .venv/bin/python benchmarks/bench_watchdog.py [--jobs 2000,10000] [--workers 8]

The fleet (``tests/support/watch_fleet.py``): 1 % of the jobs run every minute, 9 % every 10
minutes, 30 % hourly, 60 % daily; late after 5m, missed after 30m (2 %: 2h); 3 hours of runs,
a day for 3 jobs in 1,000; per 1,000 jobs one missed, one late, one failed, one lost, one
recovering and one paused job. Passes:

- ``first``: the deploy's first pass, every job seen for the first time (a partition read and a
  watch start each), with the deployed function's time budget: how many passes it takes.
- ``A``: at NOW, from the index: the trouble is found, recorded and sent.
- ``B``: a minute later, the steady state, from the index; then the same pass reading every
  partition with ``--workers`` threads, and with one (the pass as it was: one Query per job,
  one after the other).

moto's Query reads every item of the table to find one partition (DynamoDB goes straight to
it), which would make reading 10,000 partitions take hours and say nothing about the watchdog:
the server this benchmark starts looks the partition up instead (``PATCHED_SERVER``); its
index Queries still sort the whole index per page, so the index passes' wall time is moto's
more than ours. This process's CPU time is the watchdog's own (its code and botocore's).

The deployed function has ``build.watchdog.TIMEOUT_S`` (60 s) and ``memory_mb`` of memory;
Lambda gives a function CPU in proportion to its memory (1,769 MB = one vCPU), so the last
column scales this process's CPU time to that share.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))
sys.path.insert(0, str(ROOT / "tests"))  # test support: the moto server starter, the fleet
from cronplane.aws.client import AwsClient  # noqa: E402
from cronplane.aws.session import AwsConfig  # noqa: E402
from cronplane.build import watchdog as build_watchdog  # noqa: E402
from cronplane.ops import watchdog  # noqa: E402
from cronplane.ops.watchdog import PassReport, WatchClients, run_pass  # noqa: E402
from cronplane.runtime.schema import create_table  # noqa: E402
from support import watch_fleet  # noqa: E402
from support.motoserver import free_port, stop_moto_server, wait_http  # noqa: E402

REGION = "eu-west-1"
ONE_VCPU_MB = 1769
# A moto server whose base-table Query looks its partition up rather than reading every item.
PATCHED_SERVER = """
import sys, threading
from moto.dynamodb.models.table import Table
from moto.server import main

local, all_items, query = threading.local(), Table.all_items, Table.query

def partition_items(self):
    partition = getattr(local, "partition", None)
    return all_items(self) if partition is None else partition

def partition_query(self, hash_key, *args, **kwargs):
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name or not self.has_range_key:
        return query(self, hash_key, *args, **kwargs)
    local.partition = list(self.items.get(hash_key, {}).values())
    try:
        return query(self, hash_key, *args, **kwargs)
    finally:
        local.partition = None

Table.all_items, Table.query = partition_items, partition_query
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"""


class CountingDynamoDB:
    """The AWS door's DynamoDB with the items each Query returned counted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.items = 0
        self._lock = threading.Lock()

    def query(self, **params: Any) -> Any:
        page = self.inner.query(**params)
        with self._lock:
            self.items += int(page.get("Count", 0))
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Figures:
    label: str
    queries: int
    other: int
    items: int
    wall: float
    cpu: float
    report: PassReport

    def row(self, memory_mb: int) -> str:
        lambda_cpu = self.cpu * ONE_VCPU_MB / memory_mb
        return (
            f"  {self.label:<26} {self.queries:>8,} {self.other:>7,} {self.items:>9,} {self.wall:>8.1f} "
            f"{self.cpu:>7.1f} {lambda_cpu:>12.1f}  sent {len(self.report.sent)}, deferred {len(self.report.deferred)}"
        )


def one_pass(
    label: str, url: str, cfg: Any, sns: Any, topic: str, now: Any, deadline_s: float | None = None
) -> Figures:
    aws = AwsClient(AwsConfig(region=REGION, endpoint_url=url))
    dynamodb = CountingDynamoDB(aws.dynamodb)
    clients = WatchClients(dynamodb, sns=sns, topic_arn=topic, region=REGION, read_secret=lambda ref: "")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = time.monotonic() + deadline_s if deadline_s is not None else None
    report = run_pass(cfg, clients, now, deadline=deadline)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    counts = aws.operation_counts()
    queries = counts.get("dynamodb.Query", 0)
    assert not report.errors, report.errors[:3]
    return Figures(label, queries, sum(counts.values()) - queries, dynamodb.items, wall, cpu, report)


def bench(count: int, workers: int, url: str) -> dict[str, Figures]:
    import boto3

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=url)

    dynamodb, sns = client("dynamodb"), client("sns")
    table = f"bench-{count}-history"
    create_table(dynamodb, table)
    topic = sns.create_topic(Name=f"bench-{count}-alerts")["TopicArn"]
    jobs = watch_fleet.fleet(count)
    cfg = watch_fleet.config(jobs, table)
    memory = build_watchdog.memory_mb(len(jobs))
    budget = build_watchdog.TIMEOUT_S - 15  # what the deployed entry leaves itself (watchdog.entry.RESERVE_S)
    watchdog.PARTITION_WORKERS = workers
    out: dict[str, Figures] = {}
    print(f"\n{count:,} watched jobs (function: {build_watchdog.TIMEOUT_S} s, {memory} MB)")
    print(f"  {'pass':<26} {'Queries':>8} {'other':>7} {'items':>9} {'wall s':>8} {'CPU s':>7} {'Lambda CPU s':>12}")
    # The deploy's first pass: every job new; within the function's time budget, as deployed.
    first_passes = 0
    while True:
        first_passes += 1
        figures = one_pass(f"first, pass {first_passes}", url, cfg, sns, topic, watch_fleet.WATCHED_SINCE, budget)
        print(figures.row(memory), flush=True)
        out.setdefault("first", figures)
        if not figures.report.deferred:
            break
    started = time.perf_counter()
    items = watch_fleet.history(jobs)
    watch_fleet.write(dynamodb, table, items)
    print(f"  ({len(items):,} history items written in {time.perf_counter() - started:.0f} s)")
    out["A"] = one_pass("A: trouble found (index)", url, cfg, sns, topic, watch_fleet.NOW)
    print(out["A"].row(memory), flush=True)
    later = watch_fleet.NOW + timedelta(seconds=60)
    out["B"] = one_pass("B: steady (index)", url, cfg, sns, topic, later)
    watchdog.INDEX_FROM_JOBS = 10**9
    out["B8"] = one_pass(f"B: partitions, {workers} threads", url, cfg, sns, topic, later)
    watchdog.PARTITION_WORKERS = 1
    out["B1"] = one_pass("B: partitions, 1 (as before)", url, cfg, sns, topic, later)
    watchdog.INDEX_FROM_JOBS, watchdog.PARTITION_WORKERS = 16, workers
    for figures in (out["B"], out["B8"], out["B1"]):
        print(figures.row(memory), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="2000,10000", help="comma-separated job counts")
    parser.add_argument("--workers", type=int, default=watchdog.PARTITION_WORKERS)
    args = parser.parse_args()
    counts = [int(c) for c in args.jobs.split(",")]
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", PATCHED_SERVER, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/moto-api/")
    results: dict[int, dict[str, Figures]] = {}
    try:
        print(f"moto server {url}; {args.workers} partition readers")
        for count in counts:
            results[count] = bench(count, args.workers, url)
    finally:
        stop_moto_server(proc)
    if len(counts) > 1:
        small, large = counts[0], counts[-1]
        print(f"\nGrowth {small:,} -> {large:,} jobs ({large / small:.0f}x the jobs):")
        for key in ("A", "B", "B1"):
            a, b = results[small][key], results[large][key]
            print(
                f"  {b.label:<26} Queries x{b.queries / max(a.queries, 1):.1f}, items x{b.items / max(a.items, 1):.1f}, "
                f"wall x{b.wall / max(a.wall, 0.001):.1f}, CPU x{b.cpu / max(a.cpu, 0.001):.1f}"
            )


if __name__ == "__main__":
    main()
