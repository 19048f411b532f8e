"""10,000 jobs in one account (issue 14): for each job count, against a fresh moto server on
127.0.0.1, every job on EventBridge Scheduler (``trigger_mode: scheduler``) with per-team roles
(``role_mode: per_team``: per-job roles would pass IAM's role quota long before 10,000 jobs):

- ``jobctl validate``: wall time;
- ``jobctl deploy``, fresh: wall time and calls (reads / writes, by operation);
- ``jobctl deploy`` again, nothing changed: calls (target: at most 400 for 10,000 jobs, no write);
- ``jobctl deploy`` with one job's schedule changed: calls and writes;
- ``jobctl deploy --refresh``, nothing changed: what the state records spare (``aws.vouch``).

Each step runs ``jobctl`` (``cronplane.cli.main.main``, as the console script: garbage collector
off) in a process of its own, so its peak memory is its own: ``ru_maxrss`` of that process
(``resource.getrusage``), not tracemalloc (which sees only Python's allocations, not botocore's
C buffers or zlib's). The moto server's own peak (VmHWM) is printed per job count.

moto answers some list calls in one page where AWS pages them (ListFunctions: 50 a call; SQS
ListQueues: 1,000), so calls are counted twice: as made against moto, and "AWS-paged" — each
list answer of n items counted as the ceil(n / page size) calls AWS would have taken. The
deploy time AWS's documented rates impose (``aws.pacing``) is a lower bound computed from the
AWS-paged calls per rate family: the busiest family's calls beyond its burst, at its rate.

    .venv/bin/python benchmarks/bench_scale.py [--jobs 2000,10000] [--workers 8] [--role-mode per_team]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # test support: the moto server starter
from support.motoserver import start_moto_server, stop_moto_server  # noqa: E402

REGION = "eu-west-1"
TEAMS = (("billing", "billing/nightly_report.py:handler"), ("infra", "infra/tmp_cleanup.py:handler"))
# List operations: the key of their items and AWS's most items per call, from each API's
# reference (the boto3 models say the same: ListFunctions "returns a maximum of 50 items",
# DescribeLogGroups limit 1-50, ListSchedules MaxResults 1-100, ListQueues 1-1,000, ListRoles
# MaxItems 1-1,000, ListRules Limit 1-100, GetResources ResourcesPerPage 1-100).
PAGES: dict[tuple[str, str], tuple[str, int]] = {
    ("lambda", "list_functions"): ("Functions", 50),
    ("logs", "describe_log_groups"): ("logGroups", 50),
    ("scheduler", "list_schedules"): ("Schedules", 100),
    ("sqs", "list_queues"): ("QueueUrls", 1000),
    ("iam", "list_roles"): ("Roles", 1000),
    ("events", "list_rules"): ("Rules", 100),
    ("resourcegroupstaggingapi", "get_resources"): ("ResourceTagMappingList", 100),
}
STEPS = ("validate", "fresh deploy", "no-change redeploy", "one job changed", "no change, --refresh")


def write_manifest(folder: Path, jobs: int, role_mode: str, changed: int | None = None) -> Path:
    lines = ["namespace: scale", f"region: {REGION}", "trigger_mode: scheduler", f"role_mode: {role_mode}", "jobs:"]
    for i in range(jobs):
        minute = (i + (7 if changed == i else 0)) % 60
        team, handler = TEAMS[i % 2]
        lines += [
            f"  job-{i:05d}:",
            f"    handler: {handler}",
            f"    schedule: cron({minute} * * * ? *)",
            f"    team: {team}",
            f"    owner: {team}-oncall@example.com",
        ]
    path = folder / "jobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- one step: jobctl in this process, counted ---------------------------------------------------
def run_step(argv: list[str], result_path: str) -> None:
    """Run ``jobctl ARGV`` as the console script would, with every AwsClient it makes counted,
    and write the figures to ``result_path`` as JSON."""
    from cronplane.aws import client as client_module
    from cronplane.cli import main as cli_main

    clients: list[Any] = []
    paged: collections.Counter[str] = collections.Counter()  # extra calls AWS's page sizes take
    init, call = client_module.AwsClient.__init__, client_module.AwsClient.call

    def counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        clients.append(self)

    def paged_call(self: Any, service: str, operation: str, **params: Any) -> dict[str, Any]:
        answer = call(self, service, operation, **params)
        if (service, operation) in PAGES:
            key, size = PAGES[(service, operation)]
            paged[f"{service}.{operation}"] += max(1, math.ceil(len(answer.get(key, [])) / size)) - 1
        return answer

    client_module.AwsClient.__init__ = counted_init  # type: ignore[method-assign]
    client_module.AwsClient.call = paged_call  # type: ignore[method-assign]
    sys.argv = ["jobctl", *argv]
    started = time.monotonic()
    status = 0
    try:
        cli_main.main()
    except SystemExit as exc:
        status = int(exc.code or 0)
    wall = time.monotonic() - started
    by_op: collections.Counter[str] = collections.Counter()
    writes: collections.Counter[str] = collections.Counter()
    for client in clients:
        for c in client.calls:
            by_op[f"{c.service}.{c.operation}"] += 1
            if c.write:
                writes[f"{c.service}.{c.operation}"] += 1
    figures = {
        "status": status,
        "wall_s": wall,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "calls": dict(by_op),
        "writes": dict(writes),
        "aws_extra_pages": dict(paged),
    }
    Path(result_path).write_text(json.dumps(figures))


def step(argv: list[str], log: Path) -> dict[str, Any]:
    """One ``jobctl`` run in a fresh process; its output goes to ``log``."""
    result = log.with_suffix(".json")
    with log.open("w") as out:
        subprocess.run(
            [sys.executable, __file__, "--step", json.dumps(argv), "--result", str(result)],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            env={**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"},
        )
    if not result.exists():
        raise SystemExit(f"jobctl {' '.join(argv[:1])} died; its output: {log}")
    figures: dict[str, Any] = json.loads(result.read_text())
    if figures["status"] != 0:
        raise SystemExit(f"jobctl {' '.join(argv[:1])} exited {figures['status']}; its output: {log}")
    return figures


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- one job count -------------------------------------------------------------------------------
def measure(jobs: int, workers: int, role_mode: str) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-scale-{jobs}-"))
    shutil.copytree(ROOT / "jobs", folder / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    path = str(write_manifest(folder, jobs, role_mode))
    proc, endpoint = start_moto_server()
    aws = ["--endpoint-url", endpoint, "--region", REGION]
    deploy = ["deploy", "-f", path, "--yes", "--workers", str(workers), *aws]
    out: dict[str, Any] = {"jobs": jobs, "log": str(folder)}
    try:
        out["validate"] = step(["validate", "-f", path], folder / "validate.log")
        out["fresh deploy"] = step(deploy, folder / "fresh.log")
        out["no-change redeploy"] = step(deploy, folder / "nochange.log")
        write_manifest(folder, jobs, role_mode, changed=jobs // 2)
        out["one job changed"] = step(deploy, folder / "changed.log")
        out["no change, --refresh"] = step([*deploy, "--refresh"], folder / "refresh.log")
        out["moto_peak_mb"] = peak_rss_mb(proc.pid)
    finally:
        stop_moto_server(proc)
    return out


# -- printing ------------------------------------------------------------------------------------
def reads_writes(figures: dict[str, Any]) -> tuple[int, int, int]:
    calls = sum(figures["calls"].values())
    writes = sum(figures["writes"].values())
    return calls, calls - writes, writes


def aws_paged(figures: dict[str, Any]) -> dict[str, int]:
    calls = collections.Counter(figures["calls"])
    calls.update(figures["aws_extra_pages"])
    return dict(calls)


def paced_bound(calls: dict[str, int]) -> tuple[float, str] | None:
    """The least time AWS's documented rates allow for these calls: per rate family, the calls
    beyond its burst at its rate; the busiest family bounds the whole (families run at once)."""
    try:
        from cronplane.aws.pacing import family_of
    except ImportError:
        return None
    per_family: collections.Counter[str] = collections.Counter()
    rates: dict[str, tuple[float, int]] = {}
    for op, count in calls.items():
        service, operation = op.split(".", 1)
        family = family_of(service, operation)
        if family is None:
            continue  # not paced (metered by capacity: DynamoDB items, Invoke ...)
        per_family[family.name] += count
        rates[family.name] = (family.rate, family.burst)
    if not per_family:
        return 0.0, "-"
    seconds = {name: max(0.0, (n - rates[name][1]) / rates[name][0]) for name, n in per_family.items()}
    busiest = max(seconds, key=lambda name: seconds[name])
    return seconds[busiest], f"{busiest}: {per_family[busiest]} calls at {rates[busiest][0]:g}/s"


def report(results: list[dict[str, Any]]) -> None:
    print("\nstep                    jobs     wall s   peak MB    calls    reads   writes  AWS-paged  paced >= s")
    for step_name in STEPS:
        for r in results:
            f = r[step_name]
            calls, reads, writes = reads_writes(f)
            paged = sum(aws_paged(f).values()) if step_name != "validate" else 0
            bound = paced_bound(aws_paged(f)) if step_name != "validate" else (0.0, "")
            paced = "TODO" if bound is None else f"{bound[0]:.0f}"
            print(
                f"{step_name:<22} {r['jobs']:>6} {f['wall_s']:>9.1f} {f['max_rss_mb']:>9.0f} "
                f"{calls:>8} {reads:>8} {writes:>8} {paged:>10} {paced:>11}"
            )
    for r in results:
        print(f"moto server peak RSS at {r['jobs']} jobs: {r['moto_peak_mb']:.0f} MB (logs: {r['log']})")
    for step_name in STEPS[1:]:
        for r in results:
            f = r[step_name]
            print(f"\n{step_name}, {r['jobs']} jobs, by operation (AWS-paged; * = write):")
            by_op = aws_paged(f)
            print("    " + ", ".join(f"{op}{'*' if op in f['writes'] else ''} {n}" for op, n in sorted(by_op.items())))
            bound = paced_bound(by_op)
            if bound is not None and bound[1] != "-":
                print(f"    paced by AWS's documented rates: at least {bound[0]:.0f} s ({bound[1]})")
    if len(results) >= 2:
        small, big = results[0], results[-1]
        scale = big["jobs"] / small["jobs"]
        print(f"\ngrowth {big['jobs']:,} / {small['jobs']:,} jobs (the job count grew {scale:g}x):")
        for step_name in STEPS:
            a, b = small[step_name], big[step_name]
            parts = [f"wall {b['wall_s'] / a['wall_s']:.2f}x", f"peak memory {b['max_rss_mb'] / a['max_rss_mb']:.2f}x"]
            if step_name != "validate":
                pa, pb = sum(aws_paged(a).values()), sum(aws_paged(b).values())
                parts.append(f"AWS-paged calls {pb / pa:.2f}x")
                wa, wb = reads_writes(a)[2], reads_writes(b)[2]
                if wa:
                    parts.append(f"writes {wb / wa:.2f}x")
            print(f"    {step_name:<22} " + ", ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", default="2000,10000", help="job counts, comma-separated")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--role-mode", default="per_team", choices=("per_team", "per_job"))
    parser.add_argument("--step", help=argparse.SUPPRESS)  # internal: one jobctl run (JSON argv)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        run_step(json.loads(args.step), args.result)
        return
    counts = [int(n) for n in args.jobs.split(",")]
    print(f"jobs {counts}, all on Scheduler, role_mode {args.role_mode}, {args.workers} workers, moto server per count")
    results = []
    for jobs in counts:
        started = time.monotonic()
        results.append(measure(jobs, args.workers, args.role_mode))
        print(f"  {jobs} jobs measured in {time.monotonic() - started:.0f} s", flush=True)
    report(results)


if __name__ == "__main__":
    main()
