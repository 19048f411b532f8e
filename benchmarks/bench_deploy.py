"""Deploy of N jobs (default 200) against a moto server process on 127.0.0.1: a fresh deploy,
a redeploy with no change, and a redeploy with one job's schedule changed. Printed for each:
wall time, API calls split reads / writes, and the calls by operation.

Target (issue 3): the no-change redeploy of 200 jobs in at most 30 API calls, none a write.

    .venv/bin/python benchmarks/bench_deploy.py [--jobs 200] [--workers 8] [--scheduler]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # test support: the moto server starter
from support.motoserver import start_moto_server, stop_moto_server  # noqa: E402

REGION = "eu-west-1"


def write_manifest(folder: Path, jobs: int, scheduler: bool, changed: int | None = None) -> Path:
    lines = ["namespace: bench", f"region: {REGION}"]
    if scheduler:
        lines.append("trigger_mode: scheduler")
    lines.append("jobs:")
    for i in range(jobs):
        minute = (i + (7 if changed == i else 0)) % 60
        team, handler = (
            ("billing", "billing/nightly_report.py:handler") if i % 2 else ("infra", "infra/tmp_cleanup.py:handler")
        )
        lines += [
            f"  job-{i:03d}:",
            f"    handler: {handler}",
            f"    schedule: cron({minute} * * * ? *)",
            f"    team: {team}",
            f"    owner: {team}-oncall@example.com",
        ]
    path = folder / "jobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(label: str, endpoint: str, manifest_path: Path, workers: int) -> None:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.deployer import Deployer
    from cronplane.aws.session import AwsConfig
    from cronplane.manifest.loader import load_manifest

    manifest = load_manifest(str(manifest_path))
    client = AwsClient(AwsConfig(region=REGION, endpoint_url=endpoint))
    started = time.monotonic()
    result = Deployer(client, workers=workers).deploy(manifest)
    wall = time.monotonic() - started
    changes = len(result.plan.changes)
    print(
        f"{label:<22} {wall:7.2f} s  {len(client.calls):5d} calls  {client.reads:4d} reads  "
        f"{client.writes:5d} writes  ({changes} changes)"
    )
    by_op = collections.Counter(f"{c.service}.{c.operation}{'*' if c.write else ''}" for c in client.calls)
    if len(by_op) <= 25:
        print("    " + ", ".join(f"{op} {n}" for op, n in sorted(by_op.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--scheduler", action="store_true", help="put every job on EventBridge Scheduler")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    shutil.copytree(ROOT / "jobs", folder / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    proc, endpoint = start_moto_server()
    try:
        print(
            f"{args.jobs} jobs, {args.workers} workers, moto server {endpoint}"
            f"{', all on Scheduler' if args.scheduler else ''}  (* = write)"
        )
        path = write_manifest(folder, args.jobs, args.scheduler)
        run("fresh deploy", endpoint, path, args.workers)
        run("no-change redeploy", endpoint, path, args.workers)
        write_manifest(folder, args.jobs, args.scheduler, changed=args.jobs // 2)
        run("one schedule changed", endpoint, path, args.workers)
    finally:
        stop_moto_server(proc)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
