"""The live run grid of a real ``jobctl dev`` process (a per-minute job, clock x15): its door
(token, loopback Host, no cross-origin use, GET only) and the page in headless Chromium, which
grows as the scheduler fires, without a reload."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.browser import PageProblems, chromium, chromium_missing
from support.motoserver import free_port

pytestmark = pytest.mark.e2e
if (why := chromium_missing()) is not None and not os.environ.get("CI"):
    pytestmark = [pytest.mark.e2e, pytest.mark.skip(reason=why)]

MANIFEST = """\
namespace: live-grid
region: eu-west-1
jobs:
  ticker:
    handler: infra/tick.py:handler
    schedule: rate(1 minute)
    team: infra
"""
PAGE_URL = re.compile(r"The run grid, live \(.*\): (http://127\.0\.0\.1:(\d+)/report\?token=([\w-]+))")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("live")
    (root / "jobs" / "infra").mkdir(parents=True)
    (root / "jobs" / "infra" / "tick.py").write_text("def handler(event, context):\n    return {'ok': 1}\n")
    (root / "jobs.yaml").write_text(MANIFEST)
    log = root / "dev.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env.pop("AWS_ENDPOINT_URL", None)
    command = [sys.executable, "-m", "cronplane.cli.main", "dev", "-f", "jobs.yaml", "--port", str(free_port())]
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [*command, "--time-scale", "15"],
            cwd=root,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        found = None
        while found is None:
            found = PAGE_URL.search(log.read_text(errors="replace"))
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no run grid URL printed:\n{log.read_text()}"
            time.sleep(0.1)
        yield {"url": found.group(1), "port": int(found.group(2)), "token": found.group(3), "log": log}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()


def fetch(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_the_page_opens_only_with_the_token_from_this_machine_and_its_own_origin(dev: dict[str, Any]) -> None:
    url, port = dev["url"], dev["port"]
    status, headers, body = fetch(url)
    assert status == 200 and b"Run report" in body
    assert "connect-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    data_url = url.replace("/report?", "/report/data?")
    assert fetch(data_url)[0] == 200
    base = f"http://127.0.0.1:{port}"
    refused = {
        "no token": fetch(f"{base}/report"),
        "wrong token": fetch(f"{base}/report?token=" + "x" * len(dev["token"])),
        "token of the page, other path": fetch(f"{base}/moto-api/?token={dev['token']}"),
        "another site's page": fetch(url, Origin="https://evil.example"),
        "a cross-site fetch": fetch(data_url, **{"Sec-Fetch-Site": "cross-site"}),
        "a rebound DNS name": fetch(url, Host=f"evil.example:{port}"),
        "a write": fetch(url, method="POST"),
    }
    assert {why: code for why, (code, _, _) in refused.items()} == {
        "no token": 403,
        "wrong token": 403,
        "token of the page, other path": 404,
        "another site's page": 403,
        "a cross-site fetch": 403,
        "a rebound DNS name": 403,
        "a write": 405,
    }
    assert dev["token"].encode() not in refused["no token"][2]


def test_the_live_page_shows_new_runs_without_reloading(dev: dict[str, Any], tmp_path: Path) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 700})
        problems = PageProblems(page)
        page.goto(dev["url"])
        page.wait_for_selector("body[data-ready]")
        page.evaluate("window.__marker = 'same page'")
        assert page.locator(".live").count() == 1
        cells = page.locator('.row[data-job="ticker"] .cell.s-succeeded')
        first = cells.count()
        # The clock runs 15 times faster: a run every 4 s; the page polls every 5 s.
        page.wait_for_function(
            "n => document.querySelectorAll('.row[data-job=ticker] .cell.s-succeeded').length >= n",
            arg=first + 2,
            timeout=60_000,
        )
        assert page.evaluate("window.__marker") == "same page"
        assert "live · updated" in page.locator("#live").text_content()
        page.screenshot(path=str(tmp_path / "live.png"))
        assert problems.messages == []
