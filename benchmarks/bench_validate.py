"""Benchmark: validate a generated 1,000-job manifest (what `jobctl validate` does) and print
the time per job, with the share of each stage, and the whole `jobctl validate` command.

    .venv/bin/python benchmarks/bench_validate.py [--jobs 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cronplane.manifest.loader import load_manifest
from cronplane.manifest.schemacheck import schema_problems
from cronplane.manifest.yamlload import load_yaml

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = [
    "billing/nightly_report.py:handler",
    "billing/invoice_sync.py:handler",
    "infra/tmp_cleanup.py:handler",
    "infra/search_reindex.py:handler",
]
SCHEDULES = [
    "cron(0 2 * * ? *)",
    "rate(15 minutes)",
    "0 * * * *",
    "cron(30 3 ? * MON-FRI *)",
    "cron(0 0 L * ? *)",
    "cron(0 9 ? * 2#1 *)",
    "@daily",
    "cron(0/5 8-17 ? * MON-FRI *)",
]
ZONES = [None, "Europe/Berlin", "America/New_York", None]


def manifest_text(count: int) -> str:
    lines = [
        "namespace: bench",
        "region: eu-west-1",
        "defaults:",
        "  timeout: 60",
        "  retries: {max_attempts: 3, backoff_base: 1, backoff_cap: 10}",
        "jobs:",
    ]
    for i in range(count):
        lines += [
            f"  job-{i:04d}:",
            f"    description: generated job {i}",
            f"    handler: {HANDLERS[i % len(HANDLERS)]}",
            f'    schedule: "{SCHEDULES[i % len(SCHEDULES)]}"',
            "    owner: team@example.com",
            f"    memory: {128 * (1 + i % 8)}",
            "    env: {LEVEL: info, MODE: batch}",
            '    secrets: {DB_PASSWORD: "ssm:/bench/db"}',
            '    tags: {cost-center: "42"}',
            "    payload: {batch: 25, dry_run: false}",
        ]
        if ZONES[i % len(ZONES)]:
            lines.append(f"    timezone: {ZONES[i % len(ZONES)]}")
        if i % 5 == 0:
            lines.append('    permissions: [{actions: [s3:PutObject], resources: ["arn:aws:s3:::bench/*"]}]')
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "jobs", Path(tmp) / "jobs")
        path = Path(tmp) / "jobs.yaml"
        text = manifest_text(args.jobs)
        path.write_text(text)
        manifest = load_manifest(path)  # warm-up: imports, schema compile, zone data
        assert len(manifest.jobs) == args.jobs
        totals, yaml_times, schema_times = [], [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            load_manifest(path)
            totals.append(time.perf_counter() - start)
            start = time.perf_counter()
            doc = load_yaml(text, str(path))
            yaml_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert not schema_problems(doc, str(path))
            schema_times.append(time.perf_counter() - start)
        # What a user waits for: the whole command in a new process (interpreter start,
        # imports, schema compile included).
        jobctl = Path(sys.executable).with_name("jobctl")
        commands = []
        for _ in range(3):
            start = time.perf_counter()
            done = subprocess.run([str(jobctl), "validate", "-f", str(path)], capture_output=True, text=True, cwd=tmp)
            commands.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stderr
    command = statistics.median(commands)
    total, yaml_s, schema_s = (statistics.median(t) for t in (totals, yaml_times, schema_times))
    print(f"manifest: {args.jobs} jobs, {len(text.splitlines())} lines, {len(text) / 1024:.0f} KiB")
    print(f"validate (median of {args.repeat}): {total * 1000:.0f} ms total, {total / args.jobs * 1000:.2f} ms per job")
    print(f"  yaml load with lines: {yaml_s * 1000:.0f} ms ({yaml_s / total:.0%})")
    print(f"  JSON Schema:          {schema_s * 1000:.0f} ms ({schema_s / total:.0%})")
    rest = total - yaml_s - schema_s
    print(f"  handlers, schedules, names, build: {rest * 1000:.0f} ms ({rest / total:.0%})")
    print(
        f"`jobctl validate` command (new process, median of 3): {command * 1000:.0f} ms, "
        f"{command / args.jobs * 1000:.2f} ms per job"
    )


if __name__ == "__main__":
    main()
