"""The door of the live run grid (``cronplane.local.report_page``) over real HTTP on a free
loopback port, with the real views and a grid built without AWS."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from cronplane.cli.views import report_html
from cronplane.local.report_page import ReportPage
from cronplane.ops.report import Grid

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def page() -> Iterator[ReportPage]:
    builds: list[datetime] = []

    def build() -> Grid:
        builds.append(START)
        return Grid("acme-jobs", START, START + timedelta(hours=1), START + timedelta(hours=1), ())

    served = ReportPage(build, report_html, min_interval_s=60).start()
    served.builds = builds  # type: ignore[attr-defined]
    try:
        yield served
    finally:
        served.stop()


def get(url: str, method: str = "GET", **headers: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers), timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_page_and_its_data_with_the_token(page: ReportPage) -> None:
    status, body = get(page.url)
    assert status == 200 and b"Run report" in body and b'"live":{"url":"/report/data?token=' in body
    status, body = get(page.url.replace("/report?", "/report/data?"))
    assert status == 200 and json.loads(body)["namespace"] == "acme-jobs"
    assert get(page.url, method="HEAD")[0] == 200
    assert len(page.builds) == 1  # type: ignore[attr-defined]  # polls within the interval read the table once
    # Its own origin, as a page opened at localhost sends it, is no stranger.
    assert get(page.url, Origin=page.origin)[0] == 200
    assert get(page.url, Origin=f"http://localhost:{page.port}", Host=f"localhost:{page.port}")[0] == 200


@pytest.mark.parametrize(
    ("what", "change", "status"),
    [
        ("no token", {"url": "{origin}/report"}, 403),
        ("a wrong token", {"url": "{origin}/report?token=AAAA"}, 403),
        ("another path", {"url": "{origin}/moto-api/?token={token}"}, 404),
        ("another site's page", {"Origin": "https://evil.example"}, 403),
        ("a null origin", {"Origin": "null"}, 403),
        ("a cross-site fetch", {"Sec-Fetch-Site": "cross-site"}, 403),
        ("a same-site fetch", {"Sec-Fetch-Site": "same-site"}, 403),
        ("a rebound DNS name", {"Host": "evil.example:{port}"}, 403),
        ("a write", {"method": "POST"}, 405),
        ("a delete", {"method": "DELETE"}, 405),
    ],
)
def test_everything_else_is_refused(page: ReportPage, what: str, change: dict[str, str], status: int) -> None:
    fill = {"origin": page.origin, "token": page.token, "port": str(page.port)}
    url = change.pop("url", page.url).format(**fill)
    method = change.pop("method", "GET")
    headers = {name: value.format(**fill) for name, value in change.items()}
    code, body = get(url, method=method, **headers)
    assert code == status, what
    assert page.token.encode() not in body and b"Run report" not in body
