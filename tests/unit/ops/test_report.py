"""``jobctl report``'s service (``cronplane.ops.report``) and its views, on moto in-process with
a controllable clock (scenarios live after the real "now", when moto stamped the deploy)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import boto3
import pytest
from ops_fixtures import NAMESPACE, TABLE, make_job, make_manifest, next_day

from cronplane.cli.views.report_html import _days, content_security_policy, data_json, model, render
from cronplane.cli.views.report_script import SCRIPT
from cronplane.cli.views.report_text import report_text
from cronplane.manifest import names
from cronplane.ops.report import CellStatus, build_grid, select_jobs
from cronplane.runtime.schema import iso
from support.report_history import pause_event, run, write
from testkit import jobctl


def owned(deploy: Any, manifest: Any, job: Any) -> None:
    """``deploy`` the job, with the namespace tag deploy puts on its trigger (ops only act on
    triggers that are provably this namespace's)."""
    deploy(manifest, job)
    tag = [{"Key": names.NAMESPACE_TAG, "Value": NAMESPACE}]
    if job.schedule.needs_scheduler:
        scheduler = boto3.client("scheduler", region_name="eu-west-1")
        group = scheduler.get_schedule_group(Name=names.schedule_group(NAMESPACE))["Arn"]
        scheduler.tag_resource(ResourceArn=group, Tags=tag)
    else:
        events = boto3.client("events", region_name="eu-west-1")
        arn = events.describe_rule(Name=names.rule_name(NAMESPACE, job.name))["Arn"]
        events.tag_resource(ResourceARN=arn, Tags=tag)


def statuses(row: Any) -> dict[str, int]:
    return {s.value: row.count(s) for s in CellStatus if row.count(s)}


def test_every_fire_time_is_a_cell_and_extra_runs_sit_at_their_start(clients: Any, deploy: Any) -> None:
    job = make_job("tmp-cleanup", "cron(0 * * * ? *)")
    manifest = make_manifest(job)
    owned(deploy, manifest, job)
    day = next_day()
    hour = [day + timedelta(hours=h) for h in range(7)]
    manual_at = hour[2] + timedelta(minutes=20)
    write(
        clients.dynamodb,
        TABLE,
        [
            run(job.name, hour[1]),
            run(job.name, hour[2], "failed", error=("ValueError", "bad"), attempts=2),
            pause_event(job.name, hour[3] - timedelta(minutes=1), "pause"),
            pause_event(job.name, hour[4] + timedelta(minutes=1), "resume"),
            run(job.name, None, trigger="manual", started=manual_at, triggered_by="user/ana"),
            # hour 5: nothing (missed); hour 6: within the grace of now (pending)
        ],
    )
    now = hour[6] + timedelta(seconds=30)
    clients.reset_counts()
    grid = build_grid(clients, manifest, [job], since=day, until=now, now=now)
    (row,) = grid.rows
    assert [(c.at, c.status, c.slot) for c in row.cells] == [
        (hour[1], CellStatus.SUCCEEDED, True),
        (hour[2], CellStatus.FAILED, True),
        (manual_at, CellStatus.SUCCEEDED, False),
        (hour[3], CellStatus.PAUSED, True),
        (hour[4], CellStatus.PAUSED, True),
        (hour[5], CellStatus.MISSED, True),
        (hour[6], CellStatus.PENDING, True),
    ]
    assert row.cells[2].note == "manual run by user/ana"
    failed = row.runs[row.cells[1].run_id or ""]
    assert len(failed.attempts) == 2 and failed.attempts[0].traceback  # whole records were read
    assert row.summary.runs == 3 and row.last_failure is not None and row.last_failure.error == "ValueError: bad"
    assert grid.expected == 6
    # One Query for the window (it ends now: no later retries to look for), never a Scan.
    assert grid.requests.get("dynamodb.Query") == 1 and "dynamodb.Scan" not in grid.requests


def test_fire_times_before_the_deploy_and_of_an_undeployed_job_are_not_yet_deployed(clients: Any, deploy: Any) -> None:
    live = make_job("tmp-cleanup", "cron(0 * * * ? *)")
    new = make_job("new-export", "cron(0 * * * ? *)")
    manifest = make_manifest(live, new)
    owned(deploy, manifest, live)  # moto stamps the function with the real time: the deploy is now
    deployed = datetime.now(UTC)
    since = deployed - timedelta(hours=5)
    until = deployed + timedelta(hours=3)
    grid = build_grid(clients, manifest, select_jobs(manifest, [], None), since=since, until=until, now=until)
    rows = {row.job: row for row in grid.rows}
    before = [c for c in rows["tmp-cleanup"].cells if c.at <= deployed - timedelta(seconds=1)]
    after = [c for c in rows["tmp-cleanup"].cells if c.at > deployed]
    assert {c.status for c in before} == {CellStatus.NOT_DEPLOYED} and len(before) in (4, 5)
    assert before[0].note.startswith("before the job was deployed (function LastModified")
    assert {c.status for c in after} <= {CellStatus.MISSED, CellStatus.PENDING} and len(after) in (2, 3)
    assert statuses(rows["new-export"]) == {"not_deployed": 8}
    assert rows["new-export"].note.startswith("not deployed: no EventBridge rule or Scheduler schedule")


def test_one_query_per_page_of_each_job(clients: Any, deploy: Any) -> None:
    """A day of a job with huge error texts spans several 1 MB pages: the report reads them one
    Query each, plus one for each other job, and nothing else of the table. (Few big items:
    moto's cost is per attribute.)"""
    busy = make_job("ticker", "rate(1 hour)")
    quiet = make_job("tmp-cleanup", "cron(0 * * * ? *)")
    manifest = make_manifest(busy, quiet)
    owned(deploy, manifest, busy)
    owned(deploy, manifest, quiet)
    day = next_day()
    noisy = ("RuntimeError", "x" * 45_000)  # ~135 KB a record: error, message and traceback
    minutes = [day + timedelta(hours=h) for h in range(1, 25)]
    write(clients.dynamodb, TABLE, [run("ticker", t, "failed", error=noisy) for t in minutes])
    write(clients.dynamodb, TABLE, [run("tmp-cleanup", day + timedelta(hours=h)) for h in range(1, 25)])
    until = day + timedelta(days=1)
    pages = boto3.client("dynamodb", region_name="eu-west-1").get_paginator("query")
    busy_pages = sum(
        1
        for _ in pages.paginate(
            TableName=TABLE,
            KeyConditionExpression="job = :j AND run_id BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":j": {"S": "ticker"}, ":lo": {"S": "20"}, ":hi": {"S": "9"}},
        )
    )
    assert busy_pages >= 3
    clients.reset_counts()
    grid = build_grid(clients, manifest, [busy, quiet], since=day, until=until, now=until)
    assert grid.requests["dynamodb.Query"] == busy_pages + 1
    assert not [op for op in grid.requests if op.startswith("dynamodb.") and op != "dynamodb.Query"]
    assert statuses(grid.rows[0]) == {"failed": 24}


def test_text_summary_and_html_file_through_the_cli(
    clients: Any, deploy: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job("tmp-cleanup", "cron(0 * * * ? *)")
    manifest = make_manifest(job)
    owned(deploy, manifest, job)
    day = next_day()
    write(
        clients.dynamodb,
        TABLE,
        [run(job.name, day + timedelta(hours=h), duration_ms=1000 * h) for h in (1, 2, 3)]
        + [run(job.name, day + timedelta(hours=4), "timed_out", error=("TimeoutError", "out of time"))],
    )
    (tmp_path / "jobs" / "billing").mkdir(parents=True)
    (tmp_path / "jobs" / "billing" / "tmp_cleanup.py").write_text("def handler(event, context):\n    pass\n")
    (tmp_path / "jobs.yaml").write_text(
        f"namespace: {NAMESPACE}\nregion: eu-west-1\njobs:\n  tmp-cleanup:\n"
        "    handler: billing/tmp_cleanup.py:handler\n    schedule: cron(0 * * * ? *)\n    team: billing\n"
    )
    monkeypatch.chdir(tmp_path)
    window = ["--since", iso(day), "--until", iso(day + timedelta(hours=5)), "--now", iso(day + timedelta(hours=6))]
    code, out, err = jobctl(capsys, "report", *window)
    assert code == 0, err
    assert "tmp-cleanup  (Every hour (UTC))" in out
    assert "4 runs · 75.0% succeeded · p50 1.2 s · p95 3.0 s · 1 missed · 1 timed out" in out
    assert re.search(r"last failure \S+T04:00:02Z \S+: TimeoutError: out of time", out)
    code, out, err = jobctl(capsys, "report", *window, "--html", "grid.html")
    assert (code, out.strip()) == (0, str(tmp_path / "grid.html"))
    assert "Run report" in (tmp_path / "grid.html").read_text()
    code, out, err = jobctl(capsys, "report", *window, "--team", "nobody")
    assert code == 1 and "--team nobody: no job of" in err and "teams: billing" in err
    code, out, err = jobctl(capsys, "report", "--since", "soon")
    assert code == 2 and "--since" in err


# -- the page, without a browser (tests/e2e/test_report_browser.py loads it in Chromium) ---------
class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


HOSTILE = '</script><script>alert(1)</script><!-- "onload="alert(2)" \u2028 & <b>'


def test_untrusted_text_cannot_leave_the_data_block(clients: Any, deploy: Any) -> None:
    job = make_job("tmp-cleanup", "cron(0 * * * ? *)")
    manifest = make_manifest(job)
    owned(deploy, manifest, job)
    day = next_day()
    write(clients.dynamodb, TABLE, [run(job.name, day + timedelta(hours=1), "failed", error=("E", HOSTILE))])
    grid = build_grid(clients, manifest, [job], since=day, until=day + timedelta(hours=1), now=day + timedelta(hours=2))
    page = render(grid)
    parser = _Scripts()
    parser.feed(page)
    # Exactly the two scripts the page has: the JSON data and the code, whatever the error says.
    assert [attrs.get("type") for attrs, _ in parser.scripts] == ["application/json", None]
    (_, data_text), (_, code) = parser.scripts
    assert code == SCRIPT
    data = json.loads(data_text)
    assert data["jobs"][0]["runs"][0][9]["error"] == f"E: {HOSTILE}"
    assert "<" not in data_text and ">" not in data_text and "&" not in data_text
    assert data_json({"x": HOSTILE}).count("\\u003c") == 5
    # The policy: the script by its hash only, no network; the live page may call its origin.
    policy = content_security_policy(live=False)
    assert "script-src 'sha256-" in policy and "unsafe-inline" not in policy and "connect-src 'none'" in policy
    assert "connect-src 'self'" in content_security_policy(live=True)
    assert 'http-equiv="Content-Security-Policy"' in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page


def test_text_view_of_an_empty_window() -> None:
    from cronplane.ops.report import Grid

    day = next_day()
    text = report_text(Grid("acme-jobs", day, day + timedelta(hours=1), day, ()))
    assert "no fire times and no runs in the window" in text
    assert model(Grid("acme-jobs", day, day + timedelta(hours=1), day, ()))["jobs"] == []


def test_day_separators_fall_at_local_midnight() -> None:
    from cronplane.ops.report import Cell

    start = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # Europe/Berlin moves to summer time on the 29th
    cells = tuple(Cell(start + timedelta(hours=h), CellStatus.SUCCEEDED, True) for h in range(30))
    utc = _days(cells, "UTC")
    berlin = _days(cells, "Europe/Berlin")
    assert [index for index, _ in utc] == [0, 4, 28]
    # Berlin: 21:00 (+1) on the 28th; midnight is 23:00 UTC on the 28th and 22:00 UTC on the 29th.
    assert [index for index, _ in berlin] == [0, 3, 26]
    assert berlin[1][1] == "Sun 29 Mar"
