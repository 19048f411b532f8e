"""``jobctl history`` and ``jobctl run-now --local`` through the real entry point (exit codes and
messages as a user sees them). History reads in-process moto; local runs execute the real
package and wrapper in the local Lambda runner, with no reachable history table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from cronplane.cli.views import runs as run_view
from cronplane.runtime.schema import RunRecord, table_definition, time_key
from testkit import jobctl

TABLE = "qa-jobs-history"

MANIFEST = """\
namespace: qa-jobs
region: eu-west-1
defaults:
  timeout: 10
  retries: {max_attempts: 2, backoff_base: 0.1, backoff_cap: 0.1}
jobs:
  ok-job:
    handler: qa/tasks.py:ok
    schedule: rate(1 hour)
    team: qa
    payload: {n: 2}
  bad-job:
    handler: qa/tasks.py:bad
    schedule: rate(1 hour)
    team: qa
  hang-job:
    handler: qa/tasks.py:hang
    schedule: rate(1 hour)
    team: qa
    timeout: 3  # the wrapper keeps 2 s back, so the job starts and freezes; the runner kills at 3 s
    retries: {max_attempts: 1}
"""

TASKS = """\
import os, signal

def ok(event, context):
    print("working on", event["n"])
    return {"double": event["n"] * 2}

def bad(event, context):
    raise ValueError("bad input")

