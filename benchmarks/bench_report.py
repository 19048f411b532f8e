"""What `jobctl report` costs for a week of 50 jobs, some of them per-minute, against a moto
server process on 127.0.0.1 (the HTTP path boto3 takes to AWS).

    .venv/bin/python benchmarks/bench_report.py [--jobs 50] [--per-minute 3] [--days 7] [--html FILE]

The manifest is deployed with `jobctl deploy`; the history is generated the way the tests do it
(tests/support/report_history.py: mostly successes, some failures with tracebacks, timeouts,
misses, late starts, a pause, manual runs and retries), written with BatchWriteItem. Then the
report is built as `jobctl report --html` builds it (--repeat times), and the figures printed:
DynamoDB Queries (and that nothing else read the table), wall time split into waiting for the
history Queries and the work on this side (classification, HTML), the HTML file's size, and,
when Debian's chromium is there, how long the page takes to draw its grid.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))
sys.path.insert(0, str(ROOT / "tests"))  # test support: moto server, generated history, browser
from cronplane.aws.client import AwsClient  # noqa: E402
from cronplane.aws.session import AwsConfig  # noqa: E402
from cronplane.cli.main import main as jobctl  # noqa: E402
from cronplane.cli.views.report_html import render  # noqa: E402
from cronplane.manifest import names  # noqa: E402
from cronplane.manifest.loader import load_manifest  # noqa: E402
from cronplane.ops import report as report_module  # noqa: E402
from support.motoserver import start_moto_server, stop_moto_server  # noqa: E402
from support.report_history import generated_history, write  # noqa: E402

REGION = "eu-west-1"
# The other jobs' schedules, in turn: every 5 / 15 minutes, hourly, every 6 hours, daily.
OTHER_SCHEDULES = ["rate(5 minutes)", "cron(0/15 * * * ? *)", "0 * * * *", "cron(0 */6 * * ? *)", "cron(30 2 * * ? *)"]
TEAMS = ["billing", "infra", "search", "data", "growth"]


def manifest_text(jobs: int, per_minute: int) -> str:
    lines = ["namespace: bench-report", f"region: {REGION}", "jobs:"]
    for n in range(jobs):
        schedule = "rate(1 minute)" if n < per_minute else OTHER_SCHEDULES[n % len(OTHER_SCHEDULES)]
        lines += [
            f"  job-{n:02d}:",
            "    handler: team/job.py:handler",
            f'    schedule: "{schedule}"',
            f"    team: {TEAMS[n % len(TEAMS)]}",
            f"    owner: {TEAMS[n % len(TEAMS)]}-oncall@example.com",
        ]
    return "\n".join(lines) + "\n"


def quietly(*args: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            jobctl(list(args))
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise RuntimeError(f"jobctl {args[0]} exited {exc.code}") from None


def page_seconds(html: Path) -> float | None:
    """Time from navigation to the grid drawn, in headless chromium; None without it."""
    from support.browser import chromium, chromium_missing

    if chromium_missing():
        return None
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        page.goto(html.as_uri())
        page.wait_for_selector("body[data-ready]", timeout=120_000)
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--per-minute", type=int, default=3)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--html", default=None, help="Keep the report here.")
    parser.add_argument("--repeat", type=int, default=1, help="Build it this many times (median).")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    import boto3

    query_seconds: list[float] = []
    real_read = report_module.read_window

    def timed_read(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_read(*a, **kw)
        finally:
            query_seconds.append(time.perf_counter() - t0)

    report_module.read_window = timed_read  # type: ignore[assignment]
    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    (work / "jobs" / "team").mkdir(parents=True)
    (work / "jobs" / "team" / "job.py").write_text("def handler(event, context):\n    return None\n")
    (work / "jobs.yaml").write_text(manifest_text(args.jobs, args.per_minute))
    proc, url = start_moto_server()
    try:
        t0 = time.perf_counter()
        quietly("deploy", "-y", "-f", str(work / "jobs.yaml"), "--endpoint-url", url)
        deployed = time.perf_counter() - t0
        manifest = load_manifest(str(work / "jobs.yaml"))
        # After the deploy moto stamped with the real time, as every test does.
        since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
        until = since + timedelta(days=args.days)
        records = generated_history(manifest.jobs, since, until)
        t0 = time.perf_counter()
        db = boto3.client("dynamodb", region_name=REGION, endpoint_url=url)
        written = write(db, names.history_table(manifest.namespace), records)
        print(
            f"moto server {url}: {args.jobs} jobs ({args.per_minute} per-minute) deployed in {deployed:.1f} s; "
            f"{written} history items for {args.days} days written in {time.perf_counter() - t0:.0f} s"
        )
        jobs = report_module.select_jobs(manifest, [], None)
        timings, locals_, html_bytes, grid, queries = [], [], 0, None, {}
        for _ in range(args.repeat):
            clients = AwsClient(AwsConfig(region=REGION, endpoint_url=url))
            query_seconds.clear()
            t0 = time.perf_counter()
            # `jobctl report --since 7d` as a person runs it: the window ends now.
            grid = report_module.build_grid(clients, manifest, jobs, since=since, until=until, now=until)
            page = render(grid)
            timings.append(time.perf_counter() - t0)
            locals_.append(timings[-1] - sum(query_seconds))
            html_bytes = len(page.encode())
            queries = clients.operation_counts()
        assert grid is not None
        target = Path(args.html) if args.html else work / "report.html"
        target.write_text(page, encoding="utf-8")
        reads = {op: n for op, n in queries.items() if op.startswith("dynamodb.")}
        cells = sum(len(row.cells) for row in grid.rows)
        print(f"cells {cells} ({grid.expected} expected fire times), runs {sum(len(r.runs) for r in grid.rows)}")
        print(
            f"DynamoDB reads: {reads} (no Scan: {'dynamodb.Scan' not in reads}); all requests: {sum(queries.values())}"
        )
        print(
            f"report: {statistics.median(timings):.2f} s (median of {args.repeat}) "
            f"(history Queries {statistics.median(timings) - statistics.median(locals_):.2f} s, "
            f"this side {statistics.median(locals_):.2f} s)"
        )
        print(f"HTML file: {html_bytes / 1e6:.2f} MB ({target})")
        seconds = page_seconds(target)
        print("page drawn in chromium: " + (f"{seconds:.2f} s" if seconds is not None else "skipped (no chromium)"))
    finally:
        stop_moto_server(proc)


if __name__ == "__main__":
    main()
