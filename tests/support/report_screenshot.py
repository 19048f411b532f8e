"""The README's picture of ``jobctl report``: the example jobs (jobs.yaml, jobs/) deployed into a
moto server, a generated week of history (``report_history.generated_history``), the report
written with ``jobctl report --html`` and photographed in headless Chromium.

    .venv/bin/python tests/support/report_screenshot.py docs/report.png
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.browser import chromium  # noqa: E402
from support.motoserver import running_moto_server  # noqa: E402
from support.report_history import generated_history, write  # noqa: E402


def main(target: Path) -> None:
    import boto3

    from cronplane.cli.main import main as jobctl
    from cronplane.manifest.loader import load_manifest
    from cronplane.runtime.schema import iso

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    work = Path(tempfile.mkdtemp(prefix="report-shot-"))
    shutil.copy(ROOT / "jobs.yaml", work / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", work / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    manifest = load_manifest(str(work / "jobs.yaml"))
    with running_moto_server() as url:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            jobctl(["deploy", "-y", "-f", str(work / "jobs.yaml"), "--endpoint-url", url])
        since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
        until = since + timedelta(days=7)
        dynamodb = boto3.client("dynamodb", region_name=manifest.region, endpoint_url=url)
        write(dynamodb, f"{manifest.namespace}-history", generated_history(manifest.jobs, since, until, seed=7))
        html = work / "report.html"
        window = ["--since", iso(since), "--until", iso(until), "--now", iso(until + timedelta(minutes=5))]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            jobctl(["report", *window, "-f", str(work / "jobs.yaml"), "--endpoint-url", url, "--html", str(html)])
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 760}, device_scale_factor=1)
        page.goto(html.as_uri())
        page.wait_for_selector("body[data-ready]")
        # Scroll the busy row to its pause and the hourly one to a failure, hovered: the
        # tooltip is part of the picture.
        page.locator('.row[data-job="invoice-sync"] .cell.s-paused').last.scroll_into_view_if_needed()
        failed = page.locator('.row[data-job="tmp-cleanup"] .cell.s-failed').last
        failed.scroll_into_view_if_needed()
        failed.hover()
        page.locator("#tip").wait_for(state="visible")
        page.screenshot(path=str(target))
    print(target)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "report.png").resolve())