def hang(event, context):
    os.kill(os.getpid(), signal.SIGSTOP)  # frozen, wrapper included: only the hard kill ends it
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "jobs" / "qa").mkdir(parents=True)
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    (tmp_path / "jobs" / "qa" / "tasks.py").write_text(TASKS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def record(
    job: str, at: datetime, status: str, suffix: str, duration_ms: int | None = 1500, **extra: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "job": job,
        "run_id": f"{time_key(at)}-{suffix}",
        "kind": "run",
        "gsi_pk": "run",
        "trigger": "schedule",
        "scheduled_for": iso(at),
        "started_at": iso(at),
        "status": status,
        "deadline": iso(at + timedelta(seconds=10)),
        "attempts": [{"attempt": 1, "started_at": iso(at), "duration_ms": duration_ms or 0}],
        "triggered_by": "arn:aws:events:eu-west-1:123456789012:rule/qa-jobs-" + job,
    }
    if duration_ms is not None:
        item.update(duration_ms=duration_ms, finished_at=iso(at + timedelta(milliseconds=duration_ms)))
    item.update(extra)
    return item


@pytest.fixture
def table(aws: None, project: Path) -> Any:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    client.create_table(**table_definition(TABLE))  # moto: ACTIVE at once, no waiter
    now = datetime.now(UTC).replace(microsecond=0)
    serializer = TypeSerializer()
    items = [
        record("ok-job", now - timedelta(hours=1), "succeeded", "a1", 1000, result=json.dumps({"double": 4})),
        record("ok-job", now - timedelta(hours=2), "succeeded", "a2", 3000),
        record("ok-job", now - timedelta(hours=3), "running", "a3", None),  # deadline long gone
        record(
            "bad-job",
            now - timedelta(hours=1),
            "failed",
            "b1",
            2500,
            error="ValueError: bad input",
            attempts=[
                {
                    "attempt": 1,
                    "started_at": iso(now),
                    "duration_ms": 1000,
                    "error_type": "ValueError",
                    "error_message": "bad input",
                    "traceback": "Traceback (most recent call last):\nValueError: bad input",
                },
                {
                    "attempt": 2,
                    "started_at": iso(now),
                    "duration_ms": 1500,
                    "error_type": "ValueError",
                    "error_message": "bad input again",
                },
            ],
        ),
        record("ok-job", now - timedelta(days=10), "succeeded", "old", 10),
        {
            "job": "ok-job",
            "run_id": f"{time_key(now - timedelta(minutes=90))}-event",
            "kind": "event",
            "action": "pause",
            "actor": "arn:aws:iam::123456789012:user/ana",
            "at": iso(now - timedelta(minutes=90)),
        },
    ]
    for item in items:
        client.put_item(TableName=TABLE, Item={k: serializer.serialize(v) for k, v in item.items()})
    return client


def test_history_of_one_job_table_with_lost_event_and_summary(table: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = jobctl(capsys, "history", "ok-job", "--since", "7d")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["RUN", "ID", "STATUS", "STARTED", "DURATION", "ATTEMPTS", "TRIGGER", "BY"]
    assert "-a1  succeeded" in lines[1] and "1.0 s" in lines[1] and "rule/qa-jobs-ok-job" in lines[1]
    assert lines[2].startswith("-- ") and "pause by user/ana" in lines[2]
    assert "-a3  lost" in lines[4]  # running past its deadline
    assert "-old" not in out  # --since 7d
    assert "\x1b[" not in out  # no colour when stdout is not a terminal
    assert "ok-job: 3 runs, 67% succeeded, p50 1.0 s, p95 3.0 s, last success " in out


def test_history_all_jobs_json_has_the_documented_fields(table: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = jobctl(capsys, "history", "--output", "json", "--since", "1d")
    assert code == 0
    runs = json.loads(out)
    assert sorted(r["run_id"][-2:] for r in runs) == ["a1", "a2", "a3", "b1"]
    for run in runs:
        assert {
            "job",
            "run_id",
            "trigger",
            "status",
            "scheduled_for",
            "started_at",
            "finished_at",
            "duration_ms",
            "attempts",
            "error",
            "triggered_by",
            "result",
        } <= set(run)
    by_id = {r["run_id"][-2:]: r for r in runs}
    assert by_id["a1"]["result"] == {"double": 4}
    assert by_id["a3"]["status"] == "lost" and by_id["a3"]["stored_status"] == "running"


def test_history_status_filter_and_pagination_hint(table: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = jobctl(capsys, "history", "--status", "failed", "-o", "json")
    assert code == 0 and [r["job"] for r in json.loads(out)] == ["bad-job"]
    # --limit 1 is one item per Query; the pause event takes a page of its own (runs only in JSON)
    seen, args = [], ["history", "ok-job", "--limit", "1", "-o", "json"]
    for _ in range(10):
        code, out, err = jobctl(capsys, *args)
        assert code == 0 and len(json.loads(out)) <= 1
        seen += [r["run_id"].split("-")[-1] for r in json.loads(out)]
        if "--next-token" not in err:
            break
        args = [
            "history",
            "ok-job",
            "--limit",
            "1",
            "-o",
            "json",
            "--next-token",
            err.split("--next-token ")[1].strip(),
        ]
    assert seen == ["a1", "a2", "a3", "old"]


def test_history_page_with_no_match_says_older_runs_may_match(table: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # ok-job's newest record succeeded; its `lost` run is older. "no runs found" was wrong here.
    code, out, err = jobctl(capsys, "history", "ok-job", "--status", "lost", "--limit", "1")
    assert code == 0 and "--next-token" in err
    assert (
        out.strip()
        == "no lost runs among the newest 1 records of ok-job; older ones may match: see the next page below"
    )
    for _ in range(5):  # the pause event and a2 come before a3, one record per page
        code, out, err = jobctl(
            capsys,
            "history",
            "ok-job",
            "--status",
            "lost",
            "--limit",
            "1",
            "--next-token",
            err.split("--next-token ")[1].strip(),
        )
        if "no lost runs" not in out:
            break
    assert code == 0 and "lost" in out.splitlines()[1]


def test_history_and_run_now_work_after_a_one_time_job_fired(
    table: Any, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An at() in the past fails validate; it must not lock the on-call engineer out of history.
    with (project / "jobs.yaml").open("a") as manifest:
        manifest.write("  one-off:\n    handler: qa/tasks.py:ok\n    schedule: at(2026-01-01T09:00:00)\n    team: qa\n")
    code, out, err = jobctl(capsys, "history", "bad-job")
    assert code == 0 and "failed" in out, err


def test_history_run_shows_every_attempt_with_its_error(table: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = jobctl(capsys, "history", "--status", "failed", "-o", "json")
    run_id = json.loads(out)[0]["run_id"]
    code, out, _ = jobctl(capsys, "history", "--run", run_id)
    assert code == 0
    assert "status:        failed" in out and "error:         ValueError: bad input" in out
    assert "#1" in out and "ValueError: bad input" in out and "#2" in out and "bad input again" in out
    assert "      Traceback (most recent call last):" in out
    code, _, err = jobctl(capsys, "history", "bad-job", "--run", "20200101T000000Z-nope")
    assert code == 1 and "no run 20200101T000000Z-nope for job bad-job" in err


def test_history_errors_are_one_line(table: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = jobctl(capsys, "history", "--since", "yesterday")
    assert code == 1 and err.startswith("Error: --since 'yesterday'") and "Traceback" not in err


def test_history_without_a_table_says_deploy_first(
    aws: None, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = jobctl(capsys, "history", "ok-job")
    assert code == 1 and "history table qa-jobs-history does not exist" in err and "jobctl deploy" in err


def test_status_colour_only_when_asked() -> None:
    assert run_view.status_text("failed", colour=False) == "failed"
    coloured = run_view.status_text("failed", colour=True)
    assert coloured.startswith("\x1b[31m") and "failed" in coloured
    record = RunRecord("ok-job", "r", status="succeeded")
    table = run_view.runs_table([record], now=datetime.now(UTC), show_job=False, colour=True)
    assert "\x1b[32msucceeded\x1b[0m" in table[1]


@pytest.fixture
def offline(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Port 1 refuses at once: the probe finds no history table and the wrapper only logs.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    return project


def test_run_now_local_success_prints_record_and_streams_prefixed_logs(
    offline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("event.json").write_text('{"n": 21}')
    code, out, err = jobctl(capsys, "run-now", "ok-job", "--local", "--payload", "@event.json")
    assert code == 0
    assert "ok-job | working on 21" in err and "ok-job | START RequestId:" in err
    assert "history table not reachable" in err
    assert "status:        succeeded" in out and '"double": 42' in out
    assert "succeeded (local; record not stored" in out


def test_run_now_local_failure_exits_1_with_attempts(offline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = jobctl(capsys, "run-now", "bad-job", "--local", "--output", "json")
    assert code == 1
    shown = json.loads(out)
    assert shown["status"] == "failed" and shown["local"] is True and shown["history_table"] is None
    assert [a["error_message"] for a in shown["record"]["attempts"]] == ["bad input", "bad input"]
    assert shown["record"]["triggered_by"].startswith("local:")


def test_run_now_local_hard_kill_is_timed_out(offline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = jobctl(capsys, "run-now", "hang-job", "--local")
    assert code == 1
    assert "Task timed out after 3.00 seconds" in err
    assert "no run record came back" in out and "timed_out (local" in out


def test_run_now_payload_errors(offline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = jobctl(capsys, "run-now", "ok-job", "--local", "--payload", "{nope")
    assert code == 2 and "--payload is not valid JSON" in err
    code, _, err = jobctl(capsys, "run-now", "ok-job", "--local", "--payload", "@missing.json")
    assert code == 2 and "cannot read missing.json" in err
    code, _, err = jobctl(capsys, "run-now", "no-such-job", "--local")
    assert code == 1 and "no job named 'no-such-job'" in err


@pytest.fixture
def lambda_without_docker(project: Path) -> Any:
    """moto in-process whose Lambda accepts an Event invocation without running it (no Docker):
    the test plays the deployed function's part by writing its run record."""
    import io
    import zipfile

    from moto import mock_aws

    with mock_aws(config={"lambda": {"use_docker": False}}):
        boto3.client("dynamodb", region_name="eu-west-1").create_table(**table_definition(TABLE))
        role = boto3.client("iam").create_role(RoleName="qa-exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("placeholder.py", "")
        boto3.client("lambda", region_name="eu-west-1").create_function(
            FunctionName="qa-jobs--ok-job",
            Runtime="python3.11",
            Role=role,
            Handler="cronplane.runtime.entry.handler",
            Code={"ZipFile": code.getvalue()},
            Tags={"cronplane:namespace": "qa-jobs"},  # run-now invokes only its namespace's function
        )
        yield


def function_writes(monkeypatch: pytest.MonkeyPatch, started: datetime, timeout_s: int) -> None:
    """On Invoke, what a function that crashed after its wrapper began the run leaves behind:
    a `running` record whose deadline is its start plus the function timeout, never finished."""
    from cronplane.aws.client import AwsClient

    original = AwsClient.boto3_client
    serializer = TypeSerializer()

    hooked: list[Any] = []  # the door builds a client once and hands it out on every call

    def client(self: AwsClient, service: str) -> Any:
        made = original(self, service)
        if service == "lambda" and not any(known is made for known in hooked):
            hooked.append(made)

            def hook(params: dict[str, Any], **_: Any) -> None:
                envelope = json.loads(params["Payload"])["cronplane"]
                item = {
                    "job": "ok-job",
                    "run_id": envelope["run_id"],
                    "kind": "run",
                    "gsi_pk": "run",
                    "trigger": "manual",
                    "status": "running",
                    "started_at": iso(started),
                    "deadline": iso(started + timedelta(seconds=timeout_s)),
                    "attempts": [],
                }
                boto3.client("dynamodb", region_name="eu-west-1").put_item(
                    TableName=TABLE, Item={k: serializer.serialize(v) for k, v in item.items()}
                )

            made.meta.events.register("before-parameter-build.lambda.Invoke", hook)
        return made

    monkeypatch.setattr(AwsClient, "boto3_client", client)


def test_run_now_wait_reports_a_crashed_run_as_lost_at_once(
    lambda_without_docker: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Started 75 s ago with a 10 s timeout: Lambda killed it 65 s ago, past the 60 s grace.
    function_writes(monkeypatch, datetime.now(UTC) - timedelta(seconds=75), 10)
    code, out, err = jobctl(capsys, "run-now", "ok-job", "--wait")  # budget: 10 s x 2 attempts + margin
    assert code == 1, err
    lines = out.splitlines()
    assert lines[1].startswith("run ") and " lost: its record still says running past its deadline 20" in lines[1]
    assert lines[1].endswith(
        "(the function's timeout); it ended without recording how (crashed, killed or out of memory)"
    )
    assert lines[2] == (
        "  why: the function's logs: `aws logs tail /aws/lambda/qa-jobs--ok-job --since 1h` (a run that crashed "
        "has no DLQ message; `jobctl run-now ok-job` runs it again)"
    )
    assert "still running" not in err and "gave up waiting" not in err and "follow it" not in out

    code, out, _ = jobctl(capsys, "run-now", "ok-job", "--wait", "-o", "json")
    shown = json.loads(out)
    assert code == 1 and shown["status"] == "lost" and shown["record"]["stored_status"] == "running"


def test_run_now_wait_does_not_call_a_run_within_its_timeout_lost(
    lambda_without_docker: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Past its deadline by 20 s only: within the grace, the record may still get its end.
    function_writes(monkeypatch, datetime.now(UTC) - timedelta(seconds=30), 10)
    code, out, err = jobctl(capsys, "run-now", "ok-job", "--wait", "--timeout-wait", "1")
    assert code == 1 and "gave up waiting after 1 s: it is still running" in err and "lost" not in out
